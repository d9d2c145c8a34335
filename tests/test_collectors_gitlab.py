"""The ``gitlab`` collector and the shared ``integrations`` host resolution.

The API is ``gitlab_server.GitlabServer`` on 127.0.0.1, answering with the recorded GitLab bodies and headers
(``fixtures/gitlab``): a self-hosted GitLab at ``127.0.0.1:<port>`` configured as Backstage's
``integrations.gitlab[].host`` / ``apiBaseUrl``. User-facing behaviour goes through ``run_cli``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitlab_server import LANGUAGES, PROJECT, PROTECTED, PROTECTED_MAIN, RATE_LIMITED, GitlabServer, encoded
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.collectors.integrations import (
    AZURE,
    BITBUCKET_CLOUD,
    BITBUCKET_SERVER,
    GITLAB,
    Repo,
    integration_for,
    locate,
    read_integrations,
)
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.facts.model import FactRef

TOKEN = "glpat-Zz9yX8wV7uT6sR5qP4oN"


def entity(name: str, annotations: dict[str, str]) -> Entity:
    return Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                             "metadata": {"name": name, "annotations": annotations},
                             "spec": {"type": "service", "owner": "team-a", "lifecycle": "production"}})


# -- integrations: Backstage's config and the repository of an entity ---------------------------------------------

CONFIG: dict[str, Any] = {"integrations": {
    "gitlab": [{"host": "GitLab.Example.com:8443", "token": TOKEN}, {"host": "gitlab.com", "token": "glpat-other-token-0001"}],
    "azure": [{"host": "dev.azure.com", "credentials": [
        {"organizations": ["org-a"], "personalAccessToken": "pat-for-org-a-000001"},
        {"personalAccessToken": "pat-for-the-rest-0001"}]}],
    "bitbucketCloud": [{"username": "bob", "appPassword": "app-password-000001"}],
    "bitbucketServer": [{"host": "bitbucket.example.com", "token": "bbs-token-0000000001"}],
}}


def test_integrations_read_as_backstage_defaults_them_and_never_show_a_secret():
    gitlab = read_integrations(CONFIG, GITLAB)
    assert [(i.host, i.api_base_url) for i in gitlab] == [
        ("gitlab.example.com:8443", "https://gitlab.example.com:8443/api/v4"), ("gitlab.com", "https://gitlab.com/api/v4")]
    assert gitlab[0].auth_headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in repr(gitlab[0]) and gitlab[0].source == "integrations.gitlab[0]"
    [azure] = read_integrations(CONFIG, AZURE)
    assert azure.api_base_url == "https://dev.azure.com"
    import base64
    assert azure.auth_headers("ORG-A") == {"Authorization": "Basic " + base64.b64encode(b":pat-for-org-a-000001").decode()}
    assert azure.auth_headers("org-b") == {"Authorization": "Basic " + base64.b64encode(b":pat-for-the-rest-0001").decode()}
    [cloud] = read_integrations(CONFIG, BITBUCKET_CLOUD)
    assert (cloud.host, cloud.api_base_url) == ("bitbucket.org", "https://api.bitbucket.org/2.0")
    assert cloud.auth_headers() == {"Authorization": "Basic " + base64.b64encode(b"bob:app-password-000001").decode()}
    [server] = read_integrations(CONFIG, BITBUCKET_SERVER)
    assert server.api_base_url == "https://bitbucket.example.com/rest/api/1.0"
    assert server.auth_headers() == {"Authorization": "Bearer bbs-token-0000000001"}
    assert all(s not in repr(i) for i in (azure, cloud, server) for s in i.secrets())
    assert integration_for(CONFIG, GITLAB, "gitlab.example.com:8443") is gitlab[0] or \
        integration_for(CONFIG, GITLAB, "gitlab.example.com:8443") == gitlab[0]
    assert integration_for(CONFIG, GITLAB, "gitlab.example.com") is None  # another port is another host


@pytest.mark.parametrize("annotations, expected", [
    ({"backstage.io/source-location": "url:https://gitlab.example.com:8443/grp/sub/svc/-/tree/release/"},
     Repo(GITLAB, "gitlab.example.com:8443", "grp/sub/svc", ref="release")),
    ({"backstage.io/source-location": "url:https://gitlab.com/grp/svc/tree/main/docs"},
     Repo(GITLAB, "gitlab.com", "grp/svc", ref="main")),
    ({"gitlab.com/project-slug": "grp/sub/svc",
      "backstage.io/source-location": "url:https://gitlab.example.com:8443/grp/sub/svc/-/blob/dev/README.md"},
     Repo(GITLAB, "gitlab.example.com:8443", "grp/sub/svc", ref="dev")),
    ({"gitlab.com/project-id": "42", "gitlab.com/instance": "gitlab.example.com:8443"},
     Repo(GITLAB, "gitlab.example.com:8443", "42")),
    ({"backstage.io/source-location": "url:https://dev.azure.com/org-a/Proj/_git/svc?path=/&version=GBdev"},
     Repo(AZURE, "dev.azure.com", "Proj", "svc", "org-a", "dev")),
    ({"dev.azure.com/project-repo": "Proj/svc", "dev.azure.com/host-org": "dev.azure.com/org-a"},
     Repo(AZURE, "dev.azure.com", "Proj", "svc", "org-a")),
    ({"backstage.io/source-location": "url:https://bitbucket.org/ws/svc/src/main/"},
     Repo(BITBUCKET_CLOUD, "bitbucket.org", "ws", "svc", ref="main")),
    ({"backstage.io/source-location": "url:https://bitbucket.example.com/projects/PRJ/repos/svc/browse?at=refs/heads/dev"},
     Repo(BITBUCKET_SERVER, "bitbucket.example.com", "PRJ", "svc", ref="dev")),
    # a host nobody configured never receives a token; nor does a GitHub URL
    ({"backstage.io/source-location": "url:https://gitlab.evil.example/grp/svc/-/tree/main/"}, None),
    ({"backstage.io/source-location": "url:https://github.com/org/svc/tree/main/"}, None),
    ({"backstage.io/source-location": "url:https://gitlab.com/only-one-segment"}, None),
])
def test_locate_the_repository_of_an_entity(annotations, expected):
    assert locate(entity("svc", annotations), CONFIG) == expected


# -- the gitlab collector through the CLI, against a self-hosted GitLab on 127.0.0.1 --------------------------------

PROJECTS = [
    {"path": "platform/backend/payments", "id": 3},
    {"path": "platform/web", "id": 5, "details": {"visibility": "public"}, "protected": PROTECTED + [
        {"id": 100 + n, "name": f"release/{n}", "push_access_levels": [], "merge_access_levels": [],
         "allow_force_push": False} for n in range(3)]},
    {"path": "old-group/renamed", "id": 81, "moved_to": "new-group/renamed"},
    {"path": "new-group/renamed", "id": 82},
]
ENTITIES = [
    {"name": "payments", "annotations": {"gitlab.com/project-slug": "platform/backend/payments"}},
    {"name": "web", "annotations": {}},  # source-location filled in with the server's port below
    {"name": "by-id", "annotations": {"gitlab.com/project-id": "3"}},
    {"name": "moved", "annotations": {"gitlab.com/project-slug": "old-group/renamed"}},
    {"name": "gone", "annotations": {"gitlab.com/project-slug": "platform/deleted"}},
    {"name": "elsewhere", "annotations": {"backstage.io/source-location": "url:https://github.com/org/svc"}},
]


def workspace(tmp_path, api: GitlabServer, collects: str, checks: str = "", entities=None) -> str:
    ents = json.loads(json.dumps(entities or ENTITIES))
    for e in ents:
        if e["name"] == "web":
            e["annotations"]["backstage.io/source-location"] = f"url:{api.url}/platform/web/-/tree/main/"
    docs = [{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
             "metadata": {"name": e["name"], "annotations": e["annotations"]},
             "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}} for e in ents]
    (tmp_path / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs))
    (tmp_path / "app-config.yaml").write_text(
        "catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
        "integrations:\n  gitlab:\n"
        f"    - host: 127.0.0.1:{api.port}\n      apiBaseUrl: {api.url}/api/v4\n      token: ${{GITLAB_TOKEN}}\n"
        "soundcheck:\n  collectors:\n    gitlab:\n      cache: {duration: {hours: 2}}\n      collects:\n" + collects + checks)
    return str(tmp_path / "app-config.yaml")


ALL_TYPES = "        - type: ProjectDetails\n        - type: ProjectLanguages\n        - factName: branch_protections\n"


def collect(config: str, tmp_path, *extra: str) -> int:
    return run_cli(["collect", "-c", config, "--store", str(tmp_path / "store"), *extra])


def stored(tmp_path, entity_ref: str, name: str) -> Any:
    store = open_any(str(tmp_path / "store"))
    try:
        fact = store.get(entity_ref, FactRef("gitlab", "default", name))
        return None if fact is None else fact.data
    finally:
        store.close()


def test_cli_collects_gitlabs_answers_from_a_self_hosted_instance_and_a_warm_run_sends_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with GitlabServer(PROJECTS, token=TOKEN, per_page_cap=2) as api:
        checks = (
            "  checks:\n    - id: private_projects\n      rule: {factRef: 'gitlab:default/project_details', "
            "path: $.visibility, operator: equal, value: private}\n"
        )
        config = workspace(tmp_path, api, ALL_TYPES, checks)
        code = collect(config, tmp_path, "-v")
        out = capsys.readouterr()
        assert code == 0, out.err  # absent (a deleted project) and not applicable are not failures
        text = out.out + out.err
        assert TOKEN not in text
        # the project's full path is one URL-encoded segment; the numeric id is used as is
        paths = api.paths()
        assert f"/api/v4/projects/{encoded('platform/backend/payments')}" in paths
        assert "/api/v4/projects/3" in paths and "/api/v4/projects/3/languages" in paths
        assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in api.requests)
        # GitLab's answers, unchanged
        details = stored(tmp_path, "component:default/payments", "project_details")
        assert details == {**PROJECT, "id": 3, "path_with_namespace": "platform/backend/payments"}
        assert stored(tmp_path, "component:default/by-id", "project_languages") == LANGUAGES
        # five protected branches in pages of two: Link rel="next" followed to the end
        rules = stored(tmp_path, "component:default/web", "branch_protections")
        assert [r["name"] for r in rules] == ["main", "release/*", "release/0", "release/1", "release/2"]
        assert sum(p.startswith("/api/v4/projects/platform%2Fweb/protected_branches") for p in paths) == 3
        # the moved project: the 301 was followed to /projects/82 and reported
        assert stored(tmp_path, "component:default/moved", "project_details")["id"] == 82
        assert "old-group/renamed has moved" in text
        # the deleted project is absent with GitLab's message; the GitHub-hosted entity is not applicable
        assert "HTTP 404 Project Not Found" in text
        assert stored(tmp_path, "component:default/gone", "project_details") is None
        assert "elsewhere" not in json.dumps(stored(tmp_path, "component:default/elsewhere", "project_details"))

        before = len(api.requests)
        assert collect(config, tmp_path) in (0, 1)
        assert len(api.requests) == before  # warm run: every fact is fresh, no request
        capsys.readouterr()
        code = run_cli(["check", "-c", config, "--store", str(tmp_path / "store"), "--format", "json"])
        report = json.loads(capsys.readouterr().out)
        states = {r["entityRef"]: r["state"] for r in report["results"]}
        assert code == 1  # platform/web is public
        assert states["component:default/payments"] == "passed" and states["component:default/web"] == "failed"


def test_cli_rejected_token_fails_once_per_host_and_is_never_printed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong-token-00000")
    with GitlabServer(PROJECTS, token=TOKEN) as api:
        config = workspace(tmp_path, api, ALL_TYPES, entities=ENTITIES[:3])
        code = collect(config, tmp_path)
        err = capsys.readouterr().err
    assert code == 1
    assert "GitLab rejected the credentials for 127.0.0.1" in err and "integrations.gitlab[0]" in err
    assert "glpat-wrong-token-00000" not in err
    assert len(api.requests) == 1  # the first request goes alone; after its 401 nothing more is sent


def test_cli_forbidden_scope_and_rate_limit(tmp_path, capsys, monkeypatch):
    from gitlab_server import FORBIDDEN_SCOPE

    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with GitlabServer(PROJECTS[:2], token=TOKEN) as api:
        # the recorded 429 (its Retry-After shortened from 30 s to 1 s so the test does not wait 30 s)
        api.fail["/api/v4/projects/3/languages"] = [(429, RATE_LIMITED["body"], {**RATE_LIMITED["headers"], "Retry-After": "1"})]
        api.fail["/api/v4/projects/5/languages"] = [(403, FORBIDDEN_SCOPE, {})]
        ents = [{"name": "a", "annotations": {"gitlab.com/project-id": "3"}},
                {"name": "b", "annotations": {"gitlab.com/project-id": "5"}}]
        config = workspace(tmp_path, api, "        - type: ProjectLanguages\n", entities=ents)
        code = collect(config, tmp_path)
        err = capsys.readouterr().err
    assert code == 1
    assert stored(tmp_path, "component:default/a", "project_languages") == LANGUAGES  # retried after Retry-After
    assert api.paths().count("/api/v4/projects/3/languages") == 2
    assert "insufficient_scope: The request requires higher privileges" in err and "HTTP 403" in err


def test_cli_ratelimit_remaining_zero_waits_for_the_reset_before_the_next_request(tmp_path, capsys, monkeypatch):
    import time

    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with GitlabServer(PROJECTS[:2], token=TOKEN) as api:
        api.after_headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(time.time()))}
        ents = [{"name": "a", "annotations": {"gitlab.com/project-id": "3"}}]
        config = workspace(tmp_path, api, "        - type: ProjectDetails\n        - type: ProjectLanguages\n",
                           entities=ents)
        started = time.monotonic()
        code = collect(config, tmp_path, "-v")
        elapsed = time.monotonic() - started
        err = capsys.readouterr().err
    assert code == 0, err
    assert "rate limit reached" in err
    assert elapsed >= 0.9  # the second request waited for the reset second to pass


def test_branch_option_reads_one_rule_and_an_unprotected_branch_is_absent(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with GitlabServer(PROJECTS[:2], token=TOKEN) as api:
        ents = [{"name": "a", "annotations": {"gitlab.com/project-id": "5"}}]
        config = workspace(tmp_path, api, "        - {type: BranchProtections, branch: main, factName: main_rule}\n"
                                          "        - {type: BranchProtections, branch: feature/x, factName: x_rule}\n",
                           entities=ents)
        assert collect(config, tmp_path) == 0  # an unprotected branch is absent, not a failure
        err = capsys.readouterr().err
    assert stored(tmp_path, "component:default/a", "main_rule") == PROTECTED_MAIN
    assert "/api/v4/projects/5/protected_branches/feature%2Fx" in api.paths()
    assert "branch 'feature/x' of 127.0.0.1" in err and "is not protected" in err


def test_config_errors_and_the_fact_schema(tmp_path, capsys):
    config = tmp_path / "app-config.yaml"
    (tmp_path / "catalog.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n")
    config.write_text("soundcheck:\n  collectors:\n    gitlab:\n      collects:\n        - {type: ProjectDetails, branch: x}\n"
                      "        - {factName: mystery}\ncatalog: {locations: [{type: file, target: ./catalog.yaml}]}\n")
    code = run_cli(["validate", "-c", str(config)])
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert code == 2
    assert "branch applies to BranchProtections only" in err and "app-config.yaml:" in err
    assert "needs a type" in err
    config.write_text("soundcheck:\n  collectors:\n    gitlab:\n      collects: [{type: ProjectLanguages}]\n")
    assert run_cli(["facts", "schema", "gitlab:default/project_languages", "-c", str(config)]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] == {"type": "number"}


# -- the scm collector reading files through the GitLab API ------------------------------------------------------

SCM_COLLECTS = """\
    scm:
      collects:
        - type: exists
          factName: files_exist
          data:
            - {name: readme, path: /README.md}
            - {name: workflows, path: /.gitlab}
            - {name: missing, path: /nope.txt}
        - {type: regex, factName: runs_pytest, path: /.gitlab-ci.yml, regex: '^\\s*script:\\s*pytest'}
        - {type: regex, factName: absent_regex, path: /nope.yml, regex: x}
        - {type: yaml, factName: ci_stages, path: /.gitlab-ci.yml, jsonpath: $.stages}
        - {type: json, factName: package, path: /package.json}
        - {type: json, factName: no_package, path: /nope.json}
        - {type: content, factName: readme_text, path: /README.md}
"""

SCM_FILES = {
    "README.md": "# Payments\n",
    ".gitlab/ci/build.yml": "build: {}\n",
    ".gitlab-ci.yml": "stages: [test, deploy]\ntest:\n  script: pytest -q\n",
    "package.json": '{"name": "payments", "version": "1.2.3"}',
}


def scm_workspace(tmp_path, api: GitlabServer, local_root=None) -> str:
    config = workspace(tmp_path, api, "        - type: ProjectDetails\n",
                       entities=[{"name": "svc", "annotations": {
                           "backstage.io/source-location": f"url:{api.url}/platform/backend/payments/-/tree/main/"}}])
    text = open(config).read().replace("    gitlab:\n      cache: {duration: {hours: 2}}\n      collects:\n        - type: ProjectDetails\n",
                                       SCM_COLLECTS)
    open(config, "w").write(text)
    return config


def scm_facts(tmp_path) -> dict[str, Any]:
    store = open_any(str(tmp_path / "store"))
    try:
        out = {}
        for name in ("files_exist", "runs_pytest", "absent_regex", "ci_stages", "package", "no_package", "readme_text"):
            fact = store.get("component:default/svc", FactRef("scm", "default", name))
            out[name] = None if fact is None else fact.data
        return out
    finally:
        store.close()


def test_scm_reads_files_through_the_gitlab_api_with_the_same_fact_data_as_a_local_checkout(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    projects = [{"path": "platform/backend/payments", "id": 3, "files": SCM_FILES}]
    (tmp_path / "api").mkdir()
    with GitlabServer(projects, token=TOKEN) as api:
        config = scm_workspace(tmp_path / "api", api)
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "api" / "store")])
        err = capsys.readouterr().err
        paths = api.paths() + api.paths("HEAD")
    assert code == 0, err
    assert TOKEN not in err
    through_api = scm_facts(tmp_path / "api")
    assert through_api["files_exist"] == {"readme": True, "workflows": True, "missing": False}
    assert through_api["runs_pytest"] == {"matches": True} and through_api["absent_regex"] == {"matches": False}
    assert through_api["ci_stages"] == ["test", "deploy"]
    assert through_api["package"] == {"name": "payments", "version": "1.2.3"}
    assert through_api["no_package"] is None  # a missing file is absent, not an error
    assert through_api["readme_text"] == {"content": "# Payments\n", "size": 11, "truncated": False}
    # files are read at the ref of the source-location, their path one encoded segment
    assert "/api/v4/projects/platform%2Fbackend%2Fpayments/repository/files/.gitlab-ci.yml/raw?ref=main" in paths
    assert "/api/v4/projects/platform%2Fbackend%2Fpayments/repository/files/nope.json/raw?ref=main" in paths

    # the same files in a local checkout give the same facts
    checkout = tmp_path / "checkout"
    for name, text in SCM_FILES.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text)
    (tmp_path / "local").mkdir()
    with GitlabServer(projects, token=TOKEN) as api:
        config = scm_workspace(tmp_path / "local", api)
        assert run_cli(["collect", "-c", config, "--store", str(tmp_path / "local" / "store"), "--scm-root", str(checkout)]) == 0
        assert api.requests == []
    capsys.readouterr()
    assert scm_facts(tmp_path / "local") == through_api


def test_scm_without_a_ref_reads_gitlabs_default_branch_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    projects = [{"path": "platform/backend/payments", "id": 3, "files": SCM_FILES, "ref": "trunk",
                 "details": {"default_branch": "trunk"}}]
    with GitlabServer(projects, token=TOKEN) as api:
        config = scm_workspace(tmp_path, api)
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(catalog.read_text().replace("/-/tree/main/", ""))
        assert run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")]) == 0, capsys.readouterr().err
        assert api.paths().count("/api/v4/projects/platform%2Fbackend%2Fpayments") == 1
    capsys.readouterr()
    assert scm_facts(tmp_path)["ci_stages"] == ["test", "deploy"]


def test_pages_followed_by_x_next_page_when_there_is_no_link_header(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with GitlabServer(PROJECTS[:2], token=TOKEN, per_page_cap=2, link_pages=False) as api:
        ents = [{"name": "web", "annotations": {"gitlab.com/project-id": "5"}}]
        config = workspace(tmp_path, api, "        - type: BranchProtections\n", entities=ents)
        assert collect(config, tmp_path) == 0, capsys.readouterr().err
        paths = api.paths()
    capsys.readouterr()
    assert [r["name"] for r in stored(tmp_path, "component:default/web", "branch_protections")] == [
        "main", "release/*", "release/0", "release/1", "release/2"]
    assert paths == ["/api/v4/projects/5/protected_branches?per_page=100",
                     "/api/v4/projects/5/protected_branches?per_page=100&page=2",
                     "/api/v4/projects/5/protected_branches?per_page=100&page=3"]
