"""The static site of ``soundcheck site -o DIR`` (issue 22): HTML pages, badges and a search index, built from
the recorded run history (never by evaluating again).

- ``model``: what the pages are made of (``SiteInput`` in, ``SiteModel`` out): the latest run's states, levels
  and messages by entity, the changes over the kept runs, the trends;
- ``paths``: file names inside the site (safe path segments) and relative links;
- ``pages``: the HTML pages (overview, tracks, checks, owners, entities, paginated lists);
- ``charts``: small hand-written inline SVG charts (no script, no library);
- ``badges``: shields.io-style SVG badges and their shields.io "endpoint" JSON files;
- ``assets``: the one stylesheet and the few lines of search script;
- ``writer``: the output folder, written in a temporary sibling and moved into place at the end.

Everything written is self-contained: relative links only, no remote script, font or image, so the folder works
from ``file://`` and from any static host.
"""
