"""Tests of the ``datadog`` collector against a mock Datadog API (``httpx.MockTransport``).

Where the shapes come from (see ``tests/fixtures/datadog/README.md``):

- ``GET /api/v2/services/definitions/{service_name}``: ``fixtures/datadog/get-service-definition.json``, a real
  response recorded by Datadog's API client tests (DataDog/datadog-api-client-python, cassette
  ``test_get_a_single_service_definition_returns_ok_response``); the path, the ``schema_version`` query parameter
  and the ``apm_service_catalog_read`` permission are from the API reference page "Get a single service definition".
- ``GET /api/v1/slo/search``: ``fixtures/datadog/search-slos.json``, recorded in the cassette
  ``test_search_for_slos_returns_ok_response`` (``data.type`` is ``service_level_objective_search_results``, the
  value a public Soundcheck configuration's check compares ``$.data.type`` with); the ``query``/``page[size]``/
  ``page[number]`` parameters are from the API reference page "Search for SLOs".
- Authentication headers ``DD-API-KEY`` / ``DD-APPLICATION-KEY``, the per-site API hosts and the error body
  ``{"errors": [...]}``: docs.datadoghq.com/api/latest (Authentication; every endpoint's site table).
- Rate limiting: ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (seconds until the reset), API reference
  "Rate limits".
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.collectors.datadog import (
    NO_KEYS,
    SERVICE_DEFINITION_SCHEMA,
    SLOS_SCHEMA,
    DatadogCollector,
    normalize_base_url,
    site_base_url,
)
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.outcomes import OutcomeKind
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef, utcnow
from soundcheck_cli.facts.store import open_store
from soundcheck_cli.redact import Redactor
from collector_harness import create_collector, no_sleep, run_outcomes

FIXTURES = Path(__file__).parent / "fixtures" / "datadog"
SERVICE_DEFINITION = json.loads((FIXTURES / "get-service-definition.json").read_text())
SEARCH_SLOS = json.loads((FIXTURES / "search-slos.json").read_text())
API_KEY = "0123456789abcdef0123456789abcdef"
APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"
KEYS = {"apiKey": API_KEY, "appKey": APP_KEY}
DEFINITION_REF = FactRef("datadog", "default", "service-definition")
SLO_REF = FactRef("datadog", "default", "service-level-objective")


def entity(name: str, service: str | None = "payments") -> Entity:
    annotations = {"datadoghq.com/service-id": service} if service is not None else {}
    return Entity.from_data(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"lifecycle": "production"},
        }
    )


def search_page(slos: dict[str, int], params: Any) -> dict[str, Any]:
    """One page of "Search for SLOs" in the recorded shape: ``slos[query]`` SLOs in all, every third a monitor SLO."""
    query = params["query"]
    total = slos.get(query, 0)
    size, number = int(params["page[size]"]), int(params["page[number]"])
    body = copy.deepcopy(SEARCH_SLOS)
    template = body["data"]["attributes"]["slos"][0]
    page = []
    for index in range(number * size, min(total, (number + 1) * size)):
        slo = copy.deepcopy(template)
        slo["data"]["id"] = f"slo{index}"
        slo["data"]["attributes"]["all_tags"] = [query]
        slo["data"]["attributes"]["slo_type"] = "metric" if index % 3 else "monitor"
        page.append(slo)
    body["data"]["attributes"]["slos"] = page
    body["meta"]["pagination"].update(total=total, size=size, number=number)
    return body


class DatadogApi:
    """A mock Datadog answering with the recorded responses; records every request.

    ``slos`` maps a search query to how many SLOs it matches (served in ``page[size]``/``page[number]`` pages);
    ``status`` answers every request with that status and Datadog's error body."""

    def __init__(self, *, slos: dict[str, int] | None = None, status: int | None = None, statuses: dict[str, int] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.slos = slos if slos is not None else {"service:payments": 1}
        self.status = status
        self.statuses = statuses or {}  # path prefix -> status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        status = self.status or next((s for prefix, s in self.statuses.items() if path.startswith(prefix)), None)
        if status is not None:
            message = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
            return httpx.Response(status, json={"errors": [message]})
        if path.startswith("/api/v2/services/definitions/"):
            body = copy.deepcopy(SERVICE_DEFINITION)
            body["data"]["attributes"]["schema"]["dd-service"] = path.rsplit("/", 1)[1]
            return httpx.Response(200, json=body)
        if path == "/api/v1/slo/search":
            return httpx.Response(200, json=search_page(self.slos, request.url.params))
        return httpx.Response(404, json={"errors": ["Not Found"]})



def make(config: Any, api: DatadogApi | None = None, app_config: dict[str, Any] | None = None) -> DatadogCollector:
    return create_collector("datadog", DatadogCollector, config, api or DatadogApi(), app_config=app_config)


def collect(collector: DatadogCollector, entities: list[Entity], refs: list[FactRef] | None = None):
    return run_outcomes(collector, entities, refs)


# -- requests and parsing ----------------------------------------------------------------------------------------


def test_service_definition_request_shape_and_parsing():
    api = DatadogApi()
    collector = make({**KEYS, "collects": [{"type": "service-definition"}]}, api)
    [outcome] = collect(collector, [entity("payments")])
    assert outcome.kind is OutcomeKind.COLLECTED, outcome
    [request] = api.requests
    assert request.method == "GET"
    assert str(request.url) == "https://api.datadoghq.com/api/v2/services/definitions/payments"
    assert request.headers["DD-API-KEY"] == API_KEY
    assert request.headers["DD-APPLICATION-KEY"] == APP_KEY
    assert request.headers["Accept"] == "application/json"
    assert "authorization" not in request.headers  # keys travel only in Datadog's own headers
    fact = outcome.fact
    assert fact.fact_ref == DEFINITION_REF and fact.entity_ref == "component:default/payments"
    recorded = SERVICE_DEFINITION["data"]
    # the response as Datadog sends it, as Soundcheck stores it (checks read $.data.attributes.schema...)
    assert fact.data["data"]["id"] == recorded["id"] and fact.data["data"]["type"] == "service-definition"
    assert fact.data["data"]["attributes"]["meta"] == recorded["attributes"]["meta"]
    schema = fact.data["data"]["attributes"]["schema"]
    assert schema["team"] == "super-team" and schema["dd-service"] == "payments"
    assert schema["links"] == [{"url": "https://my-runbook", "type": "runbook", "name": "Runbook"}]
    jsonschema.validate(fact.data, SERVICE_DEFINITION_SCHEMA)


def test_schema_version_option_is_sent():
    api = DatadogApi()
    collector = make({**KEYS, "collects": {"type": "service-definition", "schemaVersion": "v2.1"}}, api)
    collect(collector, [entity("a")])
    assert api.requests[0].url.params["schema_version"] == "v2.1"


def test_slo_request_shape_pagination_and_parsing():
    api = DatadogApi(slos={"service:payments": 103})
    collector = make({**KEYS, "collects": [{"type": "service-level-objective"}]}, api)
    [outcome] = collect(collector, [entity("payments")])
    assert outcome.kind is OutcomeKind.COLLECTED, outcome
    assert [r.url.path for r in api.requests] == ["/api/v1/slo/search", "/api/v1/slo/search"]
    assert [r.url.params["page[number]"] for r in api.requests] == ["0", "1"]
    first = api.requests[0]
    assert first.method == "GET" and first.url.host == "api.datadoghq.com"
    assert first.url.params["query"] == "service:payments" and first.url.params["page[size]"] == "100"
    assert first.headers["DD-API-KEY"] == API_KEY and first.headers["DD-APPLICATION-KEY"] == APP_KEY
    data = outcome.fact.data
    assert outcome.fact.fact_ref == SLO_REF
    # Soundcheck's shape: the search response, every page's SLOs in data.attributes.slos
    assert data["data"]["type"] == "service_level_objective_search_results"
    assert data["meta"]["pagination"]["total"] == 103
    slos = data["data"]["attributes"]["slos"]
    assert len(slos) == 103 and [s["data"]["id"] for s in slos[:2]] == ["slo0", "slo1"]
    assert slos[1]["data"]["attributes"]["thresholds"][0]["target"] == 95.0
    assert sum(s["data"]["attributes"]["slo_type"] == "monitor" for s in slos) == 35
    jsonschema.validate(data, SLOS_SCHEMA)


def test_service_without_slos_is_collected_with_an_empty_list():
    api = DatadogApi(slos={})
    collector = make({**KEYS, "collects": [{"type": "service-level-objective"}]}, api)
    [outcome] = collect(collector, [entity("lonely", "lonely")])
    assert outcome.kind is OutcomeKind.COLLECTED
    assert outcome.fact.data["meta"]["pagination"]["total"] == 0 and outcome.fact.data["data"]["attributes"]["slos"] == []
    assert len(api.requests) == 1


def test_tag_key_option():
    api = DatadogApi(slos={"dd-service:payments": 2})
    collector = make({**KEYS, "collects": [{"type": "service-level-objective", "tagKey": "dd-service"}]}, api)
    [outcome] = collect(collector, [entity("payments")])
    assert api.requests[0].url.params["query"] == "dd-service:payments"
    assert len(outcome.fact.data["data"]["attributes"]["slos"]) == 2


# -- sites -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "site, base",
    [
        ("datadoghq.com", "https://api.datadoghq.com"),
        ("datadoghq.eu", "https://api.datadoghq.eu"),
        ("us3.datadoghq.com", "https://api.us3.datadoghq.com"),
        ("us5.datadoghq.com", "https://api.us5.datadoghq.com"),
        ("ap1.datadoghq.com", "https://api.ap1.datadoghq.com"),
        ("ddog-gov.com", "https://api.ddog-gov.com"),
        ("app.datadoghq.eu", "https://api.datadoghq.eu"),
        ("https://app.datadoghq.com/", "https://api.datadoghq.com"),
        ("api.us5.datadoghq.com", "https://api.us5.datadoghq.com"),
    ],
)
def test_site_to_api_host(site, base):
    assert site_base_url(site) == base
    assert normalize_base_url(None, site) == base


@pytest.mark.parametrize(
    "base_url, base",
    [
        (None, "https://api.datadoghq.com"),
        ("api.datadoghq.eu", "https://api.datadoghq.eu"),
        ("https://api.us3.datadoghq.com/", "https://api.us3.datadoghq.com"),
        ("http://127.0.0.1:8126", "http://127.0.0.1:8126"),
    ],
)
def test_base_url_with_or_without_scheme(base_url, base):
    assert normalize_base_url(base_url) == base


def test_site_and_base_url_are_used_in_requests():
    api = DatadogApi()
    collect(make({**KEYS, "site": "datadoghq.eu", "collects": {"type": "service-definition"}}, api), [entity("a")])
    collect(make({**KEYS, "baseUrl": "https://api.us5.datadoghq.com", "collects": {"type": "service-definition"}}, api), [entity("a")])
    assert [r.url.host for r in api.requests] == ["api.datadoghq.eu", "api.us5.datadoghq.com"]


def test_site_and_base_url_together_is_a_located_error(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    datadog:\n      apiKey: k\n      appKey: a\n"
        "      baseUrl: https://api.datadoghq.eu\n      site: datadoghq.eu\n      collects:\n        - type: service-definition\n"
    )
    settings, _ = load_settings([str(path)])
    problems = Problems()
    context = CollectorContext(app_config=settings.app_config)
    assert Registry.discover(problems).create("datadog", settings.collectors[0], problems, context) is None
    assert [str(p) for p in problems.errors] == [f"{path}:7:13: collector datadog: set either baseUrl or site, not both"]


# -- facts, schemas, config ------------------------------------------------------------------------------------


def test_fact_names_overridable_and_schemas():
    collector = make(
        {**KEYS, "collects": [{"type": "service-definition", "factName": "dd_definition"}, {"type": "service-level-objective"}]}
    )
    assert collector.fact_names() == ["datadog:default/dd_definition", "datadog:default/service-level-objective"]
    assert collector.data_schema(FactRef.parse("datadog:default/dd_definition")) is SERVICE_DEFINITION_SCHEMA
    assert collector.data_schema(SLO_REF) is SLOS_SCHEMA
    assert collector.data_schema(FactRef.parse("datadog:default/nope")) is None
    for schema in (SERVICE_DEFINITION_SCHEMA, SLOS_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"service": "x", "tagsQuery": "service:x", "total": -1, "byType": {}, "slos": [], "truncated": False}, SLOS_SCHEMA)
    [outcome] = collect(collector, [entity("a")], [FactRef.parse("datadog:default/dd_definition")])
    assert outcome.fact.fact_ref == FactRef("datadog", "default", "dd_definition")


def test_config_errors_are_located(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    datadog:\n      apiKey: k\n      appKey: a\n      collects:\n"
        "        - type: service-definitions\n          schemaVersion: v9\n"
    )
    settings, _ = load_settings([str(path)])
    problems = Problems()
    assert Registry.discover(problems).create("datadog", settings.collectors[0], problems, CollectorContext()) is None
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:7:") and "service-definitions" in m for m in messages), messages
    assert any(m.startswith(f"{path}:8:") and "v9" in m for m in messages), messages


# -- applicability, credentials, errors ------------------------------------------------------------------------


def test_entity_without_annotation_is_not_applicable():
    api = DatadogApi()
    collector = make({**KEYS, "collects": [{"type": "service-definition"}]}, api)
    [outcome] = collect(collector, [entity("plain", None)])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE
    assert outcome.reason == "no datadoghq.com/service-id annotation"
    assert api.requests == []


def test_missing_keys_disable_the_collector_with_a_clear_reason():
    api = DatadogApi()
    collector = make({"collects": [{"type": "service-definition"}]}, api)
    assert collector.disabled_reason() == f"{NO_KEYS} (no apiKey; no appKey)"
    outcomes = collect(collector, [entity("a")])
    assert [o.kind for o in outcomes] == [OutcomeKind.NOT_APPLICABLE] and api.requests == []
    only_api = make({"apiKey": API_KEY, "collects": [{"type": "service-definition"}]})
    assert only_api.disabled_reason() == f"{NO_KEYS} (no appKey)"


def test_missing_keys_name_the_unset_variables(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    datadog:\n      apiKey: ${DD_API_KEY}\n      appKey: ${DD_APP_KEY}\n"
        "      collects:\n        - type: service-definition\n"
    )
    settings, _ = load_settings([str(path)], environ={"DD_API_KEY": API_KEY})
    context = CollectorContext(app_config=settings.app_config)
    problems = Problems()
    collector = Registry.discover(problems).create("datadog", settings.collectors[0], problems, context)
    assert collector.disabled_reason() == f"{NO_KEYS} (appKey is not set: DD_APP_KEY)"


def test_401_says_the_key_was_rejected_without_printing_it_and_stops_asking():
    api = DatadogApi(status=401)
    collector = make({**KEYS, "collects": [{"type": "service-definition"}, {"type": "service-level-objective"}]}, api)
    outcomes = collect(collector, [entity(f"e{i}", f"svc{i}") for i in range(4)])
    assert len(outcomes) == 8 and all(o.kind is OutcomeKind.FAILED for o in outcomes)
    assert all("rejected the API key" in o.reason for o in outcomes)
    assert all(API_KEY not in o.reason and APP_KEY not in o.reason for o in outcomes)
    # Concurrent requests may be in flight when the first 401 lands; none is retried and the rest are not sent.
    assert 1 <= len(api.requests) <= 8
    assert len(api.requests) == len({(r.url.path, r.url.params.get("tags_query")) for r in api.requests})


def test_403_names_the_permission_and_stops_only_that_type():
    api = DatadogApi(statuses={"/api/v1/slo/search": 403})
    collector = make({**KEYS, "concurrency": 1, "collects": [{"type": "service-definition"}, {"type": "service-level-objective"}]}, api)
    outcomes = collect(collector, [entity("a", "a"), entity("b", "b")])
    by_kind = {(o.entity_ref, str(o.fact_ref)): o for o in outcomes}
    assert by_kind[("component:default/a", str(DEFINITION_REF))].kind is OutcomeKind.COLLECTED
    assert by_kind[("component:default/b", str(DEFINITION_REF))].kind is OutcomeKind.COLLECTED
    failed = [o for o in outcomes if o.kind is OutcomeKind.FAILED]
    assert len(failed) == 2 and all("slos_read" in o.reason and "Forbidden" in o.reason for o in failed)
    assert sum(r.url.path == "/api/v1/slo/search" for r in api.requests) == 1  # the second entity did not ask again


def test_404_records_the_service_definition_as_absent():
    api = DatadogApi(statuses={"/api/v2/services/definitions/": 404})
    collector = make({**KEYS, "collects": [{"type": "service-definition"}]}, api)
    [outcome] = collect(collector, [entity("a", "ghost")])
    assert outcome.kind is OutcomeKind.ABSENT
    assert outcome.reason == "Datadog has no service definition for service 'ghost' (HTTP 404)"
    assert outcome.fact is not None and outcome.fact.data is None
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "annotation, raw_path",
    [
        ("../../api/v1/org", b"/api/v2/services/definitions/..%2F..%2Fapi%2Fv1%2Forg"),
        ("..", b"/api/v2/services/definitions/%2E%2E"),
        ("svc?schema_version=v1#x", b"/api/v2/services/definitions/svc%3Fschema_version%3Dv1%23x"),
        ("%2e%2e", b"/api/v2/services/definitions/%252e%252e"),
        ("svc\nDD-API-KEY: x", b"/api/v2/services/definitions/svc%0ADD-API-KEY%3A%20x"),
    ],
)
def test_annotation_values_are_url_encoded_in_the_path(annotation, raw_path):
    api = DatadogApi()
    collector = make({**KEYS, "collects": [{"type": "service-definition"}]}, api)
    [outcome] = collect(collector, [entity("a", annotation)])
    [request] = api.requests
    assert request.url.raw_path == raw_path and request.url.host == "api.datadoghq.com"
    assert outcome.kind is OutcomeKind.COLLECTED


def test_annotation_value_is_encoded_in_the_slo_query_and_invalid_tags_are_refused():
    api = DatadogApi(slos={"service:web/api.v2": 1})
    collector = make({**KEYS, "collects": [{"type": "service-level-objective"}]}, api)
    good, bad = collect(collector, [entity("a", "web/api.v2"), entity("b", "x&tags_query=env:prod")])
    assert good.kind is OutcomeKind.COLLECTED and good.fact.data["meta"]["pagination"]["total"] == 1
    [request] = api.requests
    assert b"query=service%3Aweb%2Fapi.v2&" in request.url.raw_path
    assert bad.kind is OutcomeKind.FAILED and "not a valid Datadog tag value" in bad.reason


def test_app_key_is_a_secret_for_the_redactor():
    redactor = Redactor.from_config({"soundcheck": {"collectors": {"datadog": KEYS}}})
    text = redactor.redact(f"keys {API_KEY} and {APP_KEY}")
    assert API_KEY not in text and APP_KEY not in text and text == "keys *** and ***"


def test_rate_limit_waits_for_datadog_reset_seconds():
    class FakeClock:
        def __init__(self) -> None:
            self.now = 0.0
            self.sleeps: list[float] = []

        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            self.now += seconds
            await asyncio.sleep(0)

    clock = FakeClock()

    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            headers = {"X-RateLimit-Limit": "60", "X-RateLimit-Period": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}
            return httpx.Response(429, headers=headers, json={"errors": ["Rate limit exceeded"]})
        return httpx.Response(200, json=SERVICE_DEFINITION)

    options = HttpOptions(
        transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=lambda: clock.now, wall_clock=lambda: 1_700_000_000 + clock.now
    )
    problems = Problems()
    collector = Registry.discover(problems).create(
        "datadog", CollectorSettings("datadog", {**KEYS, "collects": {"type": "service-definition"}}), problems,
        CollectorContext(extra={"http": options}),
    )
    [outcome] = collect(collector, [entity("a")])
    assert outcome.kind is OutcomeKind.COLLECTED and len(calls) == 2
    assert 30 <= sum(clock.sleeps) <= 32  # X-RateLimit-Reset is seconds until the reset (+1 s margin)


# -- through the real config loader and the runner ---------------------------------------------------------------

APP_CONFIG = """\
soundcheck:
  collectors:
    datadog:
      apiKey: ${DD_API_KEY}
      appKey: ${DD_APP_KEY}
      site: datadoghq.eu
      frequency:
        cron: '0 6 * * *'
      cache:
        duration: {hours: 2}
      filter:
        kind: Component
      collects:
        type: service-definition
        cache: true
"""


def settings_collector(settings: Any) -> DatadogCollector:
    problems = Problems()
    collector = Registry.discover(problems).create(
        "datadog", settings.collectors[0], problems, CollectorContext(app_config=settings.app_config)
    )
    assert isinstance(collector, DatadogCollector), [str(p) for p in problems.errors]
    return collector


def test_spotify_style_config_loads_and_collects_through_the_runner(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(APP_CONFIG)
    settings, warnings = load_settings([str(path)], environ={"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY})
    assert warnings == []
    api = DatadogApi()
    http = HttpOptions(transport=httpx.MockTransport(api), sleep=no_sleep)
    entities = [entity("payments", "payments"), entity("search", "search"), entity("plain", None)]
    with open_store(str(tmp_path / "store")) as store:
        before = utcnow()
        summary = run_collection(settings, entities, store, http=http, collector_ids=["datadog"])
        dd = summary.collector("datadog")
        assert (dd.collected, dd.not_applicable, dd.failed, dd.requests) == (2, 1, 0, 2), dd
        assert {r.url.host for r in api.requests} == {"api.datadoghq.eu"}
        fact = store.get("component:default/payments", DEFINITION_REF)
        assert fact.data["data"]["attributes"]["schema"]["dd-service"] == "payments"
        # cache: true takes the block's duration as the fact's expiry.
        assert fact.expires_at == fact.timestamp + timedelta(hours=2) and fact.expires_at >= before + timedelta(hours=2)
        [config] = settings_collector(settings).collection_configs()
        assert config.frequency == {"cron": "0 6 * * *"}  # the cron frequency was read (the runner's schedule)
        again = run_collection(settings, entities, store, http=http, collector_ids=["datadog"])
        assert again.collector("datadog").fresh == 2 and len(api.requests) == 2
        # A day later the facts have expired (2 hours) and the 06:00 cron time has passed: collected again.
        tomorrow = utcnow() + timedelta(days=1, minutes=1)
        later = run_collection(settings, entities, store, http=http, collector_ids=["datadog"], now=lambda: tomorrow)
        assert later.collector("datadog").collected == 2 and len(api.requests) == 4


def test_runner_masks_keys_echoed_by_the_api(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(APP_CONFIG)
    settings, _ = load_settings([str(path)], environ={"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY})

    def echo(request: httpx.Request) -> httpx.Response:
        keys = f"{request.headers['DD-API-KEY']} / {request.headers['DD-APPLICATION-KEY']}"
        return httpx.Response(400, json={"errors": [f"bad keys {keys}"]}, request=request)

    http = HttpOptions(transport=httpx.MockTransport(echo), sleep=no_sleep)
    with open_store(str(tmp_path / "store")) as store:
        summary = run_collection(settings, [entity("payments")], store, http=http, collector_ids=["datadog"])
    [failed] = summary.collector("datadog").details
    assert failed.kind is OutcomeKind.FAILED and "HTTP 400" in failed.reason and "bad keys *** / ***" in failed.reason
    assert API_KEY not in failed.reason and APP_KEY not in failed.reason and "***" in failed.reason


# -- issue 17 item 10: a Soundcheck configuration's checks pass unchanged (CLI, Datadog shapes on 127.0.0.1) --------

SOUNDCHECK_CHECKS = """
  checks:
    - id: dd_service_type_is_web
      rule:
        factRef: datadog:default/service-definition
        path: $.data.attributes.schema.type
        operator: equal
        value: web
    - id: dd_has_slo_search_results
      rule:
        factRef: datadog:default/service-level-objective
        path: $.data.type
        operator: equal
        value: service_level_objective_search_results
"""


def test_cli_soundcheck_checks_read_the_facts_at_soundchecks_paths(capsys, tmp_path, monkeypatch):
    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli

    def route(method, path, query, headers):
        if headers.get("DD-API-KEY") != API_KEY or headers.get("DD-APPLICATION-KEY") != APP_KEY:
            return 403, {"errors": ["Forbidden"]}
        if path == "/api/v2/services/definitions/payments":
            body = copy.deepcopy(SERVICE_DEFINITION)
            body["data"]["attributes"]["schema"].update({"schema-version": "v2.2", "dd-service": "payments", "type": "web"})
            return 200, body
        if path == "/api/v1/slo/search":
            return 200, search_page({"service:payments": 3}, {k: v[0] for k, v in query.items()})
        return 404, {"errors": ["Not Found"]}

    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APP_KEY", APP_KEY)
    with VendorServer(route) as api:
        config = write_workspace(tmp_path, f"""
            datadog:
              apiKey: ${{DD_API_KEY}}
              appKey: ${{DD_APP_KEY}}
              baseUrl: {api.url}
              collects:
                - type: service-definition
                - type: service-level-objective
        """, [{"name": "payments", "annotations": {"datadoghq.com/service-id": "payments"}}])
        config.write_text(config.read_text() + SOUNDCHECK_CHECKS)
        store = str(tmp_path / "store")
        assert run_cli(["collect", "-c", str(config), "--store", store]) == 0, capsys.readouterr().err
        code = run_cli(["check", "-c", str(config), "--store", store, "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    results = {r["checkId"]: r["state"] for r in json.loads(out)["results"]}
    assert results == {"dd_service_type_is_web": "passed", "dd_has_slo_search_results": "passed"}
    assert any(p.startswith("/api/v1/slo/search?query=service%3Apayments") for p in api.paths())
    assert API_KEY not in out + err and APP_KEY not in out + err
