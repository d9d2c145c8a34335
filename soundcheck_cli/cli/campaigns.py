"""``soundcheck campaigns [ID] [-f table|json|markdown|csv]`` (issue 21): each campaign's progress overall and per
owner, what each entity still fails, days to the deadline, overdue marked. Computed by ``app.campaigns`` from a
fresh evaluation of the store; this module only renders."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Optional

import typer

from soundcheck_cli.cli.common import (
    CatalogOpt,
    CatalogUrlOpt,
    ConfigOpt,
    QuietOpt,
    StoreOpt,
    common_options,
    print_warnings,
)
from soundcheck_cli.errors import UsageError

FORMATS = ("table", "json", "markdown", "csv")
MAX_LISTED = 20  # entities listed per campaign in table/markdown (every one in json/csv)


def _deadline(p: Any) -> str:
    c = p.campaign
    if c.deadline is None:
        return "no deadline"
    days = p.days_left
    if days is None:
        return ""
    if days < 0:
        when = f"{-days} day{'s' if days != -1 else ''} past the deadline"
    else:
        when = f"{days} day{'s' if days != 1 else ''} left"
    return f"deadline {c.end_text} ({when})"


def _status(p: Any) -> str:
    return "OVERDUE" if p.overdue else p.status


def render_table(items: list[Any]) -> str:
    lines: list[str] = []
    for p in items:
        c = p.campaign
        lines.append(f"{c.id} ({c.title}): {p.overall.done}/{p.overall.total} entities done "
                     f"({p.overall.percent:g}%) - {_status(p)} - {_deadline(p)}")
        if c.owner_entity_ref:
            lines.append(f"  owner: {c.owner_entity_ref}")
        for owner, t in sorted(p.owners.items()):
            lines.append(f"  {owner:<40} {t.done}/{t.total} ({t.percent:g}%)")
        remaining = [e for e in p.entities if not e.done]
        for e in remaining[:MAX_LISTED]:
            lines.append(f"    {e.entity_ref} ({e.owner}): {'; '.join(e.failing)}")
        if len(remaining) > MAX_LISTED:
            lines.append(f"    ... and {len(remaining) - MAX_LISTED} more (-f json or csv lists every one)")
        lines.append("")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(items: list[Any]) -> str:
    lines: list[str] = []
    for p in items:
        c = p.campaign
        mark = " **OVERDUE**" if p.overdue else ""
        lines += [f"## {_cell(c.title)}{mark}", "",
                  f"{p.overall.done}/{p.overall.total} entities done ({p.overall.percent:g}%), {_status(p)}, "
                  f"{_cell(_deadline(p))}", "", "| Owner | Done | Total | % |", "| --- | ---: | ---: | ---: |"]
        for owner, t in sorted(p.owners.items()):
            lines.append(f"| {_cell(owner)} | {t.done} | {t.total} | {t.percent:g} |")
        remaining = [e for e in p.entities if not e.done]
        if remaining:
            lines += ["", "| Entity | Owner | Still failing |", "| --- | --- | --- |"]
            for e in remaining[:MAX_LISTED]:
                lines.append(f"| {_cell(e.entity_ref)} | {_cell(e.owner)} | {_cell('; '.join(e.failing))} |")
            if len(remaining) > MAX_LISTED:
                lines.append(f"\n... and {len(remaining) - MAX_LISTED} more")
        lines.append("")
    return "\n".join(lines)


def render_csv(items: list[Any]) -> str:
    """One row per (campaign, entity): done or what it still fails."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["campaign", "status", "endDate", "daysLeft", "entityRef", "owner", "done", "failing"])
    for p in items:
        for e in p.entities:
            writer.writerow([p.campaign.id, _status(p).lower(), p.campaign.end_text or "", p.days_left
                             if p.days_left is not None else "", e.entity_ref, e.owner, str(e.done).lower(),
                             "; ".join(e.failing)])
    return buf.getvalue()


def campaigns(
    campaign_id: Annotated[Optional[str], typer.Argument(metavar="[ID]", help="Only this campaign.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", metavar="table|json|markdown|csv",
                                        help="Output format.")] = "table",
    all_: Annotated[bool, typer.Option("--all", help="Include archived campaigns.")] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Show each campaign's progress: entities done/total, overall and per owner, what each still fails, days to
    the deadline (overdue marked). Evaluated afresh from the store; nothing is recorded."""
    from soundcheck_cli import app as core
    from soundcheck_cli.app.campaigns import campaign_progress
    from soundcheck_cli.redact import GLOBAL

    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; choose {', '.join(FORMATS)}")
    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings, quiet)
    items = campaign_progress(workspace, (campaign_id,) if campaign_id else (), include_archived=all_)
    if format == "json":
        text = json.dumps({"campaigns": [p.to_json() for p in items]}, indent=2, ensure_ascii=False) + "\n"
    elif format == "csv":
        text = render_csv(items)
    elif not items:
        text = "no campaigns defined (soundcheck.campaigns)\n"
    else:
        text = render_markdown(items) if format == "markdown" else render_table(items)
    typer.echo(GLOBAL.redact_known(text), nl=False)
