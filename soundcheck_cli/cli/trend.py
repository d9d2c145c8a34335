"""``soundcheck trend [--by ...] [--track ID] [--since 90d]``: pass rates and levels over the kept runs (issue 21).

Reads the store's history and the catalog; never evaluates. ``-f html`` draws the pass rates as an inline SVG
chart. Exit codes: 0 ok (an empty trend too), 2 usage or configuration error.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Optional

import typer

from soundcheck_cli.cli.common import CatalogOpt, CatalogUrlOpt, ConfigOpt, StoreOpt, common_options, print_warnings
from soundcheck_cli.cli.report import OutputOpt, TrackOpt, check_format, emit
from soundcheck_cli.errors import UsageError

_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(text: str) -> timedelta | None:
    """``90d``, ``12w``, ``36h``, an ISO-8601 duration (``P90D``), or ``all`` (None: every kept run)."""
    if text.strip().lower() == "all":
        return None
    found = _SINCE.match(text)
    if found:
        return int(found.group(1)) * _UNITS[found.group(2)]
    from soundcheck_cli.errors import Problems
    from soundcheck_cli.located.durations import parse_duration

    value = parse_duration(text.strip(), Problems(), "--since") if text.strip().upper().startswith("P") else None
    if value is None:
        raise UsageError(f"--since {text!r}: give a duration such as 90d, 12w, 36h, P90D, or all")
    return value


def trend(
    by: Annotated[Optional[str], typer.Option("--by", metavar="owner|system|domain|group|kind",
                                              help="One series per group (default: one series, every entity).")] = None,
    track: TrackOpt = None,
    since: Annotated[str, typer.Option("--since", metavar="DURATION",
                                       help="Only runs of this last period: 90d, 12w, 36h, P90D or all.")] = "90d",
    format: Annotated[str, typer.Option("--format", "-f", metavar="table|json|csv|markdown|html",
                                        help="Output format (html: with an SVG chart).")] = "table",
    output: OutputOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show pass rates and certification levels over the recorded `check` runs, oldest first."""
    from soundcheck_cli import app as core
    from soundcheck_cli.app.rollups import RollupOptions, trend as rollup_trend
    from soundcheck_cli.rollups.render import TREND_FORMATS, render_trend

    check_format(format, TREND_FORMATS)
    period = parse_since(since)
    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings)
    doc = rollup_trend(workspace, RollupOptions(by=by, track=track, since=period))
    emit(render_trend(doc, format), output)
