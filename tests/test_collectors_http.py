"""Tests of the ``http`` collector: templating of URL, headers and body ({{ entity.* }}, {{ secrets.* }},
{{ config.* }}), URL-encoding and header safety of entity values, not-applicable on missing values, JSON/JSONPath
and non-JSON responses, absent on 404, and located config errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.http_collector import MAX_TEXT, HttpCollector
from soundcheck_cli.collectors.outcomes import OutcomeKind
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef


def entity(name: str = "payments", **annotations: str) -> Entity:
    return Entity.from_data(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name, "annotations": dict(annotations)},
            "spec": {"owner": "team-a"},
        }
    )


class Server:
    def __init__(self, respond=None) -> None:
        self.requests: list[httpx.Request] = []
        self.respond = respond or (lambda request: httpx.Response(200, json={"status": "ok", "items": [{"n": 1}, {"n": 2}]}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


def make(config: Any, server: Server | None = None, app_config: Any = None) -> HttpCollector:
    server = server or Server()

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    context = CollectorContext(
        app_config=app_config or {}, extra={"http": HttpOptions(transport=httpx.MockTransport(server), sleep=no_sleep)}
    )
    problems = Problems()
    collector = Registry.discover(problems).create("http", CollectorSettings("http", config), problems, context)
    assert not problems.errors, [str(p) for p in problems.errors]
    return collector


def collect(collector: HttpCollector, entities: list[Entity]):
    async def go():
        try:
            return await collector.collect_outcomes(entities)
        finally:
            await collector.aclose()

    return asyncio.run(go())


BASE = {
    "secrets": [{"key": "apiToken", "value": "s3cr3t-token"}],
    "config": {"baseUrl": "https://grafana.test", "org": {"id": 7}},
}


def test_templating_of_url_headers_and_fact_ref():
    server = Server()
    config = {
        **BASE,
        "collects": [
            {
                "factName": "dashboard",
                "url": "{{ config.baseUrl }}/api/orgs/{{ config.org.id }}/dash/"
                "{{ entity.metadata.annotations['grafana/dashboard-uid'] }}?owner={{entity.spec.owner}}",
                "headers": {"Authorization": "Bearer {{ secrets.apiToken }}", "X-Entity": "{{ entity.metadata.name }}"},
            }
        ],
    }
    collector = make(config, server)
    assert collector.fact_names() == ["http:default/dashboard"]
    [outcome] = collect(collector, [entity("payments", **{"grafana/dashboard-uid": "abc-123"})])
    assert outcome.kind is OutcomeKind.COLLECTED
    [request] = server.requests
    assert str(request.url) == "https://grafana.test/api/orgs/7/dash/abc-123?owner=team-a"
    assert request.method == "GET"
    assert request.headers["Authorization"] == "Bearer s3cr3t-token"
    assert request.headers["X-Entity"] == "payments"
    assert outcome.fact.fact_ref == FactRef("http", "default", "dashboard")
    assert outcome.fact.data == {"status": "ok", "items": [{"n": 1}, {"n": 2}]}


@pytest.mark.parametrize(
    "value, raw_path, query",
    [
        ("org/repo", b"/api/org/repo", b"q=org%2Frepo"),  # Soundcheck's behaviour in the path (issue 17 item 14)
        ("x?admin=1#frag", b"/api/x%3Fadmin%3D1%23frag", b"q=x%3Fadmin%3D1%23frag"),
        ("a/x?y#z/b", b"/api/a/x%3Fy%23z/b", b"q=a%2Fx%3Fy%23z%2Fb"),
        ("%2e%2e", b"/api/%252e%252e", b"q=%252e%252e"),
        ("a\nb", b"/api/a%0Ab", b"q=a%0Ab"),
        ("{{ secrets.apiToken }}", b"/api/%7B%7B%20secrets.apiToken%20%7D%7D", b"q=%7B%7B%20secrets.apiToken%20%7D%7D"),
    ],
)
def test_entity_values_are_url_encoded_and_never_evaluated(value, raw_path, query):
    server = Server()
    config = {**BASE, "collects": {"factName": "f", "url": "https://api.test/api/{{ entity.metadata.annotations['x/id'] }}?q={{ entity.metadata.annotations['x/id'] }}"}}
    collect(make(config, server), [entity(**{"x/id": value})])
    [request] = server.requests
    assert request.url.host == "api.test"
    assert request.url.raw_path == raw_path + b"?" + query
    assert b"s3cr3t-token" not in request.url.raw_path


@pytest.mark.parametrize("value", ["../../admin", "..", ".", "a/../b", "a//b", "/abs", "org/", "a/./b"])
def test_dot_or_empty_path_parts_are_refused_in_the_path(value):
    server = Server()
    config = {**BASE, "collects": {"factName": "f", "url": "https://api.test/api/{{ entity.metadata.annotations['x/id'] }}"}}
    [outcome] = collect(make(config, server), [entity(**{"x/id": value})])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and "cannot go into the URL path" in outcome.reason
    assert server.requests == []


@pytest.mark.parametrize(
    "value, raw_path",
    [("../../admin", b"/api/..%2F..%2Fadmin"), ("..", b"/api/%2E%2E"), ("org/repo", b"/api/org%2Frepo")],
)
def test_encode_slashes_makes_the_value_one_path_segment(value, raw_path):
    server = Server()
    config = {**BASE, "collects": {"factName": "f", "encodeSlashes": True,
                                   "url": "https://api.test/api/{{ entity.metadata.annotations['x/id'] }}"}}
    collect(make(config, server), [entity(**{"x/id": value})])
    [request] = server.requests
    assert request.url.host == "api.test" and request.url.raw_path == raw_path


def test_cli_project_slug_reaches_the_path_with_its_slash(capsys, tmp_path, monkeypatch):
    """Issue 17 item 14 through the CLI: ``org/repo`` from an annotation is ``/repos/org/repo``, not a 404 on
    ``org%2Frepo``; the recorded GitHub repository answer is served on 127.0.0.1."""
    import json as _json
    from pathlib import Path as _Path

    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli

    repo = _json.loads((_Path(__file__).parent / "fixtures" / "github" / "get-repository.json").read_text())[0]

    def route(method, path, query, headers):
        return (200, repo["response"]) if path == repo["path"] else (404, {"message": "Not Found"})

    monkeypatch.setenv("API_TOKEN", "tok-123456")
    with VendorServer(route) as api:
        config = write_workspace(tmp_path, f"""
            http:
              secrets: [{{key: token, value: "${{API_TOKEN}}"}}]
              collects:
                - factName: repo
                  url: "{api.url}/repos/{{{{ entity.metadata.annotations['github.com/project-slug'] }}}}"
                  headers: {{Authorization: "Bearer {{{{ secrets.token }}}}"}}
                  path: $.full_name
        """, [{"name": "hello", "annotations": {"github.com/project-slug": "octokit-fixture-org/hello-world"}},
              {"name": "sneaky", "annotations": {"github.com/project-slug": "octokit-fixture-org/../../admin"}}])
        code = run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert api.paths() == ["/repos/octokit-fixture-org/hello-world"]
    assert "http: 1 collected" in err and "1 not applicable" in err and "cannot go into the URL path" in err
    assert "tok-123456" not in err


def test_line_break_in_entity_value_cannot_reach_a_header():
    server = Server()
    config = {**BASE, "collects": {"factName": "f", "url": "https://api.test/x", "headers": {"X-Team": "{{ entity.metadata.annotations['team'] }}"}}}
    [outcome] = collect(make(config, server), [entity(team="a\r\nX-Injected: 1")])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and "line break" in outcome.reason
    assert server.requests == []


def test_missing_value_makes_the_entity_not_applicable_with_the_reason():
    server = Server()
    config = {**BASE, "collects": {"factName": "f", "url": "https://api.test/{{ entity.metadata.annotations['grafana/uid'] }}"}}
    [outcome] = collect(make(config, server), [entity()])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE
    assert outcome.reason == "{{ entity.metadata.annotations['grafana/uid'] }} has no value for this entity"
    assert server.requests == []


def test_no_attribute_access_through_placeholders():
    server = Server()
    config = {"collects": {"factName": "f", "url": "https://api.test/{{ entity.__class__ }}"}}
    [outcome] = collect(make(config, server), [entity()])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and server.requests == []


def test_secret_left_unset_by_a_missing_variable(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n  collectors:\n    http:\n      secrets:\n        - key: apiToken\n          value: ${API_TOKEN}\n"
        "      collects:\n        - factName: f\n          url: https://api.test/x\n"
        "          headers:\n            Authorization: 'Bearer {{ secrets.apiToken }}'\n"
    )
    settings, _ = load_settings([str(path)], environ={})
    server = Server()
    problems = Problems()
    context = CollectorContext(app_config=settings.app_config, extra={"http": HttpOptions(transport=httpx.MockTransport(server))})
    collector = Registry.discover(problems).create("http", settings.collectors[0], problems, context)
    assert not problems.errors, [str(p) for p in problems.errors]
    [outcome] = collect(collector, [entity()])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE
    assert outcome.reason == "secret 'apiToken' has no value (API_TOKEN is not set)"
    assert server.requests == []


def test_jsonpath_extraction():
    server = Server()
    config = {
        "collects": [
            {"factName": "status", "url": "https://api.test/a", "path": "$.status"},
            {"factName": "ns", "url": "https://api.test/b", "path": "$.items[*].n"},
            {"factName": "none", "url": "https://api.test/c", "path": "$.missing"},
        ]
    }
    outcomes = collect(make(config, server), [entity()])
    data = {o.fact_ref.name: o.fact.data for o in outcomes}
    assert data == {"status": "ok", "ns": [1, 2], "none": None}


def test_non_json_response_is_stored_as_status_and_text():
    server = Server(lambda r: httpx.Response(200, text="OK all good", headers={"content-type": "text/plain"}))
    [outcome] = collect(make({"collects": {"factName": "health", "url": "https://api.test/health"}}, server), [entity()])
    assert outcome.fact.data == {"status": 200, "body": "OK all good"}


def test_long_text_is_truncated():
    server = Server(lambda r: httpx.Response(200, text="x" * (MAX_TEXT + 10), headers={"content-type": "text/html"}))
    [outcome] = collect(make({"collects": {"factName": "page", "url": "https://api.test/"}}, server), [entity()])
    assert len(outcome.fact.data["body"]) == MAX_TEXT and outcome.fact.data["truncated"] is True


def test_post_with_templated_json_body():
    server = Server()
    config = {
        **BASE,
        "collects": {
            "factName": "q",
            "url": "https://api.test/query",
            "method": "post",
            "body": {"query": "owner:{{ entity.spec.owner }}", "name": "{{ entity.metadata.name }}", "n": 3},
        },
    }
    collect(make(config, server), [entity('we"ird')])
    [request] = server.requests
    assert request.method == "POST"
    assert json.loads(request.content) == {"query": "owner:team-a", "name": 'we"ird', "n": 3}


def test_string_body():
    server = Server()
    config = {"collects": {"factName": "q", "url": "https://api.test/q", "method": "PUT", "body": "name={{ entity.metadata.name }}"}}
    collect(make(config, server), [entity("svc")])
    assert server.requests[0].method == "PUT" and server.requests[0].content == b"name=svc"


def test_404_absent_and_403_failed():
    def respond(request):
        return httpx.Response(404 if request.url.path == "/gone" else 403, json={"message": "Forbidden"})

    server = Server(respond)
    config = {"collects": [{"factName": "a", "url": "https://api.test/gone"}, {"factName": "b", "url": "https://api.test/secret"}]}
    outcomes = {o.fact_ref.name: o for o in collect(make(config, server), [entity()])}
    assert outcomes["a"].kind is OutcomeKind.ABSENT and outcomes["a"].fact.data is None
    assert outcomes["b"].kind is OutcomeKind.FAILED and "HTTP 403" in outcomes["b"].reason and "Forbidden" in outcomes["b"].reason
    assert len(server.requests) == 2  # no retry of 4xx


def test_mapping_secrets_are_accepted():
    server = Server()
    config = {"secrets": {"tok": "abc-123-xyz"}, "collects": {"factName": "a", "url": "https://api.test/?k={{ secrets.tok }}"}}
    collect(make(config, server), [entity()])
    assert server.requests[0].url.params["k"] == "abc-123-xyz"


def test_config_errors_are_located(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n"
        "  collectors:\n"
        "    http:\n"
        "      collects:\n"
        "        - factName: a\n"
        "          url: \"https://x/{{ __import__('os') }}\"\n"
        "        - factName: b\n"
        "          url: https://x/{{ secrets.nope }}\n"
        "        - factName: c\n"
        "          url: https://x/\n"
        "          path: $.[\n"
        "        - url: https://x/\n"
    )
    settings, _ = load_settings([str(path)])
    problems = Problems()
    context = CollectorContext(app_config=settings.app_config)
    assert Registry.discover(problems).create("http", settings.collectors[0], problems, context) is None
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:12:") and "factName is required" in m for m in messages), messages
    # The schema passes; the template checks then name their lines.
    path.write_text(path.read_text().replace("        - url: https://x/\n", ""))
    settings, _ = load_settings([str(path)])
    problems = Problems()
    context = CollectorContext(app_config=settings.app_config)
    assert Registry.discover(problems).create("http", settings.collectors[0], problems, context) is None
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:6:") and "unsupported placeholder" in m for m in messages), messages
    assert any(m.startswith(f"{path}:8:") and "no secret 'nope'" in m for m in messages), messages
    assert any(m.startswith(f"{path}:11:") and "path" in m for m in messages), messages


def test_a_config_value_that_starts_the_query_makes_entity_values_query_values():
    server = Server()
    config = {**BASE, "config": {"search": "https://api.test/find?repo="},
              "collects": {"factName": "f", "url": "{{ config.search }}{{ entity.metadata.annotations['x/id'] }}"}}
    collect(make(config, server), [entity(**{"x/id": "org/../repo"})])
    [request] = server.requests
    assert request.url.raw_path == b"/find?repo=org%2F..%2Frepo"
