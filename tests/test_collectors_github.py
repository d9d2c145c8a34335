"""Tests of the ``github`` collector and of ``github_repo`` (annotations, tokens, Link headers).

The API is an ``httpx.MockTransport`` replaying the real api.github.com responses recorded by octokit/fixtures
(``fixtures/github/*.json``: repository, branch protection incl. the 404 "Branch not protected", paginated issues
with ``Link`` headers) and, for endpoints the recordings lack, the examples of GitHub's REST reference
(``fixtures/github/docs-examples.json``, each naming its docs.github.com page).
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.collectors.github import (
    DEFAULT_FACT_NAMES,
    GithubCollector,
    _json_list,
    snake_case,
    summarize_alerts,
)
from soundcheck_cli.collectors.github_repo import (
    RepoRef,
    parse_location,
    parse_slug,
    read_integrations,
    repo_for_entity,
    resolve_credentials,
)
from soundcheck_cli.http.client import HttpOptions, next_link
from soundcheck_cli.collectors.outcomes import CollectorStatus, OutcomeKind
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.facts.store import open_store
from collector_harness import create_collector, run_outcomes

FIXTURES = Path(__file__).parent / "fixtures" / "github"
TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"


def recording(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


REPO = recording("get-repository.json")[0]
PROTECTION = recording("branch-protection.json")
CONTENT = recording("get-content.json")
ISSUES = recording("paginate-issues.json")
DOCS = json.loads((FIXTURES / "docs-examples.json").read_text())


@pytest.fixture(autouse=True)
def _no_env_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(var, raising=False)


def entity(name: str = "hello", annotations: dict[str, str] | None = None) -> Entity:
    if annotations is None:
        annotations = {"github.com/project-slug": "octokit-fixture-org/hello-world"}
    return Entity.from_data(
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": name, "annotations": annotations}}
    )


class GithubApi:
    """Serves routes ``path[?query] -> (status, body, headers)``; honours ``If-None-Match`` against the route's
    ``etag`` with a 304 (as GitHub does); records every request."""

    def __init__(self, routes: dict[str, tuple[int, Any, dict[str, str]]] | None = None) -> None:
        self.routes = routes if routes is not None else default_routes()
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        target = request.url.raw_path.decode()
        route = self.routes.get(target) or self.routes.get(target.split("?")[0])
        if route is None:
            return httpx.Response(404, json={"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        status, body, headers = route
        etag = headers.get("etag")
        if etag and request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"etag": etag})
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    def paths(self) -> list[str]:
        return [r.url.raw_path.decode() for r in self.requests]


def _headers(exchange: dict[str, Any]) -> dict[str, str]:
    keep = ("etag", "link", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
    return {k: str(v) for k, v in exchange["headers"].items() if k in keep}


def default_routes() -> dict[str, tuple[int, Any, dict[str, str]]]:
    routes: dict[str, tuple[int, Any, dict[str, str]]] = {
        REPO["path"]: (200, REPO["response"], _headers(REPO)),
    }
    # The branch-protection scenario's repository (the recording has no GET of it): main is its default branch.
    repo = copy.deepcopy(REPO["response"])
    repo.update(name="branch-protection", full_name="octokit-fixture-org/branch-protection", default_branch="main")
    routes["/repos/octokit-fixture-org/branch-protection"] = (200, repo, {"etag": '"bp-repo"'})
    not_protected = PROTECTION[0]
    routes[not_protected["path"]] = (404, not_protected["response"], _headers(not_protected))
    # A protected branch: the object the recording's PUT returned (the shape GET answers).
    protected = PROTECTION[2]
    routes["/repos/octokit-fixture-org/hello-world/branches/master/protection"] = (200, protected["response"], _headers(protected))
    routes["/repos/octokit-fixture-org/hello-world/languages"] = (200, DOCS["repos/get-languages"]["response"], {"etag": '"langs"'})
    routes["/repos/octokit-fixture-org/hello-world/rules/branches/master"] = (
        200, DOCS["repos/get-branch-rules"]["response"], {"etag": '"rules"'}
    )
    for exchange in ISSUES:
        routes[exchange["path"]] = (200, exchange["response"], _headers(exchange))
    return routes


def make(
    config: Any,
    api: GithubApi | None = None,
    *,
    store: Any = None,
    app_config: dict[str, Any] | None = None,
) -> GithubCollector:
    return create_collector("github", GithubCollector, config, api or GithubApi(), store=store, app_config=app_config)


def collect(collector: GithubCollector, entities: list[Entity], refs: list[FactRef] | None = None, refresh=None):
    return run_outcomes(collector, entities, refs, refresh)


def ref(name: str) -> FactRef:
    return FactRef("github", "default", name)


# -- annotations ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("org/repo", RepoRef("github.com", "org", "repo")),
        ("  org/repo.git ", RepoRef("github.com", "org", "repo")),
        ("org/my.repo-1_x", RepoRef("github.com", "org", "my.repo-1_x")),
        ("org", None),
        ("org/repo/extra", None),
        ("org/..", None),
        ("org/re po", None),
        (42, None),
    ],
)
def test_parse_slug(text, expected):
    assert parse_slug(text) == expected


@pytest.mark.parametrize(
    "text, hosts, expected",
    [
        ("url:https://github.com/org/repo/tree/main/", None, RepoRef("github.com", "org", "repo", "main")),
        ("url:https://github.com/org/repo/tree/main/services/payments/", None, RepoRef("github.com", "org", "repo", "main")),
        ("url:https://github.com/org/repo/blob/v1.2/catalog-info.yaml", None, RepoRef("github.com", "org", "repo", "v1.2")),
        ("https://github.com/org/repo.git", None, RepoRef("github.com", "org", "repo")),
        ("url:https://GHE.example.com/team/svc/tree/develop", {"ghe.example.com"}, RepoRef("ghe.example.com", "team", "svc", "develop")),
        ("url:https://ghe.example.com/team/svc", None, None),  # an unknown host never counts as GitHub
        ("url:https://gitlab.com/org/repo/-/tree/main", None, None),
        ("file:./catalog-info.yaml", None, None),
        ("url:https://github.com/org", None, None),
        ("url:https://github.com/org/../x", None, None),
    ],
)
def test_parse_location(text, hosts, expected):
    assert parse_location(text, hosts) == expected


def test_repo_for_entity_prefers_slug_and_takes_the_host_of_a_ghe_source_location():
    both = entity(annotations={
        "github.com/project-slug": "team/svc",
        "backstage.io/source-location": "url:https://ghe.example.com/team/svc/tree/release/",
    })
    assert repo_for_entity(both, {"ghe.example.com"}) == RepoRef("ghe.example.com", "team", "svc", "release")
    # The slug names another repository than the source location: the slug wins, without the location's ref.
    other = entity(annotations={
        "github.com/project-slug": "org/a",
        "backstage.io/source-location": "url:https://github.com/org/b/tree/main/",
    })
    assert repo_for_entity(other) == RepoRef("github.com", "org", "a")
    only_location = entity(annotations={"backstage.io/source-location": "url:https://github.com/org/repo/tree/main/"})
    assert repo_for_entity(only_location) == RepoRef("github.com", "org", "repo", "main")
    managed = entity(annotations={"backstage.io/managed-by-location": "url:https://github.com/org/repo/blob/main/catalog-info.yaml"})
    assert repo_for_entity(managed) == RepoRef("github.com", "org", "repo", "main")
    assert repo_for_entity(entity(annotations={})) is None


def test_next_link_on_the_recorded_pagination():
    def answer(link):
        return httpx.Response(200, headers={"link": link} if link is not None else {})

    assert next_link(answer(ISSUES[1]["headers"]["link"])) == (
        "https://api.github.com/repositories/1000/issues?per_page=3&page=3")
    assert next_link(answer(ISSUES[-1]["headers"]["link"])) is None  # the last page has no rel="next"
    assert next_link(answer(None)) is None


def test_default_fact_names_are_snake_case():
    assert snake_case("RepositoryDetails") == "repository_details"
    assert DEFAULT_FACT_NAMES == {
        "RepositoryDetails": "repository_details",
        "BranchProtections": "branch_protections",
        "RepositoryLanguages": "repository_languages",
        "BranchRules": "branch_rules",
        "DependabotAlerts": "dependabot_alerts",
        "CodeScanningAlerts": "code_scanning_alerts",
        "SecretScanningAlerts": "secret_scanning_alerts",
        "SecurityAdvisories": "security_advisories",
    }


# -- token sources ---------------------------------------------------------------------------------------------------

APP_CONFIG = {
    "integrations": {
        "github": [
            {"host": "github.com", "token": "integration-token-0001"},
            {"host": "ghe.example.com", "token": "ghe-token-0002", "apiBaseUrl": "https://ghe.example.com/api/v3/"},
            {"host": "ghe2.example.com"},
        ]
    }
}


def test_credentials_order_block_then_integration_then_environment():
    assert read_integrations(APP_CONFIG)[1].api_base_url == "https://ghe.example.com/api/v3"
    own = resolve_credentials("github.com", {"token": "own-token-0003"}, APP_CONFIG, {"GITHUB_TOKEN": "env-token"})
    assert (own.token, own.api_base_url) == ("own-token-0003", "https://api.github.com")
    integration = resolve_credentials("github.com", {}, APP_CONFIG, {"GITHUB_TOKEN": "env-token"})
    assert integration.token == "integration-token-0001" and "integrations.github" in integration.source
    ghe = resolve_credentials("ghe.example.com", {"token": "own-token-0003"}, APP_CONFIG, {})
    assert (ghe.token, ghe.api_base_url) == ("ghe-token-0002", "https://ghe.example.com/api/v3")  # block token is for github.com
    env = resolve_credentials("github.com", {}, {}, {"GH_TOKEN": " gh-token "})
    assert (env.token, env.source) == ("gh-token", "GH_TOKEN")
    assert resolve_credentials("github.com", {}, {}, {"GITHUB_TOKEN": "a", "GH_TOKEN": "b"}).token == "a"
    # An environment token is never sent to another host, except the one GitHub Actions runs against.
    assert resolve_credentials("ghe2.example.com", {}, APP_CONFIG, {"GITHUB_TOKEN": "env"}).token is None
    actions = resolve_credentials("ghe2.example.com", {}, APP_CONFIG, {"GITHUB_TOKEN": "env", "GITHUB_SERVER_URL": "https://ghe2.example.com"})
    assert (actions.token, actions.api_base_url) == ("env", "https://ghe2.example.com/api/v3")
    block = resolve_credentials("ghe2.example.com", {"host": "ghe2.example.com", "token": "t-000004", "apiBaseUrl": "https://ghe2.example.com/api"}, {}, {})
    assert (block.token, block.api_base_url) == ("t-000004", "https://ghe2.example.com/api")


def test_no_token_anywhere_skips_the_collector_without_any_request(tmp_path):
    api = GithubApi()
    collector = make({"collects": {"type": "RepositoryDetails"}}, api)
    assert "no GitHub token" in collector.disabled_reason() and "GITHUB_TOKEN" in collector.disabled_reason()
    [outcome] = collect(collector, [entity()])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and "never called without a token" in outcome.reason
    assert api.requests == []


def test_no_token_in_a_run_is_a_skipped_collector_and_facts_stay_unreported(tmp_path):
    settings = load_settings_from(tmp_path, "soundcheck:\n  collectors:\n    github:\n      collects: {type: RepositoryDetails}\n")
    api = GithubApi()
    with open_store(str(tmp_path / "store")) as store:
        summary = run_collection(settings, [entity()], store, http=HttpOptions(transport=httpx.MockTransport(api)))
        assert store.get("component:default/hello", ref("repository_details")) is None
    [github] = [c for c in summary.collectors if c.collector_id == "github"]
    assert github.status is CollectorStatus.SKIPPED and "no GitHub token" in github.reason
    assert api.requests == []


def test_environment_token_is_used(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    api = GithubApi()
    [outcome] = collect(make({"collects": {"type": "RepositoryDetails"}}, api), [entity()])
    assert outcome.kind is OutcomeKind.COLLECTED
    assert api.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_ghe_entity_goes_to_the_integration_api_base_url_with_its_token():
    routes = {"/api/v3/repos/team/svc": (200, REPO["response"], {})}
    api = GithubApi(routes)
    svc = entity("svc", {"backstage.io/source-location": "url:https://ghe.example.com/team/svc/tree/main/"})
    [outcome] = collect(make({"collects": {"type": "RepositoryDetails"}}, api, app_config=APP_CONFIG), [svc])
    assert outcome.kind is OutcomeKind.COLLECTED
    [request] = api.requests
    assert str(request.url) == "https://ghe.example.com/api/v3/repos/team/svc"
    assert request.headers["Authorization"] == "Bearer ghe-token-0002"


# -- types -----------------------------------------------------------------------------------------------------------


def load_settings_from(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "app-config.yaml"
    path.write_text(text)
    settings, _ = load_settings([str(path)], environ={})
    return settings


USERS_CONFIG = """\
soundcheck:
  collectors:
    github:
      frequency: {cron: '* * * * *'}
      filter: {kind: 'Component'}
      cache: {duration: {hours: 2}}
      collects:
        - {factName: repo_details, type: RepositoryDetails, cache: true}
"""


def test_users_config_repo_details_request_shape_and_data(tmp_path):
    settings = load_settings_from(tmp_path, USERS_CONFIG)
    [block] = [c for c in settings.collectors if c.id == "github"]
    api = GithubApi()
    collector = make({**block.config, "token": TOKEN}, api)
    assert collector.fact_names() == ["github:default/repo_details"]
    [config] = collector.collection_configs()
    assert config.cache == {"duration": {"hours": 2}} and config.frequency == {"cron": "* * * * *"}
    [outcome] = collect(collector, [entity()])
    assert outcome.kind is OutcomeKind.COLLECTED and outcome.fact.fact_ref == ref("repo_details")
    [request] = api.requests
    assert str(request.url) == "https://api.github.com/repos/octokit-fixture-org/hello-world"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert "If-None-Match" not in request.headers
    assert outcome.fact.data == REPO["response"]
    assert outcome.fact.data["default_branch"] == "master" and outcome.fact.data["open_issues_count"] == 42


def test_unprotected_branch_404_is_a_fact_saying_so():
    api = GithubApi()
    bp = entity("bp", {"github.com/project-slug": "octokit-fixture-org/branch-protection"})
    [outcome] = collect(make({"token": TOKEN, "collects": {"type": "BranchProtections"}}, api), [bp])
    assert outcome.kind is OutcomeKind.COLLECTED
    assert outcome.fact.data == {"branch": "main", "protected": False}
    assert api.paths() == [
        "/repos/octokit-fixture-org/branch-protection",  # the default branch
        "/repos/octokit-fixture-org/branch-protection/branches/main/protection",
    ]


def test_protected_default_branch_keeps_githubs_protection_object():
    collector = make({"token": TOKEN, "collects": {"type": "BranchProtections", "factName": "bp"}})
    [outcome] = collect(collector, [entity()])
    data = outcome.fact.data
    assert outcome.fact.fact_ref == ref("bp")
    assert data["protected"] is True and data["branch"] == "master"
    assert data["required_pull_request_reviews"]["required_approving_review_count"] == 1
    assert data["required_status_checks"]["contexts"] == ["foo/bar"]
    assert data["enforce_admins"]["enabled"] is PROTECTION[2]["response"]["enforce_admins"]["enabled"] is True


def test_branch_option_skips_the_default_branch_lookup():
    api = GithubApi()
    collect(make({"token": TOKEN, "collects": {"type": "BranchProtections", "branch": "master"}}, api), [entity()])
    assert api.paths() == ["/repos/octokit-fixture-org/hello-world/branches/master/protection"]


def test_missing_repository_is_absent():
    api = GithubApi()
    gone = entity("gone", {"github.com/project-slug": "octokit-fixture-org/nope"})
    [outcome] = collect(make({"token": TOKEN, "collects": {"type": "BranchProtections"}}, api), [gone])
    assert outcome.kind is OutcomeKind.ABSENT and outcome.fact.data is None
    assert "octokit-fixture-org/nope" in outcome.reason


def test_languages_and_branch_rules():
    api = GithubApi()
    collector = make({"token": TOKEN, "collects": [{"type": "RepositoryLanguages"}, {"type": "BranchRules"}]}, api)
    outcomes = {o.fact_ref.name: o for o in collect(collector, [entity()])}
    assert outcomes["repository_languages"].fact.data == {"C": 78769, "Python": 7769}
    rules = outcomes["branch_rules"].fact.data
    assert rules["branch"] == "master"
    assert rules["types"] == ["commit_message_pattern", "deletion", "pull_request"]
    assert rules["rules"] == DOCS["repos/get-branch-rules"]["response"]
    assert "/repos/octokit-fixture-org/hello-world/rules/branches/master?per_page=100" in api.paths()


# -- alerts and pagination ----------------------------------------------------------------------------------------


def alert_pages(kind: str, path: str, severities: list[list[str]]) -> dict[str, tuple[int, Any, dict[str, str]]]:
    """``severities[i]``: the severities of page i+1, served with ``Link`` headers as GitHub paginates."""
    example = DOCS[kind]["alert"]
    routes = {}
    base = f"/repos/octokit-fixture-org/hello-world/{path}"
    for index, page in enumerate(severities, start=1):
        alerts = []
        for number, severity in enumerate(page):
            alert = copy.deepcopy(example)
            alert["number"] = index * 100 + number
            if kind.startswith("dependabot"):
                alert["security_advisory"]["severity"] = alert["security_vulnerability"]["severity"] = severity
            elif kind.startswith("code-scanning"):
                alert["rule"]["security_severity_level"] = severity
            else:
                alert["secret_type"] = severity
            alerts.append(alert)
        headers = {"etag": f'"{path}-{index}"'}
        if index < len(severities):
            headers["link"] = (
                f'<https://api.github.com{base}?state=open&per_page=100&after=c{index}>; rel="next", '
                f'<https://api.github.com{base}?state=open&per_page=100>; rel="first"'
            )
        target = f"{base}?state=open&per_page=100" + (f"&after=c{index - 1}" if index > 1 else "")
        routes[target] = (200, alerts, headers)
    return routes


def test_dependabot_alerts_follow_link_pages_and_count_by_severity():
    routes = alert_pages("dependabot/list-alerts-for-repo", "dependabot/alerts", [["high", "critical"], ["high", "low"], ["medium"]])
    api = GithubApi(routes)
    [outcome] = collect(make({"token": TOKEN, "collects": {"type": "DependabotAlerts"}}, api), [entity()])
    assert outcome.fact.data == {
        "enabled": True,
        "open": 5,
        "bySeverity": {"critical": 1, "high": 2, "medium": 1, "low": 1},
        "truncated": False,
    }
    assert api.paths() == [
        "/repos/octokit-fixture-org/hello-world/dependabot/alerts?state=open&per_page=100",
        "/repos/octokit-fixture-org/hello-world/dependabot/alerts?state=open&per_page=100&after=c1",
        "/repos/octokit-fixture-org/hello-world/dependabot/alerts?state=open&per_page=100&after=c2",
    ]


def test_code_scanning_and_secret_scanning_counts():
    routes = alert_pages("code-scanning/list-alerts-for-repo", "code-scanning/alerts", [["high", "critical"], ["high"]])
    routes.update(alert_pages("secret-scanning/list-alerts-for-repo", "secret-scanning/alerts", [["adafruit_io_key", "github_personal_access_token"]]))
    collector = make({"token": TOKEN, "collects": [{"type": "CodeScanningAlerts"}, {"type": "SecretScanningAlerts"}]}, GithubApi(routes))
    outcomes = {o.fact_ref.name: o.fact.data for o in collect(collector, [entity()])}
    assert outcomes["code_scanning_alerts"] == {
        "enabled": True,
        "open": 3,
        "bySeverity": {"critical": 1, "high": 2, "medium": 0, "low": 0},
        "byRuleSeverity": {"error": 3},
        "truncated": False,
    }
    assert outcomes["secret_scanning_alerts"] == {
        "enabled": True,
        "open": 2,
        "bySecretType": {"adafruit_io_key": 1, "github_personal_access_token": 1},
        "byValidity": {"unknown": 2},
        "truncated": False,
    }


@pytest.mark.parametrize(
    "kind, type_, path",
    [
        ("dependabot/list-alerts-for-repo", "DependabotAlerts", "dependabot/alerts"),
        ("code-scanning/list-alerts-for-repo", "CodeScanningAlerts", "code-scanning/alerts"),
        ("secret-scanning/list-alerts-for-repo", "SecretScanningAlerts", "secret-scanning/alerts"),
    ],
)
def test_alerts_feature_off_is_a_fact_not_an_error(kind, type_, path):
    disabled = DOCS[kind]["disabled"]
    routes = {f"/repos/octokit-fixture-org/hello-world/{path}": (disabled["status"], disabled["response"], {})}
    [outcome] = collect(make({"token": TOKEN, "collects": {"type": type_}}, GithubApi(routes)), [entity()])
    assert outcome.kind is OutcomeKind.COLLECTED
    assert outcome.fact.data == {"enabled": False, "reason": disabled["response"]["message"]}


def test_recorded_issue_pagination_follows_all_five_pages():
    api = GithubApi()
    collector = make({"token": TOKEN, "collects": {"type": "RepositoryDetails"}}, api)
    entry = collector.entries[0]
    creds = resolve_credentials("github.com", entry.block, {})

    async def go():
        try:
            client = collector.gh_client(entry, creds)
            return await collector._all_pages(client, creds, "/repos/octokit-fixture-org/paginate-issues/issues?per_page=3", _json_list, False)
        finally:
            await collector.aclose()

    items, truncated = asyncio.run(go())
    assert len(items) == 13 and truncated is False
    assert [i["number"] for i in items] == [i["number"] for e in ISSUES for i in e["response"]]
    assert len(api.requests) == 5


def test_link_to_another_server_is_not_followed():
    evil = {"/repos/octokit-fixture-org/hello-world/dependabot/alerts": (
        200, [], {"link": '<https://evil.example.com/steal?page=2>; rel="next"'}
    )}
    api = GithubApi(evil)
    [outcome] = collect(make({"token": TOKEN, "collects": {"type": "DependabotAlerts"}}, api), [entity()])
    assert outcome.kind is OutcomeKind.FAILED and "refusing to follow" in outcome.reason
    assert all(r.url.host == "api.github.com" for r in api.requests)


def test_summarize_alerts_ignores_missing_severities():
    data = summarize_alerts("DependabotAlerts", [{"severity": None}, {"severity": "HIGH"}], truncated=True)
    assert data == {"enabled": True, "open": 2, "bySeverity": {"critical": 0, "high": 1, "medium": 0, "low": 0}, "truncated": True}


# -- ETags ---------------------------------------------------------------------------------------------------------


def test_etag_is_sent_and_a_304_reuses_the_stored_data(tmp_path):
    with open_store(str(tmp_path / "store")) as store:
        api = GithubApi()
        first = collect(make({"token": TOKEN, "collects": {"type": "RepositoryDetails"}}, api, store=store), [entity()])
        assert "If-None-Match" not in api.requests[0].headers
        assert any(k.startswith("etag:github:") for k in store.meta_keys("etag:"))

        second_collector = make({"token": TOKEN, "collects": {"type": "RepositoryDetails"}}, api, store=store)
        [second] = collect(second_collector, [entity()])
        assert len(api.requests) == 2  # one conditional request, answered 304, and nothing more
        assert api.requests[1].headers["If-None-Match"] == REPO["headers"]["etag"]
        assert second.kind is OutcomeKind.COLLECTED
        assert second.fact.data == first[0].fact.data == REPO["response"]
        assert second_collector.not_modified == 1

        # --refresh bypasses the ETag.
        collect(make({"token": TOKEN, "collects": {"type": "RepositoryDetails"}}, api, store=store), [entity()],
                refresh=[ref("repository_details")])
        assert "If-None-Match" not in api.requests[2].headers


def test_paginated_alerts_reuse_every_page_on_304(tmp_path):
    routes = alert_pages("dependabot/list-alerts-for-repo", "dependabot/alerts", [["high"], ["low", "low"]])
    api = GithubApi(routes)
    with open_store(str(tmp_path / "store")) as store:
        config = {"token": TOKEN, "collects": {"type": "DependabotAlerts"}}
        [first] = collect(make(config, api, store=store), [entity()])
        again = make(config, api, store=store)
        [second] = collect(again, [entity()])
    assert second.fact.data == first.fact.data and first.fact.data["open"] == 3
    assert again.not_modified == 2
    assert [r.headers.get("If-None-Match") for r in api.requests[2:]] == ['"dependabot/alerts-1"', '"dependabot/alerts-2"']


# -- failures ------------------------------------------------------------------------------------------------------


def test_rejected_token_fails_once_and_never_prints_the_token():
    routes = {"/repos/octokit-fixture-org/hello-world": (401, {"message": "Bad credentials"}, {})}
    api = GithubApi(routes)
    others = [entity("a"), entity("b"), entity("c")]
    collector = make({"token": TOKEN, "concurrency": 1, "collects": {"type": "RepositoryDetails"}}, api)
    outcomes = collect(collector, others)
    assert all(o.kind is OutcomeKind.FAILED for o in outcomes)
    assert all("rejected the token" in o.reason and TOKEN not in o.reason for o in outcomes)
    assert len(api.requests) == 1


def test_rate_limited_403_waits_for_the_reset_and_retries():
    slept: list[float] = []
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(403, json={"message": "API rate limit exceeded"},
                                  headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000010"})
        return httpx.Response(200, json=REPO["response"])

    now = [0.0]

    async def fake_sleep(seconds: float) -> None:  # time passes only when the client sleeps
        slept.append(seconds)
        now[0] += seconds

    context = CollectorContext(extra={"http": HttpOptions(transport=httpx.MockTransport(handler), sleep=fake_sleep,
                                                          clock=lambda: now[0], wall_clock=lambda: 1_700_000_000.0)})
    problems = Problems()
    collector = Registry.discover(problems).create(
        "github", CollectorSettings("github", {"token": TOKEN, "collects": {"type": "RepositoryDetails"}}), problems, context
    )
    [outcome] = collect(collector, [entity()])
    assert outcome.kind is OutcomeKind.COLLECTED and calls["n"] == 2
    assert slept and slept[0] == pytest.approx(11.0)


def test_entity_without_repository_is_not_applicable():
    [outcome] = collect(make({"token": TOKEN, "collects": {"type": "RepositoryDetails"}}), [entity(annotations={})])
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and "github.com/project-slug" in outcome.reason


def test_config_errors_are_located(tmp_path):
    settings = load_settings_from(
        tmp_path, "soundcheck:\n  collectors:\n    github:\n      collects:\n        - type: RepoDetails\n"
    )
    [block] = [c for c in settings.collectors if c.id == "github"]
    problems = Problems()
    assert Registry.discover(problems).create("github", block, problems) is None
    [error] = problems.errors
    assert "RepoDetails" in error.message and error.location.line == 5


# -- issue 17 item 15, through the CLI against the recorded GitHub answers on 127.0.0.1 -----------------------------

def _vendor_route(routes: dict[str, tuple[int, Any, dict[str, str]]]):
    def route(method: str, path: str, query: Any, headers: Any) -> tuple[int, Any]:
        found = routes.get(path)
        if found is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        return found[0], found[1]

    return route


def test_cli_fetches_each_repository_once_per_run(capsys, tmp_path, monkeypatch) -> None:
    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli

    monkeypatch.setenv("MY_GH_TOKEN", TOKEN)
    ents = [
        {"name": "hello", "annotations": {"github.com/project-slug": "octokit-fixture-org/hello-world"}},
        {"name": "bp", "annotations": {"github.com/project-slug": "octokit-fixture-org/branch-protection"}},
        {"name": "plain"},
    ]
    with VendorServer(_vendor_route(default_routes())) as api:
        config = write_workspace(tmp_path, f"""
            github:
              token: ${{MY_GH_TOKEN}}
              apiBaseUrl: {api.url}
              collects:
                - type: RepositoryDetails
                - type: BranchProtections
                - type: BranchRules
        """, ents)
        code = run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 0, err
    paths = api.paths()
    assert paths.count("/repos/octokit-fixture-org/hello-world") == 1
    assert paths.count("/repos/octokit-fixture-org/branch-protection") == 1
    # hello-world: details, protection of master, rules; branch-protection: details, "not protected", no rules
    assert "github: 5 collected, 1 absent, 0 fresh (skipped), 3 not applicable, 0 failed; 6 requests" in err
    assert TOKEN not in err
    # what check reads to say not-applicable rather than "not collected" (collectors/applicability.py)
    from soundcheck_cli.collectors.applicability import not_applicable_entities
    from soundcheck_cli.facts.locate import open_any

    store = open_any(str(tmp_path / "store"))
    try:
        marked = not_applicable_entities(store, FactRef("github", "default", "repository_details"))
    finally:
        store.close()
    assert marked == {"component:default/plain": "no github.com/project-slug or backstage.io/source-location annotation"}


def test_cli_an_entity_that_gains_its_annotation_leaves_the_not_applicable_record(capsys, tmp_path, monkeypatch) -> None:
    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli
    from soundcheck_cli.collectors.applicability import not_applicable_entities
    from soundcheck_cli.facts.locate import open_any

    monkeypatch.setenv("MY_GH_TOKEN", TOKEN)
    ref = FactRef("github", "default", "repository_details")
    with VendorServer(_vendor_route(default_routes())) as api:
        collectors = f"""
            github:
              token: ${{MY_GH_TOKEN}}
              apiBaseUrl: {api.url}
              collects: [{{type: RepositoryDetails}}]
        """
        config = write_workspace(tmp_path, collectors, [{"name": "svc"}])
        assert run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")]) == 0
        store = open_any(str(tmp_path / "store"))
        assert set(not_applicable_entities(store, ref)) == {"component:default/svc"}
        store.close()
        config = write_workspace(tmp_path, collectors, [
            {"name": "svc", "annotations": {"github.com/project-slug": "octokit-fixture-org/hello-world"}}])
        assert run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")]) == 0
    capsys.readouterr()
    store = open_any(str(tmp_path / "store"))
    try:
        assert not_applicable_entities(store, ref) == {}
        assert store.get("component:default/svc", ref).data["full_name"] == "octokit-fixture-org/hello-world"
    finally:
        store.close()


def test_cli_check_reports_not_applicable_for_facts_the_collector_found_not_applicable(capsys, tmp_path, monkeypatch):
    """Issue 17 item 15, check side: an entity without a repository gets 'not-applicable' with the collector's
    reason, not 'not-reported ... (not collected)'; an entity whose fact is simply missing stays not-reported."""
    import json

    from collector_harness import VendorServer, write_workspace
    from soundcheck_cli.cli.commands import run_cli

    monkeypatch.setenv("MY_GH_TOKEN", TOKEN)
    ents = [{"name": "hello", "annotations": {"github.com/project-slug": "octokit-fixture-org/hello-world"}},
            {"name": "plain"}]
    with VendorServer(_vendor_route(default_routes())) as api:
        config = write_workspace(tmp_path, f"""
            github:
              token: ${{MY_GH_TOKEN}}
              apiBaseUrl: {api.url}
              collects: [{{type: RepositoryDetails}}]
        """, ents)
        assert run_cli(["collect", "-c", str(config), "--store", str(tmp_path / "store")]) == 0
    config.write_text(config.read_text() + """  checks:
    - id: has_default_branch
      rule: {factRef: github:default/repository_details, path: $.default_branch, operator: equal, value: master}
""")
    # a third entity the collector never saw: its fact is missing for no known reason
    (tmp_path / "catalog.yaml").write_text((tmp_path / "catalog.yaml").read_text() + "---\n" + json.dumps({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "unseen"},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}) + "\n")
    capsys.readouterr()
    run_cli(["check", "-c", str(config), "--store", str(tmp_path / "store"), "-f", "json", "-q"])
    report = json.loads(capsys.readouterr().out)
    by_entity = {r["entityRef"]: r for r in report["results"]}
    assert by_entity["component:default/hello"]["state"] == "passed"
    plain = by_entity["component:default/plain"]
    assert plain["state"] == "not-applicable"
    assert "github.com/project-slug" in plain["message"] and "not collected" not in plain["message"]
    assert by_entity["component:default/unseen"]["state"] == "not-reported"
