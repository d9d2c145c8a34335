"""Temporary-file spools for the report writers that must print a total before a long list (issue 23).

A run is written part by part (``reporters.get_writer``), but JUnit's ``<testsuites tests=...>``, the HTML page's
summary and SARIF's ``results`` (failures first) come before the lists they count or order. Such a writer keeps
the counts in memory and the text on disk, and copies the text in order at the close:

- ``Spool``: text appended under keys (a suite, a state, a table), copied key by key; one file for every key,
  each key's text a list of (offset, length) segments, so the memory is a few numbers per key and part;
- ``SortedRuns``: records sorted part by part (one run per part), merged at the close (``heapq.merge``): an external
  merge sort for a list that must come out sorted across parts (Markdown's ``--all`` list). A run's text is made
  with its part (``records_text``, in a worker process when a run fans out) and written as it is.

Text is stored as UTF-8 with ``surrogatepass`` so whatever a ``str`` holds comes back unchanged; every piece
handed back ends with a newline (the caller masks secrets piece by piece).
"""

from __future__ import annotations

import heapq
import json
import tempfile
from collections.abc import Hashable, Iterator
from typing import Any

BLOCK = 1 << 18  # bytes read at a time: ~256 kB pieces, whole lines


class Spool:
    """Text kept on disk under keys; ``copy(key)`` gives a key's text back in the order it was added."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.segments: dict[Hashable, list[list[int]]] = {}
        self.end = 0

    def add(self, key: Hashable, text: str) -> None:
        """Append ``text`` (whole lines: it ends with a newline) to ``key``'s text."""
        if not text:
            return
        data = text.encode("utf-8", "surrogatepass")
        self.file.seek(self.end)
        self.file.write(data)
        segments = self.segments.setdefault(key, [])
        if segments and segments[-1][0] + segments[-1][1] == self.end:
            segments[-1][1] += len(data)  # contiguous with the key's last segment
        else:
            segments.append([self.end, len(data)])
        self.end += len(data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.segments

    def copy(self, key: Hashable) -> Iterator[str]:
        """``key``'s text in pieces of whole lines."""
        for offset, length in self.segments.get(key, ()):
            yield from _read(self.file, offset, length)

    def lines(self, key: Hashable) -> Iterator[str]:
        """``key``'s text line by line (each with its newline)."""
        for piece in self.copy(key):
            for line in piece.split("\n")[:-1]:
                yield line + "\n"

    def close(self) -> None:
        self.file.close()
        self.segments = {}


class SortedRuns:
    """Records ``(key, text)`` added as runs sorted by ``key`` (one per part); ``merged()`` gives every record in
    ``key`` order, earlier runs first among equal keys (``heapq.merge`` is stable), as a sort of everything would.
    Keys are JSON lists (of strings, numbers, booleans), compared as Python lists.

    A run comes as blocks, each a key prefix and the text of its records (``records_text``), whose keys are the
    rest: the records of one block share the start of their key, which may only be known where the blocks are put
    in order (Markdown's owner rank, numbered through the run), while the text was made elsewhere."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.runs: list[list[tuple[int, int, list[Any]]]] = []  # per run, its blocks: offset, length, key prefix
        self.end = 0

    def add_run(self, blocks: list[tuple[list[Any], str]]) -> None:
        """One run: ``blocks`` of ``(prefix, records_text(...))``, in key order (the prefixes ascending, each
        block's records sorted by the rest of their key)."""
        run = []
        for prefix, text in blocks:
            if not text:
                continue
            encoded = text.encode("utf-8", "surrogatepass")
            self.file.seek(self.end)
            self.file.write(encoded)
            run.append((self.end, len(encoded), prefix))
            self.end += len(encoded)
        if run:
            self.runs.append(run)

    def merged(self) -> Iterator[tuple[list[Any], str]]:
        readers = [self._records(run) for run in self.runs]
        yield from heapq.merge(*readers, key=lambda record: record[0])

    def _records(self, run: list[tuple[int, int, list[Any]]]) -> Iterator[tuple[list[Any], str]]:
        for offset, length, prefix in run:
            for piece in _read(self.file, offset, length, block=1 << 16):
                for line in piece.split("\n")[:-1]:
                    key, text = json.loads(line)
                    yield prefix + key, text

    def close(self) -> None:
        self.file.close()
        self.runs = []


def records_text(records: list[tuple[list[Any], str]]) -> str:
    """``(key, text)`` records as a block's text for ``SortedRuns.add_run``: a JSON line each."""
    return "".join(json.dumps([key, text], ensure_ascii=False) + "\n" for key, text in records)


def _read(file: Any, offset: int, length: int, block: int = BLOCK) -> Iterator[str]:
    """The text of ``length`` bytes at ``offset``, in pieces ending at a newline. Seeks before each read, so that
    several readers of one file (``SortedRuns.merged``) can take turns."""
    rest = b""
    position, end = offset, offset + length
    while position < end:
        file.seek(position)
        data = file.read(min(block, end - position))
        if not data:
            break
        position += len(data)
        data = rest + data
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if cut:
            yield data[:cut].decode("utf-8", "surrogatepass")
    if rest:
        yield rest.decode("utf-8", "surrogatepass")
