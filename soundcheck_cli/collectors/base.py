"""The collector interface, a Python mirror of Soundcheck's TypeScript ``FactCollector``.

Seed (TypeScript)                         here (Python)
``id``, ``name``, ``description``         same attributes
``collect(entities, params?)``            ``async collect(entities, fact_refs=None, refresh=None) -> list[Fact]``
``getFactNames()``                        ``fact_names() -> list[str]``
``getDataSchema(factRef)``                ``data_schema(fact_ref) -> dict | None``
``getCollectionConfigs()``                ``collection_configs() -> list[CollectionConfig]``
``getConfig()/setConfig()/getConfigSchema()``  ``config()``, ``set_config(config)``, ``config_schema()``

A collector returns the facts it could collect; for an entity it could not collect it returns nothing (the
store keeps the earlier fact) and logs why. The runtime gives each collector a ``CollectorContext`` before the
run (``bind``), with the store (for ETags), a logger scoped to the collector, and the whole app-config.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.model import Fact, FactRef


@dataclass(frozen=True)
class CollectionConfig:
    """When and for which entities some of a collector's facts are collected (the seed's ``CollectionConfig``).

    ``frequency`` is ``{minutes|hours|days|...: n}`` or ``{cron: '...'}``; ``cache`` is ``True``/``False`` or
    ``{duration: {hours: 2}}``; ``filter``/``exclude`` are ``catalog.filters.EntityFilter``; ``options`` is the
    raw ``collects`` entry, for type-specific settings.
    """

    fact_refs: tuple[FactRef, ...]
    filter: Any = None
    exclude: Any = None
    frequency: Any = None
    initial_delay: Any = None
    batch_size: int | None = None
    cache: Any = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CollectorContext:
    """What the runtime hands a collector. ``app_config`` is the whole merged app-config as plain data."""

    store: Any = None  # facts.interface.FactStore
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("soundcheck.collector"))
    app_config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class FactCollector(ABC):
    id: str = ""
    name: str = ""
    description: str = ""

    def __init__(self) -> None:
        self.context = CollectorContext(logger=logging.getLogger(f"soundcheck.collector.{self.id or 'unknown'}"))

    def bind(self, context: CollectorContext) -> None:
        self.context = context

    @property
    def logger(self) -> logging.LoggerAdapter:  # type: ignore[type-arg]
        """A logger scoped to this collector (the seed's ``logger.child({target: id})``): during a run its lines
        go to the run's output, prefixed ``collector <id>:`` and redacted (see ``collectors/logger.py``)."""
        from soundcheck_cli.collectors.logger import collector_logger

        return collector_logger(self)

    @abstractmethod
    async def collect(
        self,
        entities: list[Entity],
        fact_refs: list[FactRef] | None = None,
        refresh: list[FactRef] | None = None,
    ) -> list[Fact]:
        """Collect facts for ``entities``; only ``fact_refs`` when given; ``refresh`` bypasses caches for those."""

    @abstractmethod
    def fact_names(self) -> list[str]:
        """Fact refs (as strings) this collector can produce with its current config."""

    def data_schema(self, fact_ref: FactRef) -> dict[str, Any] | None:
        return None

    def collection_configs(self) -> list[CollectionConfig]:
        return []


class ConfigurableFactCollector(FactCollector):
    """A collector configured from ``soundcheck.collectors.<id>`` in the app-config."""

    def __init__(self) -> None:
        super().__init__()
        self._config: Any = None

    def config(self) -> Any:
        return self._config

    def set_config(self, config: Any) -> None:
        """Receive the raw config (a mapping, or a list of mappings). Validated against ``config_schema()``
        by the registry before this is called."""
        self._config = config

    def config_schema(self) -> dict[str, Any]:
        return {"type": ["object", "array"]}
