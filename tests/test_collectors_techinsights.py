"""The ``techinsights`` collector through the CLI against a Tech Insights backend stand-in on 127.0.0.1.

The answers are CONSTRUCTED from Backstage's own code (``plugins/tech-insights-backend``: the router's
``GET /facts/latest?entity=&ids[]=`` and ``TechInsightsDatabase.getLatestFactsByIds``, which returns
``{<retriever id>: {id, entity: {namespace, kind, name}, timestamp, version, facts}}``) with the facts of the
built-in ``entityOwnershipFactRetriever`` and ``techdocsFactRetriever``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from soundcheck_cli.cli.commands import run_cli
from vendor_api import VendorApi

TOKEN = "backstage-static-token-0123456789"
FACTS = {
    "component:default/a": {"entityOwnershipFactRetriever": {"hasOwner": True, "hasGroupOwner": True},
                            "techdocsFactRetriever": {"hasAnnotationBackstageIoTechdocsRef": True}},
    "component:default/b": {"entityOwnershipFactRetriever": {"hasOwner": True, "hasGroupOwner": False}},
}


def backend(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
    if headers.get("Authorization") != f"Bearer {TOKEN}":
        return 401, {"error": {"name": "AuthenticationError", "message": "Missing credentials"}}
    if path != "/api/tech-insights/facts/latest":
        return 404, {"error": {"name": "NotFoundError", "message": "Not found"}}
    entity = query["entity"][0]
    kind, _, rest = entity.partition(":")
    namespace, _, name = rest.partition("/")
    known = FACTS.get(entity, {})
    return 200, {rid: {"id": rid, "entity": {"namespace": namespace, "kind": kind, "name": name},
                       "timestamp": "2026-12-01T10:00:00.000Z", "version": "0.0.1", "facts": known[rid]}
                 for rid in query.get("ids[]", []) if rid in known}


def workspace(tmp_path: Path, block: str, extra: str = "") -> Path:
    docs = [{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": n},
             "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}} for n in ("a", "b", "c")]
    (tmp_path / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs))
    path = tmp_path / "app-config.yaml"
    path.write_text("catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
                    "soundcheck:\n  collectors:\n    techinsights:\n" + textwrap.indent(textwrap.dedent(block), "      ") + extra)
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


CHECKS = """\
  checks:
    - id: has_group_owner
      rule: {factRef: techinsights:default/entityOwnershipFactRetriever, path: $.hasGroupOwner, operator: equal, value: true}
"""


def test_latest_facts_one_request_per_entity_and_checks_on_them(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BACKSTAGE_TOKEN", TOKEN)
    with VendorApi(backend) as api:
        config = workspace(tmp_path, f"""\
            baseUrl: {api.url}
            token: ${{BACKSTAGE_TOKEN}}
            collects:
              - factRetrievers: [entityOwnershipFactRetriever, techdocsFactRetriever]
            """, CHECKS)
        code, out, err = cli(capsys, "run", "-c", str(config), "--store", str(tmp_path / "store"), "-f", "json")
        assert len(api.requests) == 3  # one per entity, both ids in it
        assert all(q["ids[]"] == ["entityOwnershipFactRetriever", "techdocsFactRetriever"] for _, _, q, _, _ in api.requests)
        assert {q["entity"][0] for _, _, q, _, _ in api.requests} == {f"component:default/{n}" for n in "abc"}
    assert code == 1  # b has no group owner; c has no fact (not reported)
    assert "techinsights: 3 collected, 3 absent" in err, err
    states = {r["entityRef"]: r["state"] for r in json.loads(out)["results"]}
    assert states == {"component:default/a": "passed", "component:default/b": "failed", "component:default/c": "failed"}
    code, out, _ = cli(capsys, "facts", "show", "component:default/a", "techinsights:default/techdocsFactRetriever",
                       "-c", str(config), "--store", str(tmp_path / "store"))
    assert json.loads(out)["data"] == {"hasAnnotationBackstageIoTechdocsRef": True}
    code, out, _ = cli(capsys, "facts", "schema", "techinsights:default/techdocsFactRetriever", "-c", str(config))
    assert code == 0 and json.loads(out)["type"] == "object"
    assert TOKEN not in err


def test_a_refused_token_is_explained(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BACKSTAGE_TOKEN", "not-the-token-value")
    with VendorApi(backend) as api:
        config = workspace(tmp_path, f"""\
            baseUrl: {api.url}
            token: ${{BACKSTAGE_TOKEN}}
            collects: [{{factRetriever: entityOwnershipFactRetriever}}]
            """)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert len(api.requests) == 1  # one refused request, not one per entity
    assert code == 1
    assert f"the Tech Insights backend refused the request (HTTP 401): check the collector's token (${{BACKSTAGE_TOKEN}}, {config}:" in err
    assert "not-the-token-value" not in out + err


def test_an_entry_without_retriever_is_a_located_error(capsys, tmp_path) -> None:
    config = workspace(tmp_path, "baseUrl: http://127.0.0.1:9\ncollects: [{frequency: {hours: 1}}]\n")
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 2 and "give factRetriever (one id) or factRetrievers" in err and f"{config}:" in err
