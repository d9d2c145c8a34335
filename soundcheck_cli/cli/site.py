"""``soundcheck site -o DIR``: write the static site (pages, badges, search) of the latest recorded run and the
kept history (``app.site``). It evaluates nothing: run ``check`` (or ``run``) first.

Exit codes: 0 the site was written (whatever the checks' states: a site is a report, not a gate); 2 no run is
recorded, the config or catalog is broken, or DIR cannot be written or is a folder that ``site`` did not write;
3 a bug.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from soundcheck_cli.cli.common import (
    CatalogOpt,
    CatalogUrlOpt,
    ConfigOpt,
    QuietOpt,
    StoreOpt,
    common_options,
    plural,
    print_warnings,
)

SITE_EXIT_CODES = ("Exit codes: 0 the site was written; 2 no run recorded yet, usage or configuration error, or DIR "
                   "cannot be replaced; 3 internal error (a bug: please report it).")


def site(
    output: Annotated[str, typer.Option("--output", "-o", metavar="DIR",
                                        help="Folder to write the site into (replaced whole; created if missing).")],
    title: Annotated[Optional[str], typer.Option(
        "--title", metavar="TEXT", help="Site title. Default: app.title of the config, else Soundcheck.")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write a static HTML site of the latest recorded run: overview, tracks, checks, owners, entities, badges.

    Reads the run history of `check` (it evaluates nothing), the config (titles) and the catalog (owners). The
    folder works from file:// and any static host: relative links only, nothing remote. See docs/site.md.
    """
    from soundcheck_cli import app as core
    from soundcheck_cli.app.site import SiteOptions, build_site

    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings, quiet)
    summary = build_site(workspace, SiteOptions(output=output, title=title))
    if summary.partial and not quiet:
        typer.echo("warning: the latest run was limited (--track/--check): the site shows only what it evaluated",
                   err=True)
    typer.echo(f"site written to {summary.path}: {plural(summary.pages, 'page')}, {plural(summary.badges, 'badge')} "
               f"({plural(summary.entities, 'entity', 'entities')}, run {summary.run_id})")
