"""Bitbucket Cloud and Bitbucket Server / Data Center: the ``bitbucket`` collector's repository details and the
``scm`` collector's file reads, through the CLI against APIs on 127.0.0.1.

Bitbucket Cloud's ``src`` answers are the examples of Atlassian's OpenAPI (``fixtures/bitbucket/cloud-src.json``:
file meta data, a directory listing). Atlassian publishes no example of a repository object (Cloud or Server) nor
any Server response, so those bodies are CONSTRUCTED here from the documented schemas (fields named in the schema,
values made up); only status codes and paths are relied on for Server.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from recorded_server import RecordedServer, recordings
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.facts.model import FactRef

APP_PASSWORD = "bb-app-password-0123456789"
SERVER_TOKEN = "bbs-http-token-0123456789abc"
META, LISTING = (r["response"]["body"] for r in recordings("bitbucket/cloud-src.json"))
CLOUD_REPO = {"type": "repository", "full_name": "atlassian/bbql", "name": "bbql", "slug": "bbql", "is_private": False,
              "mainbranch": {"type": "branch", "name": "main"}}  # CONSTRUCTED from the `repository` schema
SERVER_REPO = {"slug": "svc", "name": "svc", "project": {"key": "PRJ"}, "public": False, "state": "AVAILABLE"}  # CONSTRUCTED
FILES = {"README.md": b"# bbql\n", "catalog-info.yaml": b"kind: Component\nmetadata: {name: svc}\n"}


def cloud_route(method, path, query, headers, payload):
    if headers.get("Authorization") != "Basic " + base64.b64encode(f"bob:{APP_PASSWORD}".encode()).decode():
        return 401, {"type": "error", "error": {"message": "Access denied"}}, {}
    prefix = "/2.0/repositories/atlassian/bbql"
    if path == prefix:
        return 200, CLOUD_REPO, {}
    if path.startswith(f"{prefix}/src/main/"):
        file_path = path[len(f"{prefix}/src/main/"):]
        if file_path == "tests":
            return 200, LISTING, {}
        if file_path == "tests/__init__.py" and query.get("format") == "meta":
            return 200, META, {}
        if file_path in FILES:
            if query.get("format") == "meta":
                return 200, dict(META, path=file_path, size=len(FILES[file_path])), {}
            return 200, FILES[file_path], {"Content-Type": "text/plain"}
    return 404, {"type": "error", "error": {"message": "No such file or directory"}}, {}


def server_route(method, path, query, headers, payload):
    if headers.get("Authorization") != f"Bearer {SERVER_TOKEN}":
        return 401, {"errors": [{"message": "Authentication failed. Please check your credentials and try again."}]}, {}
    prefix = "/rest/api/1.0/projects/PRJ/repos/svc"
    if path == prefix:
        return 200, SERVER_REPO, {}
    for what in ("raw", "browse"):
        if path.startswith(f"{prefix}/{what}/") and query.get("at", "dev") == "dev":
            name = path[len(f"{prefix}/{what}/"):]
            if name in FILES:
                return 200, FILES[name] if what == "raw" else {"path": {"toString": name}}, (
                    {"Content-Type": "text/plain"} if what == "raw" else {})
    return 404, {"errors": [{"message": "The path does not exist"}]}, {}


SCM = """\
    scm:
      collects:
        - type: exists
          data:
            - {name: readme, path: /README.md}
            - {name: tests_dir, path: /tests}
            - {name: missing, path: /nope}
        - {type: yaml, factName: descriptor, path: /catalog-info.yaml, jsonpath: $.metadata.name}
        - {type: content, factName: readme, path: /README.md}
        - {type: json, factName: absent_json, path: /nope.json}
    bitbucket:
      collects: [{type: RepositoryDetails}]
"""


def workspace(tmp_path, location: str, integrations: str) -> str:
    entity = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
              "metadata": {"name": "svc", "annotations": {"backstage.io/source-location": location}},
              "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}
    (tmp_path / "catalog.yaml").write_text(json.dumps(entity))
    (tmp_path / "app-config.yaml").write_text(
        "catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n" + integrations
        + "soundcheck:\n  collectors:\n" + SCM)
    return str(tmp_path / "app-config.yaml")


def facts(tmp_path) -> dict[str, Any]:
    store = open_any(str(tmp_path / "store"))
    try:
        out = {}
        for ref in ("scm:default/exists", "scm:default/descriptor", "scm:default/readme", "scm:default/absent_json",
                    "bitbucket:default/repository_details"):
            found = store.get("component:default/svc", FactRef.parse(ref))
            out[ref] = None if found is None else found.data
        return out
    finally:
        store.close()


def test_cli_bitbucket_cloud_repository_details_and_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BB_APP_PASSWORD", APP_PASSWORD)
    with RecordedServer(cloud_route) as api:
        # Bitbucket Cloud has one host, bitbucket.org; apiBaseUrl points its API at the test server
        config = workspace(tmp_path, "url:https://bitbucket.org/atlassian/bbql/src/main/",
                           f"integrations:\n  bitbucketCloud:\n    - username: bob\n      appPassword: ${{BB_APP_PASSWORD}}\n"
                           f"      apiBaseUrl: {api.url}/2.0\n")
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")])
        err = capsys.readouterr().err
    assert code == 0, err
    assert APP_PASSWORD not in err
    got = facts(tmp_path)
    assert got["bitbucket:default/repository_details"] == CLOUD_REPO
    assert got["scm:default/exists"] == {"readme": True, "tests_dir": True, "missing": False}
    assert got["scm:default/descriptor"] == "svc"
    assert got["scm:default/readme"] == {"content": "# bbql\n", "size": 7, "truncated": False}
    assert got["scm:default/absent_json"] is None


def test_cli_bitbucket_server_repository_details_and_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BBS_TOKEN", SERVER_TOKEN)
    with RecordedServer(server_route) as api:
        config = workspace(tmp_path, f"url:{api.url}/projects/PRJ/repos/svc/browse?at=refs/heads/dev",
                           f"integrations:\n  bitbucketServer:\n    - host: 127.0.0.1:{api.port}\n"
                           f"      apiBaseUrl: {api.url}/rest/api/1.0\n      token: ${{BBS_TOKEN}}\n")
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")])
        err = capsys.readouterr().err
        paths = api.paths()
    assert code == 0, err
    assert SERVER_TOKEN not in err
    got = facts(tmp_path)
    assert got["bitbucket:default/repository_details"] == SERVER_REPO
    assert got["scm:default/exists"] == {"readme": True, "tests_dir": False, "missing": False}
    assert got["scm:default/descriptor"] == "svc" and got["scm:default/absent_json"] is None
    assert "/rest/api/1.0/projects/PRJ/repos/svc/raw/catalog-info.yaml?at=dev" in paths


def test_cli_bitbucket_server_rejected_token(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BBS_TOKEN", "bbs-wrong-token-000000000")
    with RecordedServer(server_route) as api:
        config = workspace(tmp_path, f"url:{api.url}/projects/PRJ/repos/svc/browse",
                           f"integrations:\n  bitbucketServer:\n    - host: 127.0.0.1:{api.port}\n"
                           f"      apiBaseUrl: {api.url}/rest/api/1.0\n      token: ${{BBS_TOKEN}}\n")
        code = run_cli(["collect", "-c", config, "--store", str(tmp_path / "store")])
        err = capsys.readouterr().err
    assert code == 1
    assert "Bitbucket Server rejected the credentials" in err and "Authentication failed" in err
    assert "bbs-wrong-token-000000000" not in err
