"""The command-line shell: Typer commands only. Each command parses its options, calls ``app``, prints, and exits
with a code; ``run_cli`` is the one place that turns errors into exit codes:

  0  every evaluated check passed (warnings and not-applicable allowed); for ``collect``: every due fact collected
  1  some check failed, was not reported or errored, a track level was not reached, or nothing was evaluated; for
     ``collect``: some facts could not be collected (the facts collected earlier are kept)
  2  usage or configuration error (bad option, malformed config or catalog, unknown id)
  3  internal error (a bug: please report it; set SOUNDCHECK_DEBUG=1 for the traceback)
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Optional

import typer

from soundcheck_cli import __version__
from soundcheck_cli.cli.common import (
    USAGE_EXIT_CODES,
    CatalogOpt,
    CatalogUrlOpt,
    ConfigOpt,
    QuietOpt,
    StoreOpt,
    TableOrJsonOpt,
    common_options,
    err,
    log_line,
    norm_entity,
    open_store,
    parse_fact_ref,
    plural,
    print_warnings,
    say,
)
from soundcheck_cli.cli.help import PLAIN_HELP, SummaryGroup
from soundcheck_cli.errors import ExitCode, SoundcheckError, UsageError

EXIT_CODES_HELP = (
    "Exit codes: 0 all evaluated checks passed (warnings allowed); 1 a check failed, was not reported or errored, "
    "a track level was not reached, or nothing was evaluated (unless --allow-empty); 2 usage or configuration "
    "error; 3 internal error (a bug: please report it)."
)
COLLECT_EXIT_CODES = ("Exit codes: 0 every due fact was collected; 1 some facts could not be collected (earlier facts "
                      "are kept); 2 usage or configuration error; 3 internal error (a bug: please report it).")

app = typer.Typer(
    name="soundcheck",
    help="Spotify Soundcheck-style tech-health checks over a Backstage catalog, from the command line.\n\n"
    "Typical use: `soundcheck collect` (cron) then `soundcheck check --track ID` (CI gate), or `soundcheck run` "
    "for both at once.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=SummaryGroup,
    **PLAIN_HELP,  # click's plain help: rich's costs ~150 ms of start-up (see cli.help)
)
facts_app = typer.Typer(help="Inspect, push and clear the facts in the store.", no_args_is_help=True,
                        cls=SummaryGroup, **PLAIN_HELP)
app.add_typer(facts_app, name="facts")

EntityOpt = Annotated[
    Optional[list[str]],
    typer.Option("--entity", "-e", metavar="REF",
                 help="Only this entity ([kind:][namespace/]name; kind defaults to component). Repeatable."),
]
TrackOpt = Annotated[Optional[list[str]], typer.Option("--track", "-t", metavar="ID", help="Only this track (repeatable).")]
CheckOpt = Annotated[Optional[list[str]], typer.Option("--check", metavar="ID", help="Only this check (repeatable).")]
FormatOpt = Annotated[
    Optional[list[str]],
    typer.Option("--format", "-f", metavar="FORMAT",
                 help="Output format: table, json, junit, markdown, sarif, html, csv or github "
                 "(repeatable, paired in order with --output; see docs/output-formats.md)."),
]
SummaryOpt = Annotated[bool, typer.Option(
    "--summary", help="Also append a Markdown summary to $GITHUB_STEP_SUMMARY (GitHub Actions job summary).")]
AllOpt = Annotated[bool, typer.Option("--all", help="table/markdown: list every entity, not the first 10 per check "
                                      "and per track.")]
OutputOpt = Annotated[
    Optional[list[str]],
    typer.Option("--output", "-o", metavar="FILE",
                 help="Write the matching --format to this file instead of stdout (repeatable)."),
]
CollectorOpt = Annotated[Optional[list[str]], typer.Option("--collector", metavar="ID",
                                                           help="Only this collector id (repeatable).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Collect every fact, even those still fresh.")]
RefreshOpt = Annotated[
    Optional[list[str]],
    typer.Option("--refresh", metavar="FACTREF",
                 help="Bypass collector caches for this fact ref (repeatable), e.g. pagerduty:default/service."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log each HTTP request (secrets redacted).")]
# CI gate (issue 6; decided by soundcheck_cli.gate).
FailOnOpt = Annotated[str, typer.Option("--fail-on", metavar="failed|warning|never|overdue",
                                        help="Exit 1 on: failed (failed/not-reported/error results, or a track's top "
                                        "level not reached), warning (also warnings), never, or overdue (with "
                                        "--campaign: as failed, once the campaign is past its deadline).")]
ExpiringOpt = Annotated[int, typer.Option(
    "--expiring-within", metavar="DAYS", min=0,
    help="Warn about exemptions expiring within DAYS days (and expired ones), in every output.")]
CampaignOpt = Annotated[Optional[str], typer.Option(
    "--campaign", metavar="ID", help="Gate on this campaign only: its checks and track levels, over its entities.")]
MinLevelOpt = Annotated[Optional[list[str]], typer.Option(
    "--min-level", metavar="TRACK=N",
    help="Exit 1 when an entity of track TRACK is certified below level N (repeatable).")]
ExitZeroOpt = Annotated[bool, typer.Option("--exit-zero", help="Always exit 0 when the run completes (report only).")]
AllowEmptyOpt = Annotated[bool, typer.Option(
    "--allow-empty", help="Exit 0 when nothing was evaluated (no entity selected, no check or track to run) instead "
    "of 1.")]
ShardOpt = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Collect only this run's share (shard I of N, 1-based) of the entities, chosen by a stable hash "
        "of each entity ref, so N cron hosts or CI matrix jobs split the work with no coordinator.",
        show_default=False,
    ),
]
ScmRootOpt = Annotated[
    Optional[str],
    typer.Option("--scm-root", metavar="DIR",
                 help="Read the scm collector's files from this local checkout (e.g. . in a CI step).",
                 show_default=False),
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"soundcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Spotify Soundcheck-style tech-health checks from the command line."""


# --- check, collect, run ---------------------------------------------------------------------------------------


def _write_stream(stream: str, text: str) -> None:
    from soundcheck_cli.redact import GLOBAL

    (sys.stderr if stream == "stderr" else sys.stdout).write(GLOBAL.redact_known(text))


def _do_check(workspace: Any, track: list[str] | None, check_ids: list[str] | None, entity: list[str] | None,
              fmt: list[str] | None, output: list[str] | None, quiet: bool, gate: Any,
              summary: bool = False, show_all: bool = False, campaign: str | None = None,
              expiring_within: int = 14) -> int:
    """Run ``app.reports.check_and_report``, print what goes to stdout and stderr; the gate's exit code."""
    from soundcheck_cli import app as core
    from soundcheck_cli.app.reports import check_and_report

    options = core.CheckOptions(track_ids=tuple(track or ()), check_ids=tuple(check_ids or ()),
                                entity_refs=tuple(entity or ()), expiring_within=expiring_within)
    if campaign is not None:  # issue 21: the campaign's entities, checks and track levels; its deadline
        from dataclasses import replace

        from soundcheck_cli.app.campaigns import for_campaign

        workspace, options, camp = for_campaign(workspace, campaign, options)
        gate = replace(gate, campaign=camp.id, deadline=camp.deadline, campaign_checks=frozenset(camp.checks),
                       campaign_levels=tuple((t.track_id, t.level) for t in camp.levels))
    import shutil

    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size((120, 24)).columns  # $COLUMNS first, also when not a terminal
    from soundcheck_cli.app.reports import plan
    from soundcheck_cli.cli.check_progress import check_progress

    progress = check_progress(quiet=quiet, stdout_formats=[o.format for o in plan(fmt, output) if o.path is None])
    try:
        run = check_and_report(workspace, options, formats=fmt, outputs=output, gate=gate, step_summary=summary,
                               out=_write_stream, show_all=show_all, print_out=sys.stdout.write,
                               color=tty and not os.environ.get("NO_COLOR"), width=width, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if run.annotations:
        sys.stderr.write(run.annotations)
    if run.summary_warning:  # --summary was asked for: said even with --quiet
        err(f"warning: {run.summary_warning}")
    print_warnings(run.warnings, quiet)
    verdict = run.verdict
    if run.to_stdout and all(o.format == "table" for o in run.to_stdout):
        # The table shows the results, the levels reached and the summary line; what it cannot show: an empty
        # run, and the bars of --min-level.
        reasons = tuple(r for r in (verdict.overdue, verdict.empty) if r) + verdict.below_min_level
    else:
        # The report went to files, or stdout carries a machine format: one line for the person at the terminal
        # (on stderr), then why the gate failed.
        if not quiet or verdict.code != ExitCode.OK:
            err(run.summary)
        from soundcheck_cli.exemptions import is_notice

        print_warnings([p for p in run.problems if is_notice(p)], quiet)  # expired / expiring exemptions
        reasons = verdict.reasons
    for line in reasons:
        err(line)
    return int(verdict.code)


def _gate(fail_on: str, min_level: list[str] | None, exit_zero: bool, allow_empty: bool) -> Any:
    from soundcheck_cli.gate import gate_options

    return gate_options(fail_on, min_level or (), exit_zero, allow_empty=allow_empty)


def _collect(workspace: Any, collector: list[str] | None, entity: list[str] | None, force: bool,
             refresh: list[str] | None, quiet: bool, verbose: bool, scm_root: str | None, shard: str | None) -> int:
    from soundcheck_cli.app.collect import CollectOptions, collect
    from soundcheck_cli.cli.progress import make_listener

    options = CollectOptions(collector_ids=tuple(collector or ()), entity_refs=tuple(entity or ()), force=force,
                             refresh=tuple(refresh or ()), verbose=verbose, scm_root=scm_root, shard=shard)
    listener = make_listener(quiet=quiet, verbose=verbose)
    try:
        summary = collect(workspace, options, listener=listener)
    finally:
        close = getattr(listener, "close", None)
        if close is not None:
            close()
    if not quiet:
        err(summary.render())
    return int(ExitCode.OK if summary.ok else ExitCode.CHECKS_FAILED)


@app.command(epilog=EXIT_CODES_HELP)
def check(
    track: TrackOpt = None,
    check: CheckOpt = None,
    entity: EntityOpt = None,
    format: FormatOpt = None,
    output: OutputOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
    fail_on: FailOnOpt = "failed",
    min_level: MinLevelOpt = None,
    exit_zero: ExitZeroOpt = False,
    allow_empty: AllowEmptyOpt = False,
    summary: SummaryOpt = False,
    show_all: AllOpt = False,
    campaign: CampaignOpt = None,
    expiring_within: ExpiringOpt = 14,
) -> None:
    """Evaluate checks and tracks against the facts in the store (it does not collect).

    With no --track/--check, every track and check is evaluated. Catalog facts come from the catalog as loaded now.
    """
    from soundcheck_cli import app as core

    gate = _gate(fail_on, min_level, exit_zero, allow_empty)
    if gate.fail_on.value == "overdue" and campaign is None:
        raise UsageError("--fail-on overdue gates a campaign: give --campaign ID")
    from soundcheck_cli.gcpause import paused

    with paused(keep=True):  # from loading to the end: turned on in between, the collector walks the catalog
        workspace = core.load_workspace(common_options(config, catalog, store, catalog_url), command="check")
        print_warnings(workspace.warnings, quiet)
        code = _do_check(workspace, track, check, entity, format, output, quiet, gate, summary, show_all, campaign,
                         expiring_within)
    raise typer.Exit(code)


@app.command(epilog=COLLECT_EXIT_CODES)
def collect(
    collector: CollectorOpt = None,
    entity: EntityOpt = None,
    force: ForceOpt = False,
    refresh: RefreshOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    scm_root: ScmRootOpt = None,
    shard: ShardOpt = None,
) -> None:
    """Run the configured fact collectors once and store the facts they collect.

    Only facts that are due (missing, or older than their collector's frequency) are fetched, unless --force.
    """
    from soundcheck_cli import app as core
    from soundcheck_cli.app.collect import check_shard

    check_shard(shard)  # a bad --shard is reported before the config and catalog are loaded
    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url), command="collect",
                                    log=log_line, verbose=verbose)
    print_warnings(workspace.warnings, quiet)
    raise typer.Exit(_collect(workspace, collector, entity, force, refresh, quiet, verbose, scm_root, shard))


@app.command(epilog=EXIT_CODES_HELP)
def run(
    track: TrackOpt = None,
    check: CheckOpt = None,
    entity: EntityOpt = None,
    format: FormatOpt = None,
    output: OutputOpt = None,
    collector: CollectorOpt = None,
    force: ForceOpt = False,
    refresh: RefreshOpt = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    scm_root: ScmRootOpt = None,
    shard: ShardOpt = None,
    fail_on: FailOnOpt = "failed",
    min_level: MinLevelOpt = None,
    exit_zero: ExitZeroOpt = False,
    allow_empty: AllowEmptyOpt = False,
    summary: SummaryOpt = False,
    show_all: AllOpt = False,
) -> None:
    """Collect, then check: one step for CI. The exit code is the check's (collection problems are reported)."""
    from soundcheck_cli import app as core
    from soundcheck_cli.app.collect import check_shard

    gate = _gate(fail_on, min_level, exit_zero, allow_empty)
    if gate.fail_on.value == "overdue":
        raise UsageError("--fail-on overdue gates a campaign: use `soundcheck check --campaign ID --fail-on overdue`")
    check_shard(shard)  # a bad --shard is reported before the config and catalog are loaded
    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url), command="run",
                                    log=log_line, verbose=verbose)
    print_warnings(workspace.warnings, quiet)
    _collect(workspace, collector, entity, force, refresh, quiet, verbose, scm_root, shard)
    raise typer.Exit(_do_check(workspace, track, check, entity, format, output, quiet, gate, summary, show_all))


# --- config and catalog ----------------------------------------------------------------------------------------


@app.command(epilog=USAGE_EXIT_CODES)
def validate(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Load the config and the catalog and list every problem with its file:line:column.

    Exit code 0 when there is no error (warnings are listed but allowed), 2 otherwise. A config file without a
    `soundcheck:` section is an error: there would be nothing to check.
    """
    from soundcheck_cli import app as core
    from soundcheck_cli.errors import ConfigError, Severity

    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    problems = core.validate_workspace(workspace)
    warnings = workspace.warnings + [p for p in problems if p.severity is Severity.WARNING]
    for p in warnings:
        say(f"warning: {p}")
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise ConfigError(errors)
    s = workspace.settings
    typer.echo(
        f"ok: {plural(len(s.files), 'config file')}, {plural(len(s.checks), 'check')}, "
        f"{plural(len(s.tracks), 'track')}, {plural(len(s.collectors), 'collector')}, "
        f"{plural(len(workspace.entities), 'entity', 'entities')}, {plural(len(warnings), 'warning')}"
    )


@app.command(epilog=USAGE_EXIT_CODES)
def entities(
    filter: Annotated[
        Optional[list[str]],
        typer.Option("--filter", metavar="KEY=VALUE",
                     help="Only entities where KEY=VALUE (dot path, case-insensitive; repeatable, all must match)."),
    ] = None,
    format: TableOrJsonOpt = "table",
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List the catalog entities that were loaded (with where each came from)."""
    import json

    from soundcheck_cli import app as core
    from soundcheck_cli.catalog.filters import EntityFilter, select
    from soundcheck_cli.cli.common import check_table_or_json
    from soundcheck_cli.errors import Problems

    check_table_or_json(format)
    workspace = core.load_workspace(common_options(config, catalog, store, catalog_url))
    print_warnings(workspace.warnings, quiet)
    chosen = workspace.entities
    if filter:
        node: dict[str, str] = {}
        for item in filter:
            if "=" not in item:
                raise UsageError(f"--filter {item!r}: expected KEY=VALUE, e.g. spec.lifecycle=production")
            key, value = item.split("=", 1)
            node[key.strip()] = value.strip()
        problems = Problems()
        parsed = EntityFilter.parse(node, problems, "--filter")
        problems.raise_if_errors(UsageError)
        chosen = select(chosen, parsed)
    if format == "json":
        typer.echo(json.dumps([{"entityRef": str(e.ref), "source": str(e.source) if e.source else None,
                                "entity": e.data} for e in chosen], indent=2))
        return
    for e in chosen:
        say(f"{str(e.ref):<50} {e.source or ''}")
    typer.echo(plural(len(chosen), "entity", "entities"))


@app.command(epilog=USAGE_EXIT_CODES)
def checks(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """List the checks defined in the config."""
    from soundcheck_cli import app as core
    from soundcheck_cli.rules.model import rule_fact_refs

    settings, warnings = core.load_settings(common_options(config, catalog, store, catalog_url))
    print_warnings(warnings)
    for c in settings.checks:
        facts = ", ".join(sorted(str(f) for f in rule_fact_refs(c.rule)))
        flag = " (warning)" if c.warning else ""
        say(f"{c.id}{flag}: {c.name or ''}  [{facts}]  {c.location or ''}")
    typer.echo(plural(len(settings.checks), "check"))


@app.command(epilog=USAGE_EXIT_CODES)
def tracks(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """List the tracks (and legacy programs) defined in the config, with their levels and checks."""
    from soundcheck_cli import app as core

    settings, warnings = core.load_settings(common_options(config, catalog, store, catalog_url))
    print_warnings(warnings)
    for t in settings.tracks:
        kind = " (program)" if t.kind == "program" else ""
        say(f"{t.id}{kind}: {t.name or ''}  {t.location or ''}")
        for lv in t.levels:
            say(f"  {lv.ordinal}. {lv.title}: {', '.join(lc.id for lc in lv.checks)}")
    typer.echo(plural(len(settings.tracks), "track"))


# --- facts ---------------------------------------------------------------------------------------------------


@facts_app.command("list", epilog=USAGE_EXIT_CODES)
def facts_list(
    entity: Annotated[Optional[str], typer.Option("--entity", "-e", metavar="REF",
                                                  help="Only facts of this entity ref.")] = None,
    fact: Annotated[Optional[str], typer.Option("--fact", metavar="FACTREF", help="Only this fact ref.")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """List stored facts: entity, fact ref, timestamp, and whether it has expired."""
    from soundcheck_cli.facts.model import format_timestamp

    fact_ref = parse_fact_ref(fact) if fact else None
    with open_store(config, store) as st:
        count = 0
        for f in sorted(st.facts(entity_ref=norm_entity(entity) if entity else None, fact_ref=fact_ref),
                        key=lambda f: (f.entity_ref, str(f.fact_ref))):
            expired = "  (expired)" if f.is_expired() else ""
            say(f"{f.entity_ref:<45} {str(f.fact_ref):<45} {format_timestamp(f.timestamp)}{expired}")
            count += 1
        typer.echo(plural(count, "fact"))


@facts_app.command("show", epilog=USAGE_EXIT_CODES)
def facts_show(
    entity: Annotated[str, typer.Argument(metavar="REF", help="Entity ref, e.g. component:default/payments-api")],
    fact: Annotated[Optional[str], typer.Argument(metavar="FACTREF",
                                                  help="Fact ref, e.g. pagerduty:default/service")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Print the stored facts of an entity (all, or one fact ref) as JSON."""
    import json

    ref = norm_entity(entity)
    fact_ref = parse_fact_ref(fact) if fact else None
    with open_store(config, store) as st:
        found = [f.to_json() for f in st.facts(entity_ref=ref, fact_ref=fact_ref)]
    if not found:
        what = f"fact {fact_ref} " if fact_ref else "facts "
        raise UsageError(f"no {what}stored for {ref} (run `soundcheck collect`, or push one with `soundcheck facts push`)")
    typer.echo(json.dumps(found if len(found) > 1 or fact_ref is None else found[0], indent=2, ensure_ascii=False))


@facts_app.command("clear", epilog=USAGE_EXIT_CODES)
def facts_clear(
    entity: Annotated[Optional[str], typer.Option("--entity", "-e", metavar="REF",
                                                  help="Only facts of this entity ref.")] = None,
    fact: Annotated[Optional[str], typer.Option("--fact", metavar="FACTREF", help="Only this fact ref.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Delete stored facts (all of them, or those of one entity and/or fact ref)."""
    fact_ref = parse_fact_ref(fact) if fact else None
    ref = norm_entity(entity) if entity else None
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("facts clear deletes facts: pass --yes to confirm when not on a terminal")
        if not typer.confirm("Delete the matching facts?"):
            raise typer.Exit(0)
    with open_store(config, store) as st:
        count = st.delete(entity_ref=ref, fact_ref=fact_ref)
    typer.echo(f"deleted {plural(count, 'fact')}")


@facts_app.command("push", epilog=USAGE_EXIT_CODES)
def facts_push(
    files: Annotated[list[str], typer.Argument(
        metavar="FILE", help="JSON or YAML files with a fact or a list of facts ('-' for stdin).")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Store facts produced elsewhere (e.g. a CI job's test results), for checks to read.

    A fact is {factRef: "source:scope/name" or {source, scope, name}, entityRef, data, timestamp?}. Nothing is
    written if any fact is invalid.
    """
    from soundcheck_cli.errors import Problems
    from soundcheck_cli.facts.push import push_files

    with open_store(config, store) as st:
        count = push_files(list(files), st, Problems())  # one transaction: all the facts, or none (exit code 2)
    typer.echo(f"stored {plural(count, 'fact')}")


# Commands of other areas, registered last so that `--help` lists the main commands first.
from soundcheck_cli.cli.collectors import collectors_app, facts_schema  # noqa: E402 - collectors list/show (issue 5)

app.add_typer(collectors_app, name="collectors")
from soundcheck_cli.cli import history as cli_history  # noqa: E402 - history, diff, exemptions (issue 6)

for _command in (cli_history.history, cli_history.diff):
    app.command(epilog=USAGE_EXIT_CODES)(_command)
from soundcheck_cli.cli.exemptions import exemptions_app  # noqa: E402 - list, add, revoke, audit (issue 21)

app.add_typer(exemptions_app, name="exemptions")
facts_app.command("schema", epilog=USAGE_EXIT_CODES)(facts_schema)
from soundcheck_cli.cli.store import store_app  # noqa: E402 - store init/migrate/info/export/import

app.add_typer(store_app, name="store")
from soundcheck_cli.cli.serve import serve as serve_command  # noqa: E402 - serve (issue 22)

app.command("serve", epilog=USAGE_EXIT_CODES)(serve_command)
from soundcheck_cli.cli.report import ROLLUP_EXIT_CODES, report as _report  # noqa: E402 - rollups (issue 21)
app.command("report", epilog=ROLLUP_EXIT_CODES)(_report)
from soundcheck_cli.cli.trend import trend as _trend  # noqa: E402 - trends (issue 21)
app.command("trend", epilog=USAGE_EXIT_CODES)(_trend)
from soundcheck_cli.cli.results import results_app  # noqa: E402 - results push/list/delete (issue 21)

app.add_typer(results_app, name="results")
from soundcheck_cli.cli.campaigns import campaigns as _campaigns  # noqa: E402 - campaign progress (issue 21)

app.command("campaigns", epilog=USAGE_EXIT_CODES)(_campaigns)
from soundcheck_cli.cli.site import SITE_EXIT_CODES, site as site_command  # noqa: E402 - site (issue 22)
app.command("site", epilog=SITE_EXIT_CODES)(site_command)


# --- running -----------------------------------------------------------------------------------------------------

GLOBAL_VALUE_OPTIONS = ("-c", "--config", "--catalog", "--catalog-url", "--store")


def hoist_common_options(argv: list[str]) -> list[str]:
    """Let the common options come before the command too (``soundcheck -c app.yaml check``), as users type
    them: options written before the first command word are moved after the whole command line."""
    leading: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in GLOBAL_VALUE_OPTIONS and index + 1 < len(argv):
            leading += argv[index : index + 2]
            index += 2
        elif any(arg.startswith(opt + "=") for opt in GLOBAL_VALUE_OPTIONS if opt.startswith("--")):
            leading.append(arg)
            index += 1
        else:
            break
    rest = argv[index:]
    if not leading or not rest or rest[0].startswith("-"):
        return argv
    return rest + leading


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``soundcheck`` console script: run the app and exit with the documented code."""
    code = run_cli(argv)
    from soundcheck_cli.gcpause import before_exit

    before_exit()
    sys.exit(code)


def run_cli(argv: list[str] | None = None) -> int:
    """Run one command line; the documented exit code. Typer (click) reports its own usage errors (exit code 2);
    soundcheck's errors are printed here, one line per problem, with the exit code of their class."""
    argv = hoist_common_options(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=argv, prog_name="soundcheck")
    except SystemExit as exc:  # every ending of a typer app in its standalone mode, errors of usage included
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 130:  # typer's ending on Ctrl-C
            err("interrupted")
        return code
    except SoundcheckError as exc:
        for problem in exc.problems:
            err(f"error: {problem}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as exc:  # a bug: say so briefly; the traceback only on request
        if os.environ.get("SOUNDCHECK_DEBUG"):
            raise
        err(f"internal error: {type(exc).__name__}: {exc} (this is a bug; set SOUNDCHECK_DEBUG=1 for the traceback)")
        return 3
    return 0
