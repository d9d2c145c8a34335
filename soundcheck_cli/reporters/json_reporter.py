"""The ``json`` format: a versioned, documented document (``docs/json-output.md``) with every result."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

from soundcheck_cli.facts.model import format_timestamp
from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.reporters.common import redacted
from soundcheck_cli.reporters.spool import Spool
from soundcheck_cli.results import REPORT_SCHEMA_VERSION, RunReport
from soundcheck_cli.rules.model import CheckState
from soundcheck_cli.tracks.model import LevelResult

_ENTITY_REFS = attrgetter("entity_ref")
_STATE_VALUES = attrgetter("state._value_")  # the enum's value without a descriptor call per result


def _level(level: LevelResult | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {"ordinal": level.ordinal, "name": level.name}


def to_document(report: RunReport, *, items: bool = True, redactor: Any = None) -> dict[str, Any]:
    """The report as plain JSON data, known secrets masked (``common.redacted``); with ``items=False`` the two big
    lists (results, certifications) are left empty. ``summary`` is the last key: a report written part by part
    (``Writer``) knows its counts only at the end."""
    report = redacted(report, redactor)
    counts = {state.value: 0 for state in CheckState}
    for value, n in Counter(map(_STATE_VALUES, report.check_results)).items():  # C-level counting
        counts[value] += n
    return {
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "generatedAt": format_timestamp(report.generated_at),
        "checks": [
            {
                "id": c.id,
                "name": c.name,
                "description": c.description,
                "ownerEntityRef": c.owner_entity_ref,
                "warning": c.warning,
            }
            for c in report.checks
        ],
        "tracks": [
            {
                "id": t.id,
                "kind": t.kind,
                "name": t.name,
                "description": t.description,
                "ownerEntityRef": t.owner_entity_ref,
                "levels": [
                    {"ordinal": lv.ordinal, "name": lv.name, "checks": [lc.id for lc in lv.checks]} for lv in t.levels
                ],
            }
            for t in report.tracks
        ],
        "results": [
            {
                "checkId": r.check_id,
                "entityRef": r.entity_ref,
                "state": r.state.value,
                "message": r.message,
                "missingFacts": list(r.missing_facts),
            }
            for r in report.check_results
            if items
        ],
        "certifications": [
            {
                "trackId": tr.track_id,
                "entityRef": tr.entity_ref,
                "highestLevel": _level(tr.highest_level),
                "levels": [
                    {
                        "ordinal": lv.ordinal,
                        "name": lv.name,
                        "certified": lv.certified,
                        "checks": [{"checkId": c.check_id, "state": c.state.value} for c in lv.checks],
                    }
                    for lv in tr.levels
                ],
            }
            for tr in report.track_results
            if items
        ],
        "problems": [
            {"severity": p.severity.value, "message": p.message, "location": str(p.location) if p.location else None}
            for p in report.problems
        ],
        "summary": {
            "entities": len(set(map(_ENTITY_REFS, report.check_results)).union(map(_ENTITY_REFS, report.track_results))),
            "checks": len(report.checks),
            "tracks": len(report.tracks),
            "results": counts,
        },
    }


# Results (and certifications) encoded and handed out per block of this many: a big report is written block by
# block, so its 50 MB of text never sit in memory at once (on a VM, faulting in that much fresh memory costs more
# than encoding it). A block's text (~270 kB) is small enough for the allocator to reuse the memory of the block
# before: 5,000 per block took ~6,500 page faults per 200,000 results, 1,000 none.
BLOCK = 1000


def render(report: RunReport, *, redactor: Any = None, **_: Any) -> str:
    return "".join(render_chunks(report, redactor=redactor))


def render_chunks(report: RunReport, *, redactor: Any = None, **_: Any) -> Iterator[str]:
    """``render``'s text in pieces, each ending with a newline (a secret masked piece by piece is masked whole
    unless it spans lines): the whole report through ``Writer``."""
    return render_whole(Writer, report, redactor=redactor)


class Writer(ReportWriter):
    """The document written part by part (``reporters.get_writer``): the head keys at once, each part's results
    as they come (block by block), its certifications to a temporary file (they are the next list of the document),
    copied at the close with the problems and the summary. Holds the counts and one block of text."""

    def __init__(self, head: RunReport, write: Any, *, redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.redactor = redactor
        doc = to_document(head, items=False, redactor=redactor)
        self.summary = doc.pop("summary")
        doc.pop("problems")
        doc.pop("results")
        doc.pop("certifications")
        write("{\n")
        for key, value in doc.items():
            for piece in _member(key, value, ","):
                write(piece)
        self.results = _ListText('  "results": ', write)
        self.spool = Spool()
        self.certifications = _ListText('  "certifications": ', lambda text: self.spool.add("certifications", text))
        self.counts: Counter[str] = Counter()
        self.entities = 0

    PIECES = True

    def piece(self, part: RunReport) -> tuple[Counter[str], int, list[str], list[str]]:
        """The part's counts by state, its number of entities, and the text of its results and of its
        certifications, block by block (each block its items joined as the document lists them)."""
        part = redacted(part, self.redactor)
        return (Counter(map(_STATE_VALUES, part.check_results)),  # C-level counting
                len(set(map(_ENTITY_REFS, part.check_results)).union(map(_ENTITY_REFS, part.track_results))),
                [_ITEM_SEPARATOR.join(lines) for lines in _result_blocks(part) if lines],
                [_ITEM_SEPARATOR.join(lines) for lines in _certification_blocks(part) if lines])

    def take(self, piece: tuple[Counter[str], int, list[str], list[str]]) -> None:
        counts, entities, results, certifications = piece
        self.counts.update(counts)
        self.entities += entities
        for block in results:
            self.results.add_block(block)
        for block in certifications:
            self.certifications.add_block(block)

    def close(self, problems: Any = ()) -> None:
        try:
            self.results.close(",")
            self.certifications.close(",")
            for piece in self.spool.copy("certifications"):
                self.write(piece)
        finally:
            self.spool.close()
        tail = to_document(RunReport(self.head.generated_at, (), self.head.checks, self.head.tracks, (), (),
                                     tuple(problems)), items=False, redactor=self.redactor)
        summary = dict(self.summary)
        summary["entities"] = self.entities
        summary["results"] = {state.value: self.counts.get(state.value, 0) for state in CheckState}
        for piece in _member("problems", tail["problems"], ","):
            self.write(piece)
        for piece in _member("summary", summary, ""):
            self.write(piece)
        self.write("}\n")


_ITEM_SEPARATOR = ",\n    "  # between the items of a list: one per line


class _ListText:
    """A JSON list member written block by block, in the layout of ``dumps_lines`` (one item per line): a block is
    held until it is known whether more items follow, so every piece ends with a newline."""

    def __init__(self, head: str, write: Any) -> None:
        self.head = head
        self.write = write
        self.pending: str | None = None

    def add(self, lines: list[str]) -> None:
        if lines:
            self.add_block(_ITEM_SEPARATOR.join(lines))

    def add_block(self, block: str) -> None:
        """``block``: one or more items' text, joined by ``_ITEM_SEPARATOR``."""
        if self.pending is not None:
            self.write(self.pending + ",\n")
        self.pending = (self.head + "[\n    " if self.pending is None else "    ") + block

    def close(self, comma: str) -> None:
        self.write(f"{self.head}[]{comma}\n" if self.pending is None else f"{self.pending}\n  ]{comma}\n")
        self.pending = None


def _member(key: str, value: Any, comma: str) -> Iterator[str]:
    """One member of the document, ``dumps_lines``' layout."""
    dumps = _ENCODER.encode
    head = f"  {dumps(key)}: "
    if not (isinstance(value, list) and value):
        yield f"{head}{dumps(value)}{comma}\n"
        return
    items = _ListText(head, lambda text: pieces.append(text))
    pieces: list[str] = []
    items.add([dumps(item) for item in value])
    items.close(comma)
    yield from pieces


def dumps_lines(doc: dict[str, Any]) -> str:
    """Readable and fast: one top-level key per line and one list item per line, each item encoded compactly.

    ``json.dumps(indent=...)`` falls back to the pure-Python encoder (15 s for 200,000 results); encoding
    item by item keeps the C encoder and still gives a diffable, greppable file."""
    last = len(doc) - 1
    return "{\n" + "".join(piece for index, (key, value) in enumerate(doc.items())
                           for piece in _member(key, value, "," if index < last else "")) + "}\n"


# Same output as ``json.dumps(value, ensure_ascii=False)`` (default separators), built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False)
_encode_str = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring  # type: ignore[attr-defined]


class _Memo(dict):
    """Encoded JSON text of strings (and ``None``) or of tuples of strings, computed once: refs, check ids,
    states and messages repeat across 200,000 results. Same text as ``json.dumps(..., ensure_ascii=False)``."""

    __slots__ = ()

    def __missing__(self, key: Any) -> str:
        if key.__class__ is str:
            out = _encode_str(key)
        elif key.__class__ is tuple:
            out = _ENCODER.encode(list(key))
        else:
            out = _ENCODER.encode(key)
        self[key] = out
        return out


def _result_blocks(report: RunReport) -> Iterator[list[str]]:
    s = _Memo()
    results = report.check_results
    for start in range(0, len(results), BLOCK):
        # A ``CheckResult`` is a named tuple: unpacked in one step rather than read field by field; the state's
        # ``_value_`` is the enum's value without the descriptor call of ``.value`` (measurably slower here).
        yield [
            f'{{"checkId": {s[check_id]}, "entityRef": {s[ref]}, "state": {s[state._value_]}, '
            f'"message": {s[message]}, "missingFacts": {s[missing]}}}'
            for check_id, ref, state, message, missing in results[start:start + BLOCK]
        ]


_CHECK_IDS = attrgetter("check_id")


def _certification_blocks(report: RunReport) -> Iterator[list[str]]:
    s = _Memo()
    dumps = _ENCODER.encode
    # The text of a level depends on its ordinal, name, certified flag and (check id, state) pairs only, and
    # entities share few combinations of those: each distinct level is encoded once. The ordinal's type is part
    # of the key (1, 1.0 and True are equal keys but encode differently).
    levels_memo: dict[tuple[Any, ...], str] = {}
    highest_memo: dict[tuple[Any, ...], str] = {}
    track_results = report.track_results
    for start in range(0, len(track_results), BLOCK):
        lines: list[str] = []
        for tr in track_results[start:start + BLOCK]:
            top = tr.highest_level
            if top is None:
                highest = "null"
            else:
                key = (top.ordinal.__class__, top.ordinal, top.name)
                highest = highest_memo.get(key)  # type: ignore[assignment]
                if highest is None:
                    highest = highest_memo[key] = f'{{"ordinal": {dumps(top.ordinal)}, "name": {s[top.name]}}}'
            encoded_levels = []
            for lv in tr.levels:
                checks = lv.checks
                key = (lv.ordinal.__class__, lv.ordinal, lv.name, not lv.certified,
                       tuple(map(_CHECK_IDS, checks)), tuple(map(_STATE_VALUES, checks)))
                text = levels_memo.get(key)
                if text is None:
                    text = levels_memo[key] = (
                        f'{{"ordinal": {dumps(lv.ordinal)}, "name": {s[lv.name]}, '
                        f'"certified": {"true" if lv.certified else "false"}, "checks": ['
                        + ", ".join([f'{{"checkId": {s[c.check_id]}, "state": {s[c.state._value_]}}}' for c in checks])
                        + "]}")
                encoded_levels.append(text)
            lines.append(f'{{"trackId": {s[tr.track_id]}, "entityRef": {s[tr.entity_ref]}, '
                         f'"highestLevel": {highest}, "levels": [{", ".join(encoded_levels)}]}}')
        yield lines
