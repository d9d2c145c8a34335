"""The ``azure`` (Azure DevOps) collector through the CLI against an Azure DevOps API on 127.0.0.1 that answers with
the recorded example bodies of Microsoft's REST specs (``fixtures/azure-devops``)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from recorded_server import RecordedServer, recordings
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.collectors.azure import policy_applies
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.facts.model import FactRef

PAT = "azdo-pat-0123456789abcdefghij"
ORG, PROJECT, REPO = "fabrikam", "Fabrikam-Fiber-Git", "AnotherRepository"


def body(name: str, index: int = 0) -> Any:
    return copy.deepcopy(recordings(f"azure-devops/{name}")[index]["response"]["body"])


REPOSITORY = body("repositories.json")  # defaultBranch refs/heads/master
REFS = body("refs.json", 0)["value"]
REFS_WITH_STATUSES = body("refs.json", 1)["value"]
PULL_REQUESTS = body("pull-requests.json", 0)["value"]
POLICIES = body("policy-configurations.json", 0)
WIQL = body("wiql.json", 0)


def azure_route(calls: dict[str, int]):
    base = f"/{ORG}/{PROJECT}/_apis/git/repositories/{REPO}"

    def route(method, path, query, headers, payload):
        if headers.get("Authorization") != "Basic " + base64.b64encode(f":{PAT}".encode()).decode():
            # Azure DevOps answers an unaccepted PAT with 203 and its HTML sign-in page
            return 203, b"<html>Sign In</html>", {"Content-Type": "text/html"}
        if path == base:
            return 200, REPOSITORY, {}
        if path == f"{base}/refs":
            refs = REFS_WITH_STATUSES if query.get("includeStatuses") == "true" else REFS
            chosen = [r for r in refs if r["name"].startswith("refs/" + query.get("filter", ""))]
            if query.get("filter") == "heads/" and "continuationToken" not in query:
                return 200, {"value": chosen[:2], "count": 2}, {"x-ms-continuationtoken": "page-2"}
            if query.get("continuationToken") == "page-2":
                return 200, {"value": chosen[2:], "count": len(chosen[2:])}, {}
            return 200, {"value": chosen, "count": len(chosen)}, {}
        if path == f"{base}/pullRequests":
            top, skip = int(query["$top"]), int(query["$skip"])
            active = [p for p in PULL_REQUESTS if p["status"] == query.get("searchCriteria.status")]
            return 200, {"value": active[skip:skip + top], "count": len(active[skip:skip + top])}, {}
        if path == f"{base}/items":
            # the recorded item metadata; `content` (includeContent=true) has no published example: CONSTRUCTED
            item = dict(body("items.json", 0)["value"][0], path=query["path"])
            if query["path"] == "/README.md":
                if query.get("includeContent") == "true":
                    item["content"] = "# Fabrikam\n"
                return 200, item, {}
            if query["path"] == "/docs":
                return 200, dict(item, isFolder=True, gitObjectType="tree"), {}
            return 404, {"message": f"TF401174: The item '{query['path']}' could not be found in the repository"}, {}
        if path == f"/{ORG}/{PROJECT}/_apis/policy/configurations":
            return 200, POLICIES, {}
        if path == f"/{ORG}/{PROJECT}/_apis/wit/wiql" and method == "POST":
            calls["wiql"] = calls.get("wiql", 0) + 1
            calls["query"] = payload["query"]
            return 200, WIQL, {}
        return 404, {"message": "TF401019: The Git repository with name or identifier does not exist"}, {}

    return route


def workspace(tmp_path, api: RecordedServer, collects: str, pat_var: str = "AZURE_PAT") -> str:
    entity = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
              "metadata": {"name": "svc", "annotations": {
                  "backstage.io/source-location": f"url:{api.url}/{ORG}/{PROJECT}/_git/{REPO}?path=/"}},
              "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}
    (tmp_path / "catalog.yaml").write_text(json.dumps(entity))
    (tmp_path / "app-config.yaml").write_text(
        "catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
        f"integrations:\n  azure:\n    - host: 127.0.0.1:{api.port}\n      apiBaseUrl: {api.url}\n"
        f"      credentials:\n        - organizations: [{ORG}]\n          personalAccessToken: ${{{pat_var}}}\n"
        "soundcheck:\n  collectors:\n    azure:\n      collects:\n" + collects)
    return str(tmp_path / "app-config.yaml")


ALL = """\
        - type: RepositoryDetails
        - type: BranchPolicies
        - {type: BranchPolicies, branch: releases/1.0, factName: release_policies}
        - {type: BranchStatus, branch: feature/replacer}
        - {type: BranchStatus, branch: nope, factName: missing_branch}
        - factName: number_of_branches
        - type: NumberOfActivePullRequests
        - type: NumberOfWorkItems
"""


def fact(tmp_path, name: str) -> Any:
    store = open_any(str(tmp_path / "store"))
    try:
        found = store.get("component:default/svc", FactRef("azure", "default", name))
        return None if found is None else found.data
    finally:
        store.close()


def test_cli_collects_soundchecks_azure_devops_facts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AZURE_PAT", PAT)
    calls: dict[str, int] = {}
    with RecordedServer(azure_route(calls)) as api:
        config = workspace(tmp_path, api, ALL)
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")])
        err = capsys.readouterr().err
        requests = list(api.requests)
    assert code == 0, err
    assert PAT not in err and base64.b64encode(f":{PAT}".encode()).decode() not in err
    assert fact(tmp_path, "repository_details") == REPOSITORY
    master = fact(tmp_path, "branch_policies")
    assert master["branch"] == "refs/heads/master" and [p["id"] for p in master["value"]] == [17, 18] and master["count"] == 2
    assert [p["id"] for p in fact(tmp_path, "release_policies")["value"]] == [17]  # the releases/ prefix rule
    status = fact(tmp_path, "branch_status")
    assert status["name"] == "refs/heads/feature/replacer" and len(status["statuses"]) == 3
    assert fact(tmp_path, "missing_branch") is None
    assert fact(tmp_path, "number_of_branches") == {"count": 3}  # two pages (x-ms-continuationtoken)
    assert fact(tmp_path, "number_of_active_pull_requests") == {
        "count": sum(p["status"] == "active" for p in PULL_REQUESTS)}
    assert fact(tmp_path, "number_of_work_items") == {"count": len(WIQL["workItems"])}
    assert "[System.TeamProject] = @project" in calls["query"]
    # the repository object is fetched once for details, policies and status
    assert sum(p.split("?")[0].endswith(f"/_git/{REPO}") or p.split("?")[0].endswith(f"repositories/{REPO}")
               for _, p, _, _ in requests) == 1
    assert all("api-version=7.1" in p for _, p, _, _ in requests)


def test_cli_an_unaccepted_pat_is_one_request_and_a_clear_failure(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AZURE_PAT", "azdo-pat-wrong-000000000000")
    with RecordedServer(azure_route({})) as api:
        config = workspace(tmp_path, api, ALL)
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")])
        err = capsys.readouterr().err
        assert len(api.requests) == 1
    assert code == 1
    assert "Azure DevOps rejected the credentials for 127.0.0.1" in err and "integrations.azure[0]" in err
    assert "azdo-pat-wrong-000000000000" not in err


def test_policy_scope_matching():
    [required, minimum, build] = POLICIES["value"]
    assert policy_applies(required, "any-repo", "refs/heads/master")
    assert policy_applies(required, "49c1d4d0-be28-4f20-9e0a-4ecfafc39257", "refs/heads/adventureworks")
    assert not policy_applies(required, "another-repo", "refs/heads/adventureworks")
    assert policy_applies(build, "r", "refs/heads/features/x") and not policy_applies(build, "r", "refs/heads/master")
    assert not policy_applies(minimum, "r", "refs/heads/masterpiece")


def test_cli_scm_reads_files_through_azure_devops(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AZURE_PAT", PAT)
    with RecordedServer(azure_route({})) as api:
        config = workspace(tmp_path, api, "        - type: RepositoryDetails\n")
        text = open(config).read() + (
            "    scm:\n      collects:\n"
            "        - {type: exists, data: [{name: readme, path: /README.md}, {name: docs, path: /docs}, {name: no, path: /x}]}\n"
            "        - {type: content, factName: readme, path: /README.md}\n"
            "        - {type: content, factName: folder, path: /docs}\n"
            "        - {type: regex, factName: nope, path: /x, regex: a}\n")
        open(config, "w").write(text)
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")])
        err = capsys.readouterr().err
    assert code == 1  # reading a folder as a file is a failure of that fact
    assert "/docs is a directory" in err
    store = open_any(str(tmp_path / "store"))
    try:
        def get(name):
            found = store.get("component:default/svc", FactRef("scm", "default", name))
            return None if found is None else found.data
        assert get("exists") == {"readme": True, "docs": True, "no": False}
        assert get("readme") == {"content": "# Fabrikam\n", "size": 11, "truncated": False}
        assert get("nope") == {"matches": False}
    finally:
        store.close()


def test_cli_rate_limited_429_waits_for_retry_after(tmp_path, capsys, monkeypatch):
    # the recorded TF400733 body; the recording publishes the header names but no values: Retry-After 1 chosen here
    limited = recordings("azure-devops/errors.json")[0]["response"]["body"]
    inner = azure_route({})
    seen = {"n": 0}

    def route(method, path, query, headers, payload):
        if path.endswith("/pullRequests") and seen["n"] == 0:
            seen["n"] += 1
            return 429, limited, {"Retry-After": "1", "X-RateLimit-Resource": "Core"}
        return inner(method, path, query, headers, payload)

    monkeypatch.setenv("AZURE_PAT", PAT)
    with RecordedServer(route) as api:
        config = workspace(tmp_path, api, "        - type: NumberOfActivePullRequests\n")
        assert run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")]) == 0, capsys.readouterr().err
        assert sum("/pullRequests" in p for p in api.paths()) == 2
    capsys.readouterr()
    assert fact(tmp_path, "number_of_active_pull_requests") == {"count": sum(p["status"] == "active" for p in PULL_REQUESTS)}
