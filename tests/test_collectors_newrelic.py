"""The ``newrelic`` collector through the CLI against a NerdGraph stand-in on 127.0.0.1.

No recorded NerdGraph responses exist in api-recordings: the server below CONSTRUCTS its answers from the shapes
New Relic documents (NerdGraph entities tutorial: ``actor.entity``, ``actor.entitySearch.results.entities`` with
``nextCursor``; alert-policies tutorial: ``actor.account.alerts.policiesSearch`` with ``nextCursor``/``policies``;
GraphQL's ``{"errors": [{"message"}]}``). The GUIDs are the documented base64 form ``<account>|<domain>|<type>|<id>``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema

from soundcheck_cli.cli.commands import run_cli
from collector_harness import write_workspace
from vendor_api import VendorApi

KEY = "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ1"
GUID = "MTIzNDU2N3xBUE18QVBQTElDQVRJT058NDI"  # 1234567|APM|APPLICATION|42


def app(name: str, guid: str = GUID) -> dict[str, Any]:
    return {"guid": guid, "name": name, "accountId": 1234567, "domain": "APM", "type": "APPLICATION",
            "entityType": "APM_APPLICATION_ENTITY", "reporting": True,
            "permalink": f"https://one.newrelic.com/redirect/entity/{guid}",
            "tags": [{"key": "team", "values": ["payments"]}], "alertSeverity": "NOT_ALERTING"}


def nerdgraph(method: str, path: str, query: Any, headers: dict[str, str], body: Any) -> tuple[int, Any]:
    if path != "/graphql" or method != "POST":
        return 404, None
    if headers.get("API-Key") != KEY:
        return 401, {"errors": [{"message": "Invalid API key"}]}  # constructed
    document, variables = body["query"], body["variables"]
    if "entity(guid" in document:
        found = app("checkout") if variables["guid"] == GUID else None
        return 200, {"data": {"actor": {"entity": found}}}
    if "entitySearch" in document:
        matches = [app(f"checkout-{i}", GUID[:-2] + str(i)) for i in range(3)] if variables["query"].startswith("name = 'checkout'") else []
        start = int(variables.get("cursor") or 0)
        page = matches[start:start + 2]
        cursor = str(start + 2) if start + 2 < len(matches) else None
        return 200, {"data": {"actor": {"entitySearch": {"count": len(matches), "results": {"nextCursor": cursor, "entities": page}}}}}
    if "policiesSearch" in document:
        if variables["accountId"] != 1234567:
            return 200, {"data": {"actor": {"account": None}},
                         "errors": [{"message": "Not authorized to access account", "path": ["actor", "account"]}]}
        policies = [{"id": "101", "name": "checkout latency", "incidentPreference": "PER_CONDITION", "accountId": 1234567}]
        if variables.get("name") not in (None, "checkout"):
            policies = []
        return 200, {"data": {"actor": {"account": {"alerts": {"policiesSearch": {
            "nextCursor": None, "totalCount": len(policies), "policies": policies}}}}}}
    return 200, {"errors": [{"message": "Cannot query field"}]}


def workspace(tmp_path: Path, block: str, entities: list[dict[str, Any]]) -> Path:
    return write_workspace(tmp_path, "newrelic:\n" + textwrap.indent(textwrap.dedent(block), "  "), entities)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


COLLECTS = """\
collects:
  - type: Entity
  - type: EntitySearch
    factName: apm_applications
    query: "name = {{ entity.metadata.annotations['newrelic.com/app-name'] }} AND domain = 'APM'"
  - type: PoliciesSearch
    factName: alert_policies
    accountId: 1234567
    name: "{{ entity.metadata.annotations['newrelic.com/app-name'] }}"
"""


def test_entity_search_and_policies_through_nerdgraph(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NEW_RELIC_API_KEY", KEY)
    store = tmp_path / "store"
    entities = [
        {"name": "checkout", "annotations": {"newrelic.com/entity-guid": GUID, "newrelic.com/app-name": "checkout"}},
        {"name": "ghost", "annotations": {"newrelic.com/entity-guid": "bm9uZXxBUE18QVBQTElDQVRJT058MA",
                                          "newrelic.com/app-name": "x' OR name LIKE '%"}},
        {"name": "plain"},
    ]
    with VendorApi(nerdgraph) as api:
        config = workspace(tmp_path, f"apiKey: ${{NEW_RELIC_API_KEY}}\nbaseUrl: {api.url}\n" + COLLECTS, entities)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(store))
        assert code == 0, err
        assert "newrelic: 5 collected, 1 absent, 0 fresh (skipped), 3 not applicable, 0 failed; 7 requests" in err, err
        assert "component:default/ghost (New Relic has no entity with guid 'bm9uZXxBUE18QVBQTElDQVRJT058MA')" in err
        documents = {b["query"] for _, _, _, _, b in api.requests}
        assert len(documents) == 3  # inputs travel as variables: the documents never change
        searches = [b["variables"]["query"] for _, _, _, _, b in api.requests if "entitySearch" in b["query"]]
        # the annotation is one quoted string: it cannot add "OR name LIKE '%'"
        assert "name = 'x\\' OR name LIKE \\'%' AND domain = 'APM'" in searches
        assert searches.count("name = 'checkout' AND domain = 'APM'") == 2  # two pages (nextCursor)
        assert {h["API-Key"] for _, _, _, h, _ in api.requests} == {KEY}
    show = lambda entity, ref: json.loads(cli(capsys, "facts", "show", entity, ref, "-c", str(config), "--store", str(store))[1])["data"]  # noqa: E731
    entity = show("component:default/checkout", "newrelic:default/entity")
    assert entity["guid"] == GUID and entity["alertSeverity"] == "NOT_ALERTING" and entity["reporting"] is True
    assert show("component:default/ghost", "newrelic:default/entity") is None  # absent: no such entity
    search = show("component:default/checkout", "newrelic:default/apm_applications")
    assert search["count"] == 3 and len(search["entities"]) == 3 and search["truncated"] is False
    policies = show("component:default/checkout", "newrelic:default/alert_policies")
    assert policies == {"accountId": 1234567, "name": "checkout", "totalCount": 1, "truncated": False,
                        "policies": [{"id": "101", "name": "checkout latency", "incidentPreference": "PER_CONDITION",
                                      "accountId": 1234567}]}
    for ref, data in (("entity", entity), ("apm_applications", search), ("alert_policies", policies)):
        code, schema, _ = cli(capsys, "facts", "schema", f"newrelic:default/{ref}", "-c", str(config))
        jsonschema.validate(data, json.loads(schema))
    assert KEY not in out + err


def test_graphql_errors_and_a_rejected_key(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NEW_RELIC_API_KEY", KEY)
    entities = [{"name": "checkout"}]
    with VendorApi(nerdgraph) as api:
        config = workspace(tmp_path, f"apiKey: ${{NEW_RELIC_API_KEY}}\nbaseUrl: {api.url}\n"
                           "collects: [{type: PoliciesSearch, accountId: 999}]\n", entities)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert code == 1
        assert "NerdGraph answered with errors: Not authorized to access account" in err
        monkeypatch.setenv("NEW_RELIC_API_KEY", "NRAK-WRONGWRONGWRONGWRONG")
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
        assert code == 1
        assert f"New Relic rejected the API key (HTTP 401): check the collector's apiKey (${{NEW_RELIC_API_KEY}}, {config}:" in err
        assert "NRAK-WRONGWRONGWRONGWRONG" not in out + err


def test_entries_missing_what_their_type_needs_are_config_errors(capsys, tmp_path) -> None:
    config = workspace(tmp_path, "apiKey: NRAK-XXXXXXXXXXXX\ncollects: [{type: EntitySearch}, {type: PoliciesSearch}]\n",
                       [{"name": "a"}])
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 2
    assert "type EntitySearch needs query" in err and "type PoliciesSearch needs accountId" in err and f"{config}:" in err
