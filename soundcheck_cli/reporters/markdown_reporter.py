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

from collections import defaultdict
from itertools import groupby
from typing import Any

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
    state_counts,
    summary_line,
    track_rows,
)
from soundcheck_cli.exemptions import notices as exemption_notices
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


def _track_section(report: RunReport, track: Any) -> list[str]:
    rows = track_rows(report, track)
    lines = [f"### {cell(track.title)} ({code(track.id)})", ""]
    if not rows:
        return lines + ["_No entity is selected by this track's filter._", ""]
    certified_at: dict[int, int] = defaultdict(int)
    for tr in rows:
        for lv in tr.levels:
            if lv.certified:
                certified_at[lv.ordinal] += 1
    lines += ["| Level | Highest level reached | Certified at this level |", "| --- | ---: | ---: |"]
    by_label = dict(level_distribution(track, rows))
    lines.append(f"| none | {by_label.get('none', 0)} | |")
    for lv in track.levels:
        label = level_label(lv.ordinal, lv.name)
        lines.append(f"| {cell(label)} | {by_label.get(label, 0)} | {certified_at.get(lv.ordinal, 0)} |")
    top = track.levels[-1].ordinal if track.levels else None
    at_top = sum(1 for tr in rows if tr.highest_level is not None and tr.highest_level.ordinal == top)
    lines += ["", f"{at_top}/{len(rows)} entities reached the top level.", ""]
    return lines


def render(report: RunReport, *, max_rows: int = DEFAULT_MAX_ROWS, title: str = "Soundcheck results",
           limit: int = DEFAULT_LIMIT, show_all: bool = False, redactor: Any = None, **_: Any) -> str:
    report = redacted(report, redactor)
    index = build_index(report)
    lines = [f"## {cell(title)}", "", cell(summary_line(report)), ""]
    lines += [f"> ⚠️ {cell(text)}\n" for text in exemption_notices(report)]  # expired / expiring (issue 21)
    for track in report.tracks:
        lines += _track_section(report, track)

    alone = standalone_checks(report, index)
    if alone:
        lines += ["### Checks not in a track", "", "| Check | passed | failed | warning | other |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        by_check: dict[str, list[CheckResult]] = defaultdict(list)
        for r in report.check_results:
            by_check[r.check_id].append(r)
        for c in alone:
            counts = state_counts(by_check.get(c.id, []))
            other = sum(n for s, n in counts.items() if s not in (CheckState.PASSED, CheckState.FAILED, CheckState.WARNING))
            lines.append(f"| {code(c.id)} | {counts[CheckState.PASSED]} | {counts[CheckState.FAILED]} | "
                         f"{counts[CheckState.WARNING]} | {other} |")
        lines.append("")

    not_passing = [r for r in report.check_results if r.state in NOT_PASSING]
    if not not_passing:
        lines += ["### Checks that did not pass", "", "None: every evaluated check passed. ✅", ""]
        return "\n".join(lines)
    order = {s: i for i, s in enumerate(NOT_PASSING)}
    lines += _by_check(not_passing, order)
    groups: dict[str, list[CheckResult]] = defaultdict(list)
    for r in not_passing:
        groups[owner_of(index.check(r.check_id), index.entity(r.entity_ref))].append(r)
    lines += [f"### Checks that did not pass, by owner ({len(not_passing)})", ""]
    cap = None if show_all else max_rows  # rows in all; a step summary holds at most 1 MiB
    per_check = None if show_all else max(0, limit)  # rows per owner and check
    rows = 0  # result rows written
    accounted = 0  # results written or counted in an "... and N more" row
    for owner in sorted(groups, key=lambda o: (o.startswith("("), o.lower())):
        if cap is not None and rows >= cap:
            break
        items = sorted(groups[owner], key=lambda r: (order[r.state], r.check_id, r.entity_ref))
        lines += [f"#### {cell(owner)} ({len(items)})", "", "| State | Check | Entity | Message |",
                  "| --- | --- | --- | --- |"]
        for (state, check_id), grouped in groupby(items, key=lambda r: (r.state, r.check_id)):
            group = list(grouped)
            for r in group if per_check is None else group[:per_check]:
                if cap is not None and rows >= cap:
                    break
                lines.append(f"| {STATE_ICON[r.state]} {r.state.value} | {code(r.check_id)} | {code(r.entity_ref)} | "
                             f"{cell(message_of(r, index.check(r.check_id)))} |")
                rows += 1
                accounted += 1
            if cap is not None and rows >= cap:
                break
            if per_check is not None and len(group) > per_check:
                lines.append(f"| {STATE_ICON[state]} {state.value} | {code(check_id)} | "
                             f"_… and {len(group) - per_check:,} more_ | use `--all` or the `json` report |")
                accounted += len(group) - per_check
        lines.append("")
    if accounted < len(not_passing):
        lines += [f"_{len(not_passing) - accounted} more not shown (limit {max_rows}); see the full report._", ""]
    return "\n".join(lines)


def _by_check(not_passing: list[CheckResult], order: dict[CheckState, int]) -> list[str]:
    """How many results of each check did not pass, by state: the whole picture of a big run in a few rows."""
    counts: dict[str, list[int]] = {}
    for r in not_passing:
        counts.setdefault(r.check_id, [0] * len(order))[order[r.state]] += 1
    lines = ["### Checks that did not pass, by check", "",
             "| Check | " + " | ".join(s.value for s in NOT_PASSING) + " |",
             "| --- | " + " | ".join("---:" for _ in NOT_PASSING) + " |"]
    for check_id in sorted(counts):
        lines.append(f"| {code(check_id)} | " + " | ".join(f"{n:,}" if n else "" for n in counts[check_id]) + " |")
    return lines + [""]
