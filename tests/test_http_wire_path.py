"""``HttpClient``'s wire path: a body-less request relative to the base URL goes to the asyncio transport as
httpcore's parts (no ``httpx.Request`` built unless one is needed). It must send the very bytes the
``httpx.Request`` path sends, and give callers the same responses and errors."""

from __future__ import annotations

import asyncio
import gzip
import random
from typing import Any

import httpx
import pytest

from soundcheck_cli.http import client as http_client
from soundcheck_cli.http.client import ClientSettings, HttpClient, HttpError, HttpOptions, NotFound, RetryPolicy
from http_servers import http_server, response

# -- the target check: when it says "as written", httpx sends it as written -------------------------------------

EDGE_CASES = [
    "/",
    "/services/P123?include%5B%5D=teams&include%5B%5D=integrations",
    "/services/P%2E%2E",
    "/a/./b",
    "/a/../b",
    "/a/..",
    "/a/.",
    "/.hidden/x.json",
    "/a..b/c.d",
    "/a?x=/./..",
    "/a/b?",
    "/a?b?c",
    "/a%zz/b%",
    "/a%41",
    "/a b",
    "/a\tb",
    "/a\x7fb",
    "/a#frag",
    "/a`b",
    "/a{b}",
    "/a?q={x}",
    '/a"b',
    "/a<b>",
    "/caf\u00e9",
    "/a|b\\c^d[e]f",
    "/a;b=c,d!$&'()*+:@~",
    "//double",
    "/x" * 40_000,
]

ALPHABET = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "\u00e9", "\u2603", "%2F", "%2e", "/./", "/../", "?", "."] * 3


def _random_paths(count: int) -> list[str]:
    rng = random.Random(20261202)
    return ["/" + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24))) for _ in range(count)]


@pytest.mark.parametrize("prefix", ["", "/api/v3"])
def test_plain_targets_are_what_httpx_sends(prefix):
    plain = 0
    for path in EDGE_CASES + _random_paths(3000):
        target = prefix + path
        if http_client._plain_target(target):
            plain += 1
            assert httpx.URL("http://127.0.0.1:8080" + target).raw_path == target.encode("ascii"), target
    assert plain > 500  # the check does accept the usual targets


def test_usual_api_targets_take_the_wire_path():
    for target in (
        "/services/P123?include%5B%5D=escalation_policies&include%5B%5D=teams",
        "/repos/my-org/my.repo/branches/main/protection",
        "/api/v1/validate?x=1&y=a%20b",
        "/standards/scores/technical_services/PABC",
    ):
        assert http_client._plain_target(target)
    for target in ("/a/../b", "/a b", "/caf\u00e9", "/a#b", "x" * 70_000):
        assert not http_client._plain_target(target)


# -- the same bytes on the wire ------------------------------------------------------------------------------------


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/services/P1?include%5B%5D=teams", {}),
    ("GET", "services/P1", {"params": {"a": "1 2", "b": ["x/y", "z"]}}),
    ("GET", "/search?q=1", {"params": [("page", "2")]}),
    ("GET", "/x", {"headers": {"Accept": "text/plain", "X-Extra": "1"}}),
    ("GET", "/x", {"headers": {"Host": "example.test"}}),
    ("HEAD", "/head", {}),
    ("DELETE", "/things/1", {}),
    ("GET", "/a/../b", {}),
    ("GET", "/caf\u00e9", {}),
    ("POST", "/post", {"json": {"a": 1}}),
    ("GET", "/x", {"content": b"body"}),
]


async def _heads(base_path: str, wire: bool) -> list[Any]:
    heads: list[bytes] = []
    fetched: list[Any] = []

    def echo(n: int, head: bytes) -> bytes:
        heads.append(head)
        return response(b'{"n": %d}' % n, extra=b"Content-Type: application/json\r\n") if not head.startswith(b"HEAD") else response(b"")

    server, url, _ = await http_server(echo)
    async with server:
        settings = ClientSettings(concurrency=2, timeout=5, retry=RetryPolicy(max_attempts=1))
        headers = {"Authorization": "Token token=s3cret", "Accept": "application/vnd.pagerduty+json;version=2"}
        async with HttpClient(settings, HttpOptions(), base_url=url + base_path, headers=headers) as client:
            if wire:
                assert client._origin is not None
                for transport in client._transports:  # count the requests sent from their wire parts
                    real = transport.fetch

                    async def counted(*args: Any, real: Any = real) -> Any:
                        fetched.append(args[1])
                        return await real(*args)

                    transport.fetch = counted  # type: ignore[method-assign]
            else:
                client._origin = None  # every request built as an httpx.Request
            seen = []
            for method, path, kwargs in CALLS:
                answer = await client.request(method, path, **kwargs)
                head = heads[-1].decode("latin-1").replace(url.split("//")[1], "HOST")
                seen.append((method, path, head, answer.status_code, answer.content, str(answer.url).replace(url, "URL"),
                             answer.request.method, answer.headers.get("content-length")))  # fmt: skip
            return seen, len(fetched)


@pytest.mark.parametrize("base_path", ["", "/api/v3"])
def test_wire_path_sends_the_same_requests(base_path):
    expected, _ = asyncio.run(_heads(base_path, wire=False))
    seen, fetched = asyncio.run(_heads(base_path, wire=True))
    assert seen == expected
    assert fetched == 7  # all but the dot-segment, non-ASCII, json and content requests
    assert any(f"GET {base_path}/services/P1?include%5B%5D=teams HTTP/1.1" in head for _, _, head, *_ in expected)


def test_clients_that_cannot_take_the_wire_path():
    async def go():
        made = []
        for base in ("", "http://user:pw@127.0.0.1:9", "http://127.0.0.1:9?x=1", "ftp://127.0.0.1"):
            async with HttpClient(ClientSettings(), HttpOptions(), base_url=base) as client:
                made.append(client._origin)
        async with HttpClient(ClientSettings(), HttpOptions(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
                              base_url="https://api.test") as client:  # fmt: skip
            made.append(client._origin)
        return made

    assert asyncio.run(go()) == [None] * 5


# -- responses and errors as callers see them ---------------------------------------------------------------------


@pytest.mark.parametrize("wire", [True, False])
def test_wire_path_responses_and_errors_carry_their_request(wire):
    def behaviour(n: int, head: bytes) -> Any:
        path = head.split(b" ")[1]
        if path.startswith(b"/missing"):
            return response(b'{"error": {"message": "Not Found"}}', "404 Not Found")
        if path.startswith(b"/forbidden"):
            return response(b'{"message": "no access"}', "403 Forbidden")
        if path.startswith(b"/zipped"):
            return response(gzip.compress(b'{"zipped": true}'), extra=b"Content-Encoding: gzip\r\n")
        if path.startswith(b"/busy") and n % 2:
            return response(b"busy", "503 Service Unavailable", b"Retry-After: 0\r\n")
        if path.startswith(b"/notjson"):
            return response(b"<html>")
        return response(b'{"ok": true}')

    async def go():
        server, url, count = await http_server(behaviour)
        async with server:
            opts = HttpOptions(sleep=lambda s: asyncio.sleep(0))
            settings = ClientSettings(concurrency=2, timeout=5, retry=RetryPolicy(max_attempts=2))
            async with HttpClient(settings, opts, base_url=url, headers={"Authorization": "Token token=s3cret"}) as client:
                assert client._origin is not None
                if not wire:
                    client._origin = None  # the httpx.Request path: the same answers
                out: dict[str, Any] = {}
                ok = await client.request("GET", "/ok", params={"page": "2"})
                out["ok"] = (ok.status_code, ok.json(), str(ok.url).replace(url, "URL"), ok.request.headers["authorization"])
                out["zipped"] = await client.get_json("/zipped")
                with pytest.raises(NotFound) as missing:
                    await client.get_json("/missing/1")
                out["missing"] = (str(missing.value).replace(url, "URL"), str(missing.value.response.request.url).replace(url, "URL"))
                with pytest.raises(HttpError) as forbidden:
                    await client.get_json("/forbidden")
                out["forbidden"] = (str(forbidden.value).replace(url, "URL"), forbidden.value.response.request.method)
                out["busy"] = await client.get_json("/busy")
                with pytest.raises(HttpError) as notjson:
                    await client.get_json("/notjson")
                out["notjson"] = str(notjson.value).replace(url, "URL")
                return out, client.requests, count["n"]

    out, requests, served = asyncio.run(go())
    assert out["ok"] == (200, {"ok": True}, "URL/ok?page=2", "Token token=s3cret")
    assert out["zipped"] == {"zipped": True}
    assert out["missing"] == ("GET URL/missing/1: not found (HTTP 404)", "URL/missing/1")
    assert out["forbidden"] == ("GET URL/forbidden: HTTP 403 Forbidden: no access", "GET")
    assert out["busy"] == {"ok": True}
    assert out["notjson"] == "GET URL/notjson: the response is not valid JSON (gave up after 2 attempts)"
    assert requests == served == 8
