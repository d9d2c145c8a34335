"""The built-in ``catalog`` collector: each entity's own descriptor as a fact, with no network.

Fact ``catalog:default/entity_descriptor``; its data is the entity exactly as loaded from the catalog files
(``apiVersion``, ``kind``, ``metadata``, ``spec``, ...), so checks can test ownership, lifecycle, tags, annotations
or descriptions with the same rules as any other fact. It makes the bundled sample work offline.

Its configuration (``soundcheck.collectors.catalog``) is optional; when given it takes the common collection
settings of Soundcheck collectors — ``filter``, ``exclude``, ``frequency``, ``initialDelay``, ``batchSize``,
``cache`` — for its one fact (it has nothing to choose, hence no ``collects``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from soundcheck_cli.catalog.facts import ENTITY_DESCRIPTOR, descriptor_facts
from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectionConfig, ConfigurableFactCollector
from soundcheck_cli.located.nodes import to_plain
from soundcheck_cli.errors import ConfigError, Problems
from soundcheck_cli.facts.model import Fact, FactRef

# Backstage's duration object (HumanDuration: years ... milliseconds) or a cron expression, as Soundcheck reads
# ``frequency``; an ISO-8601 duration string is accepted too.
_DURATION_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds")
_DURATION: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "properties": {unit: {"type": "number", "minimum": 0} for unit in _DURATION_UNITS},
            "additionalProperties": False,
            "minProperties": 1,
        },
        {"type": "string"},
    ]
}
_FREQUENCY: dict[str, Any] = {
    "anyOf": [
        {"type": "object", "properties": {"cron": {"type": "string"}}, "required": ["cron"], "additionalProperties": False},
        _DURATION,
    ]
}
_FILTER_VALUE: dict[str, Any] = {"type": ["string", "number", "boolean"]}
_FILTER_MAP: dict[str, Any] = {
    "type": "object",
    # ``catalog`` is the legacy wrapper ``filter: {catalog: {...}}`` (accepted with a deprecation warning).
    "properties": {"catalog": {"type": ["object", "array", "string", "number", "boolean"]}},
    "additionalProperties": {"anyOf": [_FILTER_VALUE, {"type": "array", "items": _FILTER_VALUE}]},
}
_FILTER: dict[str, Any] = {"anyOf": [_FILTER_MAP, {"type": "array", "items": _FILTER_MAP}]}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "catalog collector",
    "type": "object",
    "properties": {
        "filter": _FILTER,
        "exclude": _FILTER,
        "frequency": _FREQUENCY,
        "initialDelay": _DURATION,
        "batchSize": {"type": "integer", "minimum": 1},
        "cache": {
            "anyOf": [
                {"type": "boolean"},
                {"type": "object", "properties": {"duration": _DURATION}, "additionalProperties": False},
            ]
        },
    },
    "additionalProperties": False,
}

# A Backstage entity, after the envelope and entity schemas of @backstage/catalog-model
# (src/schema/Entity.schema.json and EntityMeta.schema.json): only what every entity has is required.
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
ENTITY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Entity descriptor",
    "description": "A catalog entity as loaded from its catalog-info.yaml",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "apiVersion": {"type": "string", "description": "e.g. backstage.io/v1alpha1"},
        "kind": {"type": "string", "description": "e.g. Component, API, System, Group"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string", "default": "default"},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
                "tags": {"type": "array", "items": {"type": "string"}},
                "links": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["url"],
                        "properties": {
                            "url": {"type": "string"},
                            "title": {"type": "string"},
                            "icon": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
                "uid": {"type": "string"},
                "etag": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "spec": {
            "type": "object",
            "description": "Kind-specific; for a Component: type, lifecycle, owner, system, providesApis, ...",
            "properties": {
                "type": {"type": "string"},
                "lifecycle": {"type": "string"},
                "owner": {"type": "string"},
                "system": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "relations": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}


class CatalogCollector(ConfigurableFactCollector):
    """Collects ``catalog:default/entity_descriptor`` for every entity it is given."""

    id = "catalog"
    name = "Catalog"
    description = "Each entity's descriptor from the software catalog (catalog-info.yaml), as a fact; no network."

    def __init__(self) -> None:
        super().__init__()
        self._filter: EntityFilter | None = None
        self._exclude: EntityFilter | None = None

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def set_config(self, config: Any) -> None:
        """Accept ``None`` (not configured) or a mapping of the common collection settings."""
        config = to_plain(config) if config is not None else {}
        if not isinstance(config, dict):
            raise ConfigError("the catalog collector's configuration must be a mapping")
        problems = Problems()
        self._filter = EntityFilter.parse(config.get("filter"), problems, "filter")
        self._exclude = EntityFilter.parse(config.get("exclude"), problems, "exclude")
        problems.raise_if_errors()
        self._config = config

    def fact_names(self) -> list[str]:
        return [str(ENTITY_DESCRIPTOR)]

    def data_schema(self, fact_ref: FactRef) -> dict[str, Any] | None:
        try:
            return ENTITY_SCHEMA if FactRef.parse(fact_ref) == ENTITY_DESCRIPTOR else None
        except ValueError:
            return None

    def collection_configs(self) -> list[CollectionConfig]:
        config = self._config or {}
        return [
            CollectionConfig(
                fact_refs=(ENTITY_DESCRIPTOR,),
                filter=self._filter,
                exclude=self._exclude,
                frequency=config.get("frequency"),
                initial_delay=config.get("initialDelay"),
                batch_size=config.get("batchSize"),
                cache=config.get("cache"),
                options=dict(config),
            )
        ]

    async def collect(
        self,
        entities: list[Entity],
        fact_refs: list[FactRef] | None = None,
        refresh: list[FactRef] | None = None,
    ) -> list[Fact]:
        if fact_refs is not None and ENTITY_DESCRIPTOR not in [FactRef.parse(ref) for ref in fact_refs]:
            return []
        return self.facts_for(entities)

    @staticmethod
    def facts_for(entities: Iterable[Entity], now: datetime | None = None, *, copy: bool = True) -> list[Fact]:
        """The descriptor facts of ``entities``, synchronously (``catalog.facts.descriptor_facts``, which
        ``soundcheck check`` uses for the catalog as loaded for the run, without going through the store)."""
        return descriptor_facts(entities, now, copy=copy)
