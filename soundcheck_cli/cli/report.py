"""``soundcheck report --by owner|system|domain|group|kind``: rollups of a recorded run (issue 21).

Reads the store's history and the catalog (for owners, systems, domains, the Group hierarchy); never evaluates.
Exit codes: 0 ok, 1 no run recorded yet, 2 usage or configuration error.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from soundcheck_cli.cli.common import CatalogOpt, CatalogUrlOpt, ConfigOpt, StoreOpt, common_options, print_warnings
from soundcheck_cli.errors import UsageError

ROLLUP_EXIT_CODES = ("Exit codes: 0 ok; 1 no run recorded yet; 2 usage or configuration error; 3 internal error "
                     "(a bug: please report it).")
ByOpt = Annotated[str, typer.Option("--by", metavar="owner|system|domain|group|kind",
                                    help="Group entities by owner, system, domain, Group (a parent Group includes "
                                    "its subgroups' entities) or kind.")]
TrackOpt = Annotated[Optional[str], typer.Option("--track", "-t", metavar="ID",
                                                 help="Only this track: its checks and its levels.")]
OutputOpt = Annotated[Optional[str], typer.Option("--output", "-o", metavar="FILE",
                                                  help="Write to this file instead of stdout.")]


def emit(text: str, output: str | None) -> None:
    """Print (or write to ``output``) with every known secret masked."""
    from soundcheck_cli.redact import GLOBAL

    text = GLOBAL.redact_known(text)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def check_format(fmt: str, formats: tuple[str, ...]) -> None:
    if fmt not in formats:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(formats)}")


def report(
    by: ByOpt = "owner",
    track: TrackOpt = None,
    run: Annotated[Optional[str], typer.Option("--run", metavar="ID",
                                               help="This recorded run (default: the latest).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", metavar="table|json|csv|markdown|html",
                                        help="Output format.")] = "table",
    output: OutputOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Roll up the latest recorded `check` run per owner, system, domain, Group or kind: entities, pass rate per
    check, certification levels per track."""
    from soundcheck_cli import app as core
    from soundcheck_cli.app.rollups import RollupOptions, report as rollup_report
    from soundcheck_cli.rollups.render import REPORT_FORMATS, render_report

    check_format(format, REPORT_FORMATS)
    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings)
    doc = rollup_report(workspace, RollupOptions(by=by, track=track, run=run))
    emit(render_report(doc, format), output)
