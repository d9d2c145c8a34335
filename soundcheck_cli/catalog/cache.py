"""Warm cache of parsed catalog files, kept in the fact store folder (issue 7, "Warm check end to end").

Parsing YAML and recording a position for every node is most of the cost of loading a large catalog, and a
catalog rarely changes between two ``check`` runs. Only *clean* files are cached: files whose every document
parsed and validated without a single warning and that hold no ``kind: Location`` (those are followed, which
needs positions of their targets). A file with any warning is parsed again on every run, so its warnings keep
their ``file:line:col``; what the cache keeps per entity is its plain data and the line/column of its document
(``Entity.source``), with the path filled in from the current display path.

Entries are keyed by the file's real path and validated by ``(st_mtime_ns, st_size)``, as ``git`` and ``make``
do. A file modified less than ``RACY_SECONDS`` before it was read is not cached ("racy clean" in git's terms: an
edit in the same clock tick with the same size would go unseen). The cache is JSON (data only, never code), is
written atomically (temp file + ``os.replace``) and only when it changed; an unreadable or foreign cache is
ignored and rebuilt. Nothing here can fail a run: every I/O error just means no cache.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

from soundcheck_cli import __version__

CACHE_NAME = "catalog-cache.json"
FORMAT = 1
RACY_SECONDS = 2.0
# Validation rules may change between versions: a cache written by another version of soundcheck is dropped.
_STAMP = f"{FORMAT}:{__version__}:{sys.version_info[0]}.{sys.version_info[1]}"

Stat = tuple[int, int]
CachedDoc = tuple[Any, int, int]  # entity data, line, column of its document


def _read(path: str) -> dict[str, list[Any]]:
    """The entries of a cache file; none when it is missing, unreadable, or written by another version."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
        if isinstance(doc, dict) and doc.get("stamp") == _STAMP and isinstance(doc.get("files"), dict):
            return doc["files"]  # type: ignore[no-any-return]
    except (OSError, ValueError):
        pass
    return {}


class CatalogCache:
    """Parsed clean catalog files by real path; ``get``/``put`` while loading, ``save`` once at the end."""

    def __init__(self, path: str, parts: tuple[str, ...] = ()) -> None:
        """``parts``: caches written by processes that each parsed a share of the catalog (``app.load_workspace``),
        taken into this one (and removed); ``save`` then writes them together."""
        self.path = path
        self.entries: dict[str, list[Any]] = _read(path)
        self.used: set[str] = set()
        self.changed = False
        for part in parts:
            found = _read(part)
            self.entries.update(found)
            self.changed = self.changed or bool(found)
            try:
                os.unlink(part)
            except OSError:
                pass

    @staticmethod
    def stat(real: str) -> Stat | None:
        try:
            st = os.stat(real)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def get(self, real: str) -> list[CachedDoc] | None:
        """The cached documents of ``real`` if the file is unchanged since it was cached, else ``None``."""
        entry = self.entries.get(real)
        if not entry:
            return None
        stat = self.stat(real)
        if stat is None or [stat[0], stat[1]] != entry[0]:
            return None
        self.used.add(real)
        return entry[1]

    def put(self, real: str, stat: Stat | None, docs: list[CachedDoc]) -> None:
        """Remember a clean file, unless it changed while being read or too recently to be sure it is settled."""
        if stat is None or stat != self.stat(real) or time.time_ns() - stat[0] < RACY_SECONDS * 1e9:
            return
        self.entries[real] = [[stat[0], stat[1]], [[data, line, column] for data, line, column in docs]]
        self.used.add(real)
        self.changed = True

    def save(self) -> None:
        """Write the entries used by this run (files no longer in the catalog are dropped) if anything changed."""
        if not self.changed and len(self.used) == len(self.entries):
            return
        files = {real: self.entries[real] for real in self.used if real in self.entries}
        folder = os.path.dirname(self.path) or "."
        try:
            # One ``dumps`` per file, written as it is made: ``json.dump`` to a file takes the pure-Python encoder
            # (~5x slower), and one ``dumps`` of the whole cache held its text (130 MB at 100,000 entities) and its
            # UTF-8 bytes at once, the peak of a first ``check`` (issue 23).
            encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
            fd, tmp = tempfile.mkstemp(prefix=".catalog-cache-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write('{"stamp":' + encode(_STAMP) + ',"files":{')
                    for i, (real, entry) in enumerate(files.items()):
                        handle.write(("," if i else "") + encode(real) + ":" + encode(entry))
                    handle.write("}}")
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except (OSError, TypeError, ValueError):
            pass  # no cache this time; the next run parses again
