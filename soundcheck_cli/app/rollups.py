"""``soundcheck report`` and ``soundcheck trend``: rollups of the recorded runs, grouped with the catalog.

Both read the store's history (``history.store``) and the catalog as loaded now (``app.load_workspace``); they
never evaluate. ``report`` rolls up one run (the latest by default); ``trend`` rolls up every kept run since a
time, oldest first. See ``docs/rollups.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from soundcheck_cli.errors import ExitCode, SoundcheckError, UsageError
from soundcheck_cli.facts.model import format_timestamp, utcnow


class NothingRecorded(SoundcheckError):
    """No recorded run to roll up: exit code 1 (a report of nothing is not a success)."""

    exit_code = ExitCode.CHECKS_FAILED


@dataclass(frozen=True)
class RollupOptions:
    by: str | None = None  # owner, system, domain, group, kind; None: every entity together
    track: str | None = None
    run: str | None = None  # report: this run id (default: the latest)
    since: timedelta | None = None  # trend: only runs newer than now - since


def _grouping(workspace: Any, by: str | None) -> tuple[Any, Any]:
    from soundcheck_cli.rollups.compute import TOTAL
    from soundcheck_cli.rollups.groups import BY, Catalog, membership

    if by is None:
        return (lambda ref: (TOTAL,)), (lambda label: "all entities")
    if by not in BY:
        raise UsageError(f"unknown --by {by!r}; choose one of {', '.join(BY)}")
    catalog = Catalog(workspace.entities)
    return membership(catalog, by), catalog.display


def _check_track(workspace: Any, track: str | None) -> None:
    if track is not None and track not in {t.id for t in workspace.settings.tracks}:
        known = ", ".join(t.id for t in workspace.settings.tracks) or "none configured"
        raise UsageError(f"unknown track {track!r} (tracks: {known})")


def report(workspace: Any, options: RollupOptions) -> dict[str, Any]:
    """The rollup of one recorded run: ``{run, timestamp, by, track, groups: [...], total}``."""
    from soundcheck_cli.history.store import History
    from soundcheck_cli.rollups.compute import rollup

    _check_track(workspace, options.track)
    groups_of, title = _grouping(workspace, options.by or "owner")
    with workspace.open_store() as store:
        history = History(store)
        runs = history.runs()
        if not runs:
            raise NothingRecorded("no runs recorded yet: every `soundcheck check` run records one")
        info = runs[-1]
        if options.run is not None:
            found = [r for r in runs if r.id == options.run]
            if not found:
                raise UsageError(f"no recorded run {options.run!r} (see `soundcheck history -f json` for run ids)")
            info = found[0]
        doc = history.run_doc(info)
    groups, total = rollup(doc, groups_of, title, options.track)
    return {"run": info.id, "timestamp": format_timestamp(info.timestamp), "by": options.by or "owner",
            "track": options.track, "groups": [g.to_json() for g in groups], "total": total.to_json()}


def trend(workspace: Any, options: RollupOptions, *, now: datetime | None = None) -> dict[str, Any]:
    """One point per kept run since ``now - since``, per group: ``{by, track, since, runs: [...], series:
    [{group, title, points: [{run, timestamp, entities, results, passing, passRate, states, checks, tracks}]}]}``."""
    from soundcheck_cli.history.store import History
    from soundcheck_cli.rollups.compute import rollup

    _check_track(workspace, options.track)
    groups_of, title = _grouping(workspace, options.by)
    start = (now or utcnow()) - options.since if options.since is not None else None
    series: dict[str, dict[str, Any]] = {}
    runs_out: list[dict[str, Any]] = []
    with workspace.open_store() as store:
        history = History(store)
        for info in history.runs():
            if start is not None and info.timestamp < start:
                continue
            stamp = format_timestamp(info.timestamp)
            runs_out.append({"run": info.id, "timestamp": stamp, "selection": info.selection})
            groups, total = rollup(history.run_doc(info), groups_of, title, options.track)
            for g in groups if options.by else [total]:
                point = g.to_json()
                label, shown = point.pop("group"), point.pop("title")
                entry = series.setdefault(label, {"group": label, "title": shown, "points": []})
                entry["points"].append({"run": info.id, "timestamp": stamp, **point})
    ordered = sorted(series.values(), key=lambda s: (s["group"].startswith("("), s["group"]))
    return {"by": options.by, "track": options.track,
            "since": format_timestamp(start) if start is not None else None, "runs": runs_out, "series": ordered}
