"""``soundcheck exemptions [add|revoke|audit]`` (issues 6 and 21): without a subcommand, the configured exemptions
with their expiry status (``cli.history.exemptions``); ``add``/``revoke`` edit the exemptions file and record who,
why and when in the store's audit trail (``app.exemptions``); ``audit`` lists that trail."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

from soundcheck_cli.cli.common import (
    USAGE_EXIT_CODES,
    CatalogOpt,
    CatalogUrlOpt,
    ConfigOpt,
    StoreOpt,
    TableOrJsonOpt,
    check_table_or_json,
    common_options,
    open_store,
    print_warnings,
)
from soundcheck_cli.cli.help import PLAIN_HELP, SummaryGroup

exemptions_app = typer.Typer(help="List, add and revoke check exemptions (soundcheck.exemptions).",
                             invoke_without_command=True, no_args_is_help=False, cls=SummaryGroup,
                             epilog=USAGE_EXIT_CODES, **PLAIN_HELP)

CheckIdOpt = Annotated[str, typer.Option("--check", metavar="ID", help="The check.")]
EntityRefOpt = Annotated[str, typer.Option("--entity", "-e", metavar="REF", help="The entity ([kind:][ns/]name).")]
ByOpt = Annotated[Optional[str], typer.Option("--by", metavar="WHO", help="Who decides (default: $USER).")]
FileOpt = Annotated[Optional[str], typer.Option(
    "--file", metavar="FILE", help="The exemptions file (default: the file soundcheck.exemptions includes).")]
WithinOpt = Annotated[int, typer.Option("--expiring-within", metavar="DAYS", min=0,
                                        help="Mark exemptions expiring within DAYS days.")]


@exemptions_app.callback()
def exemptions(
    ctx: typer.Context,
    format: TableOrJsonOpt = "table",
    expiring_within: WithinOpt = 14,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """List the exemptions of soundcheck.exemptions, with their expiry status (expired ones no longer apply)."""
    if ctx.invoked_subcommand is not None:
        return
    from soundcheck_cli.cli.history import exemptions as list_exemptions

    list_exemptions(format, config, catalog, catalog_url, store, expiring_within)


def _workspace(config: list[str] | None, catalog: list[str] | None, catalog_url: str | None,
               store: str | None) -> object:
    from soundcheck_cli import app as core

    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings)
    return workspace


@exemptions_app.command("add", epilog=USAGE_EXIT_CODES)
def add(
    check: CheckIdOpt,
    entity: EntityRefOpt,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why the check does not apply.")],
    expires: Annotated[Optional[str], typer.Option(
        "--expires", metavar="DATE", help="Last day it holds (2026-06-30, UTC) or a timestamp.")] = None,
    by: ByOpt = None,
    file: FileOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Exempt an entity from a check (renews an existing exemption of the pair), recorded in the audit trail."""
    from soundcheck_cli.app import exemptions as app_exemptions
    from soundcheck_cli.cli.common import err

    change = app_exemptions.add(_workspace(config, catalog, catalog_url, store), check, entity, reason,
                                expires=expires, by=by or os.environ.get("USER") or None, file=file)
    if change.warning:
        err(f"warning: {change.warning}")
    until = f" until {change.expires}" if change.expires else ""
    typer.echo(f"{change.action}: {change.entity_ref} exempted from {change.check_id}{until} ({change.file})")


@exemptions_app.command("revoke", epilog=USAGE_EXIT_CODES)
def revoke(
    check: CheckIdOpt,
    entity: EntityRefOpt,
    reason: Annotated[Optional[str], typer.Option("--reason", metavar="TEXT",
                                                  help="Why (for the audit trail).")] = None,
    by: ByOpt = None,
    file: FileOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Remove the exemption of an entity from a check, recorded in the audit trail."""
    from soundcheck_cli.app import exemptions as app_exemptions

    change = app_exemptions.revoke(_workspace(config, catalog, catalog_url, store), check, entity, reason=reason,
                                   by=by or os.environ.get("USER") or None, file=file)
    typer.echo(f"revoked: {change.entity_ref} is no longer exempted from {change.check_id} ({change.file})")


@exemptions_app.command("audit", epilog=USAGE_EXIT_CODES)
def audit(format: TableOrJsonOpt = "table", config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """List every exemption added, renewed or revoked from the CLI: when, who, what and why."""
    from soundcheck_cli.app.exemptions import audit_trail

    check_table_or_json(format)
    with open_store(config, store) as st:
        trail = audit_trail(st)
    if format == "json":
        typer.echo(json.dumps(trail, indent=2, ensure_ascii=False))
        return
    for e in trail:
        until = f" until {e['expires']}" if e.get("expires") else ""
        why = f": {e['reason']}" if e.get("reason") else ""
        typer.echo(f"{e['at']}  {e['action']:<8} {e['checkId']:<28} {e['entityRef']:<40} by {e.get('by') or '?'}"
                   f"{until}{why}")
    typer.echo(f"{len(trail)} change{'s' if len(trail) != 1 else ''} recorded")
