"""The command-line shell: Typer commands only. Each command builds an options object, calls ``app``, renders,
and returns an exit code; ``main`` is the one place that turns errors into exit codes:

  0  every evaluated check passed (warnings and not-applicable allowed); for ``collect``: every due fact collected
  1  some check failed, was not reported or errored, or a track level was not reached; for ``collect``: some
     facts could not be collected (the facts collected earlier are kept)
  2  usage or configuration error (bad option, malformed config or catalog, unknown id)
  3  internal error (a bug: please report it; set SOUNDCHECK_DEBUG=1 for the traceback)
"""

from __future__ import annotations

import copy
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from soundcheck_cli import __version__
from soundcheck_cli.cli.coercion import install as _install_coercion
from soundcheck_cli.cli.help import PLAIN_HELP, SummaryGroup
from soundcheck_cli.cli.options import StoreOpt
from soundcheck_cli.errors import ExitCode, Problem, SoundcheckError, UsageError

EXIT_CODES_HELP = (
    "Exit codes: 0 all evaluated checks passed (warnings allowed); 1 a check failed, was not reported or errored, "
    "or a track level was not reached; 2 usage or configuration error."
)

_install_coercion()  # str/bool/list[str] options without importing pydantic (~110 ms per command)
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
    **PLAIN_HELP,  # click's plain help: rich's costs ~150 ms of start-up (see cli_help)
)
facts_app = typer.Typer(help="Inspect, push and clear the facts in the store.", no_args_is_help=True,
                        cls=SummaryGroup, **PLAIN_HELP)
app.add_typer(facts_app, name="facts")

# Options shared by every command.
ConfigOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--config",
        "-c",
        help="app-config file (repeatable; later files override earlier ones). "
        "Default: ./app-config.yaml (+ ./app-config.local.yaml).",
        show_default=False,
    ),
]
CatalogOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--catalog",
        help="Catalog file, folder or glob (repeatable). Default: the file locations under catalog.locations "
        "in the app-config, else ./catalog-info.yaml.",
        show_default=False,
    ),
]
CatalogUrlOpt = Annotated[
    Optional[str],
    typer.Option(
        "--catalog-url",
        help="Read the entities from a running Backstage catalog (its base URL, e.g. https://backstage.example.com) "
        "instead of files; token from soundcheck.catalog.token or $BACKSTAGE_TOKEN. Default: soundcheck.catalog.url.",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors (no warnings, no progress).")]
EntityOpt = Annotated[
    Optional[list[str]],
    typer.Option("--entity", "-e", help="Only this entity ([kind:][namespace/]name; kind defaults to component). Repeatable."),
]
TrackOpt = Annotated[Optional[list[str]], typer.Option("--track", "-t", help="Only this track (repeatable).")]
CheckOpt = Annotated[Optional[list[str]], typer.Option("--check", help="Only this check (repeatable).")]
FormatOpt = Annotated[
    Optional[list[str]],
    typer.Option("--format", "-f", help="Output format: table, json, junit, markdown, sarif, html, csv or github "
                 "(repeatable, paired in order with --output; see docs/output-formats.md)."),
]
SummaryOpt = Annotated[bool, typer.Option(
    "--summary", help="Also append a Markdown summary to $GITHUB_STEP_SUMMARY (GitHub Actions job summary).")]
AllOpt = Annotated[bool, typer.Option("--all", help="table/markdown: list every entity, not the first 10 per check "
                                      "and per track.")]
OutputOpt = Annotated[
    Optional[list[str]],
    typer.Option("--output", "-o", help="Write the matching --format to this file instead of stdout (repeatable)."),
]
CollectorOpt = Annotated[Optional[list[str]], typer.Option("--collector", help="Only this collector id (repeatable).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Collect every fact, even those still fresh.")]
RefreshOpt = Annotated[
    Optional[list[str]],
    typer.Option("--refresh", help="Bypass collector caches for this fact ref (repeatable), e.g. pagerduty:default/service."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log each HTTP request (secrets redacted).")]
# CI gate (issue 6; decided by soundcheck_cli.gate).
FailOnOpt = Annotated[str, typer.Option("--fail-on", help="Exit 1 on: failed (failed/not-reported/error results, "
                                        "or a track's top level not reached), warning (also warnings), or never.")]
MinLevelOpt = Annotated[Optional[list[str]], typer.Option(
    "--min-level", help="TRACK=ORDINAL: exit 1 when an entity of that track is certified below ORDINAL (repeatable).")]
ExitZeroOpt = Annotated[bool, typer.Option("--exit-zero", help="Always exit 0 when the run completes (report only).")]
ShardOpt = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        help="I/N: collect only this run's share (shard I of N, 1-based) of the entities, chosen by a stable hash "
        "of each entity ref, so N cron hosts or CI matrix jobs split the work with no coordinator.",
        show_default=False,
    ),
]
ScmRootOpt = Annotated[
    Optional[str],
    typer.Option("--scm-root", help="Read the scm collector's files from this local checkout (e.g. . in a CI step).",
                 show_default=False),
]


def _common(config: list[str] | None, catalog: list[str] | None, store: str | None,
            catalog_url: str | None = None) -> Any:
    from soundcheck_cli.app import CommonOptions

    return CommonOptions(config_paths=tuple(config or ()), catalog_paths=tuple(catalog or ()), store_path=store,
                         catalog_url=catalog_url)


def _log_line(level: str, text: str) -> None:
    """``log(level, text)`` callback of core functions (e.g. the remote catalog's ``--verbose`` lines): stderr."""
    _err(text)


def _err(text: str) -> None:
    from soundcheck_cli.redact import GLOBAL

    sys.stderr.write(GLOBAL.redact(text) + "\n")


def _print_warnings(problems: list[Problem], quiet: bool) -> None:
    if quiet:
        return
    for p in problems:
        _err(f"warning: {p}")


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


# Report files are written by a forked child beside the history recording when the report is this big (fewer
# results: forking costs more than it saves).
FORK_MIN_RESULTS = 20_000


def _emit_report(report: Any, formats: list[str] | None, outputs: list[str] | None, summary: bool = False,
                 meanwhile: Callable[[], Any] | None = None, show_all: bool = False) -> Any:
    """Print and write the report in every requested format, then run ``meanwhile`` (the history recording) and
    return its result. A big report's files are rendered and written by a forked child (``beside``) while
    ``meanwhile`` runs here: two cores instead of one. The files are opened first, so a file that cannot be
    written stops the run before ``meanwhile``, with or without the child."""
    import functools

    from soundcheck_cli import reporters
    from soundcheck_cli.cli import beside
    from soundcheck_cli.redact import GLOBAL

    formats = list(formats or ["table"])
    outputs = list(outputs or [])
    if len(outputs) > len(formats):
        raise UsageError("more --output than --format: give one --format before each --output")
    jobs = [(name, outputs[index] if index < len(outputs) else None) for index, name in enumerate(formats)]
    # an unknown format fails before any output; --all goes to every reporter (those without the option ignore it)
    renders = {name: functools.partial(reporters.get_chunks(name), show_all=show_all) for name in formats}
    files = [(name, target) for name, target in jobs if target is not None]
    child = None
    if files and len(report.check_results) >= FORK_MIN_RESULTS and beside.can_fork() and _distinct(t for _, t in files):
        opened = _open_outputs([(renders[name], target) for name, target in files])
        child = beside.start(lambda: _write_outputs(report, opened))
        if child is None:
            _write_outputs(report, opened)
        else:  # the child writes them; this process's copies are closed unwritten
            _close_all(opened)
    else:
        for name, target in files:
            _write_outputs(report, [(renders[name], _open_output(target))])
    try:
        for name, target in jobs:
            if target is None:
                import shutil

                tty = sys.stdout.isatty()
                width = shutil.get_terminal_size((120, 24)).columns  # $COLUMNS first, also when not a terminal
                chunks = renders[name](report, color=tty and not os.environ.get("NO_COLOR"), width=width,
                                       root=_repo_root())
                for chunk in GLOBAL.redact_known_chunks(chunks):
                    sys.stdout.write(chunk)
        _emit_github(report, formats, outputs, summary)
        result = meanwhile() if meanwhile is not None else None
    finally:
        if child is not None:
            child.wait()  # the child's error (a file that could not be written) is raised here
    return result


def _distinct(targets: Any) -> bool:
    seen = [os.path.realpath(t) for t in targets]
    return len(set(seen)) == len(seen)


def _open_outputs(jobs: list[tuple[Callable[..., Any], str]]) -> list[tuple[Callable[..., Any], Any]]:
    """``(render, open file)`` for each ``(render, target)``; when one cannot be opened, those already opened are
    closed and the ``UsageError`` goes on."""
    opened: list[tuple[Callable[..., Any], Any]] = []
    try:
        for render, target in jobs:
            opened.append((render, _open_output(target)))
    except UsageError:
        _close_all(opened)
        raise
    return opened


def _close_all(opened: list[tuple[Callable[..., Any], Any]]) -> None:
    for _, handle in opened:
        try:
            handle.close()
        except OSError:
            pass


def _open_output(target: str) -> Any:
    """``target`` opened for writing from its start, without truncating it: ``_write_outputs`` cuts it at the end
    of what it wrote. Rewriting a file's pages in place costs a fraction of freeing 50 MB of them on open and
    allocating them again (and the open happens before the fork, on the run's critical path)."""
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        return open(target, "w", encoding="utf-8", opener=_open_untruncated)  # noqa: SIM115 - closed by _write_outputs
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def _open_untruncated(path: str, flags: int) -> int:
    return os.open(path, flags & ~os.O_TRUNC, 0o666)


def _cut_here(handle: Any) -> None:
    """End a regular file written by ``_write_outputs`` where the writing stopped (what was left of an earlier,
    longer report goes; so does the rest after a failed write, as a truncating open would have left it)."""
    try:
        if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.truncate()
    except (OSError, ValueError):
        pass


def _write_outputs(report: Any, opened: list[tuple[Callable[..., Any], Any]]) -> None:
    """Render the report into each opened file, piece by piece (``reporters.get_chunks``), and close them all
    (also when one fails)."""
    from soundcheck_cli.redact import GLOBAL

    try:
        for render, handle in opened:
            chunks = GLOBAL.redact_known_chunks(render(report, color=False, width=120, root=_repo_root()))
            try:
                try:
                    for chunk in chunks:
                        handle.write(chunk)
                    handle.flush()
                finally:
                    _cut_here(handle)
            except OSError as exc:
                raise UsageError(f"cannot write {handle.name}: {exc.strerror or exc}") from None
    finally:
        _close_all(opened)


def _repo_root() -> str:
    """Where relative paths in reports start (SARIF, annotations): the Actions workspace, else the cwd."""
    return os.environ.get("GITHUB_WORKSPACE") or os.getcwd()


def _emit_github(report: Any, formats: list[str], outputs: list[str], summary: bool) -> None:
    """On GitHub Actions: annotations as workflow commands on stderr (stdout stays clean for machine formats),
    unless ``-f github`` already prints them on stdout; with ``--summary``, Markdown appended to the job summary."""
    if os.environ.get("GITHUB_ACTIONS") == "true" and "github" not in formats[len(outputs):]:
        from soundcheck_cli.redact import GLOBAL
        from soundcheck_cli.reporters import github_reporter

        sys.stderr.write(GLOBAL.redact_known(github_reporter.render(report, root=_repo_root())))
    if summary:
        from soundcheck_cli.redact import GLOBAL
        from soundcheck_cli.reporters import markdown_reporter

        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if not target:
            _err("warning: --summary: $GITHUB_STEP_SUMMARY is not set (it is on GitHub Actions); no summary written")
            return
        try:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(GLOBAL.redact_known(markdown_reporter.render(report)) + "\n")
        except OSError as exc:
            raise UsageError(f"--summary: cannot append to $GITHUB_STEP_SUMMARY ({target}): {exc.strerror or exc}") from None


def _do_check(common: Any, track: list[str] | None, check_ids: list[str] | None, entity: list[str] | None,
              fmt: list[str] | None, output: list[str] | None, quiet: bool, workspace: Any = None,
              gate: Any = None, summary: bool = False, show_all: bool = False) -> int:
    import gc

    # A check run builds hundreds of thousands of small acyclic objects (results, facts, report lines); the cyclic
    # GC would walk the whole heap again and again for nothing (about a second at 10,000 entities x 20 checks).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_run(common, track, check_ids, entity, fmt, output, quiet, workspace, gate, summary, show_all)
    finally:
        if enabled and not _EXITS_AFTER_RUN:  # about to exit: a last full collection would find nothing to free
            gc.enable()


def _check_run(common: Any, track: list[str] | None, check_ids: list[str] | None, entity: list[str] | None,
               fmt: list[str] | None, output: list[str] | None, quiet: bool, workspace: Any,
               gate: Any, summary: bool, show_all: bool = False) -> int:
    from soundcheck_cli import app as core

    if workspace is None:
        workspace = core.load_workspace(common, command="check")
        _print_warnings(workspace.warnings, quiet)
    report = core.check(
        workspace,
        core.CheckOptions(track_ids=tuple(track or ()), check_ids=tuple(check_ids or ()), entity_refs=tuple(entity or ())),
    )
    code = int(core.exit_code_for_report(report, gate))  # first: a bad --min-level is a usage error, before output
    # history and events, recorded while a big report's files are written beside (cli._emit_report)
    outcome = _emit_report(report, fmt, output, summary,
                           meanwhile=lambda: core.record_run(workspace, report, out=_write_stream), show_all=show_all)
    _print_warnings(outcome.warnings, quiet)
    if _EXITS_AFTER_RUN:  # freed by the process exit (``_exit``), not object by object on return
        _KEPT_UNTIL_EXIT.append((workspace, report))
    return code


def _gate(fail_on: str, min_level: list[str] | None, exit_zero: bool) -> Any:
    from soundcheck_cli.gate import gate_options

    return gate_options(fail_on, min_level or (), exit_zero)


def _write_stream(stream: str, text: str) -> None:
    from soundcheck_cli.redact import GLOBAL

    (sys.stderr if stream == "stderr" else sys.stdout).write(GLOBAL.redact_known(text))


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
    summary: SummaryOpt = False,
    show_all: AllOpt = False,
) -> None:
    """Evaluate checks and tracks against the facts in the store (it does not collect).

    With no --track/--check, every track and check is evaluated. Catalog facts come from the catalog as loaded now.
    """
    gate = _gate(fail_on, min_level, exit_zero)
    raise typer.Exit(_do_check(_common(config, catalog, store, catalog_url), track, check, entity, format, output, quiet, gate=gate,
                               summary=summary, show_all=show_all))


def _do_collect(workspace: Any, collector: list[str] | None, entity: list[str] | None, force: bool,
                refresh: list[str] | None, quiet: bool, verbose: bool, scm_root: str | None = None,
                shard: str | None = None) -> int:
    from soundcheck_cli.collectors.runner import run_collection
    from soundcheck_cli.collectors.shard import Shard
    from soundcheck_cli.facts.model import FactRef

    # An empty --shard (e.g. an unset CI variable) is an error, never "no sharding": that would make every host
    # collect everything.
    shard_share = Shard.parse(shard) if shard is not None else None

    refresh_refs = []
    for text in refresh or ():
        try:
            refresh_refs.append(FactRef.parse(text))
        except ValueError as exc:
            raise UsageError(f"--refresh: {exc}") from None
    listener = _collect_listener(quiet, verbose)
    with workspace.open_store() as store:
        summary = run_collection(
            workspace.settings,
            workspace.entities,
            store,
            collector_ids=tuple(collector or ()),
            entity_refs=tuple(entity or ()),
            force=force,
            refresh=tuple(refresh_refs),
            listener=listener,
            verbose=verbose,
            extra=_scm_extra(scm_root),
            shard=shard_share,
        )
    if hasattr(listener, "close"):
        listener.close()
    if not quiet:
        _err(summary.render())
    return int(ExitCode.OK if summary.ok else ExitCode.CHECKS_FAILED)


def _scm_extra(scm_root: str | None) -> dict[str, Any] | None:
    """``--scm-root DIR`` for the scm collector (``CollectorContext.extra['scm_root']``), checked to be a folder."""
    if not scm_root:
        return None
    if not Path(scm_root).is_dir():
        raise UsageError(f"--scm-root {scm_root}: not a directory")
    return {"scm_root": str(Path(scm_root).resolve())}


def _collect_listener(quiet: bool, verbose: bool) -> Any:
    from soundcheck_cli.cli.progress import make_listener

    return make_listener(quiet=quiet, verbose=verbose)


@app.command(epilog="Exit codes: 0 every due fact was collected; 1 some facts could not be collected "
             "(earlier facts are kept); 2 usage or configuration error.")
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
    from soundcheck_cli.collectors.shard import Shard

    if shard is not None:
        Shard.parse(shard)  # a bad --shard is reported before the config and catalog are loaded
    workspace = core.load_workspace(_common(config, catalog, store, catalog_url), command="collect",
                                    log=_log_line, verbose=verbose)
    _print_warnings(workspace.warnings, quiet)
    raise typer.Exit(_do_collect(workspace, collector, entity, force, refresh, quiet, verbose, scm_root, shard))


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
    summary: SummaryOpt = False,
    show_all: AllOpt = False,
) -> None:
    """Collect, then check: one step for CI. The exit code is the check's (collection problems are reported)."""
    from soundcheck_cli import app as core

    from soundcheck_cli.collectors.shard import Shard

    gate = _gate(fail_on, min_level, exit_zero)
    if shard is not None:
        Shard.parse(shard)  # a bad --shard is reported before the config and catalog are loaded
    common = _common(config, catalog, store, catalog_url)
    workspace = core.load_workspace(common, command="run", log=_log_line, verbose=verbose)
    _print_warnings(workspace.warnings, quiet)
    _do_collect(workspace, collector, entity, force, refresh, quiet, verbose, scm_root, shard)
    raise typer.Exit(_do_check(common, track, check, entity, format, output, quiet, workspace=workspace, gate=gate,
                               summary=summary, show_all=show_all))


@app.command()
def validate(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Load the config and the catalog and list every problem with its file:line:column.

    Exit code 0 when there is no error (warnings are listed but allowed), 2 otherwise.
    """
    from soundcheck_cli import app as core
    from soundcheck_cli.errors import ConfigError, Severity
    from soundcheck_cli.redact import GLOBAL

    workspace = core.load_workspace(_common(config, catalog, store, catalog_url))
    collector_problems = core.validate_collectors(workspace)
    warnings = workspace.warnings + [p for p in collector_problems if p.severity is Severity.WARNING]
    for p in warnings:
        typer.echo(GLOBAL.redact(f"warning: {p}"))
    errors = [p for p in collector_problems if p.severity is Severity.ERROR]
    if errors:
        raise ConfigError(errors)
    s = workspace.settings
    typer.echo(
        f"ok: {len(s.files)} config file(s), {len(s.checks)} checks, {len(s.tracks)} tracks, "
        f"{len(s.collectors)} collectors, {len(workspace.entities)} entities, {len(warnings)} warnings"
    )


@app.command()
def entities(
    filter: Annotated[
        Optional[list[str]],
        typer.Option("--filter", help="Only entities where KEY=VALUE (dot path, case-insensitive; repeatable, all must match)."),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
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
    from soundcheck_cli.errors import Problems

    workspace = core.load_workspace(_common(config, catalog, store, catalog_url))
    _print_warnings(workspace.warnings, quiet)
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
    if format != "table":
        raise UsageError(f"unknown format {format!r}; choose table or json")
    for e in chosen:
        typer.echo(f"{str(e.ref):<50} {e.source or ''}")
    typer.echo(f"{len(chosen)} entities")


@app.command()
def checks(
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """List the checks defined in the config."""
    from soundcheck_cli import app as core
    from soundcheck_cli.rules.model import rule_fact_refs

    settings, warnings = core.load_settings(_common(config, None, store))
    _print_warnings(warnings, False)
    for c in settings.checks:
        facts = ", ".join(sorted(str(f) for f in rule_fact_refs(c.rule)))
        flag = " (warning)" if c.warning else ""
        typer.echo(f"{c.id}{flag}: {c.name or ''}  [{facts}]  {c.location or ''}")
    typer.echo(f"{len(settings.checks)} checks")


@app.command()
def tracks(
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """List the tracks (and legacy programs) defined in the config, with their levels and checks."""
    from soundcheck_cli import app as core

    settings, warnings = core.load_settings(_common(config, None, store))
    _print_warnings(warnings, False)
    for t in settings.tracks:
        kind = " (program)" if t.kind == "program" else ""
        typer.echo(f"{t.id}{kind}: {t.name or ''}  {t.location or ''}")
        for lv in t.levels:
            typer.echo(f"  {lv.ordinal}. {lv.title}: {', '.join(lc.id for lc in lv.checks)}")
    typer.echo(f"{len(settings.tracks)} tracks")


# --- facts ---------------------------------------------------------------------------------------------------

def _store_workspace(config: list[str] | None, store: str | None) -> Any:
    """Open the store without needing a catalog (the config only locates it; see cli_store.resolve_store_spec)."""
    from soundcheck_cli.cli.store import open_cli_store

    return open_cli_store(config, store)


@facts_app.command("list")
def facts_list(
    entity: Annotated[Optional[str], typer.Option("--entity", "-e", help="Only facts of this entity ref.")] = None,
    fact: Annotated[Optional[str], typer.Option("--fact", help="Only this fact ref.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """List stored facts: entity, fact ref, timestamp, and whether it has expired."""
    from soundcheck_cli.facts.model import format_timestamp

    fact_ref = _parse_fact_ref(fact) if fact else None
    with _store_workspace(config, store) as st:
        count = 0
        for f in sorted(st.facts(entity_ref=_norm_entity(entity) if entity else None, fact_ref=fact_ref),
                        key=lambda f: (f.entity_ref, str(f.fact_ref))):
            expired = "  (expired)" if f.is_expired() else ""
            typer.echo(f"{f.entity_ref:<45} {str(f.fact_ref):<45} {format_timestamp(f.timestamp)}{expired}")
            count += 1
        typer.echo(f"{count} facts")


def _parse_fact_ref(text: str) -> Any:
    from soundcheck_cli.facts.model import FactRef

    try:
        return FactRef.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _norm_entity(text: str) -> str:
    from soundcheck_cli.catalog.model import EntityRef

    try:
        return str(EntityRef.parse(text, default_kind="component"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@facts_app.command("show")
def facts_show(
    entity: Annotated[str, typer.Argument(help="Entity ref, e.g. component:default/payments-api")],
    fact: Annotated[Optional[str], typer.Argument(help="Fact ref, e.g. pagerduty:default/service")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Print the stored facts of an entity (all, or one fact ref) as JSON."""
    import json

    ref = _norm_entity(entity)
    fact_ref = _parse_fact_ref(fact) if fact else None
    with _store_workspace(config, store) as st:
        found = [f.to_json() for f in st.facts(entity_ref=ref, fact_ref=fact_ref)]
    if not found:
        what = f"fact {fact_ref} " if fact_ref else "facts "
        raise UsageError(f"no {what}stored for {ref} (run `soundcheck collect`, or push one with `soundcheck facts push`)")
    typer.echo(json.dumps(found if len(found) > 1 or fact_ref is None else found[0], indent=2, ensure_ascii=False))


@facts_app.command("clear")
def facts_clear(
    entity: Annotated[Optional[str], typer.Option("--entity", "-e", help="Only facts of this entity ref.")] = None,
    fact: Annotated[Optional[str], typer.Option("--fact", help="Only this fact ref.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Delete stored facts (all of them, or those of one entity and/or fact ref)."""
    fact_ref = _parse_fact_ref(fact) if fact else None
    ref = _norm_entity(entity) if entity else None
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("facts clear deletes facts: pass --yes to confirm when not on a terminal")
        if not typer.confirm("Delete the matching facts?"):
            raise typer.Exit(0)
    with _store_workspace(config, store) as st:
        count = st.delete(entity_ref=ref, fact_ref=fact_ref)
    typer.echo(f"deleted {count} facts")


@facts_app.command("push")
def facts_push(
    files: Annotated[list[str], typer.Argument(help="JSON or YAML files with a fact or a list of facts ('-' for stdin).")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Store facts produced elsewhere (e.g. a CI job's test results), for checks to read.

    A fact is {factRef: "source:scope/name" or {source, scope, name}, entityRef, data, timestamp?}. Nothing is
    written if any fact is invalid.
    """
    from soundcheck_cli.errors import ConfigError, Problems
    from soundcheck_cli.facts.io import read_fact_files

    problems = Problems()
    facts = read_fact_files(list(files), problems)
    problems.raise_if_errors(ConfigError)
    with _store_workspace(config, store) as st:
        count = st.put_many(facts)
    typer.echo(f"stored {count} facts")


# Commands of other areas, registered last so that `--help` lists the main commands first.
from soundcheck_cli.cli.collectors import collectors_app, facts_schema  # noqa: E402 - collectors list/show (issue 5)

app.add_typer(collectors_app, name="collectors")
from soundcheck_cli.cli import history as cli_history  # noqa: E402 - history, diff, exemptions (issue 6)

for _command in (cli_history.history, cli_history.diff, cli_history.exemptions):
    app.command()(_command)
facts_app.command("schema")(facts_schema)
from soundcheck_cli.cli.store import store_app  # noqa: E402 - store init/migrate/info/export/import

app.add_typer(store_app, name="store")


# Set by ``main`` (the console script): the process ends when the command does. A big ``check`` then leaves its
# workspace and report to the exit, and does not turn the cyclic GC back on: on 10,000 x 20 that spares freeing
# a million objects one by one (~0.1 s) and a last full collection (~0.1 s). Callers of ``run_cli`` (tests, other
# Python code) keep the usual behaviour.
_EXITS_AFTER_RUN = False
_KEPT_UNTIL_EXIT: list[Any] = []


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``soundcheck`` console script: run the app and exit with the documented code."""
    global _EXITS_AFTER_RUN
    _EXITS_AFTER_RUN = True
    _exit(run_cli(argv))


def _exit(code: int) -> None:
    """Exit with ``code``, skipping the interpreter's teardown when nothing else runs: after a big check, freeing
    its hundreds of thousands of objects one by one takes a tenth of a second and changes nothing. Buffered output
    is flushed and the exit handlers (``atexit``) run first, as in a normal exit; when a flush fails (a closed
    pipe) or other threads run, the normal exit does it all."""
    import atexit

    threading = sys.modules.get("threading")
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None or (threading is not None and threading.active_count() > 1):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    run_exit_handlers()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


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


def _click_exceptions() -> Any:
    """typer >= 0.20 vendors click as ``typer._click``; older releases use the ``click`` package."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _app_for(argv: list[str]) -> typer.Typer:
    """The app narrowed to the command ``argv`` runs: typer builds a click command (signatures, type hints,
    parameters) for every registered command and sub-app on every call, ~90 ms on a 2-core machine, and a command
    line only ever runs one. The root callback (``--version``) stays. Anything that does not name exactly one
    command (root options, help, a typo) gets the whole app, so its messages list every command."""
    if not argv or argv[0].startswith("-"):
        return app
    name = argv[0]
    commands = [c for c in app.registered_commands
                if (c.name or typer.main.get_command_name(c.callback.__name__ if c.callback else "")) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    narrowed = copy.copy(app)
    narrowed.registered_commands = commands
    narrowed.registered_groups = groups
    return narrowed


def run_cli(argv: list[str] | None = None) -> int:
    click = _click_exceptions()
    argv = hoist_common_options(list(sys.argv[1:] if argv is None else argv))
    try:
        result = _app_for(argv)(args=argv, standalone_mode=False, prog_name="soundcheck")
        return int(result or 0)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except typer.Abort:
        _err("aborted")
        return 130
    except SoundcheckError as exc:
        for problem in exc.problems:
            _err(f"error: {problem}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # a bug: say so briefly; the traceback only on request
        if os.environ.get("SOUNDCHECK_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (this is a bug; set SOUNDCHECK_DEBUG=1 for the traceback)")
        return 3
