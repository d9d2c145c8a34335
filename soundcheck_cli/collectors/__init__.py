"""Fact collectors: the public plugin API, the registry, and the built-in collectors.

Plugin authors import from here, and only from here (this import path is stable)::

    from soundcheck_cli.collectors import ConfigurableFactCollector, FactCollector, Fact, FactRef, CollectionConfig

What a plugin may use (the tutorial is ``docs/custom-collectors.md``; the worked example is
``examples/example-pagerduty``):

- the interface: ``FactCollector``, ``ConfigurableFactCollector`` (``collect``, ``fact_names``, ``data_schema``,
  ``collection_configs``, ``config``/``set_config``/``config_schema``), ``CollectionConfig``, ``CollectorContext``;
- ``EntityCollector``: the base of collectors that fetch one fact per (entity, fact ref); it parses ``collects``
  with Soundcheck's getCollectionConfigs semantics, isolates failures and gives each block an HTTP client;
  ``collector_config_schema`` builds its JSON schema; ``EntryConfig`` is one parsed ``collects`` entry;
  ``Outcome`` is what ``fetch`` returns;
- values: ``Entity``, ``EntityRef``, ``Fact``, ``FactRef``, ``stringify_entity_ref``, ``parse_fact_ref``,
  ``stringify_fact_ref``, ``utcnow``;
- HTTP: ``create_client`` (a client with the run's limiter, retries and redaction), ``HttpClient``,
  ``HttpError``, ``NotFound``, ``path_segment``;
- logging: ``collector_logger`` / ``FactCollector.logger`` (the seed's ``logger.child({target: id})``);
- tests: ``collector_context(transport=httpx.MockTransport(...))`` runs a collector outside ``soundcheck collect``;
- errors: ``ConfigError``, ``Problems``, ``Location`` (raise ``ConfigError`` from ``set_config`` for located config errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Names are imported on first use (PEP 562): importing any submodule (``collectors.catalog`` during ``check``)
# imports this package first, and ``check`` must not pay for httpx and the HTTP runtime it does not use.
_EXPORTS: dict[str, str] = {
    "Entity": "soundcheck_cli.catalog.model",
    "EntityRef": "soundcheck_cli.catalog.model",
    "stringify_entity_ref": "soundcheck_cli.catalog.model",
    "CollectorLogger": "soundcheck_cli.collectors.api",
    "collector_context": "soundcheck_cli.collectors.api",
    "collector_logger": "soundcheck_cli.collectors.api",
    "parse_fact_ref": "soundcheck_cli.collectors.api",
    "stringify_fact_ref": "soundcheck_cli.collectors.api",
    "CollectionConfig": "soundcheck_cli.collectors.base",
    "CollectorContext": "soundcheck_cli.collectors.base",
    "ConfigurableFactCollector": "soundcheck_cli.collectors.base",
    "FactCollector": "soundcheck_cli.collectors.base",
    "EntityCollector": "soundcheck_cli.collectors.entity_collector",
    "collector_config_schema": "soundcheck_cli.collectors.entity_collector",
    "HttpClient": "soundcheck_cli.http.client",
    "HttpError": "soundcheck_cli.http.client",
    "NotFound": "soundcheck_cli.http.client",
    "create_client": "soundcheck_cli.http.client",
    "path_segment": "soundcheck_cli.http.client",
    "Outcome": "soundcheck_cli.collectors.outcomes",
    "EntryConfig": "soundcheck_cli.collectors.schedule",
    "ConfigError": "soundcheck_cli.errors",
    "Location": "soundcheck_cli.errors",
    "Problems": "soundcheck_cli.errors",
    "Fact": "soundcheck_cli.facts.model",
    "FactRef": "soundcheck_cli.facts.model",
    "utcnow": "soundcheck_cli.facts.model",
}

if TYPE_CHECKING:
    from soundcheck_cli.catalog.model import Entity, EntityRef, stringify_entity_ref
    from soundcheck_cli.collectors.api import (
        CollectorLogger,
        collector_context,
        collector_logger,
        parse_fact_ref,
        stringify_fact_ref,
    )
    from soundcheck_cli.collectors.base import (
        CollectionConfig,
        CollectorContext,
        ConfigurableFactCollector,
        FactCollector,
    )
    from soundcheck_cli.collectors.entity_collector import (
        EntityCollector,
        collector_config_schema,
    )
    from soundcheck_cli.http.client import (
        HttpClient,
        HttpError,
        NotFound,
        create_client,
        path_segment,
    )
    from soundcheck_cli.collectors.outcomes import Outcome
    from soundcheck_cli.collectors.schedule import EntryConfig
    from soundcheck_cli.errors import ConfigError, Location, Problems
    from soundcheck_cli.facts.model import Fact, FactRef, utcnow


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "CollectionConfig",
    "CollectorContext",
    "CollectorLogger",
    "ConfigError",
    "ConfigurableFactCollector",
    "Entity",
    "EntityCollector",
    "EntityRef",
    "EntryConfig",
    "Fact",
    "FactCollector",
    "FactRef",
    "HttpClient",
    "HttpError",
    "Location",
    "NotFound",
    "Outcome",
    "Problems",
    "collector_config_schema",
    "collector_context",
    "collector_logger",
    "create_client",
    "parse_fact_ref",
    "path_segment",
    "stringify_entity_ref",
    "stringify_fact_ref",
    "utcnow",
]
