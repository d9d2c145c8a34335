"""CLI commands about collectors (Soundcheck's Integrations page, on the command line):

- ``soundcheck collectors list``: id, name, description, source package, configured or not;
- ``soundcheck collectors show ID``: fact names, config schema, data schema per fact and the effective collection
  configs for the loaded config;
- ``soundcheck facts schema FACTREF``: the JSON schema of a fact's data (registered under ``facts`` in ``cli/commands.py``).

The config is optional for all three: without ``-c`` and without ``./app-config.yaml`` they describe the installed
collectors unconfigured. Data comes from ``collectors/introspect.py``; this module only renders it.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from soundcheck_cli.cli.common import (
    USAGE_EXIT_CODES,
    CatalogOpt,
    CatalogUrlOpt,
    StoreOpt,
    TableOrJsonOpt as FormatOpt,
    check_table_or_json as _check_format,
    plural,
)
from soundcheck_cli.cli.help import PLAIN_HELP, SummaryGroup
from soundcheck_cli.errors import Problem, UsageError

collectors_app = typer.Typer(
    help="The installed collectors (built in and plugins), what they collect and how they are configured.",
    no_args_is_help=True,
    cls=SummaryGroup,
    **PLAIN_HELP,  # plain help, as the main app (cli_help)
)

ConfigOpt = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", metavar="FILE", help="app-config file (repeatable). Default: ./app-config.yaml if "
                 "it exists.", show_default=False),
]
SchemaOpt = Annotated[bool, typer.Option("--schema", help="Print the full JSON schemas (config and fact data) "
                                         "instead of a summary of their properties.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Do not print warnings.")]


def _warn(problems: list[Problem], quiet: bool) -> None:
    from soundcheck_cli.cli.common import print_warnings

    print_warnings(problems, quiet)


def _load(config: list[str] | None) -> tuple[Any, Any, list[Problem]]:
    """(registry, settings or None, config warnings): plugins discovered (their warnings accumulate in
    ``registry.problems`` as they are loaded), and the config loaded when there is one."""
    from soundcheck_cli import app as core
    from soundcheck_cli.collectors.registry import Registry
    from soundcheck_cli.errors import Problems

    common = core.CommonOptions(config_paths=tuple(config or ()))
    settings = None
    warnings: list[Problem] = []
    has_config = True
    if not common.config_paths:
        try:
            core.resolve_config_paths(common)
        except UsageError:
            has_config = False  # no ./app-config.yaml: describe the installed collectors unconfigured
    if has_config:
        settings, loaded_warnings = core.load_settings(common)
        warnings.extend(loaded_warnings)
    return Registry.discover(Problems()), settings, warnings


@collectors_app.command("list", epilog=USAGE_EXIT_CODES)
def collectors_list(format: FormatOpt = "table", config: ConfigOpt = None, quiet: QuietOpt = False,
                    catalog: CatalogOpt = None, catalog_url: CatalogUrlOpt = None, store: StoreOpt = None) -> None:
    """List the installed collectors: id, name, description, the package that provides it, and whether the
    config configures it. A plugin that fails to load is listed with a warning; the command still succeeds."""
    from soundcheck_cli.collectors.introspect import list_collectors

    _check_format(format)
    registry, settings, warnings = _load(config)
    rows = list_collectors(registry, settings)
    _warn(warnings + registry.problems.items, quiet)
    if format == "json":
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2, ensure_ascii=False))
        return
    table = [("ID", "NAME", "PACKAGE", "CONFIGURED", "DESCRIPTION")]
    for r in rows:
        if not r.installed:
            package = "(not installed)"
        elif not r.loaded:
            package = f"{r.package} (failed to load)"
        else:
            package = f"{r.package} (built in)" if r.builtin else str(r.package)
        table.append((r.id, r.name or "-", package, "yes" if r.configured else ("no (always runs)" if r.always_on else "no"), r.description or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    configured = sum(1 for r in rows if r.configured)
    typer.echo(f"{plural(sum(1 for r in rows if r.installed), 'collector')} installed, {configured} configured")


def _dump(value: Any, indent: str = "  ") -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return "\n".join(indent + line for line in text.splitlines())


def _schema_summary(schema: Any, indent: str = "  ", limit: int = 25, root: Any = None) -> list[str]:
    """One line per top-level property of a JSON schema: name, type, required; the rest is counted. Local
    ``$ref``s (``#/$defs/...``) are followed; a ``{if: array, then: [X], else: X}`` schema (a block, or a list of
    blocks) is summarised as X."""
    root = schema if root is None else root
    schema = _deref(schema, root)
    if not isinstance(schema, dict):
        return [f"{indent}{json.dumps(schema)}"]
    if isinstance(schema.get("else"), dict) and isinstance(schema.get("then"), dict):
        return [f"{indent}a mapping, or a list of mappings, with:"] + _schema_summary(
            schema["else"], indent + "  ", limit, root)
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        items = _deref(schema.get("items"), root)
        if schema.get("type") == "array" and isinstance(items, dict) and isinstance(items.get("properties"), dict):
            return [f"{indent}a list of mappings with:"] + _schema_summary(items, indent + "  ", limit, root)
        return [f"{indent}{_type_of(schema, root)}"]
    required = set(schema.get("required") or ())
    width = min(max(len(str(name)) for name in props), 32)
    lines = []
    for name, sub in list(props.items())[:limit]:
        extra = ", required" if name in required else ""
        lines.append(f"{indent}{str(name):<{width}}  {_type_of(sub, root)}{extra}")
    if len(props) > limit:
        lines.append(f"{indent}... and {len(props) - limit} more")
    return lines


def _deref(schema: Any, root: Any) -> Any:
    for _ in range(10):  # a chain of references, not a loop
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/") or not isinstance(root, dict):
            return schema
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return schema
        schema = target
    return schema


def _type_of(schema: Any, root: Any = None) -> str:
    """``string``, ``integer|null``, ``object|boolean`` (from ``type``, else the alternatives of ``anyOf``/``oneOf``)."""
    schema = _deref(schema, root)
    if not isinstance(schema, dict):
        return "any"
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(map(str, kind))
    if isinstance(kind, str):
        return kind
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            kinds = (kind for option in options for kind in _type_of(option, root).split("|"))
            return "|".join(dict.fromkeys(kinds))
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"][:5])
    return "any"


@collectors_app.command("show", epilog=USAGE_EXIT_CODES)
def collectors_show(
    collector_id: Annotated[str, typer.Argument(metavar="ID", help="Collector id, e.g. pagerduty")],
    format: FormatOpt = "table",
    schema: SchemaOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show a collector: its facts, the effective collection configs (each `collects` entry after inheriting the
    block's settings) for the loaded config, and the properties of its config and of each fact's data (--schema:
    the full JSON schemas; -f json: everything)."""
    from soundcheck_cli.collectors.introspect import describe

    _check_format(format)
    registry, settings, warnings = _load(config)
    info, problems = describe(registry, collector_id, settings)
    _warn(warnings + registry.problems.items + problems.items, quiet)
    if format == "json":
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    out = [f"{info['id']}: {info['name'] or '-'}"]
    if info["description"]:
        out.append(f"  {info['description']}")
    out.append(f"  package:    {info['package']}{' (built in)' if info['builtin'] else ''}")
    where = f", at {info['configLocation']}" if info["configLocation"] else ""
    out.append(f"  configured: {'yes' + where if info['configured'] else 'no'}")
    out.append("")
    out.append("facts:")
    if info["factNames"]:
        out += [f"  {name}" for name in info["factNames"]]
    else:
        out.append("  none with this config" + ("" if info["configured"] else " (not configured)"))
    out.append("")
    out.append("collection configs (after inheritance):")
    if not info["collectionConfigs"]:
        out.append("  none: nothing is scheduled (no `collects` entries)" if info["configured"] else "  none (not configured)")
    for index, cc in enumerate(info["collectionConfigs"], 1):
        out.append(f"  {index}. {', '.join(cc['factRefs'])}")
        for key in ("filter", "exclude", "frequency", "initialDelay", "batchSize", "cache"):
            if cc[key] is not None:
                out.append(f"       {key}: {json.dumps(cc[key], ensure_ascii=False)}")
    out.append("")
    show = _dump if schema else (lambda value: "\n".join(_schema_summary(value)))
    out.append("config schema:" if schema else "config (properties):")
    out.append(show(info["configSchema"]) if info["configSchema"] is not None else "  none (takes no configuration)")
    for name, data_schema in info["dataSchemas"].items():
        out.append("")
        out.append(f"data schema of {name}:" if schema else f"data of {name} (properties):")
        out.append(show(data_schema) if data_schema is not None else "  none")
    if not schema:
        out.append("")
        out.append(f"(the full JSON schemas: soundcheck collectors show {info['id']} --schema)")
    typer.echo("\n".join(out))


def facts_schema(
    fact: Annotated[str, typer.Argument(metavar="FACTREF", help="Fact ref, e.g. pagerduty:default/service")],
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Print the JSON schema of a fact's data, as the collector that produces it declares it."""
    from soundcheck_cli.collectors.introspect import fact_schema
    from soundcheck_cli.facts.model import FactRef

    try:
        ref = FactRef.parse(fact)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    registry, settings, warnings = _load(config)
    collector_id, schema = fact_schema(registry, ref, settings)
    _warn(warnings + registry.problems.items, quiet)
    if not quiet:
        sys.stderr.write(f"{ref}: data schema from collector {collector_id} ({registry.source(collector_id)})\n")
    typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))
