"""The HTTP client every HTTP caller shares (collectors, plugin authors, the remote catalog, the webhook sink):
``HttpClient`` over ``httpx.AsyncClient`` and httpx's own transport, documented API only.

One client per collector configuration, so connections are reused (HTTP/1.1 keep-alive). It adds what a cron job
over a thousand services needs:

- bounded concurrency: at most ``concurrency`` requests in flight; a retry waiting for its backoff, or a request
  waiting for a 429's ``Retry-After``, holds no slot;
- timeouts: ``httpx.Timeout`` with a short connect timeout (``CONNECT_TIMEOUT``, 10 s) and a read/write timeout
  (``READ_TIMEOUT``, 30 s), so a host that does not accept connections is given up on quickly; both can be set in
  the config (``timeout: 20`` or ``timeout: {connect: 5, read: 60}``);
- a limiter ``limiter: {max: N, duration: {seconds: S}}`` (Soundcheck's job limiter shape; a bare number is
  milliseconds, as BullMQ reads it): at most N request starts in any S-second window;
- retries with exponential backoff, jitter and a cap, up to ``retry.maxAttempts``, on 5xx, timeouts, connection
  errors and (for ``get_json``) an unparsable body; no retry on other 4xx;
- 429 honours ``Retry-After`` (seconds or an HTTP date, RFC 9110 §10.2.3); GitHub-style ``x-ratelimit-remaining: 0``
  + ``x-ratelimit-reset`` (epoch seconds, docs.github.com "Rate limits for the REST API") pauses every request of
  the client until the reset. A wait longer than ``retry.maxWait`` fails now instead of stalling the run;
- a circuit breaker per host: after ``BREAKER_THRESHOLD`` (5) different requests in a row failed on one host
  (connection errors, timeouts, 5xx answers; a request retried counts once; any other answer resets the count)
  the client sends nothing more to that host for the rest of the run: every further request, and every retry,
  fails at once with ``HostUnavailable``, one message per host ("api.pagerduty.com: not contacted, the host
  failed 5 times in a row (connection refused)"), so a dead API costs about ``BREAKER_THRESHOLD + concurrency``
  requests instead of ``entities x maxAttempts``;
- 404 / 410 raise ``NotFound`` (the caller records the fact as absent); other failures raise ``HttpError`` whose
  message names the method, the redacted URL and the status, never a secret;
- ``verbose``: one log line per attempt (method, redacted URL, status, time).

Sleeps, clocks and randomness are injectable (``HttpOptions``) so tests never really wait.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json as jsonlib
import math
import os
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from soundcheck_cli.located.durations import DURATION_SCHEMA, parse_duration
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Problems
from soundcheck_cli.redact import NULL_REDACTOR, Redactor

DEFAULT_CONCURRENCY = 8
CONNECT_TIMEOUT = 10.0  # seconds to open a connection (TCP + TLS): a host that does not answer is given up quickly
READ_TIMEOUT = 30.0  # seconds of silence while sending a request or waiting for its answer
BREAKER_THRESHOLD = 5  # requests failing in a row (connection error, timeout, 5xx) after which a host is not contacted
SHARD_CONNECTIONS = 4  # keep-alive connections per httpx client (see HttpClient.__init__)
RETRY_STATUSES = frozenset({500, 502, 503, 504}) | frozenset(range(505, 600))
ABSENT_STATUSES = frozenset({404, 410})
USER_AGENT = "soundcheck-cli"

# JSON schema of the client settings a collector block may carry (``entity_collector.collector_config_schema``
# adds them to every block; they reference ``schedule.SCHEMA_DEFS``).
CLIENT_SCHEMA_PROPERTIES: dict[str, Any] = {
    "concurrency": {"type": "integer", "minimum": 1, "maximum": 256},
    "limiter": {
        "type": "object",
        "properties": {"max": {"type": "integer", "minimum": 1}, "duration": {"anyOf": [{"type": "number"}, DURATION_SCHEMA]}},
        "required": ["max", "duration"],
        "additionalProperties": False,
    },
    "timeout": {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0},
            DURATION_SCHEMA,
            {
                "type": "object",
                "properties": {
                    "connect": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, DURATION_SCHEMA]},
                    "read": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, DURATION_SCHEMA]},
                },
                "additionalProperties": False,
                "minProperties": 1,
            },
        ]
    },
    "retry": {
        "type": "object",
        "properties": {
            "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 20},
            "maxDelay": {"anyOf": [{"type": "number"}, DURATION_SCHEMA]},
            "maxWait": {"anyOf": [{"type": "number"}, DURATION_SCHEMA]},
        },
        "additionalProperties": False,
    },
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5  # seconds before the 2nd attempt (before jitter)
    max_delay: float = 30.0  # cap of one backoff
    max_wait: float = 300.0  # longest Retry-After / rate-limit reset this run waits for

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay after failed attempt number ``attempt`` (1-based): capped exponential with "equal jitter"
        (half fixed, half random), so concurrent clients spread out yet always wait a little."""
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return delay / 2 + rng.uniform(0, delay / 2)


@dataclass(frozen=True)
class LimiterSettings:
    max: int
    period: float  # seconds


@dataclass(frozen=True)
class ClientSettings:
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = READ_TIMEOUT  # read / write / pool: seconds of silence on an open connection
    connect_timeout: float = CONNECT_TIMEOUT
    limiter: LimiterSettings | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _seconds(node: Any, problems: Problems, what: str, loc: Any = None) -> float | None:
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        if not math.isfinite(node) or node <= 0:  # .nan/.inf would pass on and fail every request
            problems.error(f"{what} must be a positive number of seconds or a duration, not {node}", loc)
            return None
        return float(node)
    value = parse_duration(node, problems, what)
    return value.total_seconds() if value is not None else None


def client_settings(
    block: Mapping[str, Any] | None, problems: Problems | None = None, *, default_concurrency: int = DEFAULT_CONCURRENCY,
    limiter_fallback: Any = None,
) -> ClientSettings:
    """Client settings from a collector block: ``concurrency``, ``limiter``, ``timeout`` (seconds or a duration:
    the read timeout; or ``{connect, read}``),
    ``retry: {maxAttempts, maxDelay, maxWait}``. ``limiter_fallback`` is used when the block has no ``limiter``
    (Soundcheck's ``soundcheck.job.workers.<id>.limiter``). Malformed values are located errors in ``problems``."""
    problems = problems if problems is not None else Problems()
    block = block or {}
    concurrency = block.get("concurrency", default_concurrency)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        problems.error("concurrency must be a positive integer", loc_of(block, "concurrency"))
        concurrency = default_concurrency
    limiter = None
    node = block.get("limiter", limiter_fallback)
    if node is not None:
        if not isinstance(node, Mapping) or "max" not in node or "duration" not in node:
            problems.error("limiter must be {max: N, duration: {seconds: S}}", loc_of(node) or loc_of(block, "limiter"))
        else:
            duration = parse_duration(node["duration"], problems, "limiter.duration", loc_of(node, "duration"),
                                      number_unit=timedelta(milliseconds=1))
            maximum = node["max"]
            if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1:
                problems.error("limiter.max must be a positive integer", loc_of(node, "max"))
            elif duration is not None and duration.total_seconds() > 0:
                limiter = LimiterSettings(maximum, duration.total_seconds())
    timeout, connect_timeout = _timeouts(block.get("timeout"), problems, loc_of(block, "timeout"))
    retry = RetryPolicy()
    node = block.get("retry")
    if isinstance(node, Mapping):
        attempts = node.get("maxAttempts", retry.max_attempts)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            problems.error("retry.maxAttempts must be a positive integer", loc_of(node, "maxAttempts"))
            attempts = retry.max_attempts
        max_delay = _seconds(node["maxDelay"], problems, "retry.maxDelay") if "maxDelay" in node else None
        max_wait = _seconds(node["maxWait"], problems, "retry.maxWait") if "maxWait" in node else None
        retry = RetryPolicy(
            max_attempts=attempts,
            max_delay=max_delay if max_delay is not None else retry.max_delay,
            max_wait=max_wait if max_wait is not None else retry.max_wait,
        )
    elif node is not None:
        problems.error("retry must be a mapping {maxAttempts, maxDelay, maxWait}", loc_of(block, "retry"))
    return ClientSettings(concurrency=concurrency, timeout=timeout, connect_timeout=connect_timeout, limiter=limiter, retry=retry)


def _timeouts(node: Any, problems: Problems, location: Any) -> tuple[float, float]:
    """(read, connect) seconds from ``timeout``: a number or duration (the read timeout; connect stays
    ``CONNECT_TIMEOUT``), or ``{connect, read}`` (each a number of seconds or a duration). The connect timeout does
    not follow a short read timeout: a server whose listen queue is momentarily full answers a second SYN ~1 s
    later, and that is not a dead host."""
    if node is None:
        return READ_TIMEOUT, CONNECT_TIMEOUT
    if isinstance(node, Mapping) and node and set(node) <= {"connect", "read"}:
        read = _positive_seconds(node.get("read"), problems, "timeout.read", loc_of(node, "read"))
        connect = _positive_seconds(node.get("connect"), problems, "timeout.connect", loc_of(node, "connect"))
        return read or READ_TIMEOUT, connect or CONNECT_TIMEOUT
    return _positive_seconds(node, problems, "timeout", location) or READ_TIMEOUT, CONNECT_TIMEOUT


def _positive_seconds(node: Any, problems: Problems, what: str, location: Any) -> float | None:
    if node is None:
        return None
    value = _seconds(node, problems, what, loc_of(node) or location)
    if value is not None and value <= 0:
        problems.error(f"{what} must be more than 0 seconds", loc_of(node) or location)
        return None
    return value


@dataclass
class HttpOptions:
    """What the runtime gives every client of a run (the runner puts one in ``CollectorContext.extra['http']``)."""

    verbose: bool = False
    log: Callable[[str, str], None] | None = None  # (level, text); text is already redacted
    redactor: Redactor = NULL_REDACTOR
    transport: httpx.AsyncBaseTransport | None = None  # tests: httpx.MockTransport
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time  # for x-ratelimit-reset (epoch seconds) and Retry-After dates
    rng: random.Random = field(default_factory=random.Random)


def http_options(context: Any) -> HttpOptions:
    """The run's ``HttpOptions`` from a ``CollectorContext`` (defaults when run outside the runner)."""
    extra = getattr(context, "extra", None) or {}
    options = extra.get("http")
    return options if isinstance(options, HttpOptions) else HttpOptions()


@functools.lru_cache(maxsize=4)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """One SSL context per process and CA setting, shared by every httpx client (``verify=``): loading the CA
    certificates takes ~20 ms each time, and a client at concurrency 32 has 8 httpx clients. ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` are honoured as httpx honours them."""
    return httpx.create_ssl_context()  # the arguments are the cache key: httpx reads the same two variables


def ssl_context() -> ssl.SSLContext:
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class HttpError(Exception):
    """A request failed for good (after retries, or a 4xx that is not retried). ``str()`` is safe to print."""

    def __init__(self, message: str, status: int | None = None, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.response = response


class NotFound(HttpError):
    """404/410: the object does not exist (record the fact as absent)."""


class HostUnavailable(HttpError):
    """The host's circuit breaker is open: it failed ``BREAKER_THRESHOLD`` times in a row, so this request was not
    sent. The message names the host and the last failure, the same for every request to that host (a summary
    grouping failures by reason shows it once)."""


class _Breaker:
    """One host's failures since its last success. A request counts once however often it is retried: one broken
    resource retried back to back (at the end of a batch nothing else is in flight) is not a dead host, while
    ``BREAKER_THRESHOLD`` different requests failing in a row are. Opened once, it stays open for the life of the
    client (one run)."""

    __slots__ = ("host", "failing", "error", "answered")

    def __init__(self, host: str) -> None:
        self.host = host
        self.failing: set[int] = set()  # serial numbers of the requests that failed since the last success
        self.error: HostUnavailable | None = None
        # The newest request the host answered: a request older than it that still fails is that resource's
        # problem, not the host's (at the end of a run only such retries are left, and they fail "in a row").
        self.answered = -1

    def check(self) -> None:
        if self.error is not None:
            raise HostUnavailable(str(self.error))

    def failed(self, serial: int, reason: str) -> None:
        if serial < self.answered:
            return
        self.failing.add(serial)
        if len(self.failing) >= BREAKER_THRESHOLD and self.error is None:
            self.error = HostUnavailable(
                f"{self.host}: not contacted, the host failed {len(self.failing)} times in a row ({reason})"
            )

    def succeeded(self, serial: int) -> None:
        self.failing.clear()
        self.answered = max(self.answered, serial)


def _connection_failure(exc: BaseException) -> str:
    """What went wrong on the connection, in a few words: the operating system's reason when the exception chain
    has one ("connection refused", "name or service not known", "TLS: self-signed certificate"; httpx's own text
    is often only "All connection attempts failed"), else the exception's type."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):  # an OSError whose errno is not the operating system's
            detail = getattr(cause, "verify_message", None) or cause.reason or type(cause).__name__
            return f"TLS: {detail}"
        if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
            return os.strerror(cause.errno).lower()  # asyncio puts its own text in ``strerror``
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()  # e.g. a name resolution error (negative ``errno``)
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class RateLimiter:
    """At most ``max`` acquisitions in any ``period``-second window (a sliding log of start times)."""

    def __init__(self, settings: LimiterSettings, clock: Callable[[], float], sleep: Callable[[float], Awaitable[Any]]):
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.settings.period:
                    self._starts.popleft()
                if len(self._starts) < self.settings.max:
                    self._starts.append(now)
                    return
                await self._sleep(self._starts[0] + self.settings.period - now)


def path_segment(value: str) -> str:
    """``value`` (e.g. an annotation) as exactly one URL path segment or query value: every reserved character
    percent-encoded (``/ ? # & = %`` and spaces, line breaks...), and ``.``/``..`` -- which a URL parser resolves
    as dot-segments (RFC 3986 §5.2.4) -- encoded too, so a catalog value can never change the endpoint called."""
    encoded = quote(value, safe="")
    if encoded.strip(".") == "":
        encoded = encoded.replace(".", "%2E")
    return encoded


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` is on ``base``'s scheme and host:port (a link a collector may follow with its credentials)."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` URL of a paginated answer's ``Link`` header (RFC 8288; GitHub, GitLab, Bitbucket Server),
    as httpx parses it (``Response.links``); None on the last page."""
    return response.links.get("next", {}).get("url") or None


def parse_retry_after(value: str | None, wall_now: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - wall_now)


def json_body(response: httpx.Response | None) -> Any:
    """An (error) response's parsed JSON body; ``None`` when there is no response or its body is not JSON -- the
    API's own words are a bonus in a message, never a second failure."""
    if response is None:
        return None
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _error_detail(response: httpx.Response) -> str:
    """The API's own error message, when the body carries one (PagerDuty: ``{"error": {"message"}}``;
    GitHub: ``{"message"}``); short, so a large HTML error page does not flood the summary."""
    body = json_body(response)
    message = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = err.get("message")
            errors = err.get("errors")
            if isinstance(errors, list) and errors:
                message = f"{message}: {'; '.join(map(str, errors))}" if message else "; ".join(map(str, errors))
        elif isinstance(err, str):
            message = err
        message = message or body.get("message")
    return str(message)[:200] if message else ""


class HttpClient:
    """httpx clients (keep-alive pools) behind the run's concurrency bound, limiter, retries, circuit breakers and
    redacted logging.

    ``await client.get_json(url)`` / ``client.request(method, url, params=, headers=, json=, content=)``; ``url``
    is relative to ``base_url`` or absolute. ``requests`` counts the attempts sent.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        options: HttpOptions | None = None,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        name: str = "http",
    ) -> None:
        self.settings = settings or ClientSettings()
        self.options = options or HttpOptions()
        self.name = name
        self.requests = 0  # attempts sent (a warm run must make none)
        self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        self._limiter = (
            RateLimiter(self.settings.limiter, self.options.clock, self.options.sleep) if self.settings.limiter else None
        )
        self._resume_at = 0.0  # monotonic time before which no request starts (429 / rate limit exhausted)
        self._breakers: dict[str, _Breaker] = {}
        self._serials = itertools.count()
        self.in_flight = 0
        self.max_in_flight = 0
        # Several small connection pools rather than one large one: httpcore's pool (1.0.x) does work quadratic in
        # its connection count on every request. Measured against a 127.0.0.1 server answering after 50 ms: at
        # concurrency 128, 4,000 requests took 36 s with one pool of 128 connections (CPU-bound) and 2.0 s with 32
        # pools of 4 (ideal 1.6 s); at concurrency 32 both take the same time. Each shard has at most
        # ``SHARD_CONNECTIONS`` keep-alive connections; a request goes to the least busy shard.
        shards = max(1, math.ceil(self.settings.concurrency / SHARD_CONNECTIONS))
        per_shard = math.ceil(self.settings.concurrency / shards)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
        verify: ssl.SSLContext | bool = ssl_context() if self.options.transport is None else True
        self._shards = [
            httpx.AsyncClient(
                base_url=base_url,
                headers={"User-Agent": USER_AGENT, **(headers or {})},
                timeout=timeout,
                limits=limits,
                verify=verify,
                transport=self.options.transport,
                follow_redirects=True,  # httpx drops Authorization on a redirect to another origin
            )
            for _ in range(shards)
        ]
        self._shard_load = [0] * shards

    @property
    def redactor(self) -> Redactor:
        return self.options.redactor

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._shards:
            await client.aclose()

    def _log(self, level: str, text: str) -> None:
        if self.options.log is not None:
            self.options.log(level, self.redactor.redact(text))

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and parse JSON; an unparsable body is retried like a 5xx, then raises ``HttpError``."""
        _, data = await self._request("GET", url, decode_json=True, **kwargs)
        return data

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: str | bytes | None = None,
    ) -> httpx.Response:
        """Send with retries; return the final 2xx/3xx response, or raise ``NotFound`` / ``HttpError`` (its
        subclass ``HostUnavailable`` when the host's circuit breaker is open)."""
        response, _ = await self._request(method, url, params=params, headers=headers, json=json, content=content)
        return response

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: str | bytes | None = None,
        decode_json: bool = False,
    ) -> tuple[httpx.Response, Any]:
        target = url
        if params:
            # Percent-encoded as RFC 3986 says (a space is %20; httpx's own params would send "+", which some
            # servers keep as a plus sign): the query the API sees is exactly the values given.
            items = list(params.items()) if isinstance(params, Mapping) else list(params)
            target += ("&" if "?" in target else "?") + urlencode(items, doseq=True, quote_via=quote)
        try:
            # Built once, before taking a slot: every attempt sends the same request (a JSON or bytes body can be
            # sent again), and a slot is held only while the request is on the wire.
            request = self._shards[0].build_request(method, target, headers=headers, json=json, content=content)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise HttpError(f"{method} {self.redactor.redact(url)}: invalid request ({self.redactor.redact(exc)})") from None
        breaker = self._breaker(request.url)
        serial = next(self._serials)  # the same for every attempt: a request counts once for its breaker
        retry = self.settings.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(request, serial, breaker, decode_json, attempt)
            except _Retry as signal:
                reason = signal.reason
                if attempt >= retry.max_attempts:
                    raise HttpError(f"{reason} (gave up after {attempt} attempts)") from None
                delay = signal.delay if signal.delay is not None else retry.backoff(attempt, self.options.rng)
                if delay > retry.max_wait:
                    raise HttpError(
                        f"{reason}; the API asks to wait {delay:.0f}s, longer than this run waits "
                        f"({retry.max_wait:.0f}s, retry.maxWait)"
                    ) from None
                if breaker.error is not None:  # the host failed too often meanwhile: no point in waiting
                    raise HostUnavailable(str(breaker.error)) from None
                if self.options.verbose:
                    self._log("debug", f"{reason}; retry {attempt + 1}/{retry.max_attempts} in {delay:.2f}s")
                await self.options.sleep(delay)  # outside the semaphore: a backoff holds no slot

    def _breaker(self, url: httpx.URL) -> _Breaker:
        """The circuit breaker of ``url``'s host (``host[:port]`` as httpx's ``URL.netloc`` gives it: never the
        userinfo)."""
        key = url.netloc.decode("ascii")
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = _Breaker(key)
        return breaker

    async def _wait_until_resumed(self) -> None:
        while True:
            delay = self._resume_at - self.options.clock()
            if delay <= 0:
                return
            await self.options.sleep(delay)

    def _pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, self.options.clock() + seconds)

    def _shown(self, request: httpx.Request) -> str:
        """``METHOD url`` for messages, secrets masked (computed only when a message is written)."""
        return f"{request.method} {self.redactor.redact(str(request.url))}"

    async def _attempt(
        self, request: httpx.Request, serial: int, breaker: _Breaker, decode_json: bool, attempt: int
    ) -> tuple[httpx.Response, Any]:
        breaker.check()
        if self._resume_at > self.options.clock():
            await self._wait_until_resumed()
        async with self._semaphore:
            if self._limiter is not None:
                await self._limiter.acquire()
            if self._resume_at > self.options.clock():
                await self._wait_until_resumed()
            breaker.check()  # it may have opened while this request waited for a slot
            started = self.options.clock()
            self.requests += 1
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            load = self._shard_load
            shard = load.index(min(load))  # the least busy shard (the first of them)
            load[shard] += 1
            try:
                response = await self._shards[shard].send(request)
            except httpx.TimeoutException as exc:
                self._trace(request, f"timeout ({type(exc).__name__})", started, attempt)
                breaker.failed(serial, "timed out" if not isinstance(exc, httpx.ConnectTimeout) else "connection timed out")
                raise _Retry(f"{self._shown(request)}: timed out ({type(exc).__name__})") from None
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._trace(request, f"connection error ({type(exc).__name__})", started, attempt)
                breaker.failed(serial, self.redactor.redact(_connection_failure(exc)))
                reason = f"{self._shown(request)}: connection error ({type(exc).__name__}: {self.redactor.redact(exc)})"
                raise _Retry(reason) from None
            except httpx.HTTPError as exc:
                self._trace(request, f"error ({type(exc).__name__})", started, attempt)
                raise HttpError(f"{self._shown(request)}: {type(exc).__name__}: {self.redactor.redact(exc)}") from None
            finally:
                self.in_flight -= 1
                load[shard] -= 1
            if self.options.verbose:
                self._trace(request, str(response.status_code), started, attempt)
        if response.status_code in RETRY_STATUSES:
            breaker.failed(serial, f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
        else:
            breaker.succeeded(serial)  # the host answers (a 4xx or 429 included)
        return self._judge(response, request, decode_json)

    def _trace(self, request: httpx.Request, status: str, started: float, attempt: int) -> None:
        if self.options.verbose:
            ms = (self.options.clock() - started) * 1000
            suffix = f" (attempt {attempt})" if attempt > 1 else ""
            self._log("debug", f"{self._shown(request)} -> {status} ({ms:.0f} ms){suffix}")

    def _rate_limit_reset(self, response: httpx.Response) -> float | None:
        """Seconds until ``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0, else ``None``."""
        if response.headers.get("x-ratelimit-remaining", "").strip() != "0":
            return None
        try:
            reset = float(response.headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return None
        if reset < 1_000_000_000:
            # Datadog sends the seconds left until the reset (docs.datadoghq.com/api/latest/rate-limits), not an
            # epoch time as GitHub does; no epoch time is this small (it would be before 2001-09-09).
            return max(0.0, reset) + 1.0
        return max(0.0, reset - self.options.wall_clock()) + 1.0  # +1 s: the reset second itself may still be limited

    def _judge(self, response: httpx.Response, request: httpx.Request, decode_json: bool) -> tuple[httpx.Response, Any]:
        status = response.status_code
        reset_in = self._rate_limit_reset(response)
        if reset_in is not None:
            self._pause(reset_in)  # every request of this client waits for the reset
        if status == 429 or (status == 403 and reset_in is not None):
            delay = parse_retry_after(response.headers.get("retry-after"), self.options.wall_clock())
            if delay is None:
                delay = reset_in
            if delay is not None:
                self._pause(delay)
            raise _Retry(f"{self._shown(request)}: rate limited (HTTP {status})", delay)
        if status in RETRY_STATUSES:
            delay = parse_retry_after(response.headers.get("retry-after"), self.options.wall_clock())
            raise _Retry(f"{self._shown(request)}: HTTP {status} {response.reason_phrase}".rstrip(), delay)
        if status in ABSENT_STATUSES:
            raise NotFound(f"{self._shown(request)}: not found (HTTP {status})", status, response)
        if status >= 400:
            detail = _error_detail(response)
            message = f"{self._shown(request)}: HTTP {status} {response.reason_phrase}".rstrip()
            raise HttpError(self.redactor.redact(f"{message}: {detail}" if detail else message), status, response)
        if not decode_json:
            return response, None
        content = response.content
        try:
            data = jsonlib.loads(content) if content else None
        except (ValueError, UnicodeDecodeError):
            raise _Retry(f"{self._shown(request)}: the response is not valid JSON") from None
        return response, data


def create_client(
    block: Mapping[str, Any] | None = None,
    context: Any = None,
    *,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    name: str = "http",
    problems: Problems | None = None,
    default_concurrency: int = DEFAULT_CONCURRENCY,
) -> HttpClient:
    """A client for one collector block, with the run's options from ``context`` (a ``CollectorContext``).

    The one-liner for plugin authors: ``client = create_client(block, self.context, base_url=..., headers=...)``.
    """
    settings = client_settings(block, problems, default_concurrency=default_concurrency)
    return HttpClient(settings, http_options(context), base_url=base_url, headers=headers, name=name)
