"""The asyncio-native httpcore network backend (``collectors.net_backend``) against real 127.0.0.1 servers:
connect / read / write / timeouts / close by the server / close by us / flow control / TLS / Unix sockets, the
httpx transport over it (same results and exception types as ``httpx.AsyncHTTPTransport``), and the real
``pagerduty`` collector through ``run_collection`` on it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.http import client as http_client
from soundcheck_cli.http.client import ClientSettings, HttpClient, HttpError, HttpOptions
from soundcheck_cli.http.net_backend import READ_HIGH_WATER, AsyncioBackend, AsyncioStream, AsyncioTransport
from soundcheck_cli.collectors.outcomes import OutcomeKind
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.config.model import CollectorSettings, Settings
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.facts.store import open_store
from http_servers import http_server, response


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _server(handle: Callable[..., Any]) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _sends(data: bytes, after: float = 0.0) -> Callable[..., Any]:
    """A server handler: after ``after`` seconds, send ``data``, then stay open until the client closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if after:
            await asyncio.sleep(after)
        writer.write(data)
        await writer.drain()
        await reader.read()
        writer.close()

    return handle


async def _until_readable(stream: Any) -> bool:
    """Whether the stream reports itself readable within ~1 s (the loop delivers a close within a few turns)."""
    for _ in range(100):
        if stream.get_extra_info("is_readable"):
            return True
        await asyncio.sleep(0.01)
    return bool(stream.get_extra_info("is_readable"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the stream: connect, read, write, close ---------------------------------------------------------------------


def test_connect_write_read_roundtrip_and_extra_info():
    async def go():
        async def echo(reader, writer):
            data = await reader.readexactly(5)
            writer.write(data.upper())
            await writer.drain()
            await reader.read()  # until the client closes
            writer.close()

        server, port = await _server(echo)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            assert isinstance(stream, AsyncioStream)
            idle_readable = stream.get_extra_info("is_readable")
            await stream.write(b"hello", timeout=5)
            await stream.write(b"", timeout=5)  # nothing to send: no-op
            got = b""
            while len(got) < 5:
                got += await stream.read(65536, timeout=5)
            info = (
                stream.get_extra_info("server_addr"),
                stream.get_extra_info("client_addr")[0],
                stream.get_extra_info("ssl_object"),
                stream.get_extra_info("socket") is not None,
                stream.get_extra_info("unknown"),
            )
            await stream.aclose()
            await stream.aclose()  # twice is fine
            return idle_readable, got, info, port

    idle_readable, got, info, port = run(go())
    assert idle_readable is False
    assert got == b"HELLO"
    assert info == (("127.0.0.1", port), "127.0.0.1", None, True, None)


def test_read_returns_at_most_max_bytes_and_keeps_the_rest():
    async def go():
        server, port = await _server(_sends(b"abcdefghij"))
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            got = []
            while sum(map(len, got)) < 10:
                got.append(await stream.read(3, timeout=5))
            await stream.aclose()
            return got

    parts = run(go())
    assert all(len(p) <= 3 for p in parts)
    assert b"".join(parts) == b"abcdefghij"


def test_connection_refused_is_connect_error():
    port = _free_port()

    async def go():
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)

    run(go())


def test_connect_timeout_is_connect_timeout(monkeypatch):

    async def never(*args, **kwargs):
        await asyncio.sleep(3600)

    async def go():
        monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", never)
        with pytest.raises(httpcore.ConnectTimeout):
            await AsyncioBackend().connect_tcp("127.0.0.1", 9, timeout=0.05)

    run(go())


def test_read_timeout_is_read_timeout_and_the_stream_stays_usable():
    async def go():
        server, port = await _server(_sends(b"late", after=0.3))
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(100, timeout=0.05)
            data = await stream.read(100, timeout=5)  # the timer of the first read is gone
            await stream.aclose()
            return data

    assert run(go()) == b"late"


def test_close_by_server_reads_end_of_stream_then_write_fails():
    async def go():
        async def close_after_hello(reader, writer):
            writer.write(b"bye")
            await writer.drain()
            writer.close()

        server, port = await _server(close_after_hello)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            first = await stream.read(100, timeout=5)
            end = await stream.read(100, timeout=5)
            readable = await _until_readable(stream)
            with pytest.raises(httpcore.WriteError):
                for _ in range(3):
                    await stream.write(b"more", timeout=5)
                    await asyncio.sleep(0.05)
            await stream.aclose()
            return first, end, readable

    assert run(go()) == (b"bye", b"", True)


def test_idle_connection_closed_by_server_is_readable():
    async def go():
        closed = asyncio.Event()

        async def close_now(reader, writer):
            writer.close()
            closed.set()

        server, port = await _server(close_now)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            await closed.wait()
            readable = await _until_readable(stream)
            await stream.aclose()
            return readable

    assert run(go()) is True


def test_reset_by_server_is_read_error():
    async def go():
        async def reset(reader, writer):
            await reader.readexactly(1)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
            writer.transport.abort()

        server, port = await _server(reset)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            await stream.write(b"x")
            outcome = None
            try:
                data = await stream.read(100, timeout=5)
                outcome = data  # some kernels report the reset as an end of stream
            except httpcore.ReadError:
                outcome = "ReadError"
            await stream.aclose()
            return outcome

    assert run(go()) in ("ReadError", b"")


def test_read_after_our_close_is_read_error_and_write_is_write_error():
    async def go():
        server, port = await _server(_sends(b""))  # says nothing until the client closes
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            await stream.aclose()
            with pytest.raises(httpcore.ReadError):
                await stream.read(10, timeout=1)
            with pytest.raises(httpcore.WriteError):
                await stream.write(b"x", timeout=1)
            return stream.get_extra_info("is_readable")

    assert run(go()) is True


def test_large_body_is_read_whole_and_in_order_with_flow_control():
    size = 4 * READ_HIGH_WATER + 12345
    payload = bytes(i % 251 for i in range(size))

    async def go():
        # open until the client closes: only flow control stops the client reading
        server, port = await _server(_sends(payload))
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            await asyncio.sleep(0.2)  # let the buffer fill past the high-water mark (reading pauses)
            paused = not stream._transport.is_reading()
            got = bytearray()
            while len(got) < size:
                got += await stream.read(65536, timeout=5)
            await stream.aclose()
            return paused, bytes(got)

    paused, got = run(go())
    assert paused is True
    assert got == payload


def test_large_write_waits_for_the_socket_to_drain():
    size = 8 * 1024 * 1024

    async def go():
        received = 0
        done = asyncio.Event()

        async def sink(reader, writer):
            nonlocal received
            await asyncio.sleep(0.1)  # let the client's write buffer fill up first
            while received < size:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    break
                received += len(chunk)
            done.set()
            writer.close()

        server, port = await _server(sink)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            await stream.write(b"x" * size, timeout=10)
            await asyncio.wait_for(done.wait(), 10)
            await stream.aclose()
            return received

    assert run(go()) == size


def test_write_timeout_when_the_peer_never_reads():
    async def go():
        async def never_read(reader, writer):
            await asyncio.sleep(5)

        server, port = await _server(never_read)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            with pytest.raises(httpcore.WriteTimeout):
                for _ in range(64):  # more than the kernel buffers take
                    await stream.write(b"x" * (1 << 20), timeout=0.1)
            await stream.aclose()
            server.close()

    run(go())


def test_socket_options_are_applied():
    async def go():
        server, port = await _server(_sends(b""))  # says nothing until the client closes
        async with server:
            options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, socket_options=options)
            value = stream.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            nodelay = stream.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            await stream.aclose()
            return value, nodelay

    value, nodelay = run(go())
    assert value != 0 and nodelay != 0


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_unix_socket_roundtrip(tmp_path):
    path = str(tmp_path / "s.sock")

    async def go():
        async def echo(reader, writer):
            writer.write(await reader.readexactly(2))
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(echo, path)
        async with server:
            stream = await AsyncioBackend().connect_unix_socket(path, timeout=5)
            await stream.write(b"ok")
            data = await stream.read(10, timeout=5)
            await stream.aclose()
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_unix_socket(str(tmp_path / "missing.sock"), timeout=5)
        return data

    assert run(go()) == b"ok"


def test_backend_sleep():
    async def go():
        loop = asyncio.get_running_loop()
        started = loop.time()
        await AsyncioBackend().sleep(0.01)
        return loop.time() - started

    assert run(go()) >= 0.005


# -- TLS ---------------------------------------------------------------------------------------------------------


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


async def _tlshttp_server(cert: Path, key: Path, body: bytes) -> tuple[asyncio.Server, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    async def handle(reader, writer):
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


def test_start_tls_verifies_and_talks(certificate):
    cert, key = certificate

    async def go():
        server, port = await _tlshttp_server(cert, key, b"secure")
        async with server:
            client_context = ssl.create_default_context(cafile=str(cert))
            client_context.set_alpn_protocols(["http/1.1"])
            plain = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            stream = await plain.start_tls(client_context, server_hostname="localhost", timeout=5)
            ssl_object = stream.get_extra_info("ssl_object")
            await stream.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=5)
            got = b""
            while not got.endswith(b"secure"):
                got += await stream.read(65536, timeout=5)
            await stream.aclose()
            return ssl_object is not None, ssl_object.version(), got

    is_tls, version, got = run(go())
    assert is_tls and version.startswith("TLS")
    assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"secure")


@pytest.mark.parametrize(("trusted", "hostname", "said"), [
    (False, "localhost", "CERTIFICATE_VERIFY_FAILED"),  # a certificate nobody vouches for
    (True, "other.test", "other.test"),  # a trusted certificate for another name
])
def test_start_tls_refuses_a_certificate_it_cannot_trust(certificate, trusted, hostname, said):
    cert, key = certificate

    async def go():
        server, port = await _tlshttp_server(cert, key, b"x")
        async with server:
            plain = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            context = ssl.create_default_context(cafile=str(cert) if trusted else None)
            with pytest.raises(httpcore.ConnectError) as info:
                await plain.start_tls(context, server_hostname=hostname, timeout=5)
            return str(info.value), plain.get_extra_info("is_readable")

    message, closed = run(go())
    assert said in message
    assert closed is True  # the failed stream was closed


def test_start_tls_timeout_is_connect_timeout():
    async def go():
        async def silent(reader, writer):  # accepts TCP, never answers the TLS hello
            await asyncio.sleep(5)

        server, port = await _server(silent)
        async with server:
            plain = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            with pytest.raises(httpcore.ConnectTimeout):
                await plain.start_tls(ssl.create_default_context(), server_hostname="localhost", timeout=0.1)
            server.close()

    run(go())


def test_https_through_the_client_verifies_certificates(certificate, monkeypatch):
    cert, key = certificate
    trusted = ssl.create_default_context(cafile=str(cert))

    async def go(context: ssl.SSLContext) -> Any:
        monkeypatch.setattr(http_client, "_ssl_context", lambda: context)
        server, port = await _tlshttp_server(cert, key, b'{"tls": true}')
        async with server:
            opts = HttpOptions(sleep=lambda s: asyncio.sleep(0))
            settings = ClientSettings(concurrency=2, timeout=5, retry=http_client.RetryPolicy(max_attempts=1))
            async with HttpClient(settings, opts, base_url=f"https://localhost:{port}") as client:
                assert isinstance(client._transports[0], AsyncioTransport)
                try:
                    return await client.get_json("/x")
                except HttpError as exc:
                    return str(exc)

    assert run(go(trusted)) == {"tls": True}
    refused = run(go(ssl.create_default_context()))  # the system CAs do not know this certificate
    assert "ConnectError" in refused and "CERTIFICATE_VERIFY_FAILED" in refused


# -- the transport: the same behaviour as httpx.AsyncHTTPTransport ------------------------------------------------


def _transports() -> list[tuple[str, Callable[[httpx.Limits], httpx.AsyncBaseTransport]]]:
    return [
        ("asyncio", lambda limits: AsyncioTransport(http_client._ssl_context(), limits)),
        ("httpx", lambda limits: httpx.AsyncHTTPTransport(verify=http_client._ssl_context(), limits=limits)),
    ]


def _chunked(parts: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + body


SCENARIOS: dict[str, Callable[[int, bytes], Any]] = {
    "ok": lambda n, head: response(b'{"n": %d}' % n),
    "chunked": lambda n, head: _chunked([b'{"parts": ', b"[1, 2", b", 3]}"]),
    "gzip": lambda n, head: response(__import__("gzip").compress(b'{"zipped": true}'), extra=b"Content-Encoding: gzip\r\n"),
    "server-closes-each-connection": lambda n, head: (response(b'{"n": %d}' % n),),
    "timeout-then-ok": lambda n, head: "hang" if n == 1 else response(b'{"n": %d}' % n),
    "reset-then-ok": lambda n, head: "reset" if n <= 2 else response(b'{"n": %d}' % n),
    "always-reset": lambda n, head: "reset",
    "503-then-ok": lambda n, head: response(b"busy", "503 Service Unavailable", b"Retry-After: 0\r\n") if n == 1 else response(b"{}"),
    "404": lambda n, head: response(b'{"error": "nope"}', "404 Not Found"),
    "401": lambda n, head: response(b'{"message": "Bad credentials"}', "401 Unauthorized"),
    "garbage": lambda n, head: b"NOT HTTP AT ALL\r\n\r\n",
    "redirect": lambda n, head: (
        response(b"", "302 Found", b"Location: /final\r\n") if b"GET /start" in head else response(b'{"final": true}')
    ),
    "echo-headers": lambda n, head: response(
        json.dumps(sorted(line.split(b":")[0].decode().lower() for line in head.split(b"\r\n")[1:] if line)).encode()
    ),
}


async def _scenario(name: str, make: Callable[[httpx.Limits], httpx.AsyncBaseTransport], monkeypatch: Any) -> Any:
    monkeypatch.setattr(http_client, "_default_transport", make)
    server, url, count = await http_server(SCENARIOS[name])
    async with server:
        opts = HttpOptions(sleep=lambda s: asyncio.sleep(0))
        settings = ClientSettings(concurrency=2, timeout=0.3, connect_timeout=2,
                                  retry=http_client.RetryPolicy(max_attempts=3))  # fmt: skip
        async with HttpClient(settings, opts, base_url=url, headers={"Authorization": "token s3cret"}) as client:
            results = []
            for _ in range(3):
                try:
                    response = await client.request("GET", "/start")
                    results.append((response.status_code, response.json() if response.content else None,
                                    str(response.url).replace(url, "URL"), response.headers.get("content-length")))  # fmt: skip
                except HttpError as exc:
                    results.append((type(exc).__name__, exc.status, str(exc).replace(url, "URL")))
            return results, client.requests, count["n"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transport_behaves_as_httpx_transport(name, monkeypatch):
    (_, ours), (_, theirs) = _transports()
    expected = run(_scenario(name, theirs, monkeypatch))
    assert run(_scenario(name, ours, monkeypatch)) == expected
    assert "s3cret" not in repr(expected)


def test_transport_maps_exceptions_like_httpx():
    async def go(make):
        port = _free_port()
        transport = make(httpx.Limits())
        async with transport:
            with pytest.raises(httpx.HTTPError) as info:
                await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/"))
            unsupported = None
            try:
                await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))
            except httpx.HTTPError as exc:
                unsupported = type(exc)
        return type(info.value), unsupported

    (_, ours), (_, theirs) = _transports()
    assert run(go(ours)) == run(go(theirs)) == (httpx.ConnectError, httpx.UnsupportedProtocol)


def test_transport_read_timeout_is_httpx_read_timeout():
    async def go(make):
        server, url, _ = await http_server(lambda n, head: "hang")
        async with server:
            transport = make(httpx.Limits())
            async with transport:
                request = httpx.Request("GET", url, extensions={"timeout": {"connect": 2, "read": 0.05, "write": 2, "pool": 2}})
                with pytest.raises(httpx.HTTPError) as info:
                    await transport.handle_async_request(request)
            server.close()
        return type(info.value)

    (_, ours), (_, theirs) = _transports()
    assert run(go(ours)) == run(go(theirs)) == httpx.ReadTimeout


def test_transport_reuses_connections_and_replaces_ones_the_server_closed():
    async def go():
        server, url, count = await http_server(lambda n, head: response(b"{}") if n != 3 else (response(b"{}"),))
        async with server, HttpClient(ClientSettings(concurrency=1), HttpOptions(), base_url=url) as client:
            assert isinstance(client._transports[0], AsyncioTransport)
            for _ in range(6):
                await client.get_json("/x")
                await asyncio.sleep(0.01)
            return client.requests, count["n"], count["connections"]

    # request 3 is answered and its connection closed by the server: the idle check sees it, so no request fails
    assert run(go()) == (6, 6, 2)


# -- through the real collectors ---------------------------------------------------------------------------------


class _PagerDutyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.path)
        sid = self.path.split("?")[0].rsplit("/", 1)[-1]
        if sid == "PMISSING":
            body = b'{"error": {"message": "Not Found"}}'
            self.send_response(404)
        else:
            body = json.dumps({"service": {"id": sid, "name": f"Service {sid}", "status": "active"}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_pagerduty_collection_through_the_backend(tmp_path, monkeypatch):
    made: list[httpx.AsyncBaseTransport] = []
    real = http_client._default_transport

    def spy(limits):
        made.append(real(limits))
        return made[-1]

    monkeypatch.setattr(http_client, "_default_transport", spy)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    _PagerDutyHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PagerDutyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        block = {
            "token": "pd-secret-token",
            "server": f"http://127.0.0.1:{server.server_address[1]}",
            "concurrency": 4,
            "collects": [{"type": "Service"}],
        }
        settings = Settings(files=(), collectors=(CollectorSettings("pagerduty", block),),
                            app_config={"soundcheck": {"collectors": {"pagerduty": block}}})  # fmt: skip
        ids = [f"P{i:04d}" for i in range(30)] + ["PMISSING"]
        entities = [
            Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                              "metadata": {"name": f"svc-{i}", "annotations": {"pagerduty.com/service-id": sid}}})  # fmt: skip
            for i, sid in enumerate(ids)
        ]
        with open_store(os.path.join(tmp_path, "store")) as store:
            summary = run_collection(settings, entities, store, collector_ids=["pagerduty"])
            fact = store.get(entities[7].ref.key, FactRef("pagerduty", "default", "service"))
    finally:
        server.shutdown()
        server.server_close()
    pd = summary.collector("pagerduty")
    assert made and all(isinstance(t, AsyncioTransport) for t in made)
    assert (pd.collected, pd.failed) == (30, 0)
    assert pd.count(OutcomeKind.ABSENT) == 1
    assert len(_PagerDutyHandler.seen) == 31
    assert fact is not None and fact.data["id"] == "P0007"
