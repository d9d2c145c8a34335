"""Tests of the ``sonarqube`` collector against a mock SonarQube Web API (``httpx.MockTransport``).

Where the shapes come from (see ``tests/fixtures/sonarqube/README.md``): SonarQube's own documented example
responses, shown on every server's ``/web_api`` page and kept in SonarSource/sonarqube under
``server/sonar-webserver-webapi/src/main/resources/org/sonar/server/``:

- ``GET api/components/show?component=``: ``component/ws/show-example.json`` (the project is its ``TRK`` ancestor);
- ``GET api/measures/component?component=&metricKeys=``: ``measure/ws/component-example.json``;
- ``GET api/issues/search?componentKeys=&resolved=false&ps=1&facets=``: ``issue/ws/search-example.json``; the
  ``facets`` list (``[{property, values: [{val, count}]}]``) and the parameters (``componentKeys`` kept as the
  deprecated key of ``components`` since 10.2) are from the same web service's definition (``issue/ws/SearchAction``);
- errors ``{"errors": [{"msg": ...}]}`` with 400/401/403/404: the Web API's error format;
- authentication: ``Authorization: Bearer <token>`` (SonarQube Server docs, "Web API": bearer scheme recommended),
  or the token as basic-auth login with an empty password on older servers.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from croniter import croniter

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.outcomes import OutcomeKind
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.collectors.sonarqube import (
    DEFAULT_METRIC_KEYS,
    ISSUES_SCHEMA,
    MEASURES_SCHEMA,
    NO_BASE_URL,
    NO_TOKEN,
    PROJECT_TAGS_SCHEMA,
    SonarQubeCollector,
    measure_value,
    normalize_base_url,
    project_key,
)
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef, utcnow
from soundcheck_cli.facts.store import open_store
from collector_harness import create_collector, no_sleep, run_outcomes

from soundcheck_cli.collectors.sonarqube import SCHEMAS as SCHEMAS_BY_TYPE

FIXTURES = Path(__file__).parent / "fixtures" / "sonarqube"
SHOW = json.loads((FIXTURES / "components-show-example.json").read_text())
MEASURES = json.loads((FIXTURES / "measures-component-example.json").read_text())
ISSUES = json.loads((FIXTURES / "issues-search-example.json").read_text())
TOKEN = "squ_0123456789abcdef0123456789abcdef01234567"
BASE = "https://sonar.example.com"
TAGS_REF = FactRef("sonarqube", "default", "project-tags")
ISSUES_REF = FactRef("sonarqube", "default", "issues")
MEASURES_REF = FactRef("sonarqube", "default", "measures")
FACET_COUNTS = {
    "severities": [("BLOCKER", 1), ("CRITICAL", 0), ("MAJOR", 5), ("MINOR", 2), ("INFO", 0)],
    "types": [("CODE_SMELL", 6), ("BUG", 2), ("VULNERABILITY", 0)],
}


def entity(name: str, key: str | None = "com.sonarsource:java-markdown") -> Entity:
    annotations = {"sonarqube.org/project-key": key} if key is not None else {}
    return Entity.from_data(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"lifecycle": "production"},
        }
    )


class SonarApi:
    """A mock SonarQube answering with the documented examples; records every request."""

    def __init__(self, *, status: int | None = None, statuses: dict[str, int] | None = None, total: int = 8) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.statuses = statuses or {}
        self.total = total

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/sonar")
        status = self.status or self.statuses.get(path)
        if status is not None:
            message = {401: "Unauthorized", 403: "Insufficient privileges", 404: "Component key 'x' not found"}.get(status, "Bad request")
            return httpx.Response(status, json={"errors": [{"msg": message}]})
        params = request.url.params
        if path == "/api/components/show":
            project = copy.deepcopy(SHOW["ancestors"][-1])
            project["key"] = params["component"]
            return httpx.Response(200, json={"component": project, "ancestors": []})
        if path == "/api/issues/search":
            body = copy.deepcopy(ISSUES)
            body["paging"] = {"pageIndex": 1, "pageSize": int(params["ps"]), "total": self.total}
            requested = [f for f in params.get("facets", "").split(",") if f]
            body["facets"] = [
                {"property": f, "values": [{"val": v, "count": c} for v, c in FACET_COUNTS.get(f, [])]} for f in requested
            ]
            return httpx.Response(200, json=body)
        if path == "/api/measures/component":
            body = copy.deepcopy(MEASURES)
            body["component"]["key"] = params["component"]
            wanted = params["metricKeys"].split(",")
            extra = [{"metric": "coverage", "value": "81.3"}, {"metric": "alert_status", "value": "OK"}]
            body["component"]["measures"] = [m for m in body["component"]["measures"] + extra if m["metric"] in wanted]
            return httpx.Response(200, json=body)
        return httpx.Response(404, json={"errors": [{"msg": "Unknown url"}]})



def make(config: Any, api: SonarApi | None = None) -> SonarQubeCollector:
    return create_collector("sonarqube", SonarQubeCollector, config, api or SonarApi())


def collect(collector: SonarQubeCollector, entities: list[Entity], refs: list[FactRef] | None = None):
    return run_outcomes(collector, entities, refs)


def block(**extra: Any) -> dict[str, Any]:
    return {"baseUrl": BASE, "token": TOKEN, **extra}


# -- requests and parsing ----------------------------------------------------------------------------------------


def test_project_tags_request_shape_and_parsing():
    api = SonarApi()
    collector = make(block(collects={"type": "project-tags"}), api)
    [outcome] = collect(collector, [entity("markdown")])
    assert outcome.kind is OutcomeKind.COLLECTED, outcome
    [request] = api.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/api/components/show?component=com.sonarsource%3Ajava-markdown"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert outcome.fact.fact_ref == TAGS_REF
    assert outcome.fact.data == {
        "key": "com.sonarsource:java-markdown",
        "name": "Java Markdown",
        "qualifier": "TRK",
        "tags": ["language", "plugin"],
        "visibility": "private",
        "analysisDate": "2017-03-01T11:39:03+0100",
    }
    jsonschema.validate(outcome.fact.data, PROJECT_TAGS_SCHEMA)


def test_issues_request_shape_total_and_facets():
    api = SonarApi(total=8)
    collector = make(block(collects={"type": "issues", "facets": ["severities", "types"]}), api)
    [outcome] = collect(collector, [entity("markdown")])
    [request] = api.requests
    assert request.url.path == "/api/issues/search"
    assert dict(request.url.params) == {
        "componentKeys": "com.sonarsource:java-markdown",
        "resolved": "false",
        "ps": "1",
        "facets": "severities,types",
    }
    data = outcome.fact.data
    assert outcome.fact.fact_ref == ISSUES_REF
    assert data["total"] == 8
    assert data["facets"]["severities"] == {"BLOCKER": 1, "CRITICAL": 0, "MAJOR": 5, "MINOR": 2, "INFO": 0}
    assert data["facets"]["types"]["BUG"] == 2
    jsonschema.validate(data, ISSUES_SCHEMA)


def test_issues_without_facets_keep_the_total_and_accept_extra_params():
    api = SonarApi(total=0)
    collector = make(block(collects={"type": "issues", "params": {"types": ["BUG", "VULNERABILITY"], "inNewCodePeriod": True}}), api)
    [outcome] = collect(collector, [entity("markdown")])
    params = api.requests[0].url.params
    assert "facets" not in params and params["types"] == "BUG,VULNERABILITY" and params["inNewCodePeriod"] == "true"
    assert outcome.fact.data == {"total": 0, "facets": {}}


def test_issues_total_from_the_older_top_level_field():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"total": 42, "p": 1, "ps": 1, "issues": [], "components": []})

    collector = make(block(collects={"type": "issues"}))
    collector.context.extra["http"] = HttpOptions(transport=httpx.MockTransport(handler), sleep=no_sleep)
    [outcome] = collect(collector, [entity("markdown")])
    assert outcome.fact.data["total"] == 42


def test_measures_request_shape_and_parsing():
    api = SonarApi()
    collector = make(
        block(collects={"type": "measures", "metricKeys": "coverage, ncloc,complexity,new_violations,alert_status,bugs"}), api
    )
    [outcome] = collect(collector, [entity("markdown")])
    [request] = api.requests
    assert request.url.path == "/api/measures/component"
    assert request.url.params["component"] == "com.sonarsource:java-markdown"
    assert request.url.params["metricKeys"] == "coverage,ncloc,complexity,new_violations,alert_status,bugs"
    data = outcome.fact.data
    assert outcome.fact.fact_ref == MEASURES_REF
    assert data["measures"] == {
        "complexity": 12,
        "new_violations": 25,  # only a period value
        "ncloc": 114,
        "coverage": 81.3,
        "alert_status": "OK",
    }
    assert data["missing"] == ["bugs"]
    assert [m["metric"] for m in data["raw"]] == ["complexity", "new_violations", "ncloc", "coverage", "alert_status"]
    assert data["raw"][0] == MEASURES["component"]["measures"][0]
    jsonschema.validate(data, MEASURES_SCHEMA)


def test_measures_default_metric_keys():
    api = SonarApi()
    collect(make(block(collects={"type": "measures"}), api), [entity("markdown")])
    assert api.requests[0].url.params["metricKeys"] == ",".join(DEFAULT_METRIC_KEYS)


@pytest.mark.parametrize(
    "measure, value",
    [
        ({"metric": "a", "value": "7"}, 7),
        ({"metric": "a", "value": "-3"}, -3),
        ({"metric": "a", "value": "0.5"}, 0.5),
        ({"metric": "a", "value": "ERROR"}, "ERROR"),
        ({"metric": "a", "value": "NaN"}, "NaN"),
        ({"metric": "a", "periods": [{"index": 1, "value": "4"}]}, 4),
        ({"metric": "a"}, None),
    ],
)
def test_measure_values(measure, value):
    assert measure_value(measure) == value


def test_basic_auth_for_older_servers_and_context_path():
    api = SonarApi()
    collector = make(block(baseUrl="sonar.example.com/sonar/", authScheme="basic", collects={"type": "project-tags"}), api)
    [outcome] = collect(collector, [entity("markdown")])
    assert outcome.kind is OutcomeKind.COLLECTED
    [request] = api.requests
    assert request.url.path == "/sonar/api/components/show" and request.url.scheme == "https"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()


@pytest.mark.parametrize(
    "value, base",
    [(None, ""), ("https://sonarcloud.io", "https://sonarcloud.io"), ("sonar.example.com/sonar/", "https://sonar.example.com/sonar")],
)
def test_normalize_base_url(value, base):
    assert normalize_base_url(value) == base


@pytest.mark.parametrize(
    "annotation, key",
    [("my:project", "my:project"), ("instance-a/my:project", "my:project"), ("  padded  ", "padded"), ("x/", "")],
)
def test_project_key_accepts_backstage_instance_prefix(annotation, key):
    assert project_key(annotation) == key


# -- facts, schemas, config ------------------------------------------------------------------------------------


def test_fact_names_overridable_and_schemas():
    collector = make(block(collects=[{"type": "project-tags", "factName": "sonar_tags"}, {"type": "issues"}, {"type": "measures"}]))
    assert collector.fact_names() == ["sonarqube:default/sonar_tags", "sonarqube:default/issues", "sonarqube:default/measures"]
    assert collector.data_schema(FactRef.parse("sonarqube:default/sonar_tags")) is PROJECT_TAGS_SCHEMA
    assert collector.data_schema(MEASURES_REF) is MEASURES_SCHEMA
    for schema in (PROJECT_TAGS_SCHEMA, ISSUES_SCHEMA, MEASURES_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"total": "many", "facets": {}}, ISSUES_SCHEMA)


def test_config_errors_are_located(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    sonarqube:\n      baseUrl: https://sonar.example.com\n      token: t\n"
        "      authScheme: digest\n      collects:\n        - type: measure\n"
    )
    settings, _ = load_settings([str(path)])
    problems = Problems()
    assert Registry.discover(problems).create("sonarqube", settings.collectors[0], problems, CollectorContext()) is None
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:6:") and "digest" in m for m in messages), messages
    assert any(m.startswith(f"{path}:8:") and "measure" in m for m in messages), messages


def test_options_of_another_type_and_reserved_params_are_located_errors(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    sonarqube:\n      baseUrl: https://sonar.example.com\n      token: t\n"
        "      collects:\n        - type: project-tags\n          metricKeys: [coverage]\n"
        "        - type: issues\n          params: {componentKeys: other}\n"
    )
    settings, _ = load_settings([str(path)])
    problems = Problems()
    assert Registry.discover(problems).create("sonarqube", settings.collectors[0], problems, CollectorContext(app_config=settings.app_config)) is None
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:8:") and "metricKeys applies to type measures only" in m for m in messages), messages
    assert any(m.startswith(f"{path}:10:") and "params.componentKeys is set by the collector" in m for m in messages), messages


# -- applicability, credentials, errors ------------------------------------------------------------------------


def test_entity_without_annotation_is_not_applicable():
    api = SonarApi()
    [outcome] = collect(make(block(collects={"type": "issues"}), api), [entity("plain", None)])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and outcome.reason == "no sonarqube.org/project-key annotation"
    assert api.requests == []


def test_missing_token_or_base_url_disables_the_collector():
    api = SonarApi()
    collector = make({"baseUrl": BASE, "collects": {"type": "issues"}}, api)
    assert collector.disabled_reason() == NO_TOKEN
    assert [o.kind for o in collect(collector, [entity("a")])] == [OutcomeKind.NOT_APPLICABLE]
    assert api.requests == []
    # Never send a token to a default host: no baseUrl, no requests.
    assert make({"token": TOKEN, "collects": {"type": "issues"}}).disabled_reason() == NO_BASE_URL


def test_missing_token_names_the_unset_variable(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    sonarqube:\n      baseUrl: ${SONAR_URL}\n      token: ${SONARQUBE_TOKEN}\n"
        "      collects:\n        type: issues\n"
    )
    settings, _ = load_settings([str(path)], environ={"SONAR_URL": BASE})
    problems = Problems()
    collector = Registry.discover(problems).create(
        "sonarqube", settings.collectors[0], problems, CollectorContext(app_config=settings.app_config)
    )
    assert collector.disabled_reason() == f"{NO_TOKEN} (token is not set: SONARQUBE_TOKEN)"


def test_401_says_the_token_was_rejected_without_printing_it_and_stops_asking():
    api = SonarApi(status=401)
    collector = make(block(collects=[{"type": "issues"}, {"type": "measures"}]), api)
    outcomes = collect(collector, [entity(f"e{i}", f"p{i}") for i in range(4)])
    assert len(outcomes) == 8 and all(o.kind is OutcomeKind.FAILED for o in outcomes)
    assert all("rejected the token" in o.reason and TOKEN not in o.reason for o in outcomes)
    assert 1 <= len(api.requests) <= 8
    assert len(api.requests) == len({str(r.url) for r in api.requests})  # nothing retried


def test_403_fails_only_that_project():
    api = SonarApi(statuses={"/api/components/show": 403})
    collector = make(block(concurrency=1, collects=[{"type": "project-tags"}, {"type": "issues"}]), api)
    outcomes = collect(collector, [entity("a", "a"), entity("b", "b")])
    kinds = {(o.entity_ref, str(o.fact_ref)): o.kind for o in outcomes}
    assert kinds[("component:default/a", str(ISSUES_REF))] is OutcomeKind.COLLECTED
    assert kinds[("component:default/b", str(TAGS_REF))] is OutcomeKind.FAILED
    assert sum(r.url.path == "/api/components/show" for r in api.requests) == 2  # each project asked once


def test_404_records_the_fact_as_absent():
    api = SonarApi(statuses={"/api/measures/component": 404})
    [outcome] = collect(make(block(collects={"type": "measures"}), api), [entity("a", "gone")])
    assert outcome.kind is OutcomeKind.ABSENT
    assert outcome.reason == "SonarQube has no project 'gone' (HTTP 404)"
    assert outcome.fact is not None and outcome.fact.data is None and len(api.requests) == 1


def test_400_reports_sonarqube_message():
    api = SonarApi(statuses={"/api/measures/component": 400})
    [outcome] = collect(make(block(collects={"type": "measures", "metricKeys": ["nope"]}), api), [entity("a")])
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == "SonarQube refused the request (HTTP 400): Bad request"


@pytest.mark.parametrize(
    "annotation, encoded",
    [
        ("p1&metricKeys=password", b"component=p1%26metricKeys%3Dpassword"),
        ("p1#frag", b"component=p1%23frag"),
        ("my project%", b"component=my%20project%25"),
        ("inst/../../api/system/restart", b"component=restart"),
        ("p1\nX-Evil: 1", b"component=p1%0AX-Evil%3A%201"),
    ],
)
def test_annotation_values_are_url_encoded(annotation, encoded):
    api = SonarApi()
    collect(make(block(collects={"type": "project-tags"}), api), [entity("a", annotation)])
    [request] = api.requests
    assert request.url.path == "/api/components/show" and request.url.host == "sonar.example.com"
    assert request.url.raw_path.split(b"?", 1)[1] == encoded


# -- through the real config loader and the runner ---------------------------------------------------------------

APP_CONFIG = """\
soundcheck:
  collectors:
    sonarqube:
      baseUrl: https://sonar.example.com
      token: ${SONARQUBE_TOKEN}
      frequency:
        cron: '0 */6 * * *'
      cache:
        duration: {hours: 12}
      filter:
        - kind: Component
          spec.lifecycle: production
        - kind: Component
          spec.lifecycle: experimental
      collects:
        - type: measures
          metricKeys: [coverage, alert_status]
          cache: true
        - type: issues
          cache: false
"""


def test_spotify_style_config_loads_and_collects_through_the_runner(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(APP_CONFIG)
    settings, warnings = load_settings([str(path)], environ={"SONARQUBE_TOKEN": TOKEN})
    assert warnings == []
    api = SonarApi()
    http = HttpOptions(transport=httpx.MockTransport(api), sleep=no_sleep)
    entities = [entity("a", "proj-a"), entity("b", "proj-b"), entity("plain", None)]
    with open_store(str(tmp_path / "store")) as store:
        before = utcnow()
        summary = run_collection(settings, entities, store, http=http, collector_ids=["sonarqube"])
        sq = summary.collector("sonarqube")
        assert (sq.collected, sq.not_applicable, sq.failed, sq.requests) == (4, 2, 0, 4), sq
        assert {r.headers["Authorization"] for r in api.requests} == {f"Bearer {TOKEN}"}
        measures = store.get("component:default/a", MEASURES_REF)
        assert measures.data["measures"] == {"coverage": 81.3, "alert_status": "OK"}
        # cache: true takes the block's duration (the fact's expiry); cache: false stores no expiry.
        assert measures.expires_at == measures.timestamp + timedelta(hours=12)
        assert measures.expires_at >= before + timedelta(hours=12)
        issues = store.get("component:default/a", ISSUES_REF)
        assert issues.expires_at is None and issues.data["total"] == 8
        # The cron frequency decides for the uncached fact: fresh before the next '0 */6 * * *' time, due after it
        # (the cached fact stays fresh: inside its 12 hours).
        latest = max(issues.timestamp, store.get("component:default/b", ISSUES_REF).timestamp)
        next_run = croniter("0 */6 * * *", latest).get_next(datetime)
        between = latest + (next_run - latest) / 2
        again = run_collection(settings, entities, store, http=http, collector_ids=["sonarqube"], now=lambda: between)
        assert again.collector("sonarqube").fresh == 4 and len(api.requests) == 4
        after = next_run + timedelta(minutes=1)
        third = run_collection(settings, entities, store, http=http, collector_ids=["sonarqube"], now=lambda: after)
        assert (third.collector("sonarqube").collected, third.collector("sonarqube").fresh) == (2, 2)
        assert [r.url.path for r in api.requests[4:]] == ["/api/issues/search", "/api/issues/search"]


# -- issue 17 item 10: Soundcheck's named instances, username/password and the Projects fact (CLI, 127.0.0.1) -------

def _sonar(token: str, seen: list[str]):
    """A SonarQube answering api/components/show with the recorded shape (as the project) for ``token`` only."""

    def route(method, path, query, headers):
        seen.append(path + "?" + "&".join(f"{k}={v[0]}" for k, v in query.items()))
        if headers.get("Authorization") != token:
            return 401, {"errors": [{"msg": "Unauthorized"}]}
        if path == "/api/components/show":
            body = copy.deepcopy(SHOW)
            body["component"].update(key=query["component"][0], qualifier="TRK", name="Markdown", visibility="public")
            return 200, body
        return 404, {"errors": [{"msg": "Component not found"}]}

    return route


def test_cli_annotation_prefix_chooses_the_named_instance(capsys, tmp_path, monkeypatch):
    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli
    from soundcheck_cli.facts.locate import open_any

    monkeypatch.setenv("SQ1_TOKEN", "squ_first0001")
    monkeypatch.setenv("SQ2_PASSWORD", "pw-second-0002")
    seen1: list[str] = []
    seen2: list[str] = []
    basic = "Basic " + base64.b64encode(b"admin:pw-second-0002").decode()
    with VendorServer(_sonar("Bearer squ_first0001", seen1)) as one, VendorServer(_sonar(basic, seen2)) as two:
        config = write_workspace(tmp_path, f"""
            sonarqube:
              - name: sonarqube-instance1
                baseUrl: {one.url}
                token: ${{SQ1_TOKEN}}
                collects: [{{type: projects}}]
              - name: sonarqube-instance2
                baseUrl: {two.url}
                username: admin
                password: ${{SQ2_PASSWORD}}
        """, [
            {"name": "a", "annotations": {"sonarqube.org/project-key": "sonarqube-instance1/org:a"}},
            {"name": "b", "annotations": {"sonarqube.org/project-key": "sonarqube-instance2/org:b"}},
            {"name": "c", "annotations": {"sonarqube.org/project-key": "nowhere/org:c"}},
        ])
        code = run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 1  # the entity naming an unknown instance fails
    assert seen1 == ["/api/components/show?component=org:a"] and seen2 == ["/api/components/show?component=org:b"]
    assert "sonarqube: 2 collected" in err and "1 failed" in err
    assert "no SonarQube instance named '…'" in err and "sonarqube-instance1, sonarqube-instance2" in err
    assert "squ_first0001" not in err and "pw-second-0002" not in err
    store = open_any(str(tmp_path / "store"))
    try:
        fact = store.get("component:default/b", FactRef("sonarqube", "default", "projects"))
    finally:
        store.close()
    assert fact.data["key"] == "org:b" and fact.data["instance"] == "sonarqube-instance2"
    assert fact.data["qualifier"] == "TRK" and fact.data["analysisDate"] == "2017-03-01T11:39:03+0100"
    jsonschema.validate(fact.data, SCHEMAS_BY_TYPE["projects"])
