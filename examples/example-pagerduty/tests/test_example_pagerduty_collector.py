"""Tests of ExamplePagerDutyFactCollector against PagerDuty's official API examples (``GET /services/{id}``,
from PagerDuty/api-schema's OpenAPI description), served by ``httpx.MockTransport``: the request it sends, the
fact it stores, its config schema, and the tutorial's getCollectionConfigs semantics."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from soundcheck_example_pagerduty import ExamplePagerDutyFactCollector
from soundcheck_example_pagerduty.collector import (
    CONFIG_SCHEMA,
    SERVICE_DETAILS_SCHEMA,
    SERVICE_FACT,
)

from soundcheck_cli.collectors import ConfigError, Entity, FactRef, collector_context
from soundcheck_cli.collectors.outcomes import OutcomeKind

# The repository's copy of ../shared/api-recordings/pagerduty/openapi-examples.json.
EXAMPLES_FILE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "pagerduty" / "openapi-examples.json"
SERVICE = json.loads(EXAMPLES_FILE.read_text())["/services/{id}"]["responses"]["200"]
TOKEN = "u+pd-example-token-123"


def entity(name: str, service_id: str | None = "PIJ90N7", kind: str = "Component") -> Entity:
    annotations = {"pagerduty.com/service-id": service_id} if service_id is not None else {}
    return Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": {"name": name, "annotations": annotations}})


class PagerDuty:
    """Answers ``GET /services/{id}`` with the official example (``id`` set to the one asked for); ``missing`` ids
    get 404, and ``status`` forces every answer's HTTP status."""

    def __init__(self, missing: tuple[str, ...] = (), status: int | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.missing = missing
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        service_id = request.url.raw_path.split(b"?")[0].rsplit(b"/", 1)[1].decode()
        if self.status is not None:
            return httpx.Response(self.status, json={"error": {"message": "Unauthorized", "code": 2006}})
        if not request.url.path.startswith("/services/") or service_id in self.missing:
            return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})
        body = copy.deepcopy(SERVICE)
        body["service"]["id"] = service_id
        return httpx.Response(200, json=body)


def collect(config: Any, entities: list[Entity], api: PagerDuty, logs: list[tuple[str, str]] | None = None) -> Any:
    collector = ExamplePagerDutyFactCollector()
    log = (lambda level, text: logs.append((level, text))) if logs is not None else None
    collector.bind(collector_context(transport=httpx.MockTransport(api), log=log, secrets=[TOKEN]))
    collector.set_config(config)

    async def run() -> Any:
        try:
            return await collector.collect_outcomes(entities, [SERVICE_FACT])
        finally:
            await collector.aclose()

    return asyncio.run(run())


CONFIG = {"token": TOKEN, "collects": [{"type": "Service"}]}


def test_collects_the_service_details_from_the_official_example() -> None:
    api = PagerDuty()
    [outcome] = collect(CONFIG, [entity("payments")], api)
    assert outcome.kind is OutcomeKind.COLLECTED
    fact = outcome.fact
    assert fact.fact_ref == FactRef("example-pagerduty", "default", "service")
    assert fact.entity_ref == "component:default/payments"
    assert fact.data == SERVICE["service"]
    assert fact.data["status"] == "active" and fact.data["escalation_policy"]["id"] == "PT20YPA"
    jsonschema.validate(fact.data, SERVICE_DETAILS_SCHEMA)
    [request] = api.requests
    assert request.url.host == "api.pagerduty.com" and request.url.path == "/services/PIJ90N7"
    assert request.url.params.get_list("include[]") == [
        "escalation_policies", "teams", "auto_pause_notifications_parameters", "integrations"
    ]
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"


def test_base_url_and_percent_encoded_service_id() -> None:
    api = PagerDuty()
    config = {**CONFIG, "baseUrl": "https://api.eu.pagerduty.com/"}
    [outcome] = collect(config, [entity("odd", "../../users/P1")], api)
    assert outcome.kind is OutcomeKind.COLLECTED
    assert str(api.requests[0].url).startswith("https://api.eu.pagerduty.com/services/..%2F..%2Fusers%2FP1?")


def test_entities_without_the_annotation_are_not_applicable_and_make_no_request() -> None:
    api = PagerDuty()
    [outcome] = collect(CONFIG, [entity("no-pd", None)], api)
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and "pagerduty.com/service-id" in outcome.reason
    assert api.requests == []


def test_unknown_service_is_absent_and_a_rejected_token_fails_without_showing_it() -> None:
    [absent] = collect(CONFIG, [entity("gone", "PGONE")], PagerDuty(missing=("PGONE",)))
    assert absent.kind is OutcomeKind.ABSENT and absent.fact.data is None
    logs: list[tuple[str, str]] = []
    [failed] = collect(CONFIG, [entity("payments")], PagerDuty(status=401), logs)
    assert failed.kind is OutcomeKind.FAILED and "401" in failed.reason and TOKEN not in failed.reason


def test_logger_is_scoped_to_the_collector_and_redacted() -> None:
    logs: list[tuple[str, str]] = []
    collector = ExamplePagerDutyFactCollector()
    collector.bind(collector_context(log=lambda level, text: logs.append((level, text)), secrets=[TOKEN]))
    collector.logger.warning("token %s rejected", TOKEN)
    assert logs == [("warning", "collector example-pagerduty: token *** rejected")]


# -- configuration: schema and the tutorial's getCollectionConfigs ------------------------------------------------


def schema_errors(config: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(CONFIG_SCHEMA)
    return sorted(e.message for e in validator.iter_errors(config))


def test_config_schema_requires_a_token_and_rejects_unknown_keys() -> None:
    assert schema_errors(CONFIG) == []
    assert schema_errors({"collects": [{"type": "Service"}]}) == ["'token' is a required property"]
    assert schema_errors({"token": TOKEN, "tokn": 1}) == ["Additional properties are not allowed ('tokn' was unexpected)"]
    assert schema_errors({"token": TOKEN, "collects": [{"type": "Incidents"}]}) == ["'Incidents' is not one of ['Service']"]
    assert schema_errors([{"token": TOKEN}, {"token": TOKEN, "baseUrl": "ftp://x"}]) == ["'ftp://x' does not match '^https?://'"]


def test_no_collects_schedules_nothing() -> None:
    collector = ExamplePagerDutyFactCollector()
    collector.set_config({"token": TOKEN, "frequency": {"hours": 1}, "filter": {"kind": "Component"}})
    assert collector.collection_configs() == []
    assert collector.fact_names() == []


def test_entries_inherit_top_level_settings_unless_they_set_their_own() -> None:
    top = {
        "filter": {"kind": "Component"},
        "exclude": {"spec.lifecycle": "experimental"},
        "frequency": {"hours": 1},
        "initialDelay": {"seconds": 30},
        "batchSize": 20,
        "cache": {"duration": {"hours": 2}},
    }
    own = {
        "filter": {"kind": "API"},
        "exclude": {"metadata.name": "legacy"},
        "frequency": {"cron": "0 * * * *"},
        "initialDelay": {"minutes": 1},
        "batchSize": 5,
        "cache": False,
    }
    collector = ExamplePagerDutyFactCollector()
    collector.set_config({"token": TOKEN, **top, "collects": [{"type": "Service"}, {"type": "Service", **own}]})
    inherited, overridden = collector.collection_configs()
    assert inherited.fact_refs == overridden.fact_refs == (SERVICE_FACT,)
    assert (inherited.frequency, inherited.initial_delay, inherited.batch_size, inherited.cache) == (
        {"hours": 1}, {"seconds": 30}, 20, {"duration": {"hours": 2}}
    )
    assert (overridden.frequency, overridden.initial_delay, overridden.batch_size, overridden.cache) == (
        {"cron": "0 * * * *"}, {"minutes": 1}, 5, False
    )
    web, api, legacy = entity("web"), entity("web-api", kind="API"), entity("legacy", kind="API")
    assert inherited.filter.matches(web) and not inherited.filter.matches(api)
    assert overridden.filter.matches(api) and overridden.exclude.matches(legacy)
    assert inherited.options["exclude"] == {"spec.lifecycle": "experimental"}
    assert overridden.options["exclude"] == {"metadata.name": "legacy"}


def test_cache_true_in_an_entry_takes_the_blocks_duration_and_several_blocks_are_accepted() -> None:
    collector = ExamplePagerDutyFactCollector()
    collector.set_config([
        {"token": TOKEN, "cache": {"duration": {"hours": 2}}, "collects": {"type": "Service", "cache": True}},
        {"token": "second-account-token", "baseUrl": "https://api.eu.pagerduty.com", "collects": [{"type": "Service"}]},
    ])
    first, second = collector.collection_configs()
    assert first.cache == {"duration": {"hours": 2}} and second.cache is None


def test_malformed_settings_are_config_errors() -> None:
    collector = ExamplePagerDutyFactCollector()
    with pytest.raises(ConfigError) as raised:
        collector.set_config({"token": TOKEN, "collects": [{"frequency": {"fortnights": 1}, "batchSize": 0}]})
    messages = [p.message for p in raised.value.problems]
    assert messages == [
        "frequency: unknown unit 'fortnights' (expected one of milliseconds, seconds, minutes, hours, days, weeks, months, years)",
        "batchSize must be a positive integer",
    ]
