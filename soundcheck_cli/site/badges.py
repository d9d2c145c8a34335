"""Badges: an SVG in shields.io's "flat" look (label left on grey, level right, coloured by level) and the same
badge as a shields.io endpoint file (``{"schemaVersion": 1, "label", "message", "color"}``), so a README can show
an entity's level either straight from the site (``<img src=".../badges/component/default/api/track.svg">``) or
through shields.io (``https://img.shields.io/endpoint?url=<the .json file's public URL>``).

Colours: the top level reached is ``brightgreen``; no level is ``red``; levels in between go from ``orange``
through ``yellow`` to ``green`` by how far up the track they are. Text widths are estimated from Verdana's
advance widths at 11px (the font shields.io uses), so the badge fits its text without measuring a font.
"""

from __future__ import annotations

import json
from html import escape

COLOURS = {"brightgreen": "#4c1", "green": "#97ca00", "yellowgreen": "#a4a61d", "yellow": "#dfb317",
           "orange": "#fe7d37", "red": "#e05d44", "lightgrey": "#9f9f9f"}

# Verdana 11px advance widths (px) of the printable ASCII characters; others count as a wide letter.
_WIDTHS = dict(zip(
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
    [3.9, 4.3, 5.1, 9.0, 7.0, 12.3, 8.0, 3.0, 5.0, 5.0, 7.0, 9.0, 4.0, 5.0, 4.0, 5.0,
     7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 5.0, 5.0, 9.0, 9.0, 9.0, 6.0,
     11.0, 7.5, 7.6, 7.7, 8.5, 7.0, 6.3, 8.5, 8.3, 4.6, 5.0, 7.6, 6.1, 9.4, 8.2, 8.7,
     6.6, 8.7, 7.7, 7.5, 6.8, 8.1, 7.5, 10.9, 7.5, 6.8, 7.5, 5.0, 5.0, 5.0, 9.0, 7.0,
     7.0, 6.6, 6.9, 5.7, 6.9, 6.6, 3.9, 6.9, 7.0, 3.0, 3.8, 6.5, 3.0, 10.7, 7.0, 6.7,
     6.9, 6.9, 4.7, 5.7, 4.3, 7.0, 6.5, 9.0, 6.5, 6.5, 5.8, 7.0, 5.0, 7.0, 9.0]))


def text_width(text: str) -> float:
    return sum(_WIDTHS.get(c, 8.0) for c in text)


def colour_for(reached: int, top: int, ordinals: list[int]) -> str:
    """The shields.io colour name of a level: ``reached`` (0: none) of a track whose levels are ``ordinals``."""
    if not ordinals or reached <= 0:
        return "red"
    if reached >= top:
        return "brightgreen"
    place = sum(1 for o in ordinals if o <= reached) / len(ordinals)
    return "green" if place >= 2 / 3 else "yellow" if place >= 1 / 3 else "orange"


def endpoint(label: str, message: str, colour: str) -> str:
    """shields.io's endpoint schema (https://shields.io/badges/endpoint-badge)."""
    return json.dumps({"schemaVersion": 1, "label": label, "message": message, "color": colour},
                      ensure_ascii=False) + "\n"


def svg(label: str, message: str, colour: str) -> str:
    """A flat shields.io-style badge; ``role="img"`` and a title name it for screen readers."""
    fill = COLOURS.get(colour, colour)
    lw = round(text_width(label) + 10)
    mw = round(text_width(message) + 10)
    w = lw + mw
    lt, mt = escape(label), escape(message)
    ltl, mtl = (lw - 10) * 10, (mw - 10) * 10
    lx, mx = lw * 5, lw * 10 + mw * 5
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{lt}: {mt}">'
        f'<title>{lt}: {mt}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{fill}"/><rect width="{w}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110">'
        f'<text aria-hidden="true" x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" '
        f'textLength="{ltl}">{lt}</text>'
        f'<text x="{lx}" y="140" transform="scale(.1)" fill="#fff" textLength="{ltl}">{lt}</text>'
        f'<text aria-hidden="true" x="{mx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" '
        f'textLength="{mtl}">{mt}</text>'
        f'<text x="{mx}" y="140" transform="scale(.1)" fill="#fff" textLength="{mtl}">{mt}</text></g></svg>\n'
    )
