"""The ``markdown`` format, for ``$GITHUB_STEP_SUMMARY`` and pull-request comments (GitHub Flavored Markdown).

- a summary line (results by state);
- per track, a table: for each level (and ``none``), how many entities reached it as their highest level and how
  many are certified at it;
- the checks that did not pass (failed, error, not-reported, warning), grouped by owner: the check's
  ``ownerEntityRef``, else the entity's ``spec.owner``, else ``(no owner)``; long lists are cut at
  ``max_rows`` (GitHub caps a step summary at 1 MiB) with a line saying how many were left out.

Every value from config, catalog or facts is escaped for a table cell: HTML-special characters become entities (so
a message cannot inject tags), and ``|``, ``\\``, ``*``, ``_``, `````, ``[``, ``]`` are backslash-escaped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from operator import attrgetter
from typing import Any

from soundcheck_cli.exemptions import notices as exemption_notices
from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.reporters.common import (
    NOT_PASSING,
    build_index,
    clean_text,
    level_distribution,
    level_label,
    message_of,
    owner_of,
    redacted,
    standalone_checks,
    summary_text,
    track_rows,
)
from soundcheck_cli.reporters.spool import SortedRuns, records_text
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState

DEFAULT_MAX_ROWS = 1000
DEFAULT_LIMIT = 10  # rows per owner and check before "... and N more"
STATE_ICON = {
    CheckState.FAILED: "❌",
    CheckState.ERROR: "💥",
    CheckState.NOT_REPORTED: "❔",
    CheckState.WARNING: "⚠️",
}
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "|": "\\|", "\\": "\\\\", "*": "\\*",
            "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]"}
_TABLE = str.maketrans(_ESCAPES)


def cell(text: object) -> str:
    """``text`` safe inside a GFM table cell (one line, nothing interpreted as markup)."""
    value = clean_text(text).translate(_TABLE)
    return "<br>".join(part for part in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def code(text: object) -> str:
    """``text`` as inline code; the HTML entities keep a backtick or ``|`` inside from ending it."""
    value = clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("|", "&#124;").replace("`", "&#96;").replace("\n", " ")
    return f"<code>{value}</code>"


class _TrackCounts:
    """What a track's table shows, counted part by part."""

    def __init__(self, track: Any) -> None:
        self.rows = 0
        self.distribution: dict[str, int] = {}
        self.certified_at: dict[int, int] = defaultdict(int)
        self.at_top = 0
        self.top = track.levels[-1].ordinal if track.levels else None

    def piece(self, track: Any, rows: list[Any]) -> tuple[int, dict[int, int], list[tuple[str, int]], int]:
        """``rows``' count, how many are certified at each level, their level distribution, how many reached the
        top level: what ``take`` adds."""
        certified_at: dict[int, int] = defaultdict(int)
        for tr in rows:
            for lv in tr.levels:
                if lv.certified:
                    certified_at[lv.ordinal] += 1
        at_top = sum(1 for tr in rows if tr.highest_level is not None and tr.highest_level.ordinal == self.top)
        return len(rows), dict(certified_at), level_distribution(track, rows), at_top

    def take(self, piece: tuple[int, dict[int, int], list[tuple[str, int]], int]) -> None:
        rows, certified_at, distribution, at_top = piece
        self.rows += rows
        for ordinal, n in certified_at.items():
            self.certified_at[ordinal] += n
        for label, n in distribution:
            self.distribution[label] = self.distribution.get(label, 0) + n
        self.at_top += at_top


def _track_section(track: Any, counts: _TrackCounts) -> list[str]:
    lines = [f"### {cell(track.title)} ({code(track.id)})", ""]
    if not counts.rows:
        return lines + ["_No entity is selected by this track's filter._", ""]
    lines += ["| Level | Highest level reached | Certified at this level |", "| --- | ---: | ---: |"]
    by_label = counts.distribution
    lines.append(f"| none | {by_label.get('none', 0)} | |")
    for lv in track.levels:
        label = level_label(lv.ordinal, lv.name)
        lines.append(f"| {cell(label)} | {by_label.get(label, 0)} | {counts.certified_at.get(lv.ordinal, 0)} |")
    lines += ["", f"{counts.at_top}/{counts.rows} entities reached the top level.", ""]
    return lines


def render(report: RunReport, *, max_rows: int = DEFAULT_MAX_ROWS, title: str = "Soundcheck results",
           limit: int = DEFAULT_LIMIT, show_all: bool = False, redactor: Any = None, **_: Any) -> str:
    return "".join(render_whole(Writer, report, max_rows=max_rows, title=title, limit=limit, show_all=show_all,
                                redactor=redactor))


_ORDER = {s: i for i, s in enumerate(NOT_PASSING)}
_ENTITY_REF = attrgetter("entity_ref")
_CHECK_ID = attrgetter("check_id")
_STATE = attrgetter("state")


class Writer(ReportWriter):
    """The Markdown of a run given in parts (``reporters.get_writer``). Every section but the list by owner is
    counts; the list is sorted (owner, state, check, entity), so it is the same whatever the order of the parts.
    Capped (the default): per owner and (state, check) its count and first ``limit`` rows by entity, and only for
    the owners and groups that come before the ``max_rows`` cap (those after it never come back: adding results
    only pushes them further). With ``show_all`` every row is listed: each part's rows, sorted, go to a temporary
    file and are merged at the close (``spool.SortedRuns``); the memory is a count per owner. A part's piece is its
    counts and its rows as text: capped, only those it can list (``piece``)."""

    PIECES = True

    def __init__(self, head: RunReport, write: Any, *, max_rows: int = DEFAULT_MAX_ROWS,
                 title: str = "Soundcheck results", limit: int = DEFAULT_LIMIT, show_all: bool = False,
                 redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.head = RunReport(head.generated_at, (), head.checks, head.tracks, (), ())
        self.redactor = redactor
        self.title = title
        self.max_rows = max_rows
        self.cap = None if show_all else max_rows  # rows in all; a step summary holds at most 1 MiB
        self.per_check = None if show_all else max(0, limit)  # rows per owner and check
        self.results = 0
        self.entities = 0
        self.states: Counter[CheckState] = Counter()
        self.tracks = [_TrackCounts(t) for t in head.tracks]
        self.by_check: dict[str, Counter[CheckState]] = defaultdict(Counter)
        self.not_passing = 0
        self.owners_seen: dict[str, int] = {}  # owner -> rank of first appearance (ties of the sort keep it)
        self.owner_count: Counter[str] = Counter()
        # owner -> (state rank, check id) -> [size, rows listed: (entity ref, row)]
        self.groups: dict[str, dict[tuple[int, str], list[Any]]] = {}
        self.runs = SortedRuns() if self.cap is None and self.per_check is None else None

    def piece(self, part: RunReport) -> tuple[int, int, list[Any], Counter[tuple[str, CheckState]], int, list[Any]]:
        """The part's counts (results, entities, each track's table, (check, state)), how many of its results
        did not pass, and per owner in order of first appearance ``(owner, count, listed)``: with ``show_all``
        ``listed`` is the owner's rows as a block of ``spool.SortedRuns``; capped, it is per (state rank, check)
        the group's size and first ``limit`` rows by entity (``(entity ref, row)``), without the owners and
        groups that come after the ``max_rows`` cap in this part alone (None for such an owner: whatever the
        other parts hold, they come after it in the run too)."""
        part = redacted(part, self.redactor)
        index = build_index(part)
        results = part.check_results
        tracks = [counts.piece(track, track_rows(part, track)) for track, counts in zip(part.tracks, self.tracks)]
        pairs = Counter(zip(map(_CHECK_ID, results), map(_STATE, results)))  # counted at C speed
        # owner -> [count, its records ([state rank, check id, entity ref], row)] with ``show_all``, else
        # [count, {(state rank, check id): [size, [(entity ref, result)]]}]
        owners: dict[str, list[Any]] = {}
        everything = self.runs is not None
        entity_owner: dict[str, str] = {}  # an entity's owner, for the checks without one of their own
        not_passing = 0
        for r in results:
            state = r.state
            if state not in _ORDER:
                continue
            not_passing += 1
            check = index.check(r.check_id)
            if check is not None and check.owner_entity_ref:
                owner = check.owner_entity_ref
            else:
                owner = entity_owner.get(r.entity_ref)  # type: ignore[assignment]
                if owner is None:
                    owner = entity_owner[r.entity_ref] = owner_of(None, index.entity(r.entity_ref))
            entry = owners.get(owner)
            if entry is None:
                entry = owners[owner] = [0, [] if everything else {}]
            entry[0] += 1
            if everything:
                entry[1].append(([_ORDER[state], r.check_id, r.entity_ref], _row(r, check)))
                continue
            group = entry[1].get((_ORDER[state], r.check_id))
            if group is None:
                group = entry[1][(_ORDER[state], r.check_id)] = [0, []]
            group[0] += 1
            group[1].append((r.entity_ref, r))
        if everything:
            listed = [(owner, count, _sorted_rows(records)) for owner, (count, records) in owners.items()]
        else:
            listed = self._capped_piece(owners, index)
        return len(results), len(set(map(_ENTITY_REF, results))), tracks, pairs, not_passing, listed

    def _capped_piece(self, owners: dict[str, list[Any]], index: Any) -> list[Any]:
        """``piece``'s owners when capped: per (state rank, check) its size and first ``limit`` rows by entity,
        without the owners and groups that the ``max_rows`` cap leaves out already in this part (the rows of the
        owners that sort before them in any run, counted as ``_prune`` counts)."""
        per_check = self.per_check
        assert self.cap is not None and per_check is not None
        # Owners of equal (is "(no owner)", lower-case name) are ordered by their first appearance in the run,
        # which a part does not know: only the rows of owners of a smaller such key are surely before an owner.
        before = 0  # rows of the owners of a smaller key
        pending = 0  # rows of the owners of the current key
        current = None
        kept: dict[str, dict[tuple[int, str], tuple[int, list[tuple[str, str]]]] | None] = {}
        for owner in sorted(owners, key=lambda o: (o.startswith("("), o.lower())):
            if (o_key := (owner.startswith("("), owner.lower())) != current:
                current, before, pending = o_key, before + pending, 0
            if before >= self.cap:
                kept[owner] = None
                continue
            rows = before
            out = kept[owner] = {}
            groups = owners[owner][1]
            for key in sorted(groups):
                if rows >= self.cap:
                    continue
                size, items = groups[key]
                if len(items) > per_check:  # the group's first rows by entity ref: what it lists
                    items.sort(key=_KEY)
                    del items[per_check:]
                out[key] = (size, [(ref, _row(r, index.check(r.check_id))) for ref, r in items])
                rows += min(size, per_check)
                pending += min(size, per_check)
        return [(owner, count, kept[owner]) for owner, (count, _groups) in owners.items()]

    def take(self, piece: tuple[int, int, list[Any], Counter[tuple[str, CheckState]], int, list[Any]]) -> None:
        results, entities, tracks, pairs, not_passing, listed = piece
        self.results += results
        self.entities += entities
        for counts, track_piece in zip(self.tracks, tracks):
            counts.take(track_piece)
        for (check_id, state), n in pairs.items():
            self.states[state] += n
            self.by_check[check_id][state] += n
        self.not_passing += not_passing
        if self.runs is not None:
            blocks = []
            for owner, count, text in listed:
                seen = self.owners_seen.setdefault(owner, len(self.owners_seen))
                self.owner_count[owner] += count
                blocks.append(([owner.startswith("("), owner.lower(), seen], text))
            blocks.sort(key=_KEY)
            self.runs.add_run(blocks)
            return
        per_check = self.per_check
        for owner, count, owner_groups in listed:
            self.owners_seen.setdefault(owner, len(self.owners_seen))
            if owner_groups is None:  # after the cap in its part alone: after it in the run
                continue
            self.owner_count[owner] += count
            by_key = self.groups.setdefault(owner, {})
            for key, (size, items) in owner_groups.items():
                group = by_key.get(key)
                if group is None:
                    group = by_key[key] = [0, []]
                group[0] += size
                kept = group[1]
                kept.extend(items)  # written at the close if it is still among the first
                if per_check is not None and len(kept) > per_check:
                    kept.sort(key=_KEY)
                    del kept[per_check:]
        self._prune()

    def _owner_key(self, owner: str) -> tuple[bool, str, int]:
        return owner.startswith("("), owner.lower(), self.owners_seen[owner]

    def _prune(self) -> None:
        """Drop the owners and groups that come after the ``max_rows`` cap: ``close`` would not reach them."""
        if self.cap is None:
            return
        rows = 0
        for owner in sorted(self.groups, key=self._owner_key):
            groups = self.groups[owner]
            if rows >= self.cap:
                del self.groups[owner]
                del self.owner_count[owner]
                continue
            for key in sorted(groups):
                if rows >= self.cap:
                    del groups[key]
                    continue
                size = groups[key][0]
                rows += size if self.per_check is None else min(size, self.per_check)

    def close(self, problems: Any = ()) -> None:
        try:
            self._close(problems)
        finally:
            if self.runs is not None:
                self.runs.close()

    def _close(self, problems: Any) -> None:
        head = redacted(self.head, self.redactor)
        index = build_index(head)
        tail = redacted(RunReport(head.generated_at, (), (), (), (), (), tuple(problems)), self.redactor)
        summary = summary_text(self.results, self.entities, {s: self.states.get(s, 0) for s in CheckState})
        lines = [f"## {cell(self.title)}", "", cell(summary), ""]
        lines += [f"> ⚠️ {cell(text)}\n" for text in exemption_notices(tail)]  # expired / expiring (issue 21)
        for track, counts in zip(head.tracks, self.tracks):
            lines += _track_section(track, counts)

        alone = standalone_checks(head, index)
        if alone:
            lines += ["### Checks not in a track", "", "| Check | passed | failed | warning | other |",
                      "| --- | ---: | ---: | ---: | ---: |"]
            for c in alone:
                counts = {s: self.by_check.get(c.id, {}).get(s, 0) for s in CheckState}
                other = sum(n for s, n in counts.items()
                            if s not in (CheckState.PASSED, CheckState.FAILED, CheckState.WARNING))
                lines.append(f"| {code(c.id)} | {counts[CheckState.PASSED]} | {counts[CheckState.FAILED]} | "
                             f"{counts[CheckState.WARNING]} | {other} |")
            lines.append("")

        if not self.not_passing:
            lines += ["### Checks that did not pass", "", "None: every evaluated check passed. ✅", ""]
            self._write(lines, last=True)
            return
        lines += _by_check(self.by_check)
        lines += [f"### Checks that did not pass, by owner ({self.not_passing})", ""]
        if self.runs is not None:
            self._write(lines)
            lines = self._everything()
        else:
            lines += self._capped()
        self._write(lines, last=True)

    def _capped(self) -> list[str]:
        """The list by owner, cut at ``max_rows`` rows and ``limit`` rows per owner and check."""
        lines: list[str] = []
        cap, per_check = self.cap, self.per_check
        rows = 0  # result rows written
        accounted = 0  # results written or counted in an "... and N more" row
        for owner in sorted(self.groups, key=self._owner_key):
            if cap is not None and rows >= cap:
                break
            lines += [f"#### {cell(owner)} ({self.owner_count[owner]})", "", "| State | Check | Entity | Message |",
                      "| --- | --- | --- | --- |"]
            groups = self.groups[owner]
            for rank, check_id in sorted(groups):
                size, kept = groups[(rank, check_id)]
                state = NOT_PASSING[rank]
                kept.sort(key=_KEY)
                for _ref, row in kept if per_check is None else kept[:per_check]:
                    if cap is not None and rows >= cap:
                        break
                    lines.append(row)
                    rows += 1
                    accounted += 1
                if cap is not None and rows >= cap:
                    break
                if per_check is not None and size > per_check:
                    lines.append(f"| {STATE_ICON[state]} {state.value} | {code(check_id)} | "
                                 f"_… and {size - per_check:,} more_ | use `--all` or the `json` report |")
                    accounted += size - per_check
            lines.append("")
        if accounted < self.not_passing:
            lines += [f"_{self.not_passing - accounted} more not shown (limit {self.max_rows}); see the full report._",
                      ""]
        return lines

    def _everything(self) -> list[str]:
        """``--all``: every row, merged from the sorted runs of the parts, written in blocks; the lines left."""
        assert self.runs is not None
        owners = {seen: owner for owner, seen in self.owners_seen.items()}
        lines: list[str] = []
        current = None
        for key, line in self.runs.merged():
            if key[2] != current:
                if current is not None:
                    lines.append("")
                current = key[2]
                owner = owners[current]
                lines += [f"#### {cell(owner)} ({self.owner_count[owner]})", "", "| State | Check | Entity | Message |",
                          "| --- | --- | --- | --- |"]
            lines.append(line)
            if len(lines) >= 1000:
                self._write(lines)
                lines = []
        lines.append("")
        return lines

    def _write(self, lines: list[str], last: bool = False) -> None:
        """``lines`` of the document, each with its line end; the document's last line is the empty line after
        the final newline (the text is ``"\\n".join`` of its lines)."""
        if last:
            lines = lines[:-1]
        if lines:
            self.write("".join(line + "\n" for line in lines))


def _row(r: CheckResult, check: Any) -> str:
    return (f"| {STATE_ICON[r.state]} {r.state.value} | {code(r.check_id)} | {code(r.entity_ref)} | "
            f"{cell(message_of(r, check))} |")


def _sorted_rows(records: list[tuple[list[Any], str]]) -> str:
    """An owner's records ``([state rank, check id, entity ref], row)`` as its block of ``SortedRuns``: sorted by
    (state, check, entity)."""
    records.sort(key=_KEY)
    return records_text(records)


def _KEY(item: Any) -> Any:
    return item[0]


def _by_check(by_check: dict[str, Counter[CheckState]]) -> list[str]:
    """How many results of each check did not pass, by state: the whole picture of a big run in a few rows."""
    lines = ["### Checks that did not pass, by check", "",
             "| Check | " + " | ".join(s.value for s in NOT_PASSING) + " |",
             "| --- | " + " | ".join("---:" for _ in NOT_PASSING) + " |"]
    for check_id in sorted(c for c, counts in by_check.items() if any(counts.get(s) for s in NOT_PASSING)):
        counts = by_check[check_id]
        lines.append(f"| {code(check_id)} | " + " | ".join(f"{counts[s]:,}" if counts.get(s) else "" for s in NOT_PASSING)
                     + " |")
    return lines + [""]
