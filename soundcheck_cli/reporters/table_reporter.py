"""The ``table`` format, for people: per track, entities × levels with the level reached, then the checks that
did not pass with their messages, then a summary line. Rendered with rich into a string (pure: no terminal I/O).
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from soundcheck_cli.reporters.common import NOT_PASSING, state_counts, summary_line
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState

STATE_STYLE = {
    CheckState.PASSED: ("passed", "green"),
    CheckState.FAILED: ("failed", "red"),
    CheckState.WARNING: ("warning", "yellow"),
    CheckState.NOT_APPLICABLE: ("not-applicable", "dim"),
    CheckState.NOT_REPORTED: ("not-reported", "magenta"),
    CheckState.ERROR: ("error", "bold red"),
    CheckState.EXEMPT: ("exempt", "cyan"),
}


def render(report: RunReport, *, color: bool = False, width: int | None = None, **_: Any) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        width=width or 120,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    checks_by_id = {c.id: c for c in report.checks}
    results_by_check: dict[str, list[CheckResult]] = defaultdict(list)
    for r in report.check_results:
        results_by_check[r.check_id].append(r)

    in_tracks: set[str] = set()
    for track in report.tracks:
        rows = [tr for tr in report.track_results if tr.track_id == track.id]
        title = f"{track.title} ({track.id})"
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("Entity", no_wrap=True)
        for level in track.levels:
            header = f"{level.ordinal}. {level.name}" if level.name else f"Level {level.ordinal}"
            table.add_column(header, justify="center")
            in_tracks.update(lc.id for lc in level.checks)
        table.add_column("Level reached")
        for tr in rows:
            cells: list[Any] = [tr.entity_ref]
            for lr in tr.levels:
                states = [c.state for c in lr.checks]
                if lr.certified:
                    cells.append(Text("✔", style="green"))
                elif any(s in (CheckState.NOT_REPORTED, CheckState.ERROR) for s in states) and not any(
                    s is CheckState.FAILED for s in states
                ):
                    cells.append(Text("?", style="magenta"))
                else:
                    cells.append(Text("✘", style="red"))
            reached = tr.highest_level
            cells.append(
                Text(f"{reached.ordinal}. {reached.name or 'Level ' + str(reached.ordinal)}", style="green")
                if reached
                else Text("none", style="red")
            )
            table.add_row(*cells)
        if not rows:
            table.caption = "no entity selected by this track's filter"
        console.print(table)
        certified_top = sum(
            1 for tr in rows if tr.highest_level and track.levels and tr.highest_level.ordinal == track.levels[-1].ordinal
        )
        console.print(
            f"  {certified_top}/{len(rows)} entities reached the top level"
            "   (✔ certified, ✘ a check failed, ? facts missing or a check errored)\n"
        )

    standalone = [c for c in report.checks if c.id not in in_tracks]
    if standalone:
        table = Table(title="Checks not in a track", title_justify="left")
        table.add_column("Check", no_wrap=True)
        for state in CheckState:
            table.add_column(STATE_STYLE[state][0], justify="right")
        for c in standalone:
            counts = state_counts(results_by_check.get(c.id, []))
            table.add_row(c.id, *[str(counts[s]) if counts[s] else "" for s in CheckState])
        console.print(table)
        console.print()

    problems = [r for r in report.check_results if r.state in NOT_PASSING]
    if problems:
        table = Table(title="Checks that did not pass", title_justify="left", show_lines=False)
        table.add_column("State", no_wrap=True)
        table.add_column("Check", no_wrap=True)
        table.add_column("Entity", no_wrap=True)
        table.add_column("Message", overflow="fold")
        order = {s: i for i, s in enumerate(NOT_PASSING)}
        for r in sorted(problems, key=lambda r: (order[r.state], r.check_id, r.entity_ref)):
            label, style = STATE_STYLE[r.state]
            check = checks_by_id.get(r.check_id)
            table.add_row(Text(label, style=style), check.id if check else r.check_id, r.entity_ref, r.message)
        console.print(table)

    console.print(summary_line(report))
    return buffer.getvalue()
