"""Tests of ``catalog.remote``: reading entities from a running Backstage catalog (``--catalog-url``).

The mock catalog below answers ``GET /api/catalog/entities/by-query`` with the shapes of Backstage's catalog
OpenAPI description (``EntitiesQueryResponse``: ``items``, ``totalItems``, ``pageInfo.nextCursor``/``prevCursor``;
errors as ``{error: {name, message}, response: {statusCode}}``), opaque cursors that carry the filter (a ``filter``
next to a ``cursor`` is ignored, as documented), and Backstage's filter semantics (``buildEntitySearch`` +
``parseEntityFilterString``: flattened lower-cased keys and values, arrays fanned out, ``tags.<item>=true``,
``relations``/``status`` not indexed generically, conditions of a set ANDed with repeated keys any-of, sets ORed).
It serves through ``httpx.MockTransport`` for unit tests and a threaded HTTP server on 127.0.0.1 for the CLI.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from soundcheck_cli import app as core
from soundcheck_cli.catalog.filters import EntityFilter, selects
from soundcheck_cli.catalog.loader import load_catalog
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.catalog.remote import (
    RemoteCatalog,
    consumer_filters,
    fetch_entities,
    normalise_url,
    resolve_source,
    server_filters,
)
from soundcheck_cli.catalog.source import CatalogSourceSettings, parse_catalog_source
from soundcheck_cli.catalog.validation import validate_entity
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import CatalogError, ConfigError, Problems, UsageError
from soundcheck_cli.redact import GLOBAL

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "sample-config" / "app-config.yaml"
FIXTURES = ROOT / "catalog-fixtures"
TOKEN = "s3cr3t-backstage-token-0123456789"
BASE = "https://backstage.example.com"


# --------------------------------------------------------------------------------------------------------------
# Backstage's filter semantics (for the mock and for the superset property)

_SPECIAL_KEYS = ("attachments", "relations", "status", "metadata.name", "metadata.namespace", "metadata.uid",
                 "metadata.etag")


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def search_rows(entity: dict[str, Any]) -> set[tuple[str, str | None]]:
    """Backstage's ``buildEntitySearch``: (lower-cased key, lower-cased value or None) rows of an entity."""
    raw: list[tuple[str, Any]] = []

    def visit(path: str, current: Any) -> None:
        if path in _SPECIAL_KEYS:
            return
        if current is None or isinstance(current, (str, int, float, bool)):
            raw.append((path, current))
            return
        if isinstance(current, list):
            for item in current:
                visit(path, item)
                if isinstance(item, str):
                    raw.append((f"{path}.{item}", True))
            return
        if isinstance(current, dict):
            for key, value in current.items():
                visit(f"{path}.{key}" if path else key, value)

    visit("", entity)
    meta = entity.get("metadata") or {}
    raw.append(("metadata.name", meta.get("name")))
    raw.append(("metadata.namespace", meta.get("namespace")))
    raw.append(("metadata.uid", meta.get("uid")))
    if not meta.get("namespace"):
        raw.append(("metadata.namespace", "default"))
    for relation in entity.get("relations") or []:
        raw.append((f"relations.{relation['type']}", relation["targetRef"]))
    rows: set[tuple[str, str | None]] = set()
    for key, value in raw:
        key = key.lower()
        if len(key) > 200:
            continue
        text = None if value is None else _js_string(value).lower()
        rows.add((key, text if text is None or len(text) <= 200 else None))
    return rows


def parse_filter_param(text: str) -> dict[str, list[str] | None]:
    """Backstage's ``parseEntityFilterString``: statements split on ',', grouped by key (values any-of)."""
    out: dict[str, list[str] | None] = {}
    for statement in (s.strip() for s in text.split(",")):
        if not statement:
            continue
        key, eq, value = statement.partition("=")
        key = key.strip()
        assert key, f"invalid filter statement {statement!r}"
        values = out.setdefault(key, None)
        if eq:
            out[key] = (values or []) + [value.strip()]
    return out


def backstage_matches(entity: dict[str, Any], filters: list[str]) -> bool:
    if not filters:
        return True
    rows = search_rows(entity)
    for text in filters:
        conditions = parse_filter_param(text)
        ok = True
        for key, values in conditions.items():
            key = key.lower()
            if values is None:
                ok = any(k == key for k, _ in rows)
            else:
                wanted = {v.lower() for v in values}
                ok = any(k == key and v in wanted for k, v in rows)
            if not ok:
                break
        if ok:
            return True
    return False


# --------------------------------------------------------------------------------------------------------------
# The mock catalog


class MockCatalog:
    """A Backstage catalog backend: ``/api/catalog/entities/by-query`` with cursors, filters and a bearer token.

    ``faults`` is a queue of responses served before the normal ones: ``(status, headers, body)``."""

    def __init__(self, items: list[dict[str, Any]], token: str | None = TOKEN, prefix: str = "/api/catalog") -> None:
        self.items = items
        self.token = token
        self.prefix = prefix
        self.faults: list[tuple[int, dict[str, str], bytes]] = []
        self.fault_at: dict[int, tuple[int, dict[str, str], bytes]] = {}  # request number (1-based) -> response
        self.requests: list[list[tuple[str, str]]] = []
        self.auth_headers: list[str | None] = []
        self.lock = threading.Lock()

    @staticmethod
    def _error(status: int, name: str, message: str) -> tuple[int, dict[str, str], bytes]:
        body = {"error": {"name": name, "message": message}, "response": {"statusCode": status}}
        return status, {"content-type": "application/json"}, json.dumps(body).encode()

    def handle(self, method: str, target: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        with self.lock:
            self.requests.append(query)
            self.auth_headers.append(headers.get("authorization"))
            if len(self.requests) in self.fault_at:
                return self.fault_at.pop(len(self.requests))
            if self.faults:
                return self.faults.pop(0)
        if method != "GET" or parts.path != self.prefix + "/entities/by-query":
            return self._error(404, "NotFoundError", f"Not found: {parts.path}")
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return self._error(401, "AuthenticationError", "Missing credentials")
        params: dict[str, list[str]] = {}
        for key, value in query:
            params.setdefault(key, []).append(value)
        limit = int(params.get("limit", ["20"])[0])
        if "cursor" in params:  # the cursor carries the query; filter next to it is ignored
            state = json.loads(base64.urlsafe_b64decode(params["cursor"][0]))
            offset, filters = state["offset"], state["filters"]
        else:
            offset, filters = 0, params.get("filter", [])
        selected = [e for e in self.items if backstage_matches(e, filters)]
        page = selected[offset : offset + limit]
        info: dict[str, str] = {}
        if offset + limit < len(selected):
            info["nextCursor"] = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + limit, "filters": filters}).encode()).decode()
        if offset > 0:
            info["prevCursor"] = base64.urlsafe_b64encode(
                json.dumps({"offset": max(0, offset - limit), "filters": filters}).encode()).decode()
        body = {"items": page, "totalItems": len(selected), "pageInfo": info}
        return 200, {"content-type": "application/json; charset=utf-8"}, json.dumps(body).encode()

    # -- as an httpx transport ---------------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            status, headers, body = self.handle(request.method, str(request.url.raw_path, "ascii"), request.headers)
            return httpx.Response(status, headers=headers, content=body)

        return httpx.MockTransport(handler)

    def filters_sent(self) -> list[list[str]]:
        return [[v for k, v in q if k == "filter"] for q in self.requests]


def served_items(entities: list[Entity]) -> list[dict[str, Any]]:
    """Entities as Backstage serves them: with uid, etag and a relation."""
    out = []
    for i, entity in enumerate(entities):
        data = copy.deepcopy(entity.data)
        data["metadata"]["uid"] = f"00000000-0000-4000-8000-{i:012d}"
        data["metadata"]["etag"] = f"etag{i}"
        owner = (data.get("spec") or {}).get("owner")
        if isinstance(owner, str):
            data["relations"] = [{"type": "ownedBy", "targetRef": f"group:default/{owner}"}]
        out.append(data)
    return out


def component(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"type": "service", **spec}}


class NoSleep:
    """A sleep that does not wait, and the clock it moves (the client's pause after a 429 reads the clock)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def options(self, transport: Any) -> HttpOptions:
        return HttpOptions(transport=transport, sleep=self, clock=self.clock, wall_clock=lambda: 1_700_000_000.0)


def fetch(mock: MockCatalog, *, token: str | None = TOKEN, filters: list[str] | None = None, page_size: int = 2,
          problems: Problems | None = None, sleep: NoSleep | None = None, base: str = BASE,
          log: Any = None, verbose: bool = False) -> list[Entity]:
    api_base, display = normalise_url(base)
    catalog = RemoteCatalog(api_base, display, token)
    options = (sleep or NoSleep()).options(mock.transport())
    return asyncio.run(fetch_entities(catalog, problems if problems is not None else Problems(), filters=filters,
                                      page_size=page_size, http=options, log=log, verbose=verbose))


@pytest.fixture(autouse=True)
def _token_registered() -> None:
    GLOBAL.add(TOKEN)  # what resolve_source does; error texts are checked raw and redacted


# --------------------------------------------------------------------------------------------------------------
# Fetching: pagination, auth, retries, bad responses, validation


def test_pages_through_every_cursor_with_the_bearer_token() -> None:
    mock = MockCatalog([component(f"svc-{i}") for i in range(7)])
    entities = fetch(mock, page_size=2)
    assert [e.name for e in entities] == [f"svc-{i}" for i in range(7)]  # server order kept
    assert len(mock.requests) == 4  # 2 + 2 + 2 + 1
    assert mock.auth_headers == [f"Bearer {TOKEN}"] * 4
    first, *rest = mock.requests
    assert dict(first) == {"limit": "2"}
    for query in rest:  # later pages: the cursor only (it carries the query), plus the page size
        assert [k for k, _ in query] == ["limit", "cursor"]
    cursors = [dict(q)["cursor"] for q in rest]
    assert len(set(cursors)) == 3
    assert all(str(e.source).startswith(f"{BASE}/api/catalog (component:default/svc-") for e in entities)


def test_filters_go_on_the_first_request_only_and_select_server_side() -> None:
    items = [component("a", lifecycle="production"), component("b", lifecycle="experimental"),
             component("c", lifecycle="production"), {**component("d"), "kind": "API"},
             component("e", lifecycle="Production"), component("f", lifecycle="production")]
    mock = MockCatalog(items)
    entities = fetch(mock, filters=["kind=component,spec.lifecycle=production", "kind=api"], page_size=2)
    assert [e.name for e in entities] == ["a", "c", "d", "e", "f"]
    assert mock.filters_sent()[0] == ["kind=component,spec.lifecycle=production", "kind=api"]
    assert all(sent == [] for sent in mock.filters_sent()[1:])
    assert len(mock.requests) == 3


def test_no_token_sends_no_authorization_header() -> None:
    mock = MockCatalog([component("a")], token=None)
    assert [e.name for e in fetch(mock, token=None)] == ["a"]
    assert mock.auth_headers == [None]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_clear_error_without_the_token(status: int) -> None:
    mock = MockCatalog([component("a")])
    mock.faults.append(MockCatalog._error(status, "AuthenticationError", f"bad token {TOKEN}"))
    with pytest.raises(CatalogError) as caught:
        fetch(mock)
    text = str(caught.value)
    assert f"the Backstage catalog at {BASE}/api/catalog refused the token ({status})" in text
    assert "BACKSTAGE_TOKEN" in text and "soundcheck.catalog.token" in text
    assert TOKEN not in text
    assert caught.value.exit_code == 2
    assert len(mock.requests) == 1  # not retried


def test_a_missing_token_says_one_is_required() -> None:
    mock = MockCatalog([component("a")])  # the mock wants a token
    with pytest.raises(CatalogError, match=r"requires a token \(401\): set BACKSTAGE_TOKEN"):
        fetch(mock, token=None)


def test_503_then_success_is_retried() -> None:
    mock = MockCatalog([component(f"svc-{i}") for i in range(3)])
    mock.faults.append((503, {}, b"upstream unavailable"))
    sleep = NoSleep()
    entities = fetch(mock, sleep=sleep, page_size=10)
    assert [e.name for e in entities] == ["svc-0", "svc-1", "svc-2"]
    assert len(mock.requests) == 2 and len(sleep.sleeps) == 1
    assert dict(mock.requests[0]) == dict(mock.requests[1])  # the same first page again


def test_429_honours_retry_after_mid_pagination() -> None:
    mock = MockCatalog([component(f"svc-{i}") for i in range(5)])
    mock.fault_at[2] = (429, {"Retry-After": "7"}, b"")  # the second page is rate limited once
    sleep = NoSleep()
    entities = fetch(mock, sleep=sleep, page_size=2)
    assert [e.name for e in entities] == [f"svc-{i}" for i in range(5)]
    assert sleep.sleeps == [7.0]
    assert len(mock.requests) == 4
    assert "cursor" in dict(mock.requests[1]) and mock.requests[1] == mock.requests[2]  # the same cursor again


def test_retries_are_bounded() -> None:
    mock = MockCatalog([component("a")])
    mock.faults.extend([(502, {}, b"")] * 10)
    with pytest.raises(CatalogError, match=r"could not be read: .*HTTP 502.*gave up after 5 attempts"):
        fetch(mock)
    assert len(mock.requests) == 5


def test_connection_errors_are_retried() -> None:
    mock = MockCatalog([component("a")])
    transport = mock.transport()
    failures = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if failures["n"] < 2:
            failures["n"] += 1
            raise httpx.ConnectError("connection refused", request=request)
        return transport.handle_request(request)

    catalog = RemoteCatalog(*normalise_url(BASE), TOKEN)
    options = NoSleep().options(httpx.MockTransport(handler))
    entities = asyncio.run(fetch_entities(catalog, Problems(), http=options))
    assert [e.name for e in entities] == ["a"]


def test_invalid_json_is_a_clear_error() -> None:
    mock = MockCatalog([component("a")])
    mock.faults.append((200, {"content-type": "text/html"}, b"<!doctype html><html>Backstage app</html>"))
    with pytest.raises(CatalogError) as caught:
        fetch(mock)
    assert "the response is not JSON (text/html)" in str(caught.value)
    assert "Backstage backend" in str(caught.value)


@pytest.mark.parametrize("body, expected", [
    ([component("a")], "JSON list"),
    ({"entities": []}, "without an 'items' list"),
    ({"items": [], "pageInfo": []}, "pageInfo in the response must be an object"),
    ({"items": [], "totalItems": 0, "pageInfo": {"nextCursor": 5}}, "nextCursor in the response must be"),
])
def test_a_response_of_the_wrong_shape_is_a_clear_error(body: Any, expected: str) -> None:
    mock = MockCatalog([])
    mock.faults.append((200, {"content-type": "application/json"}, json.dumps(body).encode()))
    with pytest.raises(CatalogError, match=expected):
        fetch(mock)


def test_404_says_it_is_probably_not_a_backstage_url() -> None:
    mock = MockCatalog([component("a")], prefix="/backstage/api/catalog")
    with pytest.raises(CatalogError, match=r"was not found \(HTTP 404\); is this the URL of a Backstage backend"):
        fetch(mock)
    assert [e.name for e in fetch(mock, base="https://backstage.example.com/backstage/")] == ["a"]


def test_400_shows_backstages_error_message() -> None:
    mock = MockCatalog([])
    mock.faults.append(MockCatalog._error(400, "InputError", "Invalid filter"))
    with pytest.raises(CatalogError, match=r"answered HTTP 400: InputError: Invalid filter"):
        fetch(mock)


def test_a_cursor_loop_stops() -> None:
    mock = MockCatalog([])
    page = json.dumps({"items": [], "totalItems": 0, "pageInfo": {"nextCursor": "same"}}).encode()
    mock.faults.extend([(200, {}, page)] * 3)
    with pytest.raises(CatalogError, match="a cursor it had already returned"):
        fetch(mock)


def test_invalid_entities_are_warnings_and_the_others_are_kept() -> None:
    bad_name = component("Not A Valid Name!")
    no_kind = component("kindless")
    del no_kind["kind"]
    mock = MockCatalog([component("a"), bad_name, "not an entity", no_kind, component("b"), component("A")])
    problems = Problems()
    entities = fetch(mock, problems=problems, page_size=4)
    assert [e.name for e in entities] == ["a", "b"]
    texts = [str(p) for p in problems.items]
    assert texts[0].startswith(f'{BASE}/api/catalog (component:default/Not A Valid Name!): Component "Not A Valid '
                               'Name!" skipped: metadata.name')
    assert texts[1].startswith(f"{BASE}/api/catalog (item 3): entity skipped: document is not a mapping")
    assert texts[2] == f'{BASE}/api/catalog (item 4): entity "kindless" skipped: kind is missing'
    assert texts[3] == (f"{BASE}/api/catalog (component:default/A): duplicate entity component:default/A: already "
                        f"read as {BASE}/api/catalog (component:default/a); this one is ignored")
    assert all(p.severity.value == "warning" for p in problems.items)


def test_verbose_logs_requests_and_pages_without_the_token() -> None:
    mock = MockCatalog([component(f"svc-{i}") for i in range(3)])
    lines: list[str] = []
    fetch(mock, page_size=2, log=lambda level, text: lines.append(text), verbose=True)
    assert any("page 2, 3/3 entities read" in line for line in lines)
    assert any("GET https://backstage.example.com/api/catalog/entities/by-query" in line for line in lines)
    assert not any(TOKEN in line for line in lines)


# --------------------------------------------------------------------------------------------------------------
# URL and settings


@pytest.mark.parametrize("given", [
    "https://backstage.example.com", "https://backstage.example.com/", "https://backstage.example.com/api/catalog",
    "https://backstage.example.com/api/catalog/", " https://backstage.example.com/api/catalog/entities/by-query ",
])
def test_base_url_forms(given: str) -> None:
    assert normalise_url(given) == ("https://backstage.example.com/api/catalog",) * 2


def test_url_with_credentials_is_shown_without_them() -> None:
    api, display = normalise_url("https://user:pw-secret@host.example:8443/bs")
    assert api == "https://user:pw-secret@host.example:8443/bs/api/catalog"
    assert display == "https://host.example:8443/bs/api/catalog"
    with pytest.raises(UsageError) as caught:
        resolve_source("https://user:pw-secret-42@host.example/?x=1", None, {})
    assert "pw-secret-42" not in GLOBAL.redact(str(caught.value))


@pytest.mark.parametrize("bad", ["backstage.example.com", "ftp://x", "https://", "https://h/?q=1"])
def test_bad_urls_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError, match="--catalog-url"):
        resolve_source(bad, None, {})


def test_token_from_config_else_environment() -> None:
    source = CatalogSourceSettings(url="https://b.example", token="config-token-1234")
    assert resolve_source(None, source, {"BACKSTAGE_TOKEN": "env-token-5678"}).token == "config-token-1234"
    assert resolve_source(None, CatalogSourceSettings(url="https://b.example"),
                          {"BACKSTAGE_TOKEN": " env-token-5678 "}).token == "env-token-5678"
    assert resolve_source("https://b.example", None, {}).token is None
    assert "env-token-5678" in GLOBAL.values  # registered for redaction


def _write_config(tmp_path: Path, catalog_yaml: str) -> Path:
    path = tmp_path / "app-config.yaml"
    path.write_text("soundcheck:\n  catalog:\n" + catalog_yaml)
    return path


def test_unset_token_variable_is_a_located_error_when_used(tmp_path: Path) -> None:
    path = _write_config(tmp_path, "    url: https://b.example\n    token: ${MY_BS_TOKEN}\n")
    settings, warnings = load_settings([str(path)], environ={})
    assert warnings == []
    with pytest.raises(ConfigError) as caught:
        resolve_source(None, settings.catalog_source, {"BACKSTAGE_TOKEN": "would-be-wrong"})
    assert str(caught.value) == (f"{path}:4:5: soundcheck.catalog.token is unset: environment variable "
                                 "MY_BS_TOKEN is not set")


def test_unset_url_variable_is_a_located_error(tmp_path: Path) -> None:
    path = _write_config(tmp_path, "    url: ${BS_URL}\n")
    settings, _ = load_settings([str(path)], environ={})
    with pytest.raises(ConfigError, match=r"app-config.yaml:3:5: soundcheck.catalog.url is unset: environment "
                                          r"variable BS_URL is not set"):
        resolve_source(None, settings.catalog_source, {})


def test_catalog_settings_are_validated(tmp_path: Path) -> None:
    path = _write_config(tmp_path, "    url: 42\n    pageSize: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings([str(path)], environ={})
    assert "3:10: soundcheck.catalog.url must be a non-empty string, not" in str(caught.value)
    problems = Problems()
    parse_catalog_source({"url": "https://x", "pageSize": 3}, problems)
    assert [p.message for p in problems.warnings] == ["soundcheck.catalog.pageSize is not a known key (known: url, token, root)"]


# --------------------------------------------------------------------------------------------------------------
# Server-side filter: the pure function


def F(node: Any) -> EntityFilter:
    problems = Problems()
    parsed = EntityFilter.parse(node, problems)
    assert parsed is not None and not problems.errors
    return parsed


def test_server_filters_from_tracks_like_the_sample() -> None:
    pairs = [(F({"kind": "Component", "spec.lifecycle": "production"}), None), (F({"kind": ["Component", "API"]}), None)]
    # The first set is inside the second: only the wider one is sent.
    assert server_filters(pairs) == ("kind=api,kind=component",)


def test_server_filters_alternatives_and_values() -> None:
    pairs = [(F([{"kind": "Component", "spec.type": "service"}, {"kind": "Group"}]), F({"spec.lifecycle": "x"})),
             (F({"metadata.annotations.backstage.io/techdocs-ref": "dir:.", "metadata.tags": "Java"}), None)]
    assert server_filters(pairs) == (
        "kind=component,spec.type=service",
        "kind=group",
        "metadata.annotations.backstage.io/techdocs-ref=dir:.,metadata.tags=java",
    )


@pytest.mark.parametrize("pairs", [
    [],  # nothing consumes entities: nothing to narrow to
    [(None, None)],  # no filter
    [(None, F({"kind": "Group"}))],  # exclude only
    [(F({"kind": "Component"}), None), (None, None)],  # one consumer needs everything
    [(F({}), None)],  # an empty filter matches everything
    [(F({"relations.ownedBy": "group:default/a"}), None)],  # not indexed as such
    [(F({"spec.owner": "a,b"}), None)],  # ',' splits conditions
    [(F({"spec.version": 1.5}), None)],  # float text differs between Python and JavaScript
    [(F({"metadata.title": "Café"}), None)],  # non-ASCII lower-casing may differ
    [(F({"spec.x": "v" * 201}), None)],  # Backstage does not index values over 200 characters
])
def test_server_filters_give_up_when_a_consumer_cannot_be_expressed(pairs: Any) -> None:
    assert server_filters(pairs) is None


def test_an_inexpressible_clause_only_widens_its_set() -> None:
    assert server_filters([(F({"kind": "Component", "relations.ownedBy": "group:default/a"}), None)]) == (
        "kind=component",)
    assert server_filters([(F({"kind": "Component", "spec.x": ["a", "b,c"]}), None)]) == ("kind=component",)


def test_same_key_twice_in_one_set_is_any_of_on_the_server() -> None:
    flt = EntityFilter(((((("kind",), frozenset({"component"})), (("Kind",), frozenset({"api"})))),))
    assert server_filters([(flt, None)]) == ("kind=api,kind=component",)


def test_too_long_a_query_reads_everything() -> None:
    pairs = [(F({"metadata.name": f"service-number-{i:05d}"}), None) for i in range(400)]
    assert server_filters(pairs) is None
    assert server_filters(pairs[:20]) is not None


def test_consumer_filters_per_command() -> None:
    settings, _ = load_settings([str(SAMPLE_CONFIG)], environ={})
    check_pairs = consumer_filters(settings, "check")
    assert check_pairs is not None and len(check_pairs) == len(settings.tracks)
    assert server_filters(check_pairs) == ("kind=api,kind=component",)
    assert consumer_filters(settings, "entities") is None
    assert consumer_filters(settings, "validate") is None
    assert consumer_filters(settings, "collect", None) is None
    collector_pairs = [(F({"kind": "Component"}), None)]
    assert consumer_filters(settings, "run", collector_pairs) == check_pairs + collector_pairs


def test_a_check_in_no_track_needs_every_entity(tmp_path: Path) -> None:
    config = tmp_path / "app-config.yaml"
    config.write_text(
        "soundcheck:\n  checks:\n    - id: c\n      filter: {kind: Component}\n"
        "      rule: {factRef: catalog:default/entity_descriptor, path: $.kind, operator: equal, value: x}\n")
    settings, _ = load_settings([str(config)], environ={})
    assert consumer_filters(settings, "check") is None


def test_collect_with_the_always_on_catalog_collector_reads_everything() -> None:
    from soundcheck_cli.app.collect import collector_filter_pairs

    settings, _ = load_settings([str(SAMPLE_CONFIG)], environ={})
    assert collector_filter_pairs(settings) is None  # the catalog collector, unconfigured, collects for everyone


def test_collect_with_filtered_collectors_is_narrowed(tmp_path: Path) -> None:
    from soundcheck_cli.app.collect import collector_filter_pairs

    config = tmp_path / "app-config.yaml"
    config.write_text(
        "soundcheck:\n  collectors:\n    catalog:\n      filter: {kind: [Component, API]}\n"
        "    pagerduty:\n      token: pd-token-1234\n      filter: {kind: Component, spec.lifecycle: production}\n"
        "      collects: [{type: Service}]\n")
    settings, _ = load_settings([str(config)], environ={})
    pairs = collector_filter_pairs(settings)
    assert pairs is not None and len(pairs) == 2
    assert server_filters(consumer_filters(settings, "collect", pairs)) == ("kind=api,kind=component",)
    # A collector that cannot be configured: no narrowing (collect reports the error itself).
    config.write_text("soundcheck:\n  collectors:\n    catalog:\n      filter: {kind: Component}\n"
                      "    pagerduty:\n      token: pd-token-1234\n      bogus: 1\n")
    settings, _ = load_settings([str(config)], environ={})
    assert collector_filter_pairs(settings) is None


# The superset property: whatever the client-side filter selects, the server-side filter selects too.

_keys = st.sampled_from(["kind", "Kind", "spec.type", "metadata.tags", "metadata.annotations.backstage.io/x",
                         "spec.owner", "relations.ownedBy", "spec.n", "metadata.namespace", "spec.list.k"])
_values = st.sampled_from(["component", "API", "service", "java", "a,b", "1", "1.5", "true", "café", " padded ",
                           "default", "x" * 201])
# Entity values never have surrounding spaces: soundcheck trims them when it compares, Backstage does not (the one
# documented deviation, see test_known_deviation_entity_values_with_surrounding_spaces).
_entity_strings = _values.filter(lambda v: v == v.strip())
_filter_maps = st.dictionaries(_keys, st.one_of(_values, st.lists(_values, min_size=1, max_size=3)), max_size=2)
_filters = st.one_of(_filter_maps, st.lists(_filter_maps, min_size=1, max_size=3))
_entity_values = st.one_of(_entity_strings, st.integers(-3, 3), st.booleans(), st.just(1.5), st.none())


@st.composite
def _entities(draw: Any) -> dict[str, Any]:
    spec = draw(st.dictionaries(st.sampled_from(["type", "owner", "n"]), _entity_values, max_size=3))
    if draw(st.booleans()):
        spec["list"] = [{"k": draw(_entity_strings)}, draw(_entity_strings)]
    meta: dict[str, Any] = {"name": "a"}
    if draw(st.booleans()):
        meta["namespace"] = draw(st.sampled_from(["default", "Default", "other"]))
    if draw(st.booleans()):
        meta["tags"] = draw(st.lists(_entity_strings, max_size=3))
    if draw(st.booleans()):
        meta["labels"] = {"tier": draw(_entity_strings)}
    if draw(st.booleans()):
        meta["annotations"] = {"backstage.io/x": draw(_entity_strings)}
    entity = {"apiVersion": "backstage.io/v1alpha1", "kind": draw(st.sampled_from(["Component", "API", "Java"])),
              "metadata": meta, "spec": spec}
    if draw(st.booleans()):
        entity["relations"] = [{"type": "ownedBy", "targetRef": draw(_entity_strings)}]
    return entity


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_filters, st.one_of(st.none(), _filter_maps)), min_size=1, max_size=3),
       st.lists(_entities(), min_size=1, max_size=6))
def test_server_filters_select_a_superset_of_the_client_filters(consumers: Any, entities: Any) -> None:
    pairs = []
    for flt, exclude in consumers:
        problems = Problems()
        pairs.append((EntityFilter.parse(flt, problems), EntityFilter.parse(exclude, problems)))
    sent = server_filters(pairs)
    for data in entities:
        entity = Entity.from_data(copy.deepcopy(data))
        if any(selects(entity, flt, exc) for flt, exc in pairs):
            assert sent is None or backstage_matches(data, list(sent)), (sent, data)


_paths = st.sampled_from([("kind",), ("Kind",), ("spec", "type"), ("metadata", "tags"), ("spec", "list", "k"),
                          ("metadata", "annotations", "backstage.io/x"), ("metadata", "labels", "tier"),
                          ("spec", "n"), ("metadata", "namespace"), ("status", "x")])
_raw_values = st.one_of(_entity_strings.map(str.upper), _entity_strings, st.integers(-2, 2), st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(st.tuples(_paths, _raw_values, st.booleans()), min_size=1, max_size=3),
       st.lists(_filter_maps, max_size=2))
def test_an_entity_built_to_match_a_filter_is_sent(conditions: Any, others: Any) -> None:
    """Entities made to satisfy a filter (so the property above is exercised on selected entities every time)."""
    data: dict[str, Any] = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "a"}}
    node: dict[str, Any] = {}
    for parts, value, as_list in conditions:
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            assume(isinstance(target, dict))
        target[parts[-1]] = [value, "other"] if as_list or parts == ("metadata", "tags") else value
        node[".".join(parts)] = value
    assume(not validate_entity(data))  # what the server serves and the client keeps
    entity = Entity.from_data(copy.deepcopy(data))
    flt = F(node)
    assume(selects(entity, flt))
    pairs = [(flt, None)] + [(F(other), None) for other in others if other]
    sent = server_filters(pairs)
    assert sent is None or backstage_matches(data, list(sent)), (sent, data)


def test_known_deviation_entity_values_with_surrounding_spaces() -> None:
    """soundcheck trims entity values when it compares; Backstage indexes them as they are. An entity whose value
    has surrounding spaces (``type: " service "``, quoted in YAML) is selected client-side but not sent."""
    flt = F({"spec.type": "service"})
    sent = server_filters([(flt, None)])
    assert sent == ("spec.type=service",)
    padded = component("a", type=" service ")
    assert selects(Entity.from_data(copy.deepcopy(padded)), flt) and not backstage_matches(padded, list(sent))


# --------------------------------------------------------------------------------------------------------------
# Workspace and CLI


class ServedCatalog:
    def __init__(self, mock: MockCatalog) -> None:
        self.mock = mock
        catalog = mock

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = catalog.handle("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def fixture_entities() -> list[Entity]:
    problems = Problems()
    return load_catalog([str(FIXTURES)], problems)


@pytest.fixture
def served(fixture_entities: list[Entity]) -> Iterator[ServedCatalog]:
    server = ServedCatalog(MockCatalog(served_items(fixture_entities)))
    try:
        yield server
    finally:
        server.close()


def _options(tmp_path: Path, **kwargs: Any) -> core.CommonOptions:
    env = {k: v for k, v in os.environ.items() if k not in ("BACKSTAGE_TOKEN", "SOUNDCHECK_STORE")}
    env.update(kwargs.pop("environ", {}))
    return core.CommonOptions(config_paths=(str(SAMPLE_CONFIG),), store_path=str(tmp_path / "store"), cwd=str(tmp_path),
                              environ=env, **kwargs)


def test_workspace_check_sends_the_tracks_filter_and_gives_the_same_report(
        tmp_path: Path, served: ServedCatalog, fixture_entities: list[Entity]) -> None:
    remote = core.load_workspace(_options(tmp_path, catalog_url=served.url, environ={"BACKSTAGE_TOKEN": TOKEN}),
                                 command="check")
    assert served.mock.filters_sent()[0] == ["kind=api,kind=component"]
    files = core.load_workspace(_options(tmp_path, catalog_paths=(str(FIXTURES),)))
    assert {e.ref.key for e in remote.entities} < {e.ref.key for e in files.entities}  # groups, systems... left out
    assert remote.warnings == []
    a = core.check(remote, core.CheckOptions())
    b = core.check(files, core.CheckOptions(), now=a.generated_at)
    assert a.check_results == b.check_results
    assert a.track_results == b.track_results


def test_workspace_entities_and_validate_send_no_filter(tmp_path: Path, served: ServedCatalog,
                                                        fixture_entities: list[Entity]) -> None:
    workspace = core.load_workspace(_options(tmp_path, catalog_url=served.url, environ={"BACKSTAGE_TOKEN": TOKEN}))
    assert served.mock.filters_sent()[0] == []
    assert [e.ref for e in workspace.entities] == [e.ref for e in fixture_entities]
    assert workspace.entities[0].metadata["uid"]  # the server's entity, as served


def test_workspace_uses_the_configured_url(tmp_path: Path, served: ServedCatalog) -> None:
    config = tmp_path / "app-config.yaml"
    config.write_text(f"soundcheck:\n  catalog:\n    url: {served.url}/\n    token: ${{BS_TOKEN}}\n")
    options = core.CommonOptions(config_paths=(str(config),), cwd=str(tmp_path), environ={"BS_TOKEN": TOKEN})
    workspace = core.load_workspace(options)
    assert len(workspace.entities) == len(served.mock.items)
    assert served.mock.auth_headers[0] == f"Bearer {TOKEN}"
    # --catalog overrides the configured URL: nothing is fetched.
    (tmp_path / "catalog-info.yaml").write_text(json.dumps(component("local")))
    served.mock.requests.clear()
    local = core.load_workspace(core.CommonOptions(config_paths=(str(config),), catalog_paths=("catalog-info.yaml",),
                                                   cwd=str(tmp_path), environ={}))
    assert [e.name for e in local.entities] == ["local"] and served.mock.requests == []


def test_catalog_and_catalog_url_together_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--catalog and --catalog-url cannot be used together"):
        core.load_workspace(_options(tmp_path, catalog_url="https://b.example", catalog_paths=("x",)))


def _soundcheck(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "soundcheck_cli", *args], check=False, capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BACKSTAGE_TOKEN", "SOUNDCHECK_STORE", "PAGERDUTY_TOKEN")}
    env.update(extra)
    return env


def test_cli_check_against_a_served_catalog_gives_the_file_report(tmp_path: Path, served: ServedCatalog) -> None:
    store = str(tmp_path / "store")
    common = ("-c", str(SAMPLE_CONFIG), "--store", store, "-f", "json")
    remote = _soundcheck("check", "--catalog-url", served.url, *common, env=_env(BACKSTAGE_TOKEN=TOKEN), cwd=tmp_path)
    files = _soundcheck("check", "--catalog", str(FIXTURES), *common, env=_env(), cwd=tmp_path)
    assert remote.returncode == files.returncode == 1, remote.stderr
    a, b = json.loads(remote.stdout), json.loads(files.stdout)
    for report in (a, b):
        report.pop("generatedAt")
        report.pop("problems")  # the files run warns about catalog-fixtures/broken, which Backstage never serves
    assert a == b
    # No warning, no error: only the summary and the gate's reasons, as for the files (less their warnings).
    assert remote.stderr.startswith("67 results for 9 entities")
    assert remote.stderr == "".join(line for line in files.stderr.splitlines(keepends=True)
                                    if not line.startswith("warning: "))
    # The CLI's check asks only for what the sample's tracks select (kind component or api), server-side.
    assert served.mock.filters_sent() == [["kind=api,kind=component"]]
    table_remote = _soundcheck("check", "--catalog-url", served.url, "-c", str(SAMPLE_CONFIG), "--store", store,
                               env=_env(BACKSTAGE_TOKEN=TOKEN), cwd=tmp_path)
    table_files = _soundcheck("check", "--catalog", str(FIXTURES), "-c", str(SAMPLE_CONFIG), "--store", store,
                              env=_env(), cwd=tmp_path)
    assert table_remote.stdout == table_files.stdout
    assert "Basic Catalog Hygiene" in table_remote.stdout


def test_cli_refused_token_exits_2_without_the_token(tmp_path: Path, served: ServedCatalog) -> None:
    wrong = "wrong-token-abcdef-0123456789"
    result = _soundcheck("check", "--catalog-url", served.url, "-c", str(SAMPLE_CONFIG),
                         "--store", str(tmp_path / "store"), env=_env(BACKSTAGE_TOKEN=wrong), cwd=tmp_path)
    assert result.returncode == 2
    assert f"error: the Backstage catalog at {served.url}/api/catalog refused the token (401)" in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert served.mock.auth_headers == [f"Bearer {wrong}"]


def test_cli_entities_lists_the_served_catalog(tmp_path: Path, served: ServedCatalog) -> None:
    result = _soundcheck("entities", "--catalog-url", served.url + "/api/catalog/", "-c", str(SAMPLE_CONFIG),
                         "-f", "json", env=_env(BACKSTAGE_TOKEN=TOKEN), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert served.mock.filters_sent() == [[]]  # entities lists everything: no server-side filter
    assert TOKEN not in result.stdout + result.stderr


def test_cli_collect_verbose_shows_the_pages_and_collects_the_served_entities(tmp_path: Path,
                                                                               served: ServedCatalog) -> None:
    store = str(tmp_path / "store")
    result = _soundcheck("collect", "--catalog-url", served.url, "-c", str(SAMPLE_CONFIG), "--store", store,
                         "--collector", "catalog", "--verbose", env=_env(BACKSTAGE_TOKEN=TOKEN), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "entities/by-query" in result.stderr and "entities read" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    listed = _soundcheck("facts", "list", "-c", str(SAMPLE_CONFIG), "--store", store, env=_env(), cwd=tmp_path)
    served_refs = {f"{e['kind']}:{e['metadata'].get('namespace', 'default')}/{e['metadata']['name']}".lower()
                   for e in served.mock.items}
    listed_refs = {line.split()[0] for line in listed.stdout.splitlines()[:-1] if line.strip()}
    assert listed_refs and listed_refs <= served_refs
