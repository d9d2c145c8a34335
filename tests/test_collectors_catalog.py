"""The built-in catalog collector: its fact, schema, configuration and collection config."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import jsonschema
import pytest

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.catalog import CONFIG_SCHEMA, ENTITY_DESCRIPTOR, CatalogCollector
from soundcheck_cli.located.nodes import LocatedDict
from soundcheck_cli.errors import ConfigError, Location
from soundcheck_cli.facts.model import FactRef


def entity(name: str, kind: str = "Component", **spec: str) -> Entity:
    meta = LocatedDict({"name": name, "tags": ["python"], "annotations": {"pagerduty.com/service-id": "P1"}}, loc=Location("c.yaml", 3, 3))
    data = LocatedDict({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": meta, "spec": dict(spec)}, loc=Location("c.yaml", 1, 1))
    return Entity.from_data(data, Location("c.yaml", 1, 1))


def test_identity() -> None:
    collector = CatalogCollector()
    assert (collector.id, collector.name) == ("catalog", "Catalog")
    assert collector.description
    assert collector.fact_names() == ["catalog:default/entity_descriptor"]
    assert ENTITY_DESCRIPTOR == FactRef.parse("catalog:default/entity_descriptor")


def test_collect_returns_each_entity_as_loaded() -> None:
    entities = [entity("payments-api", lifecycle="production", owner="team-a"), entity("Search", kind="API")]
    before = datetime.now(timezone.utc)
    facts = asyncio.run(CatalogCollector().collect(entities))
    assert [f.entity_ref for f in facts] == ["component:default/payments-api", "api:default/Search"]
    assert all(f.fact_ref == ENTITY_DESCRIPTOR for f in facts)
    assert facts[0].data == {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "payments-api", "namespace": "default", "tags": ["python"], "annotations": {"pagerduty.com/service-id": "P1"}},
        "spec": {"lifecycle": "production", "owner": "team-a"},
    }
    # Plain data, not the loader's located containers, and a copy: later changes to the entity do not leak in.
    assert type(facts[0].data) is dict and type(facts[0].data["metadata"]) is dict
    entities[0].data["spec"]["owner"] = "someone-else"
    assert facts[0].data["spec"]["owner"] == "team-a"
    assert facts[0].timestamp >= before and facts[0].expires_at is None


def test_collect_only_when_its_fact_is_asked_for() -> None:
    collector = CatalogCollector()
    assert asyncio.run(collector.collect([entity("x")], fact_refs=[FactRef.parse("github:default/repo")])) == []
    assert len(asyncio.run(collector.collect([entity("x")], fact_refs=["catalog:default/entity_descriptor"]))) == 1  # type: ignore[list-item]
    assert asyncio.run(collector.collect([])) == []


def test_data_schema_describes_a_backstage_entity() -> None:
    collector = CatalogCollector()
    schema = collector.data_schema(ENTITY_DESCRIPTOR)
    assert schema is not None
    assert collector.data_schema(FactRef.parse("catalog:default/other")) is None
    assert collector.data_schema("not a ref") is None  # type: ignore[arg-type]
    jsonschema.Draft202012Validator.check_schema(schema)
    facts = asyncio.run(collector.collect([entity("payments-api", lifecycle="production")]))
    jsonschema.validate(facts[0].data, schema)  # the collector's own output conforms
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kind": "Component", "metadata": {}}, schema)


def test_unconfigured_collection_config_covers_every_entity() -> None:
    (config,) = CatalogCollector().collection_configs()
    assert config.fact_refs == (ENTITY_DESCRIPTOR,)
    assert config.filter is None and config.exclude is None and config.frequency is None and config.cache is None


def test_configured_collection_config_takes_its_settings() -> None:
    collector = CatalogCollector()
    settings = {
        "filter": {"kind": "Component", "spec.lifecycle": ["production", "experimental"]},
        "exclude": [{"metadata.tags": "legacy"}],
        "frequency": {"hours": 6},
        "initialDelay": {"minutes": 1},
        "batchSize": 50,
        "cache": {"duration": {"hours": 12}},
    }
    jsonschema.validate(settings, CONFIG_SCHEMA)
    collector.set_config(settings)
    assert collector.config() == settings
    (config,) = collector.collection_configs()
    assert isinstance(config.filter, EntityFilter) and isinstance(config.exclude, EntityFilter)
    assert config.filter.matches(entity("a", lifecycle="production"))
    assert not config.filter.matches(entity("a", lifecycle="deprecated"))
    assert not config.filter.matches(entity("a", kind="API", lifecycle="production"))
    assert (config.frequency, config.initial_delay, config.batch_size, config.cache) == ({"hours": 6}, {"minutes": 1}, 50, {"duration": {"hours": 12}})
    assert config.options == settings


@pytest.mark.parametrize(
    "settings",
    [
        {"unknown": 1},
        {"batchSize": 0},
        {"frequency": {"fortnights": 1}},
        {"cache": "yes"},
        {"filter": {"kind": {"nested": "mapping"}}},
        {"filter": "Component"},
    ],
)
def test_config_schema_rejects_malformed_settings(settings: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(settings, CONFIG_SCHEMA)


def test_config_schema_accepts_cron_and_legacy_filter() -> None:
    jsonschema.validate({"frequency": {"cron": "0 * * * *"}, "filter": {"catalog": {"kind": "Component"}}, "cache": False}, CONFIG_SCHEMA)


def test_set_config_rejects_a_non_mapping_and_accepts_none() -> None:
    collector = CatalogCollector()
    with pytest.raises(ConfigError):
        collector.set_config(["not", "a", "mapping"])
    collector.set_config(None)
    (config,) = collector.collection_configs()
    assert config.filter is None


def test_facts_for_is_the_synchronous_form_with_a_given_time() -> None:
    at = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    (fact,) = CatalogCollector.facts_for([entity("x")], now=at)
    assert fact.timestamp == at and fact.fact_ref == ENTITY_DESCRIPTOR and fact.entity_ref == "component:default/x"
