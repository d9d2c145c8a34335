"""The HTTP client's per-host circuit breaker (issue 17 item 16): a dead or broken API costs a handful of requests,
not ``entities x retry.maxAttempts``, and says so once per host.

Through the real ``soundcheck collect`` process (the pagerduty collector, 300 entities) against 127.0.0.1: a closed
port and a server answering 500 to everything; through ``HttpClient`` against a real server for the rules (a success
resets the count, one resource retried back to back does not open it, other hosts are still contacted, no secret in
the message); and the webhook sink, which shares the client."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.http.client import (
    BREAKER_THRESHOLD,
    ClientSettings,
    HostUnavailable,
    HttpClient,
    HttpError,
    HttpOptions,
    RetryPolicy,
)
from soundcheck_cli.redact import Redactor
from http_servers import http_server, response
from reliability.cli import component, run, stored, write_catalog
from reliability.fault_server import Faults, FaultServer

N = 300
CONCURRENCY = 8
TOKEN = "pd-breaker-token-0123456789"
REF = "pagerduty:default/service"
SEEDED = ("P0003", "P0150", "P0299")  # services that have a fact from an earlier run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed: connection refused


def _workspace(tmp_path, url: str):
    write_catalog(
        tmp_path / "catalog-info.yaml",
        [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i:04d}"}) for i in range(N)],
    )
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n"
        "  collectors:\n"
        "    pagerduty:\n"
        "      token: ${PAGERDUTY_TOKEN}\n"
        f"      baseUrl: {url}\n"
        f"      concurrency: {CONCURRENCY}\n"
        "      retry: {maxAttempts: 5}\n"
        "      collects:\n"
        "        - type: Service\n"
    )
    store = tmp_path / "store"
    facts = [
        {"factRef": REF, "entityRef": f"component:default/svc-{int(sid[1:])}", "data": {"id": sid, "name": f"old {sid}"},
         "timestamp": "2020-01-01T00:00:00Z"}
        for sid in SEEDED
    ]  # fmt: skip
    (tmp_path / "seed.json").write_text(json.dumps(facts))
    proc = run(["facts", "push", str(tmp_path / "seed.json"), "--store", str(store)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return store


def _collect_against_dead_api(tmp_path, url: str, host: str, why: str) -> int:
    """Runs ``soundcheck collect`` and checks what a user sees; returns the request count the summary states."""
    store = _workspace(tmp_path, url)
    proc = run(["collect", "--store", str(store)], tmp_path, {"PAGERDUTY_TOKEN": TOKEN}, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # facts failed
    assert "Traceback" not in out and TOKEN not in out
    message = f"{host}: not contacted, the host failed {BREAKER_THRESHOLD} times in a row ({why})"
    assert out.count("not contacted") == 1, out  # grouped: once for the host, not once per entity
    line = next(line for line in out.splitlines() if "not contacted" in line)
    assert f"failed: {message} (300 facts) [" in line and "and 297 more]" in line, line
    summary = re.search(r"pagerduty: 0 collected, .*, 300 failed; (\d+) requests in", out)
    assert summary, out
    # Earlier facts are kept, unchanged; nothing was stored for the others.
    facts = stored(store, REF)
    assert sorted(facts) == sorted(f"component:default/svc-{int(sid[1:])}" for sid in SEEDED)
    assert all(f.data["name"] == f"old {f.data['id']}" for f in facts.values())
    return int(summary.group(1))


def test_collect_against_a_closed_port_stops_after_a_few_requests(tmp_path):
    port = _closed_port()
    requests = _collect_against_dead_api(tmp_path, f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", "connection refused")
    # Without the breaker: 300 entities x 5 attempts = 1,500 connection attempts, and 40 s of backoff.
    assert 1 <= requests <= BREAKER_THRESHOLD + CONCURRENCY


def test_collect_against_a_server_answering_500_stops_after_a_few_requests(tmp_path):
    with FaultServer(faults=Faults(server_error=1.0), max_requests=N * 5, max_seconds=90) as server:
        host = server.url.removeprefix("http://")
        stated = _collect_against_dead_api(tmp_path, server.url, host, "HTTP 500 Internal Server Error")
        sent = server.requests
    assert sent == stated  # the summary's count is what the server saw
    assert BREAKER_THRESHOLD <= sent <= BREAKER_THRESHOLD + CONCURRENCY  # without the breaker: 1,500


# -- the rules, through HttpClient against a real server -----------------------------------------------------------


def _no_wait() -> HttpOptions:
    async def sleep(_: float) -> None:
        await asyncio.sleep(0)

    return HttpOptions(sleep=sleep)


def _settings(attempts: int = 1, concurrency: int = 1) -> ClientSettings:
    return ClientSettings(concurrency=concurrency, timeout=5, retry=RetryPolicy(max_attempts=attempts))


async def _outcomes(client: HttpClient, paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        try:
            await client.get_json(path)
            out.append("ok")
        except HostUnavailable:
            out.append("breaker")
        except HttpError as exc:
            out.append(f"HTTP {exc.status}" if exc.status else "failed")
    return out


def test_a_success_resets_the_count():
    # Four failing requests, a success, four more: never five in a row, so every request is sent.
    def behaviour(n: int, head: bytes) -> bytes:
        return response(b"{}") if n == 5 else response(b"down", "503 Service Unavailable")

    async def go():
        server, url, count = await http_server(behaviour)
        async with server, HttpClient(_settings(), _no_wait(), base_url=url) as client:
            return await _outcomes(client, [f"/{i}" for i in range(9)]), count["n"]

    outcomes, sent = asyncio.run(go())
    assert outcomes == ["failed"] * 4 + ["ok"] + ["failed"] * 4 and sent == 9


def test_five_failing_requests_in_a_row_open_the_breaker_for_the_rest_of_the_run():
    async def go():
        server, url, count = await http_server(lambda n, head: response(b"", "500 Internal Server Error"))
        async with server, HttpClient(_settings(), _no_wait(), base_url=url) as client:
            outcomes = await _outcomes(client, [f"/{i}" for i in range(12)])
            with pytest.raises(HostUnavailable) as info:
                await client.request("POST", "/other", json={"a": 1})
            return outcomes, count["n"], str(info.value), url

    outcomes, sent, message, url = asyncio.run(go())
    assert outcomes == ["failed"] * BREAKER_THRESHOLD + ["breaker"] * (12 - BREAKER_THRESHOLD)
    assert sent == BREAKER_THRESHOLD
    host = url.removeprefix("http://")
    assert message == f"{host}: not contacted, the host failed 5 times in a row (HTTP 500 Internal Server Error)"
    assert isinstance(HostUnavailable(message), HttpError)  # collectors report it as a failed fact


def test_one_resource_retried_back_to_back_does_not_open_the_breaker():
    # /broken always fails: its 8 attempts come one after the other, yet the host is fine.
    def behaviour(n: int, head: bytes) -> bytes:
        return response(b"", "500 Internal Server Error") if b"/broken" in head else response(b'{"ok": true}')

    async def go():
        server, url, count = await http_server(behaviour)
        async with server, HttpClient(_settings(attempts=8), _no_wait(), base_url=url) as client:
            return await _outcomes(client, ["/broken", "/fine", "/broken", "/fine"]), count["n"]

    outcomes, sent = asyncio.run(go())
    assert outcomes == ["failed", "ok", "failed", "ok"] and sent == 18


def test_broken_resources_still_retrying_after_a_newer_success_do_not_open_the_breaker():
    # The end of a run: five broken resources, each started before a request the host answered, are the only ones
    # left, retrying (so failing "in a row"). They are those resources' failures, not the host's (issue 18).
    release = asyncio.Event()

    def behaviour(n: int, head: bytes) -> bytes:
        return response(b"", "500 Internal Server Error") if b"/broken" in head else response(b'{"ok": true}')

    async def backoff(_: float) -> None:
        await release.wait()  # the retries wait until every request of the host has been answered once

    async def go():
        server, url, count = await http_server(behaviour)
        async with server, HttpClient(_settings(attempts=4, concurrency=1), HttpOptions(sleep=backoff),
                                      base_url=url) as client:
            paths = [p for i in range(BREAKER_THRESHOLD) for p in (f"/broken/{i}", f"/fine/{i}")]
            tasks = [asyncio.ensure_future(_outcomes(client, [path])) for path in paths]  # in this order
            await asyncio.gather(*tasks[1::2])
            release.set()
            return [(await task)[0] for task in tasks], count["n"]

    outcomes, sent = asyncio.run(go())
    assert outcomes == ["failed", "ok"] * BREAKER_THRESHOLD  # each broken one gave up after 4 attempts
    assert sent == BREAKER_THRESHOLD * (4 + 1)


def test_retries_stop_once_the_breaker_opens():
    # Concurrency 8, 5 attempts each: without the breaker 40 requests; the first wave opens it and no retry follows.
    async def go():
        server, url, count = await http_server(lambda n, head: response(b"", "502 Bad Gateway"))
        async with server, HttpClient(_settings(attempts=5, concurrency=8), _no_wait(), base_url=url) as client:
            results = await asyncio.gather(*(client.get_json(f"/{i}") for i in range(8)), return_exceptions=True)
            return results, count["n"]

    results, sent = asyncio.run(go())
    assert all(isinstance(r, HostUnavailable) for r in results)
    assert BREAKER_THRESHOLD <= sent <= 8


def test_the_breaker_is_per_host():
    port = _closed_port()

    async def go():
        server, url, count = await http_server(lambda n, head: response(b'{"up": true}'))
        async with server, HttpClient(_settings(), _no_wait()) as client:
            dead = await _outcomes(client, [f"http://127.0.0.1:{port}/{i}" for i in range(7)])
            alive = await client.get_json(f"{url}/x")
            return dead, alive, count["n"]

    dead, alive, served = asyncio.run(go())
    assert dead == ["failed"] * 5 + ["breaker"] * 2
    assert alive == {"up": True} and served == 1


def test_the_breaker_message_names_the_host_and_no_secret():
    port = _closed_port()
    secret = "s3cret-in-userinfo"

    async def go():
        options = _no_wait()
        options.redactor = Redactor([secret])
        async with HttpClient(_settings(), options, base_url=f"http://user:{secret}@127.0.0.1:{port}") as client:
            for i in range(BREAKER_THRESHOLD):
                with pytest.raises(HttpError):
                    await client.get(f"/{i}", params={"token": secret})
            with pytest.raises(HostUnavailable) as info:
                await client.get("/again")
            return str(info.value)

    message = asyncio.run(go())
    assert message == f"127.0.0.1:{port}: not contacted, the host failed 5 times in a row (connection refused)"


# -- the webhook sink shares the client, so the breaker ----------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    """Acknowledges the first ``accept`` POSTs with 204, then answers ``status`` to every other."""

    protocol_version = "HTTP/1.1"
    accept = 0
    status = 500
    posts: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.posts.append(self.path)
            n = len(self.posts)
        self.send_response(204 if n <= self.accept else self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _deliver_to_hook(tmp_path, capsys, accept: int, status: int) -> tuple[str, int, int]:
    """``soundcheck check`` on 40 components (160 change events, each POSTed alone) with a webhook sink on a local
    endpoint; returns stderr, the POSTs the endpoint saw and its port."""
    from workspaces import hygiene_config

    _Hook.posts, _Hook.accept, _Hook.status = [], accept, status
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        (tmp_path / "catalog.yaml").write_text("".join(
            f"---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: c{i}}}\nspec: {{type: service}}\n"
            for i in range(40)
        ))  # fmt: skip
        (tmp_path / "app-config.yaml").write_text(hygiene_config() + f"""\
  events:
    enabled: true
    subscribers: false
    sinks:
      - {{type: webhook, url: "http://127.0.0.1:{server.server_port}/hook", concurrency: 4, retry: {{maxAttempts: 5}},
          headers: {{Authorization: "Bearer hook-s3cret"}}}}
""")  # fmt: skip
        argv = ["check", "-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store"), "-f", "json"]
        code = run_cli(argv)
        err = capsys.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1  # the gate's answer (every component lacks an owner): a failing webhook does not change it
    assert "kept in the store, retried on the next run" in err and "hook-s3cret" not in err
    return err, len(_Hook.posts), server.server_port


def test_webhook_endpoint_failing_mid_delivery_stops_after_a_few_requests(tmp_path, capsys):
    err, posts, port = _deliver_to_hook(tmp_path, capsys, accept=1, status=500)
    assert f"127.0.0.1:{port}: not contacted, the host failed 5 times in a row (HTTP 500 Internal Server Error)" in err
    # The first event acknowledged, then 159 to send with up to 5 attempts each: hundreds of requests without the
    # breaker; with it, the ones in flight (concurrency 4) until five have failed.
    assert 1 + BREAKER_THRESHOLD <= posts <= 1 + BREAKER_THRESHOLD + 4


def test_webhook_endpoint_refusing_us_costs_one_request(tmp_path, capsys):
    err, posts, port = _deliver_to_hook(tmp_path, capsys, accept=0, status=401)
    assert f"POST http://127.0.0.1:{port}/hook: HTTP 401 Unauthorized" in err
    assert posts == 1  # not one per pending event
