"""Fact collectors: the public plugin API, the registry, and the built-in collectors.

Plugin authors import from here::

    from soundcheck_cli.collectors import ConfigurableFactCollector, FactCollector, Fact, FactRef, CollectionConfig
"""

from soundcheck_cli.catalog.model import Entity, EntityRef, stringify_entity_ref
from soundcheck_cli.collectors.base import (
    CollectionConfig,
    CollectorContext,
    ConfigurableFactCollector,
    FactCollector,
)
from soundcheck_cli.facts.model import Fact, FactRef

__all__ = [
    "CollectionConfig",
    "CollectorContext",
    "ConfigurableFactCollector",
    "Entity",
    "EntityRef",
    "Fact",
    "FactCollector",
    "FactRef",
    "stringify_entity_ref",
]
