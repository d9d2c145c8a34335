"""The ``table`` format, for people at a terminal (the default of ``check`` and ``run``).

Sections, in order:

- per track: its title, how many entities reached the top level, how many reached each level as their
  highest, and a grid of the entities (a mark per level, the level reached, the entity ref);
- the checks in no track, one line each with its results by state;
- the checks that did not pass, grouped by state and check (``failed: has_docs (Has docs), 3 entities``), then
  under each group one line per entity and its reason on the line(s) below, whole and indented: a reason is
  never squeezed into a column, so it reads the same at 40 columns as at 200 (the terminal wraps a long line);
- the summary line (results by state).

Big runs are summarised: at most ``limit`` entities (default 10) per track grid and per group, then a line
saying how many more there are (``... and 9,990 more: use --all or -f json``); ``show_all=True`` (``--all``)
lists everything. ``width`` (the terminal's, or ``$COLUMNS``) only decides whether the grid's level headers fit
written out or as ``L1``, ``L2``... with a legend.

Plain text built line by line (no layout library): the summarised report renders in a few hundredths of a
second at 10,000 entities x 20 checks, the full one (``show_all``) in well under a second. Every value that comes
from config, catalog or facts goes through ``safe_text.terminal_safe``, so no escape sequence in the data
reaches the terminal; with ``color``, states and marks are coloured with SGR sequences of our own.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from operator import attrgetter, itemgetter
from typing import Any

from soundcheck_cli.reporters.common import (
    NOT_PASSING,
    level_distribution,
    level_label,
    message_of,
    plural,
    redacted,
    summary_text,
)
from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.exemptions import notices as exemption_notices
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.safe_text import terminal_safe

DEFAULT_LIMIT = 10
INDENT = "  "

# SGR parameters (ECMA-48) of each state's label when colour is on.
STATE_STYLE = {
    CheckState.PASSED: "32",  # green
    CheckState.FAILED: "31",  # red
    CheckState.WARNING: "33",  # yellow
    CheckState.NOT_APPLICABLE: "2",  # dim
    CheckState.NOT_REPORTED: "35",  # magenta
    CheckState.ERROR: "1;31",  # bold red
    CheckState.EXEMPT: "36",  # cyan
}
MARKS = {"certified": ("✔", "32"), "failed": ("✘", "31"), "unknown": ("?", "35")}
LEGEND = "✔ certified, ✘ a check failed, ? facts missing or a check errored"
_ENTITY_REF = attrgetter("entity_ref")
_CHECK_ID = attrgetter("check_id")
_STATE = attrgetter("state")
_FIRST = itemgetter(0)


class _Paint:
    """SGR colouring when ``color`` is on, plain text otherwise."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text


def cells(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, center: bool = False) -> str:
    room = max(0, width - cells(text))
    if center:
        left = room // 2
        return " " * left + text + " " * (room - left)
    return text + " " * room


def _more(count: int, what: str) -> str:
    return f"{INDENT}... and {count:,} more{what}: use --all or -f json"


class _TrackTally:
    """What a track's section shows, counted part by part: its rows, how many reached the top level and each
    level, and the grid lines of the first ``limit`` rows (all of them when ``limit`` is None). The grid's layout
    (``width`` decides whether the level headers are written out) is fixed at the start, so that a part's lines
    can be made apart (``Writer.piece``)."""

    def __init__(self, track: Any, limit: int | None, width: int) -> None:
        self.track = track
        self.limit = limit
        self.top = track.levels[-1].ordinal if track.levels else None
        self.count = 0
        self.at_top = 0
        self.distribution: dict[str, int] = dict(level_distribution(track, ()))
        self.shown: list[str] = []
        labels = [terminal_safe(level_label(lv.ordinal, lv.name)) for lv in track.levels]
        self.reached_width = max([cells("Level reached")] + [cells(x) for x in labels] + [cells("none")])
        headers = labels
        self.legend = None
        # The level headers written out when the grid leaves 30 columns for the entity ref, else "L1", "L2"...
        # with a legend: the grid never pushes the refs off a narrow terminal.
        if sum(cells(h) + 2 for h in headers) + self.reached_width + 30 > width:
            headers = [f"L{lv.ordinal}" for lv in track.levels]
            self.legend = INDENT + ", ".join(f"L{lv.ordinal} = {label}" for lv, label in zip(track.levels, labels))
        self.headers = headers
        self.widths = [max(1, cells(h)) for h in headers]

    def piece(self, rows: list[Any], paint: _Paint) -> tuple[int, int, list[tuple[str, int]], tuple[str, ...]]:
        """``rows``' count, how many reached the top level, their level distribution and the grid lines of the
        first ``limit``: what ``take`` adds."""
        at_top = sum(1 for tr in rows if tr.highest_level is not None and tr.highest_level.ordinal == self.top)
        listed = rows if self.limit is None else rows[: self.limit]
        return (len(rows), at_top, level_distribution(self.track, rows),
                tuple(self._grid_line(tr, paint) for tr in listed))

    def take(self, piece: tuple[int, int, list[tuple[str, int]], tuple[str, ...]]) -> None:
        count, at_top, distribution, lines = piece
        self.count += count
        self.at_top += at_top
        for label, n in distribution:
            self.distribution[label] = self.distribution.get(label, 0) + n
        room = len(lines) if self.limit is None else self.limit - len(self.shown)
        if room > 0:
            self.shown.extend(lines[:room])

    def _grid_line(self, tr: Any, paint: _Paint) -> str:
        marks = []
        for lr, w in zip(tr.levels, self.widths):
            mark, sgr = MARKS[_level_mark(lr)]
            marks.append(paint(_pad(mark, w, center=True), sgr))
        reached = tr.highest_level
        label = "none" if reached is None else terminal_safe(level_label(reached.ordinal, reached.name))
        return INDENT + "  ".join(marks + [paint(_pad(label, self.reached_width), "31" if reached is None else "32"),
                                           terminal_safe(tr.entity_ref)])


def _track_section(tally: _TrackTally, paint: _Paint) -> list[str]:
    track = tally.track
    at_top = tally.at_top
    title = f"{terminal_safe(track.title)} ({terminal_safe(track.id)})"
    lines = [paint(title, "1") + f": {at_top:,}/{tally.count:,} entities reached the top level"]
    if not tally.count:
        return lines + [f"{INDENT}no entity selected by this track's filter", ""]
    distribution = " · ".join(f"{terminal_safe(label)} {count:,}" for label, count in tally.distribution.items())
    lines.append(f"{INDENT}highest level reached: {distribution}")
    if tally.legend is not None:
        lines.append(tally.legend)
    lines.append(INDENT + "  ".join(tally.headers + [_pad("Level reached", tally.reached_width), "Entity"]))
    lines += tally.shown
    if len(tally.shown) < tally.count:
        lines.append(_more(tally.count - len(tally.shown), " entities"))
    lines += [f"{INDENT}({LEGEND})", ""]
    return lines


def _level_mark(level: Any) -> str:
    if level.certified:
        return "certified"
    states = [c.state for c in level.checks]
    if any(s in (CheckState.NOT_REPORTED, CheckState.ERROR) for s in states) and CheckState.FAILED not in states:
        return "unknown"
    return "failed"


def _standalone_section(checks: Any, in_tracks: set[str], counts_of: dict[str, Counter[CheckState]],
                        paint: _Paint) -> list[str]:
    standalone = [c for c in checks if c.id not in in_tracks]
    if not standalone:
        return []
    lines = [paint("Checks not in a track", "1")]
    for c in standalone:
        found = counts_of.get(c.id, Counter())
        counts = {s: found.get(s, 0) for s in CheckState}
        parts = [paint(f"{n:,} {s.value}", STATE_STYLE[s]) for s, n in counts.items() if n]
        lines.append(f"{INDENT}{_check_name(c.id, c.name)}: {', '.join(parts) or 'no results'}")
    return lines + [""]


def _check_name(check_id: str, name: str | None) -> str:
    text = terminal_safe(check_id)
    return f"{text} ({terminal_safe(name)})" if name and name != check_id else text


def _failures_section(checks: Any, groups: dict[tuple[CheckState, str], list[tuple[str, str]]],
                      sizes: Counter[tuple[CheckState, str]], paint: _Paint, limit: int | None) -> list[str]:
    """``groups``: per (state, check) the results to list (the first ``limit`` by entity ref, or all), each as
    its entity ref and its lines (``_failure_lines``); ``sizes``: how many results each group has."""
    if not groups:
        return []
    checks_by_id = {c.id: c for c in checks}
    total = sum(sizes.values())
    check_count = len({check_id for _, check_id in groups})
    lines = [paint("Checks that did not pass", "1") + f": {plural(total, 'result', grouped=True)} of {plural(check_count, 'check', grouped=True)}", ""]
    order = {s: i for i, s in enumerate(NOT_PASSING)}
    for state, check_id in sorted(groups, key=lambda key: (order[key[0]], key[1])):
        items = groups[(state, check_id)]
        size = sizes[(state, check_id)]
        noun = "entity" if size == 1 else "entities"
        check = checks_by_id.get(check_id)
        name = _check_name(check_id, check.name if check is not None else None)
        lines.append(f"{paint(state.value, STATE_STYLE[state])}: {name}, {size:,} {noun}")
        items.sort(key=_FIRST)
        shown = items if limit is None else items[:limit]
        lines.extend(text for _ref, text in shown)
        if len(shown) < size:
            lines.append(_more(size - len(shown), ""))
        lines.append("")
    return lines


def _failure_lines(r: CheckResult, check: Any) -> str:
    """A listed result: its entity ref, then its reason whole and indented (lines joined by newlines)."""
    reason = terminal_safe(message_of(r, check))
    return "\n".join([INDENT + terminal_safe(r.entity_ref)]
                     + [f"{INDENT}{INDENT}{line}" for line in reason.split("\n")])


def render(report: RunReport, *, color: bool = False, width: int | None = None, limit: int = DEFAULT_LIMIT,
           show_all: bool = False, redactor: Any = None, **_: Any) -> str:
    """The report as text; ``limit`` entities per track grid and per group of failures unless ``show_all``."""
    return "".join(render_whole(Writer, report, color=color, width=width, limit=limit, show_all=show_all,
                                redactor=redactor))


class Writer(ReportWriter):
    """The table of a run given in parts (``reporters.get_writer``): counts, and the entities each section lists
    (``limit`` per grid and group; all of them with ``show_all``), written at the close. A part's piece is its
    counts and the lines of what it can list."""

    PIECES = True

    def __init__(self, head: RunReport, write: Any, *, color: bool = False, width: int | None = None,
                 limit: int = DEFAULT_LIMIT, show_all: bool = False, redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.head = redacted(head, redactor)
        self.redactor = redactor
        self.paint = _Paint(color)
        self.width = width or 120
        self.cap = None if show_all else max(0, limit)
        self.tracks = [_TrackTally(t, self.cap, self.width) for t in self.head.tracks]
        self.counts_of: dict[str, Counter[CheckState]] = defaultdict(Counter)
        self.groups: dict[tuple[CheckState, str], list[tuple[str, str]]] = defaultdict(list)
        self.sizes: Counter[tuple[CheckState, str]] = Counter()
        self.results = 0
        self.entities = 0

    def piece(self, part: RunReport) -> tuple[list[Any], int, int, Counter[tuple[str, CheckState]], dict[Any, Any]]:
        """The part's track sections (``_TrackTally.piece``), its counts of results, entities and (check, state),
        and per (state, check) that did not pass its size and its first ``limit`` results by entity ref, as
        (entity ref, lines)."""
        part = redacted(part, self.redactor)
        by_track: dict[str, list[Any]] = defaultdict(list)
        for tr in part.track_results:
            by_track[tr.track_id].append(tr)
        tracks = [tally.piece(by_track.get(tally.track.id, []), self.paint) for tally in self.tracks]
        results = part.check_results
        counts = Counter(zip(map(_CHECK_ID, results), map(_STATE, results)))  # counted at C speed
        checks = {c.id: c for c in part.checks}
        listed: dict[tuple[CheckState, str], list[CheckResult]] = defaultdict(list)
        for r in results:
            if r.state in NOT_PASSING:
                listed[(r.state, r.check_id)].append(r)
        groups = {}
        for (state, check_id), items in listed.items():
            if self.cap is not None and len(items) > self.cap:  # the first ``cap`` by entity ref: what can be listed
                items.sort(key=_ENTITY_REF)
                del items[self.cap:]
            check = checks.get(check_id)
            groups[(state, check_id)] = (counts[(check_id, state)],
                                         [(r.entity_ref, _failure_lines(r, check)) for r in items])
        return tracks, len(results), len(set(map(_ENTITY_REF, results))), counts, groups

    def take(self, piece: tuple[list[Any], int, int, Counter[tuple[str, CheckState]], dict[Any, Any]]) -> None:
        tracks, results, entities, counts, groups = piece
        for tally, track_piece in zip(self.tracks, tracks):
            tally.take(track_piece)
        self.results += results
        self.entities += entities
        for (check_id, state), n in counts.items():
            self.counts_of[check_id][state] += n
        for key, (size, items) in groups.items():
            self.sizes[key] += size
            kept = self.groups[key]
            kept.extend(items)
            if self.cap is not None and len(kept) > self.cap:  # keep the first ``cap`` by entity ref
                kept.sort(key=_FIRST)
                del kept[self.cap:]

    def close(self, problems: Any = ()) -> None:
        lines: list[str] = []
        in_tracks: set[str] = set()
        for tally in self.tracks:
            lines += _track_section(tally, self.paint)
            for level in tally.track.levels:
                in_tracks.update(lc.id for lc in level.checks)
        lines += _standalone_section(self.head.checks, in_tracks, self.counts_of, self.paint)
        lines += _failures_section(self.head.checks, self.groups, self.sizes, self.paint, self.cap)
        tail = redacted(RunReport(self.head.generated_at, (), (), (), (), (), tuple(problems)), self.redactor)
        lines += [f"warning: {text}" for text in exemption_notices(tail)]  # expired / expiring (issue 21)
        totals: Counter[CheckState] = Counter()
        for counts in self.counts_of.values():
            totals.update(counts)
        lines.append(summary_text(self.results, self.entities, {s: totals.get(s, 0) for s in CheckState}))
        self.write("\n".join(lines) + "\n")
