"""Tests of ``http.client``: retries and backoff, 429/Retry-After, GitHub rate-limit headers, 404 as
absent, no retry on 4xx, connection resets and timeouts (mock transport and a real 127.0.0.1 server), the
concurrency bound, the limiter, and redacted ``--verbose`` request logs. No test really sleeps for a backoff."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from soundcheck_cli.http.client import (
    ClientSettings,
    HttpClient,
    HttpError,
    HttpOptions,
    LimiterSettings,
    NotFound,
    RetryPolicy,
    client_settings,
    parse_retry_after,
    path_segment,
)
from soundcheck_cli.errors import Problems
from soundcheck_cli.redact import Redactor

from http_servers import http_server, response


class FakeTime:
    """A monotonic clock and a wall clock that only move when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall0 = 1_700_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall0 + (self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def make_client(
    handler, *, settings: ClientSettings | None = None, time: FakeTime | None = None, headers=None, **options
) -> HttpClient:
    time = time or FakeTime()
    opts = HttpOptions(
        transport=httpx.MockTransport(handler),
        sleep=time.sleep,
        clock=time.clock,
        wall_clock=time.wall_clock,
        rng=random.Random(7),
        **options,
    )
    return HttpClient(settings or ClientSettings(), opts, base_url="https://api.test", headers=headers)


def run(coro):
    return asyncio.run(coro)


def sequence(*responses):
    """A handler answering each request with the next item (a Response, or an exception to raise)."""
    items = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


# -- retries -----------------------------------------------------------------------------------------------------


def test_5xx_backoff_then_success():
    handler = sequence(httpx.Response(503), httpx.Response(500), httpx.Response(200, json={"ok": True}))
    time = FakeTime()

    async def go():
        async with make_client(handler, time=time) as client:
            data = await client.get_json("/x")
            return data, client.requests

    data, requests = run(go())
    assert data == {"ok": True} and requests == 3
    # Exponential with equal jitter: attempt 1 waits in [0.25, 0.5], attempt 2 in [0.5, 1.0].
    assert len(time.sleeps) == 2
    assert 0.25 <= time.sleeps[0] <= 0.5 and 0.5 <= time.sleeps[1] <= 1.0


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    delays = [policy.backoff(attempt, rng) for attempt in range(1, 10)]
    assert all(d <= 8.0 for d in delays)
    assert all(4.0 <= d <= 8.0 for d in delays[3:])  # capped at 8: half fixed, half random
    assert len({round(d, 6) for d in delays[3:]}) > 1  # jitter: not all equal


def test_gives_up_after_max_attempts():
    handler = sequence(httpx.Response(502))
    settings = ClientSettings(retry=RetryPolicy(max_attempts=3))

    async def go():
        async with make_client(handler, settings=settings) as client:
            with pytest.raises(HttpError) as info:
                await client.get("/x")
            return info.value, client.requests

    error, requests = run(go())
    assert requests == 3
    assert "HTTP 502" in str(error) and "gave up after 3 attempts" in str(error)


def test_connection_reset_then_success():
    handler = sequence(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("Connection reset by peer"),
        httpx.Response(200, json=[1]),
    )

    async def go():
        async with make_client(handler) as client:
            return await client.get_json("/x"), client.requests

    assert run(go()) == ([1], 3)


def test_timeout_then_success():
    handler = sequence(httpx.ReadTimeout("read timed out"), httpx.Response(200, json={"a": 1}))

    async def go():
        async with make_client(handler) as client:
            return await client.get_json("/x"), client.requests

    assert run(go()) == ({"a": 1}, 2)


def test_invalid_json_is_retried():
    handler = sequence(httpx.Response(200, content=b"<html>oops"), httpx.Response(200, json={"a": 1}))

    async def go():
        async with make_client(handler) as client:
            return await client.get_json("/x")

    assert run(go()) == {"a": 1}


# -- 4xx -------------------------------------------------------------------------------------------------------


def test_404_is_not_found_without_retry():
    handler = sequence(httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}}))

    async def go():
        async with make_client(handler) as client:
            with pytest.raises(NotFound) as info:
                await client.get("/services/NOPE")
            return info.value, client.requests

    error, requests = run(go())
    assert requests == 1 and error.status == 404


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_other_4xx_fail_without_retry_and_keep_the_api_message(status):
    body = {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["since is invalid"]}}
    handler = sequence(httpx.Response(status, json=body), httpx.Response(200))

    async def go():
        async with make_client(handler) as client:
            with pytest.raises(HttpError) as info:
                await client.get("/x")
            return info.value, client.requests

    error, requests = run(go())
    assert requests == 1 and error.status == status
    assert f"HTTP {status}" in str(error) and "Invalid Input Provided: since is invalid" in str(error)


# -- rate limits -----------------------------------------------------------------------------------------------


def test_429_honours_retry_after_seconds():
    handler = sequence(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={}))
    time = FakeTime()

    async def go():
        async with make_client(handler, time=time) as client:
            await client.get_json("/x")
            return client.requests

    assert run(go()) == 2
    assert time.sleeps == [7.0]


def test_429_honours_retry_after_http_date():
    time = FakeTime()
    when = datetime.fromtimestamp(time.wall_clock(), timezone.utc) + timedelta(seconds=30)
    handler = sequence(httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}), httpx.Response(200))

    async def go():
        async with make_client(handler, time=time) as client:
            await client.get("/x")

    run(go())
    assert len(time.sleeps) == 1 and 29 <= time.sleeps[0] <= 30


def test_429_without_retry_after_backs_off():
    handler = sequence(httpx.Response(429), httpx.Response(200))
    time = FakeTime()

    async def go():
        async with make_client(handler, time=time) as client:
            await client.get("/x")

    run(go())
    assert len(time.sleeps) == 1 and 0.25 <= time.sleeps[0] <= 0.5


def test_retry_after_longer_than_max_wait_fails_now():
    handler = sequence(httpx.Response(429, headers={"Retry-After": "3600"}))
    time = FakeTime()
    settings = ClientSettings(retry=RetryPolicy(max_wait=60))

    async def go():
        async with make_client(handler, time=time, settings=settings) as client:
            with pytest.raises(HttpError) as info:
                await client.get("/x")
            return info.value

    error = run(go())
    assert "3600s" in str(error) and time.sleeps == []


def test_github_rate_limit_exhausted_waits_for_reset():
    time = FakeTime()
    reset = int(time.wall_clock()) + 20
    limited = httpx.Response(
        403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}, json={"message": "API rate limit exceeded"}
    )
    handler = sequence(limited, httpx.Response(200, json={"ok": 1}))

    async def go():
        async with make_client(handler, time=time) as client:
            return await client.get_json("/repos/o/r")

    assert run(go()) == {"ok": 1}
    assert sum(time.sleeps) >= 20  # waited until the reset (+1 s margin)
    assert time.wall_clock() >= reset


def test_remaining_zero_on_success_pauses_the_next_requests():
    time = FakeTime()
    reset = int(time.wall_clock()) + 15
    starts: list[float] = []

    def handler(request):
        starts.append(time.clock())
        if len(starts) == 1:
            return httpx.Response(200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
        return httpx.Response(200)

    async def go():
        async with make_client(handler, time=time) as client:
            await client.get("/a")
            await client.get("/b")

    run(go())
    assert starts[1] - starts[0] >= 15


# -- concurrency and limiter -------------------------------------------------------------------------------------


def test_concurrency_bound_is_respected():
    state = {"now": 0, "max": 0}

    async def handler(request):
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.002)
        state["now"] -= 1
        return httpx.Response(200, json={})

    async def go():
        client = HttpClient(ClientSettings(concurrency=4), HttpOptions(transport=httpx.MockTransport(handler)), base_url="https://t")
        async with client:
            await asyncio.gather(*(client.get_json(f"/{i}") for i in range(40)))
            return client.max_in_flight

    max_in_flight = run(go())
    assert state["max"] == 4 and max_in_flight == 4


def test_limiter_allows_max_requests_per_window():
    time = FakeTime()
    starts: list[float] = []

    def handler(request):
        starts.append(time.clock() - 1000.0)
        return httpx.Response(200)

    settings = ClientSettings(concurrency=8, limiter=LimiterSettings(max=3, period=10.0))

    async def go():
        async with make_client(handler, settings=settings, time=time) as client:
            await asyncio.gather(*(client.get(f"/{i}") for i in range(7)))

    run(go())
    assert sorted(starts) == [0, 0, 0, 10, 10, 10, 20]


def test_client_settings_from_block():
    problems = Problems()
    settings = client_settings(
        {
            "concurrency": 16,
            "limiter": {"max": 100, "duration": 60000},  # BullMQ: milliseconds
            "timeout": {"seconds": 5},
            "retry": {"maxAttempts": 2, "maxDelay": {"seconds": 3}, "maxWait": 10},
        },
        problems,
    )
    assert not problems.items
    assert settings.concurrency == 16 and settings.timeout == 5.0
    assert settings.limiter == LimiterSettings(100, 60.0)
    assert settings.retry.max_attempts == 2 and settings.retry.max_delay == 3.0 and settings.retry.max_wait == 10.0
    assert client_settings({"limiter": {"max": 5, "duration": {"seconds": 1}}}).limiter == LimiterSettings(5, 1.0)
    bad = Problems()
    client_settings({"concurrency": 0, "limiter": {"max": 1}, "retry": {"maxAttempts": "x"}}, bad)
    assert len(bad.errors) == 3


def test_parse_retry_after():
    assert parse_retry_after("12", 0) == 12.0
    assert parse_retry_after("garbage", 0) is None
    assert parse_retry_after(None, 0) is None


# -- logging and secrets ----------------------------------------------------------------------------------------


def test_verbose_logs_each_request_with_secrets_redacted():
    lines: list[tuple[str, str]] = []
    handler = sequence(httpx.Response(500), httpx.Response(200, json={}))
    redactor = Redactor(["tok-SECRET-123"])
    time = FakeTime()
    opts = HttpOptions(
        verbose=True,
        log=lambda level, text: lines.append((level, text)),
        redactor=redactor,
        transport=httpx.MockTransport(handler),
        sleep=time.sleep,
        clock=time.clock,
    )

    async def go():
        async with HttpClient(ClientSettings(), opts, base_url="https://api.test", headers={"Authorization": "Token token=tok-SECRET-123"}) as c:
            await c.get_json("/items", params={"api_key": "tok-SECRET-123", "page": 2})

    run(go())
    text = "\n".join(t for _, t in lines)
    assert "tok-SECRET-123" not in text
    assert "GET https://api.test/items?api_key=***&page=2 -> 500" in text
    assert "-> 200" in text and " ms)" in text and "(attempt 2)" in text
    assert all(level == "debug" for level, _ in lines)


def test_not_verbose_logs_nothing():
    lines: list[str] = []
    handler = sequence(httpx.Response(200))

    async def go():
        opts = HttpOptions(log=lambda level, text: lines.append(text), transport=httpx.MockTransport(handler))
        async with HttpClient(ClientSettings(), opts, base_url="https://t") as c:
            await c.get("/")

    run(go())
    assert lines == []


def test_errors_never_contain_secrets():
    handler = sequence(httpx.Response(401, json={"error": {"message": "token tok-SECRET-123 is invalid"}}))
    opts_redactor = Redactor(["tok-SECRET-123"])

    async def go():
        opts = HttpOptions(redactor=opts_redactor, transport=httpx.MockTransport(handler))
        async with HttpClient(ClientSettings(), opts, base_url="https://t") as c:
            with pytest.raises(HttpError) as info:
                await c.get("/x", params={"token": "tok-SECRET-123"})
            return str(info.value)

    message = run(go())
    assert "tok-SECRET-123" not in message and "HTTP 401" in message


# -- URL safety ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, segment",
    [
        ("PABC123", "PABC123"),
        ("../../admin", "..%2F..%2Fadmin"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a?b#c&d=e", "a%3Fb%23c%26d%3De"),
        ("%2e%2e", "%252e%252e"),
        ("x\r\nHost: evil", "x%0D%0AHost%3A%20evil"),
    ],
)
def test_path_segment(value, segment):
    assert path_segment(value) == segment


def test_encoded_segment_reaches_the_server_unchanged():
    seen = []

    def handler(request):
        seen.append(request.url.raw_path)
        return httpx.Response(200)

    async def go():
        async with make_client(handler) as client:
            for value in ("../../admin", "..", "%2e%2e/x"):
                await client.get(f"/services/{path_segment(value)}")

    run(go())
    assert seen == [b"/services/..%2F..%2Fadmin", b"/services/%2E%2E", b"/services/%252e%252e%2Fx"]


# -- a real server on 127.0.0.1: timeouts and resets -------------------------------------------------------------


async def _serve(behaviour):
    """``http_servers.http_server`` where ``behaviour(n)`` returns 'hang', 'reset' or a JSON body for request n."""

    def raw(n, _head):
        action = behaviour(n)
        return action if action in ("hang", "reset") else response(action.encode(), extra=b"Content-Type: application/json\r\n")

    return await http_server(raw)


def test_real_server_timeout_then_success():
    async def go():
        server, url, count = await _serve(lambda n: "hang" if n == 1 else '{"ok":true}')
        async with server:
            opts = HttpOptions(sleep=lambda s: asyncio.sleep(0))
            client = HttpClient(ClientSettings(timeout=0.2, connect_timeout=0.2), opts, base_url=url)
            async with client:
                return await client.get_json("/x"), client.requests, count["n"]

    assert run(go()) == ({"ok": True}, 2, 2)


def test_real_server_connection_reset_then_success():
    async def go():
        server, url, _ = await _serve(lambda n: "reset" if n <= 2 else '{"n":3}')
        async with server:
            opts = HttpOptions(sleep=lambda s: asyncio.sleep(0))
            async with HttpClient(ClientSettings(timeout=2), opts, base_url=url) as client:
                return await client.get_json("/x"), client.requests

    assert run(go()) == ({"n": 3}, 3)


def test_real_server_keeps_connections_alive():
    async def go():
        server, url, count = await _serve(lambda n: "{}")
        async with server, HttpClient(ClientSettings(concurrency=1), HttpOptions(), base_url=url) as client:
            for _ in range(5):
                await client.get_json("/x")
            return count["connections"], count["n"]

    assert run(go()) == (1, 5)  # five requests, one connection (as the server saw them)


def test_redirects_are_followed_and_credentials_stay_on_their_origin():
    seen = []

    def handler(request):
        seen.append((str(request.url), request.headers.get("Authorization")))
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "https://api.test/new"})
        if request.url.path == "/new":
            return httpx.Response(302, headers={"Location": "https://elsewhere.test/final"})
        return httpx.Response(200, json={"at": request.url.host})

    async def go():
        async with make_client(handler, headers={"Authorization": "Token token=abc"}) as client:
            return await client.get_json("/old")

    assert run(go()) == {"at": "elsewhere.test"}
    assert seen[-1] == ("https://elsewhere.test/final", None)  # no credentials to another origin
    assert ("https://api.test/new", "Token token=abc") in seen
