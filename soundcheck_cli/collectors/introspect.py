"""What the installed collectors are and what they collect: the data behind ``soundcheck collectors list``,
``soundcheck collectors show ID`` and ``soundcheck facts schema FACTREF`` (the CLI's version of Soundcheck's
Integrations page). Plain data only; the CLI renders it.

A configured collector is created exactly as ``collect`` creates it (``Registry.create``: config validated against
its ``config_schema()``, then ``set_config``), so what ``show`` prints is what ``collect`` would schedule, and an
invalid config is the same located error (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.collectors.base import (
    CollectionConfig,
    CollectorContext,
    FactCollector,
)
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.located.nodes import to_plain
from soundcheck_cli.errors import ConfigError, Location, Problems, UsageError
from soundcheck_cli.facts.model import FactRef


@dataclass(frozen=True)
class CollectorInfo:
    """One row of ``soundcheck collectors list``."""

    id: str
    name: str
    description: str
    package: str | None  # the distribution providing it; None when configured but not installed
    builtin: bool
    installed: bool
    loaded: bool  # False: installed but failed to import (a warning says why)
    configured: bool
    config_location: Location | None = None
    always_on: bool = False  # runs on every ``collect`` even when not configured (the catalog collector)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "package": self.package,
            "builtin": self.builtin,
            "installed": self.installed,
            "loaded": self.loaded,
            "configured": self.configured,
            "configLocation": str(self.config_location) if self.config_location else None,
            "alwaysOn": self.always_on,
        }


def _configured(settings: Any) -> dict[str, Any]:
    return {c.id: c for c in (getattr(settings, "collectors", None) or ())}


def list_collectors(registry: Registry, settings: Any = None) -> list[CollectorInfo]:
    """Every installed collector (loaded or not) and every configured one, sorted by id."""
    from soundcheck_cli.collectors.runner import ALWAYS_ON

    configured = _configured(settings)
    rows: list[CollectorInfo] = []
    for collector_id in sorted(set(registry.ids()) | set(configured)):
        plugin = registry.plugin(collector_id)
        cls = registry.get(collector_id) if plugin is not None else None
        where = configured[collector_id].location if collector_id in configured else None
        rows.append(
            CollectorInfo(
                id=collector_id,
                name=str(getattr(cls, "name", "") or "") if cls else "",
                description=str(getattr(cls, "description", "") or "") if cls else "",
                package=plugin.package if plugin else None,
                builtin=bool(plugin and plugin.builtin),
                installed=plugin is not None,
                loaded=cls is not None,
                configured=collector_id in configured,
                config_location=where,
                always_on=collector_id in ALWAYS_ON and plugin is not None,
            )
        )
    return rows


def create(registry: Registry, collector_id: str, settings: Any = None) -> tuple[FactCollector, Problems]:
    """The collector ``collector_id``, configured from ``settings`` when it is configured there.

    Raises ``UsageError`` when it is not installed (or fails to load) and ``ConfigError`` when its config is
    invalid; returns the warnings met on the way.
    """
    problems = Problems()
    if registry.plugin(collector_id) is None:
        known = ", ".join(registry.ids()) or "none"
        hint = " (it is configured, but no installed package provides it)" if collector_id in _configured(settings) else ""
        raise UsageError(f"unknown collector: {collector_id}{hint}; installed: {known}")
    context = CollectorContext(app_config=getattr(settings, "app_config", None) or {})
    collector = registry.create(collector_id, _configured(settings).get(collector_id), problems, context)
    if problems.errors:
        raise ConfigError(problems.errors)
    if collector is None:
        reasons = "; ".join(p.message for p in problems.warnings) or "it could not be loaded"
        raise UsageError(f"collector {collector_id} cannot be used: {reasons}")
    return collector, problems


def _plain_setting(options: dict[str, Any], key: str, parsed: Any) -> Any:
    """A setting as written in the config (the merged ``collects`` entry), else its parsed value as text."""
    if key in options:
        return to_plain(options[key])
    if parsed is None or isinstance(parsed, (str, int, float, bool, dict, list)):
        return to_plain(parsed)
    return str(parsed)


def collection_config_json(config: CollectionConfig) -> dict[str, Any]:
    """One effective collection config (after inheritance) as JSON-ready data."""
    options = dict(config.options or {})
    return {
        "factRefs": [str(r) for r in config.fact_refs],
        "filter": _plain_setting(options, "filter", config.filter),
        "exclude": _plain_setting(options, "exclude", config.exclude),
        "frequency": _plain_setting(options, "frequency", config.frequency),
        "initialDelay": _plain_setting(options, "initialDelay", config.initial_delay),
        "batchSize": config.batch_size,
        "cache": _plain_setting(options, "cache", config.cache),
    }


def _safe(call: Any, default: Any) -> Any:
    try:
        return call()
    except Exception:  # noqa: BLE001 - a plugin's introspection bug must not crash the CLI
        return default


def describe(registry: Registry, collector_id: str, settings: Any = None) -> tuple[dict[str, Any], Problems]:
    """``soundcheck collectors show ID``: identity, fact names, config schema, data schema per fact and the
    effective collection configs for the loaded config."""
    collector, problems = create(registry, collector_id, settings)
    configured = _configured(settings).get(collector_id)
    fact_names = [str(n) for n in _safe(collector.fact_names, [])]
    schemas: dict[str, Any] = {}
    for name in fact_names:
        try:
            schemas[name] = collector.data_schema(FactRef.parse(name))
        except Exception:  # noqa: BLE001
            schemas[name] = None
    config_schema = _safe(collector.config_schema, None) if hasattr(collector, "config_schema") else None
    info = {
        "id": collector_id,
        "name": collector.name or "",
        "description": collector.description or "",
        "package": registry.source(collector_id),
        "builtin": bool(registry.plugin(collector_id) and registry.plugin(collector_id).builtin),  # type: ignore[union-attr]
        "configured": configured is not None,
        "configLocation": str(configured.location) if configured is not None and configured.location else None,
        "factNames": fact_names,
        "collectionConfigs": [collection_config_json(c) for c in _safe(collector.collection_configs, [])],
        "configSchema": config_schema,
        "dataSchemas": schemas,
    }
    return info, problems


def fact_schema(registry: Registry, fact_ref: FactRef, settings: Any = None) -> tuple[str, dict[str, Any]]:
    """``soundcheck facts schema FACTREF``: ``(collector id, JSON schema)`` of the fact's data.

    Asked in this order: the configured collectors that produce the fact, the collector whose id is the fact's
    source, then every other installed collector. ``UsageError`` when none describes it.
    """
    configured = _configured(settings)
    order: list[str] = []
    by_source = fact_ref.source if registry.plugin(fact_ref.source) is not None else None
    if by_source:
        order.append(by_source)
    order += [cid for cid in configured if cid != by_source and registry.plugin(cid) is not None]
    order += [cid for cid in registry.ids() if cid not in order]
    producers: list[str] = []
    for collector_id in _candidates(order):
        try:
            collector, _ = create(registry, collector_id, settings)
        except (UsageError, ConfigError):
            if collector_id == by_source:
                raise
            continue
        schema = _safe(lambda c=collector: c.data_schema(fact_ref), None)
        if isinstance(schema, dict):
            return collector_id, schema
        if str(fact_ref) in [str(n) for n in _safe(collector.fact_names, [])]:
            producers.append(collector_id)
    if producers:
        raise UsageError(f"collector {producers[0]} collects {fact_ref} but does not describe its data (no data schema)")
    raise UsageError(
        f"no installed collector describes {fact_ref} (installed: {', '.join(registry.ids())}); "
        "see `soundcheck collectors list` and `soundcheck collectors show ID`"
    )


def _candidates(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
