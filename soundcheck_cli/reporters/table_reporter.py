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
from collections import defaultdict
from operator import attrgetter
from typing import Any

from soundcheck_cli.reporters.common import (
    NOT_PASSING,
    level_distribution,
    level_label,
    message_of,
    plural,
    redacted,
    state_counts,
    summary_line,
    track_rows,
)
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


def _track_section(report: RunReport, track: Any, paint: _Paint, limit: int | None, width: int) -> list[str]:
    rows = track_rows(report, track)
    top = track.levels[-1].ordinal if track.levels else None
    at_top = sum(1 for tr in rows if tr.highest_level is not None and tr.highest_level.ordinal == top)
    title = f"{terminal_safe(track.title)} ({terminal_safe(track.id)})"
    lines = [paint(title, "1") + f": {at_top:,}/{len(rows):,} entities reached the top level"]
    if not rows:
        return lines + [f"{INDENT}no entity selected by this track's filter", ""]
    distribution = " · ".join(f"{terminal_safe(label)} {count:,}" for label, count in level_distribution(track, rows))
    lines.append(f"{INDENT}highest level reached: {distribution}")

    labels = [terminal_safe(level_label(lv.ordinal, lv.name)) for lv in track.levels]
    reached_width = max([cells("Level reached")] + [cells(x) for x in labels] + [cells("none")])
    headers = labels
    # The level headers written out when the grid leaves 30 columns for the entity ref, else "L1", "L2"... with a
    # legend: the grid never pushes the refs off a narrow terminal.
    if sum(cells(h) + 2 for h in headers) + reached_width + 30 > width:
        headers = [f"L{lv.ordinal}" for lv in track.levels]
        lines.append(INDENT + ", ".join(f"L{lv.ordinal} = {label}" for lv, label in zip(track.levels, labels)))
    widths = [max(1, cells(h)) for h in headers]
    lines.append(INDENT + "  ".join(headers + [_pad("Level reached", reached_width), "Entity"]))
    shown = rows if limit is None else rows[:limit]
    for tr in shown:
        marks = []
        for lr, w in zip(tr.levels, widths):
            mark, sgr = MARKS[_level_mark(lr)]
            marks.append(paint(_pad(mark, w, center=True), sgr))
        reached = tr.highest_level
        label = "none" if reached is None else terminal_safe(level_label(reached.ordinal, reached.name))
        lines.append(INDENT + "  ".join(marks + [paint(_pad(label, reached_width), "31" if reached is None else "32"),
                                                 terminal_safe(tr.entity_ref)]))
    if len(shown) < len(rows):
        lines.append(_more(len(rows) - len(shown), " entities"))
    lines += [f"{INDENT}({LEGEND})", ""]
    return lines


def _level_mark(level: Any) -> str:
    if level.certified:
        return "certified"
    states = [c.state for c in level.checks]
    if any(s in (CheckState.NOT_REPORTED, CheckState.ERROR) for s in states) and CheckState.FAILED not in states:
        return "unknown"
    return "failed"


def _standalone_section(report: RunReport, in_tracks: set[str], paint: _Paint) -> list[str]:
    standalone = [c for c in report.checks if c.id not in in_tracks]
    if not standalone:
        return []
    wanted = {c.id for c in standalone}
    by_check: dict[str, list[CheckResult]] = defaultdict(list)
    for r in report.check_results:
        if r.check_id in wanted:
            by_check[r.check_id].append(r)
    lines = [paint("Checks not in a track", "1")]
    for c in standalone:
        counts = state_counts(by_check.get(c.id, ()))
        parts = [paint(f"{n:,} {s.value}", STATE_STYLE[s]) for s, n in counts.items() if n]
        lines.append(f"{INDENT}{_check_name(c.id, c.name)}: {', '.join(parts) or 'no results'}")
    return lines + [""]


def _check_name(check_id: str, name: str | None) -> str:
    text = terminal_safe(check_id)
    return f"{text} ({terminal_safe(name)})" if name and name != check_id else text


def _failures_section(report: RunReport, paint: _Paint, limit: int | None) -> list[str]:
    groups: dict[tuple[CheckState, str], list[CheckResult]] = defaultdict(list)
    for r in report.check_results:
        if r.state in NOT_PASSING:
            groups[(r.state, r.check_id)].append(r)
    if not groups:
        return []
    checks_by_id = {c.id: c for c in report.checks}
    total = sum(map(len, groups.values()))
    check_count = len({check_id for _, check_id in groups})
    lines = [paint("Checks that did not pass", "1") + f": {plural(total, 'result', grouped=True)} of {plural(check_count, 'check', grouped=True)}", ""]
    order = {s: i for i, s in enumerate(NOT_PASSING)}
    for state, check_id in sorted(groups, key=lambda key: (order[key[0]], key[1])):
        items = groups[(state, check_id)]
        noun = "entity" if len(items) == 1 else "entities"
        check = checks_by_id.get(check_id)
        name = _check_name(check_id, check.name if check is not None else None)
        lines.append(f"{paint(state.value, STATE_STYLE[state])}: {name}, {len(items):,} {noun}")
        items.sort(key=_ENTITY_REF)
        shown = items if limit is None else items[:limit]
        for r in shown:
            lines.append(INDENT + terminal_safe(r.entity_ref))
            reason = terminal_safe(message_of(r, check))
            lines.extend(f"{INDENT}{INDENT}{line}" for line in reason.split("\n"))
        if len(shown) < len(items):
            lines.append(_more(len(items) - len(shown), ""))
        lines.append("")
    return lines


def render(report: RunReport, *, color: bool = False, width: int | None = None, limit: int = DEFAULT_LIMIT,
           show_all: bool = False, redactor: Any = None, **_: Any) -> str:
    """The report as text; ``limit`` entities per track grid and per group of failures unless ``show_all``."""
    report = redacted(report, redactor)
    paint = _Paint(color)
    cap = None if show_all else max(0, limit)
    lines: list[str] = []
    in_tracks: set[str] = set()
    for track in report.tracks:
        lines += _track_section(report, track, paint, cap, width or 120)
        for level in track.levels:
            in_tracks.update(lc.id for lc in level.checks)
    lines += _standalone_section(report, in_tracks, paint)
    lines += _failures_section(report, paint, cap)
    lines += [f"warning: {text}" for text in exemption_notices(report)]  # expired / expiring (issue 21)
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
