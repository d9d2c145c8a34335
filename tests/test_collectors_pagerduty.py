"""Tests of the ``pagerduty`` collector on PagerDuty's official API examples (served by ``httpx.MockTransport``):
request shape (headers, ``include[]``, base URL), parsing of Service / Incidents / Standards, fact names and JSON
schemas, missing token, 401, 404 as absent, and URL-encoding of the service-id annotation."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.collectors.outcomes import OutcomeKind
from soundcheck_cli.collectors.pagerduty import (
    INCIDENTS_SCHEMA,
    NO_TOKEN,
    SERVICE_SCHEMA,
    STANDARDS_SCHEMA,
    PagerDutyCollector,
    normalize_base_url,
)
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef
from collector_harness import create_collector, run_outcomes

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "pagerduty" / "openapi-examples.json").read_text())
SERVICE = EXAMPLES["/services/{id}"]["responses"]["200"]
INCIDENTS = EXAMPLES["/incidents"]["responses"]["200"]
STANDARDS = EXAMPLES["/standards/scores/{resource_type}/{id}"]["responses"]["200"]
TOKEN = "y_NbAkKc66ryYTWUXYEu"
SERVICE_REF = FactRef("pagerduty", "default", "service")


def entity(name: str, service_id: str | None = "PIJ90N7") -> Entity:
    annotations = {"pagerduty.com/service-id": service_id} if service_id is not None else {}
    return Entity.from_data(
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": name, "annotations": annotations}}
    )


class PagerDutyApi:
    """A mock PagerDuty answering with the official examples; records every request."""

    def __init__(self, *, incident_pages: int = 1, status: int | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.incident_pages = incident_pages
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status is not None:
            return httpx.Response(self.status, json={"error": {"message": "Unauthorized" if self.status == 401 else "Not Found"}})
        path = request.url.path
        if path.startswith("/services/"):
            body = copy.deepcopy(SERVICE)
            body["service"]["id"] = request.url.raw_path.split(b"?")[0].rsplit(b"/", 1)[1].decode()
            return httpx.Response(200, json=body)
        if path == "/incidents":
            offset = int(request.url.params.get("offset", "0"))
            page = copy.deepcopy(INCIDENTS)
            page["incidents"][0]["id"] = f"INC{offset}"
            page["incidents"][0]["urgency"] = "high" if offset == 0 else "low"
            page["offset"] = offset
            page["more"] = offset + 1 < self.incident_pages
            return httpx.Response(200, json=page)
        if path.startswith("/standards/scores/"):
            return httpx.Response(200, json=STANDARDS)
        return httpx.Response(404, json={"error": {"message": "Not Found"}})


def make(config: Any, api: PagerDutyApi | None = None) -> PagerDutyCollector:
    return create_collector("pagerduty", PagerDutyCollector, config, api or PagerDutyApi())


def collect(collector: PagerDutyCollector, entities: list[Entity], refs: list[FactRef] | None = None):
    return run_outcomes(collector, entities, refs)


# -- requests ----------------------------------------------------------------------------------------------------


def test_service_request_shape_and_parsing():
    api = PagerDutyApi()
    collector = make({"token": TOKEN, "server": "api.pagerduty.com", "collects": [{"type": "Service"}]}, api)
    [outcome] = collect(collector, [entity("payments")])
    assert outcome.kind is OutcomeKind.COLLECTED
    [request] = api.requests
    assert request.method == "GET"
    assert str(request.url).startswith("https://api.pagerduty.com/services/PIJ90N7?")
    assert request.url.params.get_list("include[]") == [
        "escalation_policies",
        "teams",
        "auto_pause_notifications_parameters",
        "integrations",
    ]
    assert request.headers["Authorization"] == f"Token token={TOKEN}"
    assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    fact = outcome.fact
    assert fact.fact_ref == SERVICE_REF and fact.entity_ref == "component:default/payments"
    assert fact.data == SERVICE["service"]
    assert fact.data["status"] == "active" and fact.data["escalation_policy"]["id"] == "PT20YPA"
    jsonschema.validate(fact.data, SERVICE_SCHEMA)


@pytest.mark.parametrize(
    "server, base",
    [
        (None, "https://api.pagerduty.com"),
        ("api.pagerduty.com", "https://api.pagerduty.com"),
        ("api.eu.pagerduty.com", "https://api.eu.pagerduty.com"),
        ("https://api.eu.pagerduty.com/", "https://api.eu.pagerduty.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_server_with_or_without_scheme(server, base):
    assert normalize_base_url(server) == base


def test_base_url_option_is_used():
    api = PagerDutyApi()
    collector = make({"token": TOKEN, "baseUrl": "https://api.eu.pagerduty.com", "collects": {"type": "Service"}}, api)
    collect(collector, [entity("a")])
    assert api.requests[0].url.host == "api.eu.pagerduty.com"


def test_incidents_follow_pagination_and_count():
    api = PagerDutyApi(incident_pages=3)
    collector = make({"token": TOKEN, "collects": [{"type": "Incidents", "window": {"days": 7}}]}, api)
    [outcome] = collect(collector, [entity("payments")])
    assert outcome.kind is OutcomeKind.COLLECTED, outcome
    assert [int(r.url.params["offset"]) for r in api.requests] == [0, 1, 2]
    first = api.requests[0]
    assert first.url.path == "/incidents"
    assert first.url.params.get_list("service_ids[]") == ["PIJ90N7"]
    assert first.url.params["since"] < first.url.params["until"]
    data = outcome.fact.data
    assert data["total"] == 3 and data["byStatus"] == {"triggered": 0, "acknowledged": 0, "resolved": 3}
    assert data["byUrgency"] == {"high": 1, "low": 2} and data["open"] == 0 and data["truncated"] is False
    assert [i["id"] for i in data["incidents"]] == ["INC0", "INC1", "INC2"]
    assert data["incidents"][0]["priority"] == "P2" and data["incidents"][0]["title"] == "The server is on fire."
    jsonschema.validate(data, INCIDENTS_SCHEMA)


def test_standards_request_and_parsing():
    api = PagerDutyApi()
    collector = make({"token": TOKEN, "collects": [{"type": "Standards"}]}, api)
    [outcome] = collect(collector, [entity("payments", "P0CPWBO")])
    assert api.requests[0].url.path == "/standards/scores/technical_services/P0CPWBO"
    assert outcome.fact.data == STANDARDS and outcome.fact.fact_ref == FactRef("pagerduty", "default", "standards")
    jsonschema.validate(outcome.fact.data, STANDARDS_SCHEMA)


# -- facts and schemas -------------------------------------------------------------------------------------------


def test_fact_names_overridable_and_schemas():
    collector = make(
        {"token": TOKEN, "collects": [{"type": "Service", "factName": "pd_service"}, {"type": "Incidents"}, {"type": "Standards"}]}
    )
    assert collector.fact_names() == [
        "pagerduty:default/pd_service",
        "pagerduty:default/incidents",
        "pagerduty:default/standards",
    ]
    assert collector.data_schema(FactRef.parse("pagerduty:default/pd_service")) is SERVICE_SCHEMA
    assert collector.data_schema(FactRef.parse("pagerduty:default/incidents")) is INCIDENTS_SCHEMA
    assert collector.data_schema(FactRef.parse("pagerduty:default/unknown")) is None
    for schema in (SERVICE_SCHEMA, INCIDENTS_SCHEMA, STANDARDS_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(schema)
    # The schema really constrains: a service without status, or with an unknown status, is rejected.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "P1", "name": "x"}, SERVICE_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "P1", "name": "x", "status": "on fire"}, SERVICE_SCHEMA)


def test_overridden_fact_name_is_collected_under_that_name():
    collector = make({"token": TOKEN, "collects": [{"type": "Service", "factName": "pd_service"}]})
    [outcome] = collect(collector, [entity("a")])
    assert outcome.fact.fact_ref == FactRef("pagerduty", "default", "pd_service")
    assert outcome.fact.data["id"] == "PIJ90N7"


def test_config_errors_are_located(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: t\n      collects:\n        - type: Servce\n          extra: 1\n"
    )
    settings, _ = load_settings([str(path)])
    problems = Problems()
    assert Registry.discover(problems).create("pagerduty", settings.collectors[0], problems, CollectorContext()) is None
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:6:") and "Servce" in m for m in messages), messages
    assert any(m.startswith(f"{path}:7:") and "unknown key 'extra'" in m for m in messages), messages


# -- applicability, token, errors ------------------------------------------------------------------------------


def test_entity_without_annotation_is_not_applicable():
    api = PagerDutyApi()
    collector = make({"token": TOKEN, "collects": [{"type": "Service"}]}, api)
    [outcome] = collect(collector, [entity("plain", None)])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE
    assert outcome.reason == "no pagerduty.com/service-id annotation"
    assert api.requests == []


def test_missing_token_disables_the_collector():
    collector = make({"collects": [{"type": "Service"}]})
    assert collector.disabled_reason() == "collector pagerduty: no token provided, facts cannot be collected"
    assert NO_TOKEN == "collector pagerduty: no token provided, facts cannot be collected"


def test_missing_token_names_the_unset_variable(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n      collects:\n        - type: Service\n"
    )
    settings, _ = load_settings([str(path)], environ={})
    context = CollectorContext(app_config=settings.app_config)
    problems = Problems()
    collector = Registry.discover(problems).create("pagerduty", settings.collectors[0], problems, context)
    assert collector.disabled_reason() == f"{NO_TOKEN} (token is not set: PAGERDUTY_TOKEN)"


def test_401_says_the_token_was_rejected_without_printing_it_and_stops_asking():
    api = PagerDutyApi(status=401)
    collector = make({"token": TOKEN, "collects": [{"type": "Service"}]}, api)
    outcomes = collect(collector, [entity("a", "P1"), entity("b", "P2"), entity("c", "P3")])
    assert all(o.kind is OutcomeKind.FAILED for o in outcomes)
    assert all("rejected the token" in o.reason and TOKEN not in o.reason for o in outcomes)
    # The entities run concurrently, so a few requests may be in flight when the first 401 lands; none retries.
    assert 1 <= len(api.requests) <= 3


def test_404_records_the_fact_as_absent():
    api = PagerDutyApi(status=404)
    collector = make({"token": TOKEN, "collects": [{"type": "Service"}]}, api)
    [outcome] = collect(collector, [entity("a", "PGONE")])
    assert outcome.kind is OutcomeKind.ABSENT
    assert outcome.reason == "PagerDuty has no service 'PGONE' (HTTP 404)"
    assert outcome.fact is not None and outcome.fact.data is None
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "annotation, raw_path",
    [
        ("../../admin", b"/services/..%2F..%2Fadmin"),
        ("..", b"/services/%2E%2E"),
        ("P1?include[]=secrets#x", b"/services/P1%3Finclude%5B%5D%3Dsecrets%23x"),
        ("%2e%2e%2fadmin", b"/services/%252e%252e%252fadmin"),
        ("P1\nX-Evil: 1", b"/services/P1%0AX-Evil%3A%201"),
        ("{{ secrets.token }}", b"/services/%7B%7B%20secrets.token%20%7D%7D"),
    ],
)
def test_annotation_values_are_url_encoded(annotation, raw_path):
    api = PagerDutyApi()
    collector = make({"token": TOKEN, "collects": [{"type": "Service"}, {"type": "Standards"}]}, api)
    collect(collector, [entity("a", annotation)])
    by_path = {r.url.raw_path.split(b"?")[0]: r for r in api.requests}
    assert raw_path in by_path
    assert by_path[raw_path].url.host == "api.pagerduty.com"
    assert by_path[raw_path].url.params.get_list("include[]")[0] == "escalation_policies"
    standards = b"/standards/scores/technical_services/" + raw_path.split(b"/services/")[1]
    assert standards in by_path
    assert {r.headers["Authorization"] for r in api.requests} == {f"Token token={TOKEN}"}


def test_client_settings_from_the_block_and_soundcheck_job_limiter():
    from soundcheck_cli.http.client import LimiterSettings

    block = {"token": TOKEN, "concurrency": 3, "retry": {"maxAttempts": 2}, "collects": [{"type": "Service"}]}
    app_config = {"soundcheck": {"job": {"workers": {"pagerduty": {"limiter": {"max": 900, "duration": 60000}}}}}}
    context = CollectorContext(app_config=app_config)
    problems = Problems()
    collector = Registry.discover(problems).create("pagerduty", CollectorSettings("pagerduty", block), problems, context)
    client = collector.client(collector.entries[0])
    # Soundcheck's job limiter (BullMQ: duration in milliseconds) applies when the block sets none.
    assert client.settings.limiter == LimiterSettings(900, 60.0)
    assert client.settings.concurrency == 3 and client.settings.retry.max_attempts == 2
    assert collector.concurrency == 3
    asyncio.run(collector.aclose())


# -- issue 17 item 7: messages, through the CLI against PagerDuty's recorded shapes on 127.0.0.1 ------------------

def _pd_route(incidents_status: int = 404, standards_status: int = 404, service_status: int = 200):
    def route(method: str, path: str, query: Any, headers: Any) -> tuple[int, Any]:
        if path.startswith("/services/"):
            if service_status != 200:
                return service_status, {"error": {"message": "Unauthorized", "code": 2006}}
            return 200, SERVICE
        if path == "/incidents":
            return incidents_status, {"error": {"message": "Not Found", "code": 2100}}
        return standards_status, {"error": {"message": "Not Found", "code": 2100}}

    return route


def test_cli_404_on_incidents_and_standards_says_what_was_not_found(capsys, tmp_path, monkeypatch) -> None:
    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli

    monkeypatch.setenv("MY_PD_KEY", TOKEN)
    with VendorServer(_pd_route()) as api:
        config = write_workspace(tmp_path, f"""
            pagerduty:
              baseUrl: {api.url}
              token: ${{MY_PD_KEY}}
              collects: [{{type: Service}}, {{type: Incidents}}, {{type: Standards}}]
        """, [{"name": "a", "annotations": {"pagerduty.com/service-id": "PIJ90N7"}}])
        code = run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 0, err  # 404 = absent, not a failure
    assert "pagerduty: 1 collected, 2 absent" in err
    assert "PagerDuty has no service" not in err  # the service was just collected
    assert "PagerDuty has no standards scores for service '…'" in err
    assert "PagerDuty answered HTTP 404 to the incident list of service '…' (GET /incidents)" in err


def test_cli_401_names_the_variable_the_config_uses_never_the_value(capsys, tmp_path, monkeypatch) -> None:
    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli

    monkeypatch.setenv("MY_PD_KEY", TOKEN)
    monkeypatch.delenv("PAGERDUTY_TOKEN", raising=False)
    with VendorServer(_pd_route(service_status=401)) as api:
        config = write_workspace(tmp_path, f"""
            pagerduty:
              baseUrl: {api.url}
              token: ${{MY_PD_KEY}}
              collects: [{{type: Service}}]
        """, [{"name": f"s{i}", "annotations": {"pagerduty.com/service-id": f"P{i}X"}} for i in range(3)])
        code = run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"check the collector's token (${{MY_PD_KEY}}, {config}:9)" in err
    assert "PAGERDUTY_TOKEN" not in err and TOKEN not in err
