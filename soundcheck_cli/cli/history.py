"""CLI commands over the run history and the exemptions (issue 6):

- ``soundcheck history [--entity REF] [--check ID] [--track ID]``: state changes over the recorded runs;
- ``soundcheck diff``: what the latest run changed against the state before it (new failures, fixes, other
  changes, level changes);
- ``soundcheck exemptions``: the configured exemptions with their expiry status.

They read the store's history (``history.store``) and render it; they never evaluate anything.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from soundcheck_cli.cli.common import (
    CatalogOpt,
    CatalogUrlOpt,
    ConfigOpt,
    StoreOpt,
    TableOrJsonOpt as FormatOpt,
    check_table_or_json as _check_format,
    common_options,
    norm_entity,
    open_store,
    plural,
    print_warnings,
)


def _level(ordinal: int | None) -> str:
    return "no level" if ordinal is None else f"level {ordinal}"


def _rows(record: Any, before: Any, entity: str | None, check: str | None, track: str | None,
          show_new: bool) -> list[dict[str, Any]]:
    from soundcheck_cli.history.changes import compare

    changes = compare(before, record.states)
    track_checks: set[str] | None = None
    if track is not None:
        shape = record.states.tracks.get(track)
        track_checks = {c for level in (shape.checks if shape else []) for c in level}
    rows: list[dict[str, Any]] = []
    for c in changes.checks:
        if (entity and c.entity_ref.lower() != entity) or (check and c.check_id != check):
            continue
        if track_checks is not None and c.check_id not in track_checks:
            continue
        if c.previous is None and not show_new:
            continue
        message = record.messages.get((c.check_id, c.entity_ref.lower()), "")
        rows.append({"type": "check", "kind": c.kind, "checkId": c.check_id, "entityRef": c.entity_ref,
                     "previousState": c.previous, "state": c.current, "message": message})
    if check is None:
        for h in changes.highest:
            if (entity and h.entity_ref.lower() != entity) or (track and h.track_id != track):
                continue
            if h.first and not show_new:
                continue
            rows.append({"type": "certification", "kind": "level-up" if (h.current or 0) > (h.previous or 0)
                         else "level-down", "trackId": h.track_id, "entityRef": h.entity_ref,
                         "previousLevel": None if h.first else h.previous, "level": h.current, "first": h.first})
    return rows


def _show_row(row: dict[str, Any]) -> str:
    if row["type"] == "check":
        prev = row["previousState"] or "(new)"
        message = f"  {row['message']}" if row.get("message") and row["state"] != "passed" else ""
        return f"  check {row['checkId']:<32} {row['entityRef']:<40} {prev} -> {row['state']}{message}"
    prev = "(new)" if row["first"] else _level(row["previousLevel"])
    return f"  track {row['trackId']:<32} {row['entityRef']:<40} {prev} -> {_level(row['level'])}"


def history(
    entity: Annotated[Optional[str], typer.Option("--entity", "-e", metavar="REF", help="Only this entity.")] = None,
    check: Annotated[Optional[str], typer.Option("--check", metavar="ID", help="Only this check.")] = None,
    track: Annotated[Optional[str], typer.Option("--track", "-t", metavar="ID",
                                                 help="Only this track (its levels and checks).")] = None,
    format: FormatOpt = "table",
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show how check states and certification levels changed over the recorded `check` runs (oldest first)."""
    from soundcheck_cli.facts.model import format_timestamp
    from soundcheck_cli.history.store import History

    _check_format(format)
    key = norm_entity(entity).lower() if entity else None
    narrowed = bool(key or check or track)
    out: list[dict[str, Any]] = []
    with open_store(config, store) as st:
        for index, (record, before) in enumerate(History(st).replay()):
            rows = _rows(record, before, key, check, track, show_new=narrowed or index > 0)
            out.append({"run": record.info.id, "timestamp": format_timestamp(record.info.timestamp),
                        "first": index == 0, "results": sum(record.info.counts.values()), "changes": rows})
    if format == "json":
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not out:
        typer.echo("no runs recorded yet (every `soundcheck check` run records one)")
        return
    for run in out:
        if not run["changes"] and not run["first"]:
            continue
        note = (f"first recorded run: {plural(run['results'], 'result')}" if run["first"]
                else plural(len(run["changes"]), "change"))
        typer.echo(f"{run['timestamp']}  ({note})")
        for row in run["changes"]:
            typer.echo(_show_row(row))
    changed = sum(len(r["changes"]) for r in out if not r["first"] or narrowed)
    typer.echo(f"{plural(len(out), 'run')} recorded, {plural(changed, 'change')} shown")


def diff(
    format: FormatOpt = "table",
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show what the latest `check` run changed since the previous one: new failures, fixes, level changes."""
    from soundcheck_cli.facts.model import format_timestamp
    from soundcheck_cli.history.store import History

    _check_format(format)
    with open_store(config, store) as st:
        replayed = list(History(st).replay())
    if len(replayed) < 2:
        if format == "json":
            typer.echo(json.dumps({"run": replayed[-1][0].info.id if replayed else None, "previousRun": None,
                                   "changes": []}, indent=2))
            return
        typer.echo("fewer than two runs recorded: nothing to compare yet" if replayed else "no runs recorded yet")
        return
    (record, before), previous = replayed[-1], replayed[-2][0]
    rows = _rows(record, before, None, None, None, show_new=True)
    if format == "json":
        typer.echo(json.dumps({"run": record.info.id, "timestamp": format_timestamp(record.info.timestamp),
                               "previousRun": previous.info.id, "changes": rows}, indent=2, ensure_ascii=False))
        return
    typer.echo(f"since {format_timestamp(previous.info.timestamp)} (run {format_timestamp(record.info.timestamp)}):")
    groups = [("New failures", lambda r: r["type"] == "check" and r["kind"] == "new-failure"),
              ("Fixed", lambda r: r["type"] == "check" and r["kind"] == "fixed"),
              ("Other changes", lambda r: r["type"] == "check" and r["kind"] == "changed"),
              ("Level changes", lambda r: r["type"] == "certification")]
    for title, wanted in groups:
        chosen = [r for r in rows if wanted(r)]
        if chosen:
            typer.echo(f"{title} ({len(chosen)}):")
            for row in chosen:
                typer.echo(_show_row(row))
    if not rows:
        typer.echo("no changes")


def exemptions(
    format: FormatOpt = "table",
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    expiring_within: int = 30,
) -> None:
    """List the exemptions of soundcheck.exemptions, with their expiry status (expired ones no longer apply).
    Registered under ``cli.exemptions`` (with ``add``, ``revoke`` and ``audit``)."""
    from soundcheck_cli import app as core
    from soundcheck_cli.exemptions import describe_expiry, status
    from soundcheck_cli.facts.model import utcnow

    _check_format(format)
    settings, warnings = core.load_settings(common_options(config, catalog, store, catalog_url))
    print_warnings(warnings)
    now = utcnow()
    rows = [{"checkId": e.check_id, "entityRef": e.entity_ref, "reason": e.reason, "by": e.by,
             "expires": None if e.expires is None else describe_expiry(e), "status": status(e, now, expiring_within),
             "source": str(e.location) if e.location else None} for e in settings.exemptions]
    if format == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        by = f" by {r['by']}" if r["by"] else ""
        until = f" until {r['expires']}" if r["expires"] else ""
        typer.echo(f"{r['checkId']:<32} {r['entityRef']:<40} {r['status']}{until}{by}: {r['reason']}  {r['source'] or ''}")
    expired = sum(1 for r in rows if r["status"] == "expired")
    expiring = sum(1 for r in rows if r["status"].startswith("active (expires"))
    typer.echo(f"{plural(len(rows), 'exemption')}, {expired} expired, {expiring} expiring within {expiring_within} "
               f"days")
