"""Orchestration: config → catalog → (collect) → evaluate → report. Usable from Python without the CLI.

Every command of the CLI is one function here (or in ``app.collect``, ``app.reports``) taking an options object;
the CLI only parses options, calls these, prints, and maps errors to exit codes.

- this module: the workspace (config, catalog, store) of a command, ``check``, the run's recording, the exit code
  of a report (decided by ``gate``);
- ``app.collect``: ``collect`` (the collectors over the workspace, into the store), and what a remote catalog must
  send for the collectors;
- ``app.reports``: the report files and the GitHub Actions extras of ``check`` and ``run``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.catalog.select import select_entities
from soundcheck_cli.config.model import Settings
from soundcheck_cli.errors import ExitCode, Location, Problem, Problems, Severity, UsageError
from soundcheck_cli.facts.interface import FactStore
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.results import RunReport

DEFAULT_CONFIG = "app-config.yaml"
LOCAL_CONFIG = "app-config.local.yaml"
CATALOG_FACT = FactRef("catalog", "default", "entity_descriptor")


@dataclass(frozen=True)
class CommonOptions:
    """Options every command takes: where the config, the catalog and the fact store are."""

    config_paths: tuple[str, ...] = ()
    catalog_paths: tuple[str, ...] = ()
    store_path: str | None = None
    catalog_url: str | None = None  # --catalog-url: entities from a running Backstage catalog (catalog/remote.py)
    cwd: str = field(default_factory=os.getcwd)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class Workspace:
    """What was loaded for one command: settings, entities and every warning met on the way."""

    options: CommonOptions
    settings: Settings
    entities: list[Entity]
    warnings: list[Problem]

    def store_path(self) -> str:
        """The store this command uses: an absolute folder path or a ``postgresql://`` URL (``facts.locate``)."""
        return store_spec_for(self.options, self.settings)

    def open_store(self) -> FactStore:
        from soundcheck_cli.facts.locate import open_any

        return open_any(self.store_path())


def store_spec_for(options: CommonOptions, settings: Settings | None) -> str:
    from soundcheck_cli.facts.locate import store_spec

    configured = getattr(getattr(settings, "store", None), "url", None)
    files = list(settings.files) if settings is not None else []
    return store_spec(options.store_path, files, options.cwd, options.environ, configured)


def resolve_config_paths(options: CommonOptions) -> list[str]:
    """``-c`` files as given; else ``./app-config.yaml`` (plus ``./app-config.local.yaml``, as Backstage does)."""
    if options.config_paths:
        return [str(Path(options.cwd, p)) for p in options.config_paths]
    default = Path(options.cwd, DEFAULT_CONFIG)
    if not default.is_file():
        raise UsageError(
            f"no config found: {DEFAULT_CONFIG} does not exist in {options.cwd}. "
            "Pass one with -c/--config FILE (repeatable), e.g. -c sample-config/app-config.yaml"
        )
    paths = [str(default)]
    local = Path(options.cwd, LOCAL_CONFIG)
    if local.is_file():
        paths.append(str(local))
    return paths


def load_settings(options: CommonOptions) -> tuple[Settings, list[Problem]]:
    from soundcheck_cli.config.settings import load_settings as _load
    from soundcheck_cli.redact import GLOBAL

    settings, warnings = _load(resolve_config_paths(options), environ=options.environ)
    GLOBAL.add_from_config(settings.app_config)
    return settings, warnings


def _catalog_cache_path(options: CommonOptions, settings: Settings) -> str | None:
    """The warm catalog cache (``catalog.cache``) lives in the fact store folder, when that folder exists:
    loading a catalog never creates a store as a side effect. With a shared database store (no local folder) it
    lives in the user's cache folder (``$XDG_CACHE_HOME/soundcheck``, else ``~/.cache/soundcheck``), one file per
    set of config files; a cache that cannot be made just means no cache."""
    from soundcheck_cli.catalog.cache import CACHE_NAME
    from soundcheck_cli.facts.locate import is_url

    folder = store_spec_for(options, settings)
    if not is_url(folder):
        return os.path.join(folder, CACHE_NAME) if os.path.isdir(folder) else None
    import hashlib

    from soundcheck_cli.user_cache import user_cache_dir

    directory = user_cache_dir(options.environ)
    if directory is None:
        return None
    key = hashlib.sha1("\n".join(settings.files).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return os.path.join(directory, f"{os.path.splitext(CACHE_NAME)[0]}-{key}.json")


def load_workspace(options: CommonOptions, *, need_catalog: bool = True, command: str | None = None,
                   log: Any = None, verbose: bool = False) -> Workspace:
    """Load config and catalog; raise ``ConfigError``/``UsageError`` on errors, collect warnings.

    With a remote catalog (``--catalog-url`` or ``soundcheck.catalog.url``): ``command`` (``check``, ``collect``
    or ``run``) lets the request carry a Backstage filter narrowed to what that command uses
    (``catalog.remote.consumer_filters``; anything else reads every entity); ``log(level, text)`` with ``verbose``
    reports each request and page."""
    settings, warnings = load_settings(options)
    warnings = list(warnings)
    entities: list[Entity] = []
    if need_catalog:
        from soundcheck_cli.catalog.source import configured

        if options.catalog_url is not None and options.catalog_paths:
            raise UsageError("--catalog and --catalog-url cannot be used together: read the catalog from files "
                             "or from a running Backstage, not both")
        problems = Problems()
        if options.catalog_url is not None or (not options.catalog_paths and configured(settings.catalog_source)):
            from soundcheck_cli.catalog import remote

            catalog = remote.resolve_source(options.catalog_url, settings.catalog_source, options.environ)
            filters = None
            if command in ("check", "collect", "run"):
                collectors = None
                if command in ("collect", "run"):
                    from soundcheck_cli.app.collect import collector_filter_pairs

                    collectors = collector_filter_pairs(settings)
                pairs = remote.consumer_filters(settings, command, collectors)
                filters = remote.server_filters(pairs) if pairs is not None else None
            entities = remote.load_remote_catalog(catalog, problems, filters=filters, log=log, verbose=verbose)
        else:
            from soundcheck_cli.gcpause import paused

            with paused():  # tens of thousands of parsed mappings, no cycles: see gcpause for what this buys
                entities = _load_file_catalog(options, settings, problems)
        warnings.extend(problems.items)
    return Workspace(options, settings, entities, warnings)


def _load_file_catalog(options: CommonOptions, settings: Settings, problems: Problems) -> list[Entity]:
    from soundcheck_cli.catalog.loader import catalog_bytes, config_location_origins, default_catalog_paths, load_catalog

    if options.catalog_paths:
        paths = list(options.catalog_paths)  # relative to cwd (base_dir), so warnings show them as typed
    else:
        paths = default_catalog_paths(settings.catalog_files, options.cwd)
    if not paths:
        raise UsageError(
            "no catalog found: pass --catalog PATH (file, folder or glob; repeatable), "
            "list file locations under catalog.locations in the app-config, or create ./catalog-info.yaml"
        )
    origins = None if options.catalog_paths else config_location_origins(settings.app_config)
    cache_path = _catalog_cache_path(options, settings)
    root = getattr(settings.catalog_source, "root", None)
    parts: tuple[str, ...] = ()
    if cache_path is not None and not os.path.exists(cache_path) and catalog_bytes(paths, options.cwd) >= PARSE_APART:
        from soundcheck_cli.app import fanout

        n = fanout.processes()
        if n > 1:
            parts = tuple(f"{cache_path}.part{k}" for k in range(n))
            fanout.apart(_fill_catalog_cache, [(paths, options.cwd, part, origins, root, (k, n))
                                               for k, part in enumerate(parts)])
    return load_catalog(paths, problems, base_dir=options.cwd, cache_path=cache_path, origins=origins, root=root,
                        cache_parts=parts)


# A catalog of this many bytes of YAML or more, with no cache yet, is first parsed by throwaway processes, each a
# share of its files, which fill parts of the cache and exit; this process then reads the entities from the cache
# (the parts taken into it). It buys memory and time: parsing 100,000 entities' YAML leaves the heap fragmented
# (~400 MB held after, against ~215 MB read from the cache), and a forked ``check`` worker (``app.fanout``) writes
# into that heap's free slots, copying its pages; and the parse uses every core. Measured at 100,000 entities x 20
# checks on 2 cores, first ``check``: 774 MB (two processes' Pss) parsed here, 506 MB parsed apart by one process;
# times in docs/scaling.md.
PARSE_APART = 8 * 1024 * 1024


def _fill_catalog_cache(paths: list[str], base_dir: str, cache_path: str, origins: Any, root: Any,
                        share: tuple[int, int]) -> None:
    from soundcheck_cli.catalog.loader import load_catalog

    load_catalog(paths, Problems(), base_dir=base_dir, cache_path=cache_path, origins=origins, root=root,
                 share=share)


def validate_workspace(workspace: Workspace) -> list[Problem]:
    """What ``soundcheck validate`` adds to the problems of loading: every configured collector created as
    ``collect`` would (plugin discovery, config schema validation), and a config that gives nothing to check (no
    ``soundcheck:`` section in any file: an empty file, a typo in the section's name) as an error."""
    problems = validate_collectors(workspace)
    settings = workspace.settings
    if not has_soundcheck_section(settings):
        files = list(settings.files)
        where = Location(files[0], 1) if len(files) == 1 else None
        names = "the config file" if len(files) == 1 else "any of " + ", ".join(files)
        problems.insert(0, Problem(f"no `soundcheck:` section in {names}: nothing to check (is the file empty, or "
                                   "the section's name misspelt?)", where, Severity.ERROR))
    return problems


def has_soundcheck_section(settings: Settings) -> bool:
    app_config = getattr(settings, "app_config", None)
    return isinstance(app_config, Mapping) and app_config.get("soundcheck") is not None


def validate_collectors(workspace: Workspace) -> list[Problem]:
    """Create every configured collector as ``collect`` would (plugin discovery, config schema validation),
    without collecting: the problems ``soundcheck validate`` adds to those of loading."""
    from soundcheck_cli.collectors.registry import Registry

    problems = Problems()
    registry = Registry.discover(problems)
    registry.create_all(workspace.settings.collectors, problems)
    return problems.items


def catalog_facts(entities: Sequence[Entity], now: datetime | None = None, *, copy: bool = True) -> list[Fact]:
    """The built-in catalog collector's facts, computed from the catalog as loaded now (``copy=False``: the facts
    share the entities' data, for read-only use such as evaluation)."""
    from soundcheck_cli.catalog.facts import descriptor_facts

    return descriptor_facts(entities, now, copy=copy)


@dataclass(frozen=True)
class CheckOptions:
    track_ids: tuple[str, ...] = ()
    check_ids: tuple[str, ...] = ()
    entity_refs: tuple[str, ...] = ()
    expiring_within: int = 14  # days: an exemption expiring sooner is announced (issue 21)


def _not_applicable(store: Any, settings: Any) -> dict[FactRef, dict[str, str]]:
    """Per fact ref the checks read, the entities its collector last found it does not apply to (with the
    collector's reason): one store meta read per fact ref."""
    from soundcheck_cli.collectors.applicability import not_applicable_entities
    from soundcheck_cli.rules.engine import compile_check

    refs = {ref for c in settings.checks for ref in compile_check(c).rule_refs}
    found = {ref: not_applicable_entities(store, ref) for ref in refs}
    return {ref: entities for ref, entities in found.items() if entities}


def check(workspace: Workspace, options: CheckOptions, *, now: datetime | None = None) -> RunReport:
    """Evaluate checks and tracks from the store (it does not collect): the whole report (``check_stream``'s
    parts joined). ``app.reports.check_and_report`` takes the parts one by one instead."""
    from soundcheck_cli.gcpause import paused

    stream = check_stream(workspace, options, now=now)
    with paused():
        parts = list(stream.parts())
    return RunReport.join(stream.head, parts, tuple(stream.problems))


def check_stream(workspace: Workspace, options: CheckOptions, *, now: datetime | None = None) -> Any:
    """The run as an ``evaluation.EvaluationStream``: its head (with the workspace's warnings as its problems),
    then its parts, entity chunk by entity chunk. Unknown ids, cycles and store errors are raised here, before any
    part.

    Catalog facts are always taken from the catalog as loaded for this run, so that a CI step sees the
    catalog-info.yaml it is running on; every other fact comes from the store.
    """
    from dataclasses import replace

    from soundcheck_cli.evaluation import evaluate_stream

    _keep_compiled_code(workspace.options)
    now = now or utcnow()
    entities = select_entities(workspace.entities, options.entity_refs)
    store = workspace.open_store()
    try:
        not_applicable = _not_applicable(store, workspace.settings)
        pushed = None
        if any(c.manual for c in workspace.settings.checks):  # type: manual checks read their pushed results
            from soundcheck_cli.results_store import by_check, pushed_results

            pushed = by_check(pushed_results(store))
        reading = [store]  # a worker process reads through its own (``in_worker``)

        def chunk_facts(chunk: list[Entity], keys: list[str]) -> dict[tuple[str, FactRef], Fact]:
            """A chunk's stored facts, with its catalog facts from the catalog as loaded for this run."""
            facts = reading[0].load_entities(keys)
            for key, fact in zip(keys, catalog_facts(chunk, now, copy=False)):  # one per entity; only read
                facts[(key, fact.fact_ref)] = fact
            return facts

        stream = evaluate_stream(
            workspace.settings,
            entities,
            chunk_facts,
            track_ids=options.track_ids,
            check_ids=options.check_ids,
            now=now,
            not_applicable=not_applicable,
            pushed=pushed,
            exemption_notice_days=options.expiring_within,
        )
    except BaseException:
        store.close()
        raise
    stream.on_close = store.close

    def in_worker() -> None:
        """A forked worker opens the store anew: a connection (PostgreSQL's socket) is never used by two
        processes. The parent's store object stays referenced and is never closed in the worker (closing it would
        end the parent's session); the worker's ``stream.close()`` closes the worker's own."""
        own = workspace.open_store()
        reading.insert(0, own)  # reading[1] keeps the parent's store alive, unused
        stream.on_close = own.close

    stream.in_worker = in_worker
    stream.head = replace(stream.head, problems=tuple(workspace.warnings))
    return stream


def _keep_compiled_code(options: CommonOptions) -> None:
    """The checks' generated code is compiled once and kept in the user's cache folder (``rules.code_cache``)."""
    from soundcheck_cli.rules import code_cache
    from soundcheck_cli.user_cache import user_cache_dir

    if not code_cache.enabled():
        directory = user_cache_dir(options.environ, create=False)
        code_cache.enable(None if directory is None else os.path.join(directory, "code"))


def exit_code_for_report(report: RunReport, gate: Any = None) -> ExitCode:
    """0 when the CI gate passes, 1 otherwise; ``gate`` is a ``gate.GateOptions`` (default: fail on failed,
    not-reported or error results, on an entity below its track's top level, and on a run that evaluated
    nothing). Decided by ``gate.judge``."""
    return judge(report, gate).code


def judge(report: RunReport, gate: Any = None) -> Any:
    """The gate's ``gate.Verdict``: the exit code and, when it is 1, why (one line per reason)."""
    from soundcheck_cli.gate import judge as gate_judge

    return gate_judge(report, gate)


def record_run(workspace: Workspace, report: RunReport, *, out: Any = None, http_options: Any = None,
               bus: Any = None) -> Any:
    """After a ``check`` run: record it in the history, and emit change events to the configured sinks.
    Returns a ``history.recorder.RunOutcome`` (its ``warnings`` are for the user; nothing here fails the run)."""
    from soundcheck_cli.history.recorder import record_and_publish

    with workspace.open_store() as store:
        return record_and_publish(store, workspace.settings, report, out=out, http_options=http_options, bus=bus,
                                  catalog=workspace.entities)

