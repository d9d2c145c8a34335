"""What the CLI modules share: the options every command takes, and the small helpers each command uses to build
an ``app.CommonOptions``, print warnings and errors, and read refs from the command line.

Every command accepts ``-c/--config``, ``--catalog``, ``--catalog-url`` and ``--store``, before or after the
command word (``commands.hoist_common_options``), as the README says; a command that does not read the catalog
or the store ignores them. ``commands``, ``history``, ``collectors`` and ``store`` import this module; it imports
none of them.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from soundcheck_cli.errors import Problem, UsageError

ConfigOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="app-config file (repeatable; later files override earlier ones). "
        "Default: ./app-config.yaml (+ ./app-config.local.yaml).",
        show_default=False,
    ),
]
CatalogOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--catalog",
        metavar="PATH",
        help="Catalog file, folder or glob (repeatable). Default: the file locations under catalog.locations "
        "in the app-config, else ./catalog-info.yaml. Ignored by commands that read no catalog.",
        show_default=False,
    ),
]
CatalogUrlOpt = Annotated[
    Optional[str],
    typer.Option(
        "--catalog-url",
        metavar="URL",
        help="Read the entities from a running Backstage catalog (its base URL, e.g. https://backstage.example.com) "
        "instead of files; token from soundcheck.catalog.token or $BACKSTAGE_TOKEN. Default: soundcheck.catalog.url.",
        show_default=False,
    ),
]
StoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--store",
        metavar="FOLDER|URL",
        help="Fact store: a folder, or a postgresql://user@host/db URL (shared store). Default: $SOUNDCHECK_STORE, "
        "else soundcheck.store.url in the config, else .soundcheck/ beside the first config file. Ignored by "
        "commands that read no store.",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors (no warnings, no progress).")]
TableOrJsonOpt = Annotated[str, typer.Option("--format", "-f", metavar="table|json", help="Output format.")]

USAGE_EXIT_CODES = "Exit codes: 0 ok; 2 usage or configuration error; 3 internal error (a bug: please report it)."


def common_options(config: list[str] | None, catalog: list[str] | None = None, store: str | None = None,
                   catalog_url: str | None = None) -> Any:
    from soundcheck_cli.app import CommonOptions

    return CommonOptions(config_paths=tuple(config or ()), catalog_paths=tuple(catalog or ()), store_path=store,
                         catalog_url=catalog_url)


def err(text: str) -> None:
    """One line on standard error, with every known secret masked and every control character shown as an escape
    (catalog data and API messages in it must not act on the terminal)."""
    from soundcheck_cli.redact import GLOBAL
    from soundcheck_cli.safe_text import terminal_safe

    sys.stderr.write(terminal_safe(GLOBAL.redact(text)) + "\n")


def say(text: str) -> None:
    """One line of a listing for people on standard output (``entities``, ``checks``, ``facts list``...): secrets
    masked, control characters shown as escapes, as ``err`` does. JSON output is written as it is."""
    from soundcheck_cli.redact import GLOBAL
    from soundcheck_cli.safe_text import terminal_safe

    typer.echo(terminal_safe(GLOBAL.redact(text)))


def log_line(level: str, text: str) -> None:
    """``log(level, text)`` callback of core functions (e.g. the remote catalog's ``--verbose`` lines): stderr."""
    err(text)


def print_warnings(problems: list[Problem], quiet: bool = False) -> None:
    if quiet:
        return
    for p in problems:
        err(f"warning: {p}")


def check_table_or_json(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; choose table or json")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 entity``, ``2 entities``, ``0 checks`` (the reporters' ``plural``)."""
    from soundcheck_cli.reporters.common import plural as counted

    return counted(count, singular, plural_form)


def parse_fact_ref(text: str) -> Any:
    from soundcheck_cli.facts.model import FactRef

    try:
        return FactRef.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def norm_entity(text: str) -> str:
    """An entity ref as typed (``[kind:][namespace/]name``, kind defaulting to component), in full."""
    from soundcheck_cli.catalog.model import EntityRef

    try:
        return str(EntityRef.parse(text, default_kind="component"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def open_store(config: list[str] | None, store: str | None, *, create: bool = True) -> Any:
    """The fact store of a command that needs no catalog (the config only locates it): ``app.store.open_store``,
    imported when a command runs, not when the CLI starts."""
    from soundcheck_cli.app import store as app_store

    return app_store.open_store(config, store, create=create)
