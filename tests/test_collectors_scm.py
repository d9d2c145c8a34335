"""Tests of the ``scm`` collector: its types (exists, regex, json, yaml, content) on a local checkout and through the
GitHub contents API (the octokit recording ``fixtures/github/get-content.json``: the JSON listing and a file read
with the raw media type), path-escape rejection (``..`` and symlinks), the Soundcheck users' config, and the CI
step of README.md end to end through the CLI (``fixtures/scm/ci-step``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.outcomes import OutcomeKind
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.collectors.scm import (
    PathEscape,
    ScmCollector,
    repo_path,
    resolve_local,
)
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.facts.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
CONTENT = json.loads((FIXTURES / "github" / "get-content.json").read_text())
CI_STEP = FIXTURES / "scm" / "ci-step"
TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"

USERS_CONFIG = r"""
soundcheck:
  collectors:
    scm:
      frequency: {cron: '* * * * *'}
      filter: {kind: 'Component'}
      cache: {duration: {hours: 2}}
      collects:
        - factName: readme_and_catalog_info_files_exist_fact
          type: exists
          data:
            - {name: readme_exists, path: /README.md}
            - {name: catalog_info_exists, path: /catalog-info.yaml}
        - factName: python_service_runs_tests
          type: regex
          regex: \s*run:\s*\|*\s*pytest.*$
          path: /.github/workflows/build.yaml
"""


@pytest.fixture(autouse=True)
def _no_env_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_SERVER_URL", "SOUNDCHECK_STORE", "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)


def entity(name: str = "hello", annotations: dict[str, str] | None = None) -> Entity:
    if annotations is None:
        annotations = {"github.com/project-slug": "octokit-fixture-org/hello-world"}
    return Entity.from_data(
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": name, "annotations": annotations}}
    )


def make(config: Any, *, root: Path | None = None, transport: Any = None, store: Any = None,
         app_config: dict[str, Any] | None = None) -> ScmCollector:
    extra: dict[str, Any] = {"http": HttpOptions(transport=transport or httpx.MockTransport(lambda r: httpx.Response(599)))}
    if root is not None:
        extra["scm_root"] = str(root)
    context = CollectorContext(store=store, app_config=app_config or {}, extra=extra)
    problems = Problems()
    collector = Registry.discover(problems).create("scm", CollectorSettings("scm", config), problems, context)
    assert not problems.errors, [str(p) for p in problems.errors]
    assert isinstance(collector, ScmCollector)
    return collector


def collect(collector: ScmCollector, entities: list[Entity], refresh: Any = None) -> dict[str, Any]:
    async def go():
        try:
            return await collector.collect_outcomes(entities, None, refresh)
        finally:
            await collector.aclose()

    return {o.fact_ref.name: o for o in asyncio.run(go())}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / "catalog-info.yaml").write_text("kind: Component\nmetadata:\n  name: hello\n")
    (root / ".github" / "workflows" / "build.yaml").write_text("jobs:\n  test:\n    steps:\n      - run: |\n          pytest -q\n")
    (root / "package.json").write_text(json.dumps({"name": "hello", "engines": {"node": ">=20"}, "scripts": {"test": "jest"}}))
    (root / "docs").mkdir()
    return root


# -- paths -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("/README.md", "README.md"), ("README.md", "README.md"), ("/.github//workflows/./build.yaml", ".github/workflows/build.yaml")],
)
def test_repo_path_normalises(text, expected):
    assert repo_path(text) == expected


@pytest.mark.parametrize("text", ["../secrets", "/a/../../etc/passwd", "..", "docs/.."])
def test_dot_dot_is_rejected(text):
    with pytest.raises(PathEscape):
        repo_path(text)


@pytest.mark.parametrize("text", ["", "/", "a\\..\\b", "a\x00b"])
def test_malformed_paths_are_rejected(text):
    with pytest.raises(ValueError):
        repo_path(text)


def test_dot_dot_in_the_config_is_a_located_error(tmp_path):
    config = tmp_path / "app-config.yaml"
    config.write_text(
        "soundcheck:\n  collectors:\n    scm:\n      collects:\n        - type: content\n          path: /../../etc/passwd\n"
    )
    settings, _ = load_settings([str(config)], environ={})
    [block] = [c for c in settings.collectors if c.id == "scm"]
    problems = Problems()
    context = CollectorContext(app_config=settings.app_config)  # as the runner binds it: located config nodes
    assert Registry.discover(problems).create("scm", block, problems, context) is None
    [error] = problems.errors
    assert "leaves the repository root" in error.message
    assert error.location.path.endswith("app-config.yaml") and error.location.line == 6


def test_symlink_out_of_the_root_is_refused(repo, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (repo / "link.txt").symlink_to(outside)
    (repo / "inside.txt").symlink_to(repo / "catalog-info.yaml")
    with pytest.raises(PathEscape):
        resolve_local(str(repo), "link.txt")
    assert resolve_local(str(repo), "inside.txt") == os.path.realpath(repo / "catalog-info.yaml")
    collector = make(
        {"collects": [{"type": "content", "factName": "out", "path": "/link.txt"},
                      {"type": "content", "factName": "in", "path": "/inside.txt"},
                      {"type": "exists", "factName": "ex", "data": {"name": "x", "path": "/link.txt"}}]},
        root=repo,
    )
    outcomes = collect(collector, [entity()])
    assert outcomes["out"].kind is OutcomeKind.FAILED and "outside the repository root" in outcomes["out"].reason
    assert outcomes["ex"].kind is OutcomeKind.FAILED
    assert "secret" not in str(outcomes["out"])
    assert outcomes["in"].fact.data["content"].startswith("kind: Component")


# -- types on a local checkout --------------------------------------------------------------------------------------


def test_users_config_loads_and_collects_from_a_local_checkout(repo, tmp_path):
    config = tmp_path / "app-config.yaml"
    config.write_text(USERS_CONFIG)
    settings, _ = load_settings([str(config)], environ={})
    [block] = [c for c in settings.collectors if c.id == "scm"]
    collector = make(block.config, root=repo)
    assert collector.fact_names() == [
        "scm:default/readme_and_catalog_info_files_exist_fact",
        "scm:default/python_service_runs_tests",
    ]
    outcomes = collect(collector, [entity()])
    assert outcomes["readme_and_catalog_info_files_exist_fact"].fact.data == {"readme_exists": False, "catalog_info_exists": True}
    assert outcomes["python_service_runs_tests"].fact.data == {"matches": True}
    # Local files are read again on every run (no frequency, no cache); GitHub reads keep the configured ones.
    assert all(c.frequency is None and c.cache is None for c in collector.collection_configs())
    assert make(block.config).collection_configs()[0].frequency == {"cron": "* * * * *"}


def test_regex_does_not_match_other_text_or_a_missing_file(repo):
    (repo / ".github" / "workflows" / "lint.yaml").write_text("jobs:\n  lint:\n    steps:\n      - run: ruff check\n")
    collector = make(
        {"collects": [
            {"type": "regex", "factName": "lint", "regex": r"\s*run:\s*\|*\s*pytest.*$", "path": "/.github/workflows/lint.yaml"},
            {"type": "regex", "factName": "missing", "regex": "pytest", "path": "/nope.yaml"},
        ]},
        root=repo,
    )
    outcomes = collect(collector, [entity()])
    assert outcomes["lint"].fact.data == {"matches": False}
    assert outcomes["missing"].fact.data == {"matches": False}


def test_json_yaml_and_jsonpath(repo):
    (repo / "multi.yaml").write_text("a: 1\n---\nb: 2\n")
    (repo / "broken.json").write_text("{not json")
    collector = make(
        {"collects": [
            {"type": "json", "factName": "pkg", "path": "/package.json"},
            {"type": "json", "factName": "node", "path": "/package.json", "jsonpath": "$.engines.node"},
            {"type": "json", "factName": "nothing", "path": "/package.json", "jsonpath": "$.missing"},
            {"type": "yaml", "factName": "kind", "path": "/catalog-info.yaml", "jsonpath": "$.metadata.name"},
            {"type": "yaml", "factName": "multi", "path": "/multi.yaml"},
            {"type": "json", "factName": "broken", "path": "/broken.json"},
            {"type": "yaml", "factName": "absent", "path": "/absent.yaml"},
            {"type": "json", "factName": "dir", "path": "/docs"},
        ]},
        root=repo,
    )
    outcomes = collect(collector, [entity()])
    assert outcomes["pkg"].fact.data["scripts"] == {"test": "jest"}
    assert outcomes["node"].fact.data == ">=20"
    assert outcomes["nothing"].kind is OutcomeKind.COLLECTED and outcomes["nothing"].fact.data is None
    assert outcomes["kind"].fact.data == "hello"
    assert outcomes["multi"].fact.data == [{"a": 1}, {"b": 2}]
    assert outcomes["broken"].kind is OutcomeKind.FAILED and "not valid JSON" in outcomes["broken"].reason
    assert outcomes["absent"].kind is OutcomeKind.ABSENT and "/absent.yaml does not exist" in outcomes["absent"].reason
    assert outcomes["dir"].kind is OutcomeKind.FAILED and "is a directory" in outcomes["dir"].reason


def test_yaml_alias_bomb_is_refused(repo, monkeypatch):
    monkeypatch.setattr("soundcheck_cli.collectors.scm.MAX_NODES", 10_000)  # the same refusal, sooner
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for index in range(1, 8):
        lines.append(f"{chr(97 + index)}: &{chr(97 + index)} [" + ", ".join([f"*{chr(96 + index)}"] * 10) + "]")
    (repo / "bomb.yaml").write_text("\n".join(lines) + "\n")
    outcomes = collect(make({"collects": {"type": "yaml", "factName": "bomb", "path": "/bomb.yaml"}}, root=repo), [entity()])
    assert outcomes["bomb"].kind is OutcomeKind.FAILED and "more than" in outcomes["bomb"].reason


def test_content_is_size_capped(repo):
    (repo / "big.txt").write_text("x" * 5000)
    collector = make(
        {"collects": [{"type": "content", "factName": "big", "path": "/big.txt", "maxSize": 100},
                      {"type": "content", "factName": "small", "path": "/catalog-info.yaml"}]},
        root=repo,
    )
    outcomes = collect(collector, [entity()])
    assert outcomes["big"].fact.data == {"content": "x" * 100, "size": 5000, "truncated": True}
    small = outcomes["small"].fact.data
    assert small["truncated"] is False and small["content"] == (repo / "catalog-info.yaml").read_text()


def test_exists_with_a_single_object_collects_and_data(repo):
    collector = make({"collects": {"type": "exists", "data": {"name": "has_docs", "path": "/docs"}}}, root=repo)
    assert collector.fact_names() == ["scm:default/exists"]
    assert collect(collector, [entity()])["exists"].fact.data == {"has_docs": True}


def test_block_root_is_relative_to_its_config_file(repo, tmp_path):
    config = tmp_path / "app-config.yaml"
    config.write_text("soundcheck:\n  collectors:\n    scm:\n      root: repo\n      collects:\n        - type: exists\n"
                      "          data: [{name: ci, path: /.github/workflows/build.yaml}]\n")
    settings, _ = load_settings([str(config)], environ={})
    [block] = [c for c in settings.collectors if c.id == "scm"]
    context = CollectorContext(app_config=settings.app_config)
    problems = Problems()
    collector = Registry.discover(problems).create("scm", block, problems, context)
    assert collector.local_root(collector.blocks()[0]) == str(repo)
    assert collect(collector, [entity(annotations={})])["exists"].fact.data == {"ci": True}


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"type": "regex", "path": "/a", "regex": "("}, "invalid regular expression"),
        ({"type": "regex", "path": "/a"}, "needs regex"),
        ({"type": "json"}, "needs a path"),
        ({"type": "exists"}, "needs data"),
        ({"type": "exists", "data": [{"name": "a", "path": "/a"}, {"name": "a", "path": "/b"}]}, "used twice"),
        ({"type": "content", "path": "/a", "jsonpath": "$.x"}, "jsonpath applies to json and yaml"),
        ({"type": "json", "path": "/a", "jsonpath": "$[?("}, "jsonpath"),
        ({"type": "glob", "path": "/a"}, "type"),
    ],
)
def test_invalid_entries_are_config_errors(entry, message):
    problems = Problems()
    assert Registry.discover(problems).create("scm", CollectorSettings("scm", {"collects": entry}), problems) is None
    assert any(message in p.message for p in problems.errors), [p.message for p in problems.errors]


# -- GitHub contents API --------------------------------------------------------------------------------------------


class ContentsApi:
    """The recorded contents API: ``GET .../contents/`` (JSON listing) and ``GET .../contents/README.md`` with the raw
    media type (text body); other paths 404; ``If-None-Match`` answered with 304."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        listing, readme = CONTENT
        path = request.url.path
        etag = readme["headers"]["etag"]
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"etag": etag})
        if path == readme["path"]:
            if "raw" in request.headers["accept"]:
                return httpx.Response(200, text=readme["response"], headers={"content-type": readme["headers"]["content-type"], "etag": etag})
            return httpx.Response(200, json=listing["response"][0], headers={"etag": etag})
        if path == listing["path"] + "docs":
            return httpx.Response(200, json=listing["response"], headers={"content-type": "application/json; charset=utf-8"})
        return httpx.Response(404, json={"message": "Not Found"})


def test_github_contents_exists_regex_and_content(tmp_path):
    api = ContentsApi()
    collector = make(
        {"token": TOKEN, "collects": [
            {"type": "exists", "factName": "files", "data": [{"name": "readme", "path": "/README.md"}, {"name": "ci", "path": "/.github/ci.yaml"}]},
            {"type": "regex", "factName": "title", "regex": "^# hello", "path": "/README.md"},
            {"type": "content", "factName": "readme", "path": "README.md"},
            {"type": "content", "factName": "docs", "path": "/docs"},
        ]},
        transport=httpx.MockTransport(api),
    )
    outcomes = collect(collector, [entity()])
    assert outcomes["files"].fact.data == {"readme": True, "ci": False}
    assert outcomes["title"].fact.data == {"matches": True}
    assert outcomes["readme"].fact.data == {"content": "# hello-world", "size": 13, "truncated": False}
    assert outcomes["docs"].kind is OutcomeKind.FAILED and "is a directory" in outcomes["docs"].reason
    by_accept = {(r.url.path, r.headers["accept"]) for r in api.requests}
    assert ("/repos/octokit-fixture-org/hello-world/contents/README.md", "application/vnd.github.raw") in by_accept
    assert ("/repos/octokit-fixture-org/hello-world/contents/README.md", "application/vnd.github+json") in by_accept
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    assert all(r.url.host == "api.github.com" for r in api.requests)


def test_github_contents_ref_from_source_location_and_etag(tmp_path):
    api = ContentsApi()
    located = entity("x", {"backstage.io/source-location": "url:https://github.com/octokit-fixture-org/hello-world/tree/release/1.0/"})
    config = {"token": TOKEN, "collects": {"type": "content", "factName": "readme", "path": "/README.md"}}
    with open_store(str(tmp_path / "store")) as store:
        first = collect(make(config, transport=httpx.MockTransport(api), store=store), [located])
        again = make(config, transport=httpx.MockTransport(api), store=store)
        second = collect(again, [located])
    assert api.requests[0].url.raw_path.decode() == "/repos/octokit-fixture-org/hello-world/contents/README.md?ref=release"
    assert second["readme"].fact.data == first["readme"].fact.data and again.not_modified == 1
    assert api.requests[1].headers["if-none-match"] == CONTENT[1]["headers"]["etag"] and len(api.requests) == 2


def test_without_root_or_token_the_collector_is_skipped_and_entities_need_a_repository():
    collector = make({"collects": {"type": "exists", "data": {"name": "r", "path": "/README.md"}}})
    assert "--scm-root" in collector.disabled_reason()
    with_token = make({"token": TOKEN, "collects": {"type": "exists", "data": {"name": "r", "path": "/README.md"}}})
    assert with_token.disabled_reason() is None
    [outcome] = collect(with_token, [entity(annotations={})]).values()
    assert outcome.kind is OutcomeKind.NOT_APPLICABLE and "--scm-root" in outcome.reason


# -- the CI step, end to end ----------------------------------------------------------------------------------------


def test_ci_step_missing_readme_fails_with_a_clear_table_then_passes(tmp_path, monkeypatch, capsys):
    checkout = tmp_path / "payments-api"
    shutil.copytree(CI_STEP, checkout)
    monkeypatch.chdir(checkout)
    code = run_cli(["run", "--scm-root", ".", "--track", "repo_basics"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Repository basics" in out
    assert "has_readme" in out and "failed" in out
    assert "Add a README.md to the root of payments-api." in out
    assert "runs_tests" not in out  # it passed: only checks that did not pass are listed
    assert "scm: 2 collected" in err and "Traceback" not in err

    (checkout / "README.md").write_text("# payments-api\n")
    code = run_cli(["run", "--scm-root", ".", "--track", "repo_basics", "-f", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    states = {(r["checkId"], r["state"]) for r in json.loads(out)["results"]}
    assert states == {("has_readme", "passed"), ("has_catalog_info", "passed"), ("runs_tests", "passed")}


def test_scm_root_must_be_a_directory(tmp_path, monkeypatch, capsys):
    checkout = tmp_path / "svc"
    shutil.copytree(CI_STEP, checkout)
    monkeypatch.chdir(checkout)
    code = run_cli(["collect", "--scm-root", "nowhere"])
    _, err = capsys.readouterr()
    assert code == 2 and "--scm-root nowhere: not a directory" in err


def test_fact_refs_match_users_check_refs():
    collector = make({"collects": {"type": "exists", "factName": "readme_and_catalog_info_files_exist_fact",
                                   "data": {"name": "readme_exists", "path": "/README.md"}}})
    assert collector.collection_configs()[0].fact_refs == (FactRef("scm", "default", "readme_and_catalog_info_files_exist_fact"),)
