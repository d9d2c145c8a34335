"""The ``jira`` collector through the CLI against a mock Jira on 127.0.0.1 answering with the shapes of Atlassian's
published OpenAPI examples (``tests/fixtures/jira``): Cloud v3 ``/search/jql`` with ``nextPageToken`` paging and
``/search/approximate-count``, Server/Data Center v2 ``/search`` with ``startAt``; basic auth and bearer PAT; JQL
templated with entity values, which cannot add clauses; 400 and 401 messages; credentials never printed."""

from __future__ import annotations

import base64
import copy
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from soundcheck_cli.cli.commands import run_cli
from collector_harness import write_workspace
from vendor_api import VendorApi

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
SEARCH = json.loads((FIXTURES / "search-jql.json").read_text())
LEGACY = json.loads((FIXTURES / "search-legacy.json").read_text())
COUNT = json.loads((FIXTURES / "approximate-count.json").read_text())
ISSUE = SEARCH[0]["response"]["body"]["issues"][0]
BAD_JQL = SEARCH[2]["response"]["body"]
API_TOKEN = "ATATT3xFfGF0-jira-api-token-value"
PAT = "NjM2NzM1MjQ0-jira-personal-access-token"
PROJECTS = {"ABC": 130, "XYZ": 3}


def issues_of(jql: str) -> list[dict[str, Any]]:
    match = re.fullmatch(r'project = "([A-Z]+)" AND statusCategory != Done', jql)
    size = PROJECTS.get(match.group(1), 0) if match else 0
    out = []
    for i in range(size):
        issue = copy.deepcopy(ISSUE)
        issue["key"], issue["id"] = f"{match.group(1)}-{i + 1}", str(10000 + i)
        out.append(issue)
    return out


def jira_route(auth: str):
    def route(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        if headers.get("Authorization") != auth:
            return 401, None  # Jira publishes no 401 body
        jql = (body or {}).get("jql") if method == "POST" else query.get("jql", [""])[0]
        if "invalid" in jql:
            return 400, BAD_JQL
        found = issues_of(jql)
        if path == "/rest/api/3/search/approximate-count":
            return 200, {**COUNT[0]["response"]["body"], "count": len(found)}
        size = int(query["maxResults"][0])
        if path == "/rest/api/3/search/jql":
            start = int(query.get("nextPageToken", ["0"])[0])
            page = {**SEARCH[0]["response"]["body"], "issues": found[start:start + size]}
            page["isLast"] = start + size >= len(found)
            if not page["isLast"]:
                page["nextPageToken"] = str(start + size)
            return 200, page
        if path == "/rest/api/2/search":
            start = int(query.get("startAt", ["0"])[0])
            answer = {**LEGACY[0]["response"]["body"], "startAt": start, "maxResults": size, "total": len(found),
                      "issues": found[start:start + size]}
            return 200, answer
        return 404, {"errorMessages": ["not found"], "errors": {}}

    return route


def workspace(tmp_path: Path, block: str, entities: list[dict[str, Any]]) -> Path:
    return write_workspace(tmp_path, "jira:\n" + textwrap.indent(textwrap.dedent(block), "  "), entities)


COLLECTS = """\
collects:
  - type: IssuesSearch
    factName: open_issues
    jql: project = {{ entity.metadata.annotations['jira/project-key'] }} AND statusCategory != Done
    fields: [summary, status]
    maxResults: 120
  - type: IssuesCount
    factName: open_issue_count
    jql: project = {{ entity.metadata.annotations['jira/project-key'] }} AND statusCategory != Done
"""


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def fact(capsys, config: Path, store: Path, entity: str, ref: str) -> Any:
    code, out, err = cli(capsys, "facts", "show", entity, ref, "-c", str(config), "--store", str(store))
    assert code == 0, err
    return json.loads(out)["data"]


ENTITIES = [
    {"name": "abc", "annotations": {"jira/project-key": "ABC"}},
    {"name": "xyz", "annotations": {"jira/project-key": "XYZ"}},
    {"name": "sneaky", "annotations": {"jira/project-key": 'XYZ" OR project = "ABC'}},
    {"name": "none"},
]


def test_cloud_search_and_count_with_basic_auth(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", API_TOKEN)
    store = tmp_path / "store"
    auth = "Basic " + base64.b64encode(f"me@example.com:{API_TOKEN}".encode()).decode()
    with VendorApi(jira_route(auth)) as api:
        config = workspace(tmp_path, textwrap.dedent(f"""\
            baseUrl: {api.url}
            apiVersion: 3
            username: me@example.com
            apiToken: ${{JIRA_API_TOKEN}}
            """) + COLLECTS, ENTITIES)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 0, err
        assert "jira: 6 collected, 0 fresh (skipped), 2 not applicable, 0 failed" in err, err
        # the annotation value is one quoted JQL string: it cannot add "OR project = ABC"
        sent = {q["jql"][0] for _, p, q, _, _ in api.requests if p.endswith("/search/jql")}
        assert 'project = "XYZ\\" OR project = \\"ABC" AND statusCategory != Done' in sent
        counts = [b for m, p, _, _, b in api.requests if p == "/rest/api/3/search/approximate-count"]
        assert {"jql": 'project = "ABC" AND statusCategory != Done'} in counts and len(counts) == 3
        # ABC: 130 issues, 120 wanted: pages of 100 and 20, following nextPageToken
        abc = [q for _, p, q, _, _ in api.requests if p.endswith("/search/jql") and '"ABC"' in q["jql"][0]
               and "XYZ" not in q["jql"][0]]
        assert [(q["maxResults"][0], q.get("nextPageToken", [None])[0]) for q in abc] == [("100", None), ("20", "100")]
        assert all(q["fields"] == ["summary,status"] for q in abc)
    data = fact(capsys, config, store, "component:default/abc", "jira:default/open_issues")
    assert data["count"] == 120 and data["truncated"] is True and data["issues"][0]["key"] == "ABC-1"
    assert data["issues"][0]["fields"]["watcher"]["watchCount"] == 1  # the recorded issue's fields
    assert fact(capsys, config, store, "component:default/xyz", "jira:default/open_issue_count") == {
        "jql": 'project = "XYZ" AND statusCategory != Done', "count": 3, "approximate": True}
    assert fact(capsys, config, store, "component:default/sneaky", "jira:default/open_issue_count")["count"] == 0
    code, schema, _ = cli(capsys, "facts", "schema", "jira:default/open_issues", "-c", str(config))
    assert code == 0
    jsonschema.validate(data, json.loads(schema))
    assert API_TOKEN not in out + err


def test_server_v2_with_a_personal_access_token(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JIRA_PAT", PAT)
    store = tmp_path / "store"
    with VendorApi(jira_route(f"Bearer {PAT}")) as api:
        config = workspace(tmp_path, textwrap.dedent(f"""\
            baseUrl: {api.url}
            personalAccessToken: ${{JIRA_PAT}}
            """) + COLLECTS, ENTITIES[:1])
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 0, err
        searches = [q for _, p, q, _, _ in api.requests if p == "/rest/api/2/search"]
        assert sorted((q.get("startAt", [""])[0], q["maxResults"][0]) for q in searches) == [("", "0"), ("0", "100"), ("100", "20")]
    data = fact(capsys, config, store, "component:default/abc", "jira:default/open_issues")
    assert data["count"] == 120 and data["total"] == 130 and data["truncated"] is True
    assert fact(capsys, config, store, "component:default/abc", "jira:default/open_issue_count")["count"] == 130
    assert PAT not in out + err


def test_invalid_jql_and_rejected_credentials_are_explained(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JIRA_PAT", PAT)
    with VendorApi(jira_route(f"Bearer {PAT}")) as api:
        config = workspace(tmp_path, f"""\
            baseUrl: {api.url}
            personalAccessToken: ${{JIRA_PAT}}
            collects: [{{type: IssuesCount, jql: 'project = {{{{ entity.metadata.name }}}} AND invalid'}}]
            """, ENTITIES)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert code == 1
        assert "Jira refused the JQL 'project = \"abc\" AND invalid' (HTTP 400): Error in the JQL Query: Expecting operator" in err
        monkeypatch.setenv("JIRA_PAT", "wrong-pat-value-123")
        before = len(api.requests)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert code == 1
        assert len(api.requests) - before == 1  # the first 401 answers for the other three entities
        assert f"Jira rejected the credentials (HTTP 401 Unauthorized): check the collector's personalAccessToken (${{JIRA_PAT}}, {config}:" in err
        assert "wrong-pat-value-123" not in out + err


def test_missing_credentials_and_bad_config(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JIRA_PAT", raising=False)
    config = workspace(tmp_path, """\
        baseUrl: https://example.atlassian.net
        personalAccessToken: ${JIRA_PAT}
        collects: [{type: IssuesCount, jql: 'project = X'}]
        """, ENTITIES[:1])
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1 and "collector jira: no credentials provided" in err and "JIRA_PAT" in err
    config = workspace(tmp_path, """\
        baseUrl: https://example.atlassian.net
        personalAccessToken: x-token-value
        collects: [{type: IssuesCount, jql: 'project = {{ secrets.x }}'}]
        """, ENTITIES[:1])
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 2 and f"{config}:" in err and "only {{ entity.<path> }} placeholders" in err


def test_quotes_are_read_from_the_template_not_from_substituted_values() -> None:
    from soundcheck_cli.collectors.query_text import open_quote, string_value

    assert open_quote('project = "ABC" AND labels = "') == '"'
    assert open_quote("summary ~ 'it\\'s' AND x = ") is None
    # a value with quotes of its own, then a value inside quotes the template wrote
    first = string_value('x"y', "summary ~ ", '"')
    assert first == '"x\\"y"'
    assert string_value("b", 'summary ~ {{a}} AND labels = "', '"') == "b"
    with pytest.raises(ValueError, match="line break"):
        string_value("a\nOR x", "", '"')


def test_a_value_inside_quotes_the_template_wrote_is_escaped_not_quoted_again(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", API_TOKEN)
    auth = "Basic " + base64.b64encode(f"me@example.com:{API_TOKEN}".encode()).decode()
    with VendorApi(jira_route(auth)) as api:
        config = workspace(tmp_path, textwrap.dedent(f"""\
            baseUrl: {api.url}
            apiVersion: 3
            username: me@example.com
            apiToken: ${{JIRA_API_TOKEN}}
            collects:
              - type: IssuesCount
                jql: project = {{{{ entity.metadata.annotations['jira/project-key'] }}}} AND labels = "{{{{ entity.metadata.name }}}}"
            """), [{"name": "sneaky", "annotations": {"jira/project-key": 'A"B'}}])
        code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert code == 0, err
        assert [b["jql"] for _, _, _, _, b in api.requests] == ['project = "A\\"B" AND labels = "sneaky"']
