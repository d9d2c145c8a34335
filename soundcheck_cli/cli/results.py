"""``soundcheck results push|list|delete`` (issue 21): pushed results of ``type: manual`` checks, as Soundcheck's
Check Results API takes them (``POST /results``, ``GET /results``). The work is in ``app.results`` and
``results_store``; this module parses options and prints."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any, Optional

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
    norm_entity,
    open_store,
    plural,
    print_warnings,
)

results_app = typer.Typer(help="Push, list and delete results of type: manual checks (Soundcheck's POST /results).",
                          no_args_is_help=True, add_completion=False, epilog=USAGE_EXIT_CODES,
                          context_settings={"help_option_names": ["-h", "--help"]})

EntityFilterOpt = Annotated[Optional[str], typer.Option("--entity", "-e", metavar="REF", help="Only this entity.")]
CheckFilterOpt = Annotated[Optional[str], typer.Option("--check", metavar="ID", help="Only this check.")]
ScopeOpt = Annotated[Optional[str], typer.Option("--scope", metavar="SCOPE", help="Only this scope.")]


@results_app.command("push", epilog=USAGE_EXIT_CODES)
def push(
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON or YAML body of POST /results; - for stdin.")],
    submitted_by: Annotated[Optional[str], typer.Option(
        "--submitted-by", metavar="WHO", help="Who pushes (for results without submittedBy); default: $USER.")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Store results computed elsewhere, or a person's verdict, for checks of type manual.

    The body is {results: [{entityRef, checkId, state, details?, scope?, submittedBy?}], preserveStateOnError?}.
    A result for an unknown check or entity is an error at its file:line, and nothing is written.
    """
    from soundcheck_cli import app as core
    from soundcheck_cli.app.results import push_file

    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings)
    stored = push_file(workspace, file, submitted_by=submitted_by or os.environ.get("USER") or None)
    typer.echo(f"stored {plural(len(stored), 'result')}")


def _rows(store: Any, entity: str | None, check: str | None, scope: str | None) -> list[dict[str, Any]]:
    from soundcheck_cli.facts.interface import entity_key
    from soundcheck_cli.results_store import pushed_results

    key = entity_key(norm_entity(entity)) if entity else None
    return [r.to_json() for r in pushed_results(store)
            if (key is None or entity_key(r.entity_ref) == key) and (check is None or r.check_id == check)
            and (scope is None or r.scope == scope)]


@results_app.command("list", epilog=USAGE_EXIT_CODES)
def list_(
    entity: EntityFilterOpt = None,
    check: CheckFilterOpt = None,
    scope: ScopeOpt = None,
    format: TableOrJsonOpt = "table",
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """List the pushed results (who pushed each and when)."""
    check_table_or_json(format)
    with open_store(config, store) as st:
        rows = _rows(st, entity, check, scope)
    if format == "json":
        typer.echo(json.dumps({"results": rows}, indent=2, ensure_ascii=False))
        return
    for r in rows:
        who = r.get("submittedBy") or "(unknown)"
        scope_text = f" [{r['scope']}]" if r["scope"] != "default" else ""
        typer.echo(f"{r['checkId']:<28} {r['entityRef']:<40} {r['state']:<14} by {who} at {r.get('lastChecked')}"
                   f"{scope_text}")
    typer.echo(plural(len(rows), "pushed result"))


@results_app.command("delete", epilog=USAGE_EXIT_CODES)
def delete(
    entity: EntityFilterOpt = None,
    check: CheckFilterOpt = None,
    scope: ScopeOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete every pushed result.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Delete pushed results matching --entity/--check/--scope (or every one with --all)."""
    from soundcheck_cli.errors import UsageError
    from soundcheck_cli.results_store import delete_pushed

    if not (entity or check or scope or all_):
        raise UsageError("results delete: name what to delete with --entity, --check or --scope (or --all)")
    with open_store(config, store) as st:
        removed = delete_pushed(st, check_id=check, entity_ref=norm_entity(entity) if entity else None, scope=scope)
    typer.echo(f"deleted {plural(removed, 'pushed result')}")
