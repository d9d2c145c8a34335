"""``HttpClient`` on httpx's own transport against real 127.0.0.1 servers: what callers see for ordinary, chunked,
compressed, redirected, reset, stalled and malformed answers; TLS certificates verified (``SSL_CERT_FILE``
honoured); the connect and read timeouts from the config; the URL and headers on the wire; a retry's backoff
holding no concurrency slot. (Ported from the tests of the deleted asyncio network backend and wire path: the
behaviour users see is the same.)"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from soundcheck_cli.errors import Problems
from soundcheck_cli.http.client import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ClientSettings,
    HttpClient,
    HttpError,
    HttpOptions,
    NotFound,
    RetryPolicy,
    client_settings,
)
from http_servers import http_server, response
from reliability.cli import component, run, write_catalog


def _no_wait() -> HttpOptions:
    async def sleep(_: float) -> None:
        await asyncio.sleep(0)

    return HttpOptions(sleep=sleep)


# -- answers as callers see them ----------------------------------------------------------------------------------


def _chunked(parts: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + body


RESET = "GET URL/start: connection error (RemoteProtocolError: Server disconnected without sending a response.) (gave up after 3 attempts)"
GARBAGE = "GET URL/start: connection error (RemoteProtocolError: illegal status line: bytearray(b'NOT HTTP AT ALL')) (gave up after 3 attempts)"

# name: (server behaviour for request n, what three ``GET /start`` give, attempts sent, connections opened)
SCENARIOS: dict[str, tuple[Callable[[int, bytes], Any], list[Any], int, int]] = {
    "ok": (lambda n, head: response(b'{"n": %d}' % n),
           [(200, {"n": 1}, "URL/start", "8"), (200, {"n": 2}, "URL/start", "8"), (200, {"n": 3}, "URL/start", "8")], 3, 1),
    "chunked": (lambda n, head: _chunked([b'{"parts": ', b"[1, 2", b", 3]}"]),
                [(200, {"parts": [1, 2, 3]}, "URL/start", None)] * 3, 3, 1),
    "gzip": (lambda n, head: response(gzip.compress(b'{"zipped": true}'), extra=b"Content-Encoding: gzip\r\n"),
             [(200, {"zipped": True}, "URL/start", "36")] * 3, 3, 1),
    "server-closes-each-connection": (lambda n, head: (response(b'{"n": %d}' % n),),
                                      [(200, {"n": n}, "URL/start", "8") for n in (1, 2, 3)], 3, 3),
    "timeout-then-ok": (lambda n, head: "hang" if n == 1 else response(b'{"n": %d}' % n),
                        [(200, {"n": n}, "URL/start", "8") for n in (2, 3, 4)], 4, 2),
    "reset-then-ok": (lambda n, head: "reset" if n <= 2 else response(b'{"n": %d}' % n),
                      [(200, {"n": n}, "URL/start", "8") for n in (3, 4, 5)], 5, 3),
    "always-reset": (lambda n, head: "reset", [("HttpError", None, RESET)] * 3, 9, 9),
    "503-then-ok": (lambda n, head: response(b"busy", "503 Service Unavailable", b"Retry-After: 0\r\n") if n == 1 else response(b"{}"),
                    [(200, {}, "URL/start", "2")] * 3, 4, 1),
    "404": (lambda n, head: response(b'{"error": "nope"}', "404 Not Found"),
            [("NotFound", 404, "GET URL/start: not found (HTTP 404)")] * 3, 3, 1),
    "401": (lambda n, head: response(b'{"message": "Bad credentials"}', "401 Unauthorized"),
            [("HttpError", 401, "GET URL/start: HTTP 401 Unauthorized: Bad credentials")] * 3, 3, 1),
    "garbage": (lambda n, head: b"NOT HTTP AT ALL\r\n\r\n", [("HttpError", None, GARBAGE)] * 3, 9, 9),
    "redirect": (lambda n, head: response(b"", "302 Found", b"Location: /final\r\n") if b"GET /start" in head
                 else response(b'{"final": true}'), [(200, {"final": True}, "URL/final", "15")] * 3, 3, 1),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_answers_as_callers_see_them(name):
    behaviour, expected, attempts, connections = SCENARIOS[name]

    async def go():
        server, url, count = await http_server(behaviour)
        async with server:
            settings = ClientSettings(concurrency=2, timeout=0.3, connect_timeout=2, retry=RetryPolicy(max_attempts=3))
            async with HttpClient(settings, _no_wait(), base_url=url, headers={"Authorization": "token s3cret"}) as client:
                results = []
                for _ in range(3):
                    try:
                        answer = await client.request("GET", "/start")
                        results.append((answer.status_code, answer.json() if answer.content else None,
                                        str(answer.url).replace(url, "URL"), answer.headers.get("content-length")))  # fmt: skip
                    except HttpError as exc:
                        results.append((type(exc).__name__, exc.status, str(exc).replace(url, "URL")))
                return results, client.requests, count["connections"]

    results, sent, opened = asyncio.run(go())
    assert results == expected
    assert sent == attempts and opened == connections
    assert "s3cret" not in repr(results)


def test_responses_and_errors_carry_their_request():
    def behaviour(n: int, head: bytes) -> Any:
        path = head.split(b" ")[1]
        if path.startswith(b"/missing"):
            return response(b'{"error": {"message": "Not Found"}}', "404 Not Found")
        if path.startswith(b"/forbidden"):
            return response(b'{"message": "no access"}', "403 Forbidden")
        if path.startswith(b"/busy") and n == 4:  # its first attempt
            return response(b"busy", "503 Service Unavailable", b"Retry-After: 0\r\n")
        if path.startswith(b"/notjson"):
            return response(b"<html>")
        return response(b'{"ok": true}')

    async def go():
        server, url, count = await http_server(behaviour)
        async with server:
            settings = ClientSettings(concurrency=2, timeout=5, retry=RetryPolicy(max_attempts=2))
            async with HttpClient(settings, _no_wait(), base_url=url, headers={"Authorization": "Token token=s3cret"}) as client:
                out: dict[str, Any] = {}
                ok = await client.request("GET", "/ok", params={"page": "2"})
                out["ok"] = (ok.status_code, ok.json(), str(ok.url).replace(url, "URL"), ok.request.headers["authorization"])
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
    assert out["missing"] == ("GET URL/missing/1: not found (HTTP 404)", "URL/missing/1")
    assert out["forbidden"] == ("GET URL/forbidden: HTTP 403 Forbidden: no access", "GET")
    assert out["busy"] == {"ok": True}
    assert out["notjson"] == "GET URL/notjson: the response is not valid JSON (gave up after 2 attempts)"
    assert requests == served == 7


def test_the_request_on_the_wire():
    heads: list[bytes] = []

    def echo(n: int, head: bytes) -> bytes:
        heads.append(head)
        return response(b"{}")

    async def go():
        server, url, _ = await http_server(echo)
        async with server:
            headers = {"Authorization": "Token token=s3cret", "Accept": "application/vnd.pagerduty+json;version=2"}
            async with HttpClient(ClientSettings(), HttpOptions(), base_url=url + "/api/v3/", headers=headers) as client:
                await client.get_json("/services/P1", params={"include[]": ["teams", "integrations"], "q": "a b/c"})
                await client.get_json("services/P2?x=1", params=[("page", "2")])
                await client.request("POST", "/hooks", json={"a": 1}, headers={"X-Extra": "1"})
            return url.removeprefix("http://")

    host = asyncio.run(go())
    lines = [h.decode("latin-1").split("\r\n") for h in heads]
    assert lines[0][0] == "GET /api/v3/services/P1?include%5B%5D=teams&include%5B%5D=integrations&q=a%20b%2Fc HTTP/1.1"
    assert lines[1][0] == "GET /api/v3/services/P2?x=1&page=2 HTTP/1.1"
    assert lines[2][0] == "POST /api/v3/hooks HTTP/1.1"
    first = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[0][1:] if line)}
    assert first["host"] == host and first["user-agent"] == "soundcheck-cli"
    assert first["authorization"] == "Token token=s3cret"
    assert first["accept"] == "application/vnd.pagerduty+json;version=2"
    posted = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[2][1:] if line)}
    assert posted["content-type"] == "application/json" and posted["x-extra"] == "1" and posted["content-length"] == "7"  # {"a":1}


# -- timeouts ------------------------------------------------------------------------------------------------------


def test_timeout_settings_from_the_config():
    assert (ClientSettings().connect_timeout, ClientSettings().timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT) == (10.0, 30.0)
    for block, expected in [
        ({}, (30.0, 10.0)),
        ({"timeout": 20}, (20.0, 10.0)),  # a number: the read timeout; connecting stays quick
        ({"timeout": {"seconds": 90}}, (90.0, 10.0)),
        ({"timeout": "PT2M"}, (120.0, 10.0)),
        ({"timeout": {"connect": 3}}, (30.0, 3.0)),
        ({"timeout": {"connect": {"milliseconds": 500}, "read": 60}}, (60.0, 0.5)),
    ]:
        problems = Problems()
        settings = client_settings(block, problems)
        assert not problems.items, (block, problems.items)
        assert (settings.timeout, settings.connect_timeout) == expected, block
    for bad in ({"timeout": {"connect": 0}}, {"timeout": {"read": "soon"}}, {"timeout": {"connect": 1, "other": 2}}, {"timeout": -1}):
        problems = Problems()
        client_settings(bad, problems)
        assert problems.errors, bad


def _full_backlog() -> tuple[socket.socket, socket.socket, int]:
    """A listening socket that never accepts, its one-slot queue filled: a further connection attempt gets no answer
    (the kernel drops its SYN), as with a host behind a firewall that drops packets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    return server, filler, port


def test_a_host_that_does_not_answer_is_given_up_after_the_connect_timeout(tmp_path):
    server, filler, port = _full_backlog()
    try:
        write_catalog(tmp_path / "catalog-info.yaml", [component("svc-0", {"pagerduty.com/service-id": "P0"})])
        (tmp_path / "app-config.yaml").write_text(
            "soundcheck:\n"
            "  collectors:\n"
            "    pagerduty:\n"
            "      token: t0ken-value-123\n"
            f"      baseUrl: http://127.0.0.1:{port}\n"
            "      timeout: {connect: 0.3, read: 30}\n"
            "      retry: {maxAttempts: 2, maxDelay: 0.01}\n"
            "      collects: [{type: Service}]\n"
        )
        started = time.monotonic()
        proc = run(["collect", "--store", str(tmp_path / "store")], tmp_path, timeout=60)
        took = time.monotonic() - started
    finally:
        filler.close()
        server.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"GET http://127.0.0.1:{port}/services/P0" in proc.stdout + proc.stderr
    assert "timed out (ConnectTimeout) (gave up after 2 attempts)" in proc.stdout + proc.stderr
    assert took < 20  # two 0.3 s attempts (plus the process's start-up), not 2 x 10 s


def test_a_stalled_answer_is_given_up_after_the_read_timeout():
    async def go():
        server, url, count = await http_server(lambda n, head: "hang")
        async with server:
            settings = client_settings({"timeout": 0.2, "retry": {"maxAttempts": 1}})
            async with HttpClient(settings, _no_wait(), base_url=url) as client:
                started = time.monotonic()
                with pytest.raises(HttpError) as info:
                    await client.get_json("/slow")
                return str(info.value).replace(url, "URL"), time.monotonic() - started

    message, took = asyncio.run(go())
    assert message == "GET URL/slow: timed out (ReadTimeout) (gave up after 1 attempts)"
    assert 0.15 < took < 3


def test_a_retry_waiting_for_its_backoff_holds_no_slot():
    # Concurrency 1: /a fails once and waits for its backoff; /b must be sent meanwhile (the backoff only ends
    # when /b is done, so a held slot would never end it).
    paths: list[bytes] = []
    b_done = asyncio.Event()

    def behaviour(n: int, head: bytes) -> bytes:
        paths.append(head.split(b" ")[1])
        return response(b"", "503 Service Unavailable") if n == 1 else response(b"{}")

    async def sleep(_: float) -> None:
        await asyncio.wait_for(b_done.wait(), timeout=5)

    async def b(client: HttpClient) -> None:
        await asyncio.sleep(0)  # /a takes the slot first
        await client.get_json("/b")
        b_done.set()

    async def go():
        server, url, _ = await http_server(behaviour)
        async with server, HttpClient(ClientSettings(concurrency=1), HttpOptions(sleep=sleep), base_url=url) as client:
            await asyncio.gather(client.get_json("/a"), b(client))

    asyncio.run(go())
    assert paths == [b"/a", b"/b", b"/a"]


# -- TLS -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate() -> Any:
    """A self-signed certificate for 127.0.0.1 / localhost, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = Path(tempfile.mkdtemp(prefix="soundcheck-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    yield cert, key
    shutil.rmtree(folder, ignore_errors=True)


async def _tls_server(cert: Path, key: Path, body: bytes) -> tuple[asyncio.Server, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


def _get_over_tls(cert: Path, key: Path) -> Any:
    async def go():
        server, port = await _tls_server(cert, key, b'{"tls": true}')
        async with server:
            settings = ClientSettings(concurrency=2, timeout=5, retry=RetryPolicy(max_attempts=1))
            headers = {"Authorization": "Bearer tls-s3cret"}
            async with HttpClient(settings, _no_wait(), base_url=f"https://localhost:{port}", headers=headers) as client:
                try:
                    return await client.get_json("/x")
                except HttpError as exc:
                    return str(exc)

    return asyncio.run(go())


def test_https_verifies_certificates_and_honours_ssl_cert_file(certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the organisation's CA bundle, as httpx reads it
    assert _get_over_tls(cert, key) == {"tls": True}
    monkeypatch.delenv("SSL_CERT_FILE")
    refused = _get_over_tls(cert, key)  # the default CAs do not know this certificate
    assert "ConnectError" in refused and "CERTIFICATE_VERIFY_FAILED" in refused
    assert "tls-s3cret" not in refused


def test_a_host_whose_certificate_fails_opens_the_breaker_with_the_tls_reason(certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async def go():
        server, port = await _tls_server(cert, key, b"{}")
        async with server:
            settings = ClientSettings(concurrency=1, timeout=5, retry=RetryPolicy(max_attempts=1))
            async with HttpClient(settings, _no_wait(), base_url=f"https://localhost:{port}") as client:
                for i in range(5):
                    with pytest.raises(HttpError):
                        await client.get(f"/{i}")
                with pytest.raises(HttpError) as info:
                    await client.get("/again")
                return str(info.value), port

    message, port = asyncio.run(go())
    assert message == f"localhost:{port}: not contacted, the host failed 5 times in a row (TLS: self-signed certificate)"
