"""``soundcheck store ...``: create, migrate, inspect and move the fact store (docs/store.md).

- ``store init``: create the store (the folder, or the PostgreSQL schema); safe to run again;
- ``store migrate``: bring the store's schema up to this version's;
- ``store info``: where the store is (a URL's password masked), its kind and version, how many facts and meta keys;
- ``store export [-o FILE]`` / ``store import FILE [--replace]``: the whole store as JSON lines (``facts.transfer``).

Which store a command without a catalog uses is ``app.store.resolve_store_spec``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Optional

import typer

from soundcheck_cli.cli.help import PLAIN_HELP, SummaryGroup
from soundcheck_cli.cli.common import USAGE_EXIT_CODES, CatalogOpt, CatalogUrlOpt, StoreOpt
from soundcheck_cli.app.store import resolve_store_spec
from soundcheck_cli.errors import UsageError

STDIO = "-"

store_app = typer.Typer(
    help="Create, migrate, inspect and move the fact store (a folder, or a shared PostgreSQL database).",
    no_args_is_help=True,
    cls=SummaryGroup,
    **PLAIN_HELP,
)

# Like cli.common's --config, but read only to find the store (cli.common.StoreOpt is shared).
ConfigOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="app-config file (repeatable); read only to find the store (soundcheck.store.url, else .soundcheck/ "
        "beside the first config file). Not needed with --store or $SOUNDCHECK_STORE.",
        show_default=False,
    ),
]


def _say(text: str, *, to_stderr: bool = False) -> None:
    from soundcheck_cli.cli.common import err, say

    (err if to_stderr else say)(text)


# -- commands -----------------------------------------------------------------------------------------------------


@store_app.command("init", epilog=USAGE_EXIT_CODES)
def store_init(config: ConfigOpt = None, store: StoreOpt = None,
                catalog: CatalogOpt = None, catalog_url: CatalogUrlOpt = None) -> None:
    """Create the store if it does not exist yet: the folder, or the PostgreSQL tables. Safe to run again.

    A PostgreSQL store must be initialised once (by a user allowed to create tables) before other commands use it;
    a folder store is also created by the first `soundcheck collect`.
    """
    from soundcheck_cli.facts.locate import init_store

    _say(init_store(resolve_store_spec(config, store)))


@store_app.command("migrate", epilog=USAGE_EXIT_CODES)
def store_migrate(config: ConfigOpt = None, store: StoreOpt = None,
                catalog: CatalogOpt = None, catalog_url: CatalogUrlOpt = None) -> None:
    """Upgrade the store's schema to this soundcheck version's (after an upgrade). Safe to run again."""
    from soundcheck_cli.facts.locate import migrate_store

    _say(migrate_store(resolve_store_spec(config, store)))


@store_app.command("info", epilog=USAGE_EXIT_CODES)
def store_info(config: ConfigOpt = None, store: StoreOpt = None,
                catalog: CatalogOpt = None, catalog_url: CatalogUrlOpt = None) -> None:
    """Show where the store is (passwords masked), its kind and version, and how many facts and meta keys it holds."""
    from soundcheck_cli.facts.interface import entity_key
    from soundcheck_cli.facts.locate import describe, is_url
    from soundcheck_cli.facts.model import utcnow
    from soundcheck_cli.facts.transfer import plural

    spec = resolve_store_spec(config, store)
    with _open(spec, create=False) as st:
        if is_url(spec):
            version = getattr(st, "schema_version", None)
            kind = "PostgreSQL" + (f" (schema version {version()})" if callable(version) else "")
        else:
            from soundcheck_cli.facts.store import FORMAT_VERSION

            kind = f"folder (SQLite; format {FORMAT_VERSION})"
        facts = entities = expired = 0
        refs: set[Any] = set()
        seen: set[str] = set()
        now = utcnow()
        for fact in st.facts():
            facts += 1
            refs.add(fact.fact_ref)
            key = entity_key(fact.entity_ref)
            if key not in seen:
                seen.add(key)
                entities += 1
            expired += fact.is_expired(now)
        keys = st.meta_keys()
    groups: dict[str, int] = {}
    for key in keys:
        prefix = key.split(":", 1)[0] if ":" in key else key
        groups[prefix] = groups.get(prefix, 0) + 1
    by_prefix = ", ".join(f"{prefix}: {count}" for prefix, count in sorted(groups.items()))
    _say(f"store:  {describe(spec)}")
    _say(f"kind:   {kind}")
    _say(f"facts:  {facts} ({plural(entities, 'entity', 'entities')}, {plural(len(refs), 'fact ref')}, {expired} expired)")
    _say(f"meta:   {plural(len(keys), 'key')}" + (f" ({by_prefix})" if by_prefix else ""))


@store_app.command("export", epilog=USAGE_EXIT_CODES)
def store_export(
    output: Annotated[
        Optional[str],
        typer.Option("--output", "-o", metavar="FILE", help="Write the export to this file ('-' or none: standard output).",
                     show_default=False),
    ] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
) -> None:
    """Write every fact and meta entry (run history, ETags, pending events) of the store as JSON lines.

    The first line is a header, then one line per fact and per meta key (format: docs/store.md). Read it back with
    `soundcheck store import`, e.g. to move a folder store into PostgreSQL. Locks are not exported.
    """
    from soundcheck_cli.facts.locate import describe

    spec = resolve_store_spec(config, store)
    to_stdout = output in (None, STDIO)
    with _open(spec, create=False) as st:
        if to_stdout:
            counts = _export_to_stdout(st)
        else:
            counts = _export_to_file(st, output or "")
    where = "" if to_stdout else f" to {output}"
    _say(f"{counts.exported()} from {describe(spec)}{where}", to_stderr=to_stdout)


def _export_to_stdout(st: Any) -> Any:
    from soundcheck_cli.facts.transfer import export_store

    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    try:
        counts = export_store(st, sys.stdout, ensure_ascii=encoding != "utf8")  # \u escapes if not UTF-8
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python from failing again at exit.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        raise UsageError("store export: standard output was closed before the export was complete") from None
    return counts


def _export_to_file(st: Any, path: str) -> Any:
    """Export into ``path`` through a temporary file beside it: a failed export leaves no half-written file."""
    import tempfile

    from soundcheck_cli.facts.transfer import export_store

    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=".soundcheck-export-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            counts = export_store(st, out)
        os.replace(temp, target)
    except OSError as exc:
        _remove(temp)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(temp)
        raise
    return counts


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@store_app.command("import", epilog=USAGE_EXIT_CODES)
def store_import(
    file: Annotated[str, typer.Argument(
        metavar="FILE", help="A file written by `soundcheck store export` ('-' for standard input).",
        show_default=False)],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Overwrite facts the store already has even when its copy is newer "
        "(default: keep whichever is newer by timestamp).")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
) -> None:
    """Read an export into the store; nothing is written unless every line is valid, and nothing is deleted.

    A fact the store already has is replaced only by a newer one (later timestamp), unless --replace. Meta entries
    (run history, ETags, pending events) replace the store's entries of the same key. A bad line is reported as
    FILE:LINE (exit code 2).
    """
    from soundcheck_cli.facts.locate import describe
    from soundcheck_cli.facts.transfer import read_export, write_import

    spec = resolve_store_spec(config, store)
    if file == STDIO:
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        data = read_export(stream, "<stdin>")
    else:
        try:
            with open(file, "rb") as handle:
                data = read_export(handle, file)
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None
    with _open(spec, create=True) as st:
        counts = write_import(st, data, replace=replace)
    _say(f"{counts.imported()} into {describe(spec)}")


def _open(spec: str, *, create: bool) -> Any:
    from soundcheck_cli.facts.locate import open_any

    return open_any(spec, create=create)
