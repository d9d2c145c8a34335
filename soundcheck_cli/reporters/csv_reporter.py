"""The ``csv`` format: one row per entity × check evaluated (RFC 4180: comma-separated, CRLF line ends, fields
quoted when needed, written with the ``csv`` module), with a header row. Columns (documented in
``docs/output-formats.md``):

``entityRef, entityKind, entityName, owner, checkId, checkName, state, message, tracks, sourceFile, sourceLine,
missingFacts``

``tracks`` and ``missingFacts`` join their values with ``; ``. With ``spreadsheet_safe`` (the default), a text
cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so that a spreadsheet does not
run it as a formula (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from typing import Any

from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.reporters.common import build_index, clean_text, owner_of, redacted, source_of
from soundcheck_cli.results import RunReport

COLUMNS = ("entityRef", "entityKind", "entityName", "owner", "checkId", "checkName", "state", "message", "tracks",
           "sourceFile", "sourceLine", "missingFacts")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: str, enabled: bool) -> str:
    return "'" + value if enabled and value.startswith(_FORMULA_START) else value


def render(report: RunReport, *, root: str | None = None, spreadsheet_safe: bool = True, redactor: Any = None,
           **_: Any) -> str:
    return "".join(render_whole(Writer, report, root=root, spreadsheet_safe=spreadsheet_safe, redactor=redactor))


class Writer(ReportWriter):
    """The header row at once, then each part's rows as they come (``reporters.get_writer``): holds nothing. A
    part's piece is its rows as text."""

    PIECES = True

    def __init__(self, head: RunReport, write: Any, *, root: str | None = None, spreadsheet_safe: bool = True,
                 redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.root = root
        self.safe = spreadsheet_safe
        self.redactor = redactor
        write(_rows([COLUMNS]))

    def piece(self, part: RunReport) -> tuple[str, ...]:
        """The part's rows as CSV text, in blocks of 1,000 rows (what ``take`` writes, one block at a time)."""
        part = redacted(part, self.redactor)
        index = build_index(part)
        blocks = []
        rows = []
        for r in part.check_results:
            entity = index.entity(r.entity_ref)
            check = index.check(r.check_id)
            source = source_of(entity, self.root)
            text = [
                r.entity_ref,
                entity.kind if entity else r.entity_ref.split(":", 1)[0],
                entity.name if entity else r.entity_ref.rsplit("/", 1)[-1],
                owner_of(check, entity),
                r.check_id,
                (check.name or "") if check else "",
                r.state.value,
                r.message,
                "; ".join(index.tracks_of_check.get(r.check_id, ())),
                source.path if source else "",
            ]
            row = [_safe(clean_text(v), self.safe) for v in text]
            row.append("" if source is None or source.line is None else str(source.line))
            row.append(_safe(clean_text("; ".join(r.missing_facts)), self.safe))
            rows.append(row)
            if len(rows) >= 1000:
                blocks.append(_rows(rows))
                rows = []
        if rows:
            blocks.append(_rows(rows))
        return tuple(blocks)

    def take(self, piece: tuple[str, ...]) -> None:
        for block in piece:
            self.write(block)

    def close(self, problems: Any = ()) -> None:
        pass


def _rows(rows: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
