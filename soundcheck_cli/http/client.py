"""The HTTP client every HTTP collector shares (and plugin authors reuse): ``HttpClient`` over ``httpx.AsyncClient``.

One client per collector configuration, so connections are reused (HTTP/1.1 keep-alive; internally a few small
httpx connection pools, which keeps httpcore's per-request pool bookkeeping cheap at high concurrency). It adds
what a cron job over a thousand services needs:

- bounded concurrency: at most ``concurrency`` requests in flight (a retry waiting for its backoff holds no slot);
- a limiter ``limiter: {max: N, duration: {seconds: S}}`` (Soundcheck's job limiter shape; a bare number is
  milliseconds, as BullMQ reads it): at most N request starts in any S-second window;
- retries with exponential backoff, jitter and a cap, up to ``retry.maxAttempts``, on 5xx, timeouts, connection
  errors and (for ``get_json``) an unparsable body; no retry on other 4xx;
- 429 honours ``Retry-After`` (seconds or an HTTP date, RFC 9110 §10.2.3); GitHub-style ``x-ratelimit-remaining: 0``
  + ``x-ratelimit-reset`` (epoch seconds, docs.github.com "Rate limits for the REST API") pauses every request of
  the client until the reset. A wait longer than ``retry.maxWait`` fails now instead of stalling the run;
- 404 / 410 raise ``NotFound`` (the caller records the fact as absent); other failures raise ``HttpError`` whose
  message names the method, the redacted URL and the status, never a secret;
- ``verbose``: one log line per attempt (method, redacted URL, status, time).

Sleeps, clocks and randomness are injectable (``HttpOptions``) so tests never really wait.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import math
import random
import re
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from soundcheck_cli.located.durations import DURATION_SCHEMA, parse_duration
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Problems
from soundcheck_cli.redact import NULL_REDACTOR, Redactor

DEFAULT_CONCURRENCY = 8
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
    "timeout": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, DURATION_SCHEMA]},
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
    timeout: float = 30.0
    connect_timeout: float = 10.0
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
    """Client settings from a collector block: ``concurrency``, ``limiter``, ``timeout`` (seconds or a duration),
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
    timeout = 30.0
    if block.get("timeout") is not None:
        timeout = _seconds(block["timeout"], problems, "timeout", loc_of(block, "timeout")) or timeout
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
    return ClientSettings(concurrency=concurrency, timeout=timeout, limiter=limiter, retry=retry)


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


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def _default_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The transport of direct (not proxied) requests: httpcore's pool over the asyncio-native network backend
    (``net_backend``: a fraction of the anyio backend's CPU time per request); ``verify``: one SSL context per
    process (loading the CA certificates takes ~30 ms each time). Imported here: httpcore loads only when a
    client is made (as httpx does)."""
    from soundcheck_cli.http.net_backend import AsyncioTransport

    return AsyncioTransport(_ssl_context(), limits)


# Printable ASCII but space " # < > ` { }: httpx's URL normalisation (``httpx._urlparse``: RFC 3986 percent-encoding
# of a path with PATH_SAFE, a query with QUERY_SAFE; existing ``%xx`` and a lone ``%`` kept) leaves a target made of
# these unchanged, so it can be sent as written.
_PLAIN_TARGET = re.compile("[" + re.escape("".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"#<>`{}')) + "]*")
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})  # httpx adds ``Content-Length: 0`` to POST/PUT/PATCH
_MAX_TARGET = 60_000  # httpx refuses URLs over 65,536 characters


def _plain_target(path: str) -> bool:
    """``path`` (``/a/b?q=1``) is what httpx would send for it: plain characters only, no ``.``/``..`` segment
    (which httpx resolves, RFC 3986 §5.2.4), not too long."""
    if len(path) > _MAX_TARGET or not path.startswith("/") or not _PLAIN_TARGET.fullmatch(path):
        return False
    if "." in path:
        segments = path.partition("?")[0].split("/")
        if "." in segments or ".." in segments:
            return False
    return True


@dataclass(frozen=True)
class _Origin:
    """The base URL's parts on the wire: scheme, host, port (as ``httpx.URL`` gives them), the ``Host`` header
    value (``httpx.URL.netloc``, as ``httpx.Request`` sets it) and the base path."""

    scheme: bytes
    host: bytes
    port: int | None
    netloc: bytes
    prefix: str  # the base URL's path as written ("" or "/api/v3"), before the request's own path
    core_url: Any  # httpcore.URL (imported with the transport, not with this module)


class _Prepared:
    """One attempt's request: ``wire`` (method, httpcore URL, raw headers) when it goes straight to the asyncio
    transport, with the ``httpx.Request`` built on first use; else the ``httpx.Request`` itself."""

    __slots__ = ("_request", "_args", "wire", "extensions", "detached", "body", "unread")

    def __init__(self, request: httpx.Request | None, args: tuple[Any, ...] | None, wire: Any, extensions: dict[str, Any]) -> None:
        self._request = request
        self._args = args
        self.wire = wire
        self.extensions = extensions
        self.detached: httpx.Response | None = None  # a response sent from ``wire``, no ``request`` attached yet
        self.body = b""  # ... its content
        self.unread = False  # ... whose content is still to be read into it

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            method, target, headers, extensions = self._args  # type: ignore[misc]
            self._request = httpx.Request(method, target, headers=headers, extensions=extensions)
        return self._request

    def content(self, response: httpx.Response) -> bytes:
        return self.body if self.detached is response else response.content

    def attach(self, response: httpx.Response) -> None:
        """Give ``response`` its ``request`` and its content (as the ``httpx.Request`` path does) when it leaves
        the client."""
        if self.detached is response:
            response.request = self.request
            if self.unread:
                response.read()
                self.unread = False
            self.detached = None


class HttpError(Exception):
    """A request failed for good (after retries, or a 4xx that is not retried). ``str()`` is safe to print."""

    def __init__(self, message: str, status: int | None = None, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.response = response


class NotFound(HttpError):
    """404/410: the object does not exist (record the fact as absent)."""


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


def _error_detail(response: httpx.Response) -> str:
    """The API's own error message, when the body carries one (PagerDuty: ``{"error": {"message"}}``;
    GitHub: ``{"message"}``); short, so a large HTML error page does not flood the summary."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
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
    """httpx clients (keep-alive pools) behind the run's concurrency bound, limiter, retries and redacted logging.

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
        self.in_flight = 0
        self.max_in_flight = 0
        # Several small connection pools rather than one large one: httpcore's pool (1.0.x,
        # ``_assign_requests_to_connections``) does work quadratic in its connection count on every request, which
        # made one pool of 32 connections CPU-bound at ~5x the ideal time. Each shard has at most
        # ``SHARD_CONNECTIONS`` keep-alive connections; a request goes to the least busy shard.
        shards = max(1, math.ceil(self.settings.concurrency / SHARD_CONNECTIONS))
        per_shard = math.ceil(self.settings.concurrency / shards)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
        self._shards: list[httpx.AsyncClient] = []
        self._transports: list[httpx.AsyncBaseTransport] = []
        for _ in range(shards):
            transport = self.options.transport or _default_transport(limits)
            self._transports.append(transport)
            self._shards.append(
                httpx.AsyncClient(
                    base_url=base_url,
                    headers={"User-Agent": USER_AGENT, **(headers or {})},
                    timeout=timeout,
                    transport=transport,
                    follow_redirects=True,  # httpx drops Authorization on a redirect to another origin
                )
            )
        self._base_url = base_url.rstrip("/")
        self._headers = self._shards[0].headers  # httpx's defaults (Accept, encodings...) plus ours
        self._timeout = timeout.as_dict()
        self._shard_load = [0] * shards
        # Requests go straight to the transport (``AsyncClient.send`` adds ~0.13 ms of auth/redirect/cookie
        # machinery per request); the client is used when a proxy is configured in the environment (its mounts
        # route through the proxy) and to follow a redirect.
        self._direct = not urllib.request.getproxies()
        self._origin = self._wire_origin() if self._direct and self.options.transport is None else None

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
        """Send with retries; return the final 2xx/3xx response, or raise ``NotFound`` / ``HttpError``."""
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
        retry = self.settings.retry
        attempt = 0
        last_reason = ""
        while True:
            attempt += 1
            try:
                return await self._attempt(method, url, params, headers, json, content, decode_json, attempt)
            except _Retry as signal:
                last_reason = signal.reason
                if attempt >= retry.max_attempts:
                    raise HttpError(f"{last_reason} (gave up after {attempt} attempts)") from None
                delay = signal.delay if signal.delay is not None else retry.backoff(attempt, self.options.rng)
                if delay > retry.max_wait:
                    raise HttpError(
                        f"{last_reason}; the API asks to wait {delay:.0f}s, longer than this run waits "
                        f"({retry.max_wait:.0f}s, retry.maxWait)"
                    ) from None
                if self.options.verbose:
                    self._log("debug", f"{last_reason}; retry {attempt + 1}/{retry.max_attempts} in {delay:.2f}s")
                await self.options.sleep(delay)

    async def _wait_until_resumed(self) -> None:
        while True:
            delay = self._resume_at - self.options.clock()
            if delay <= 0:
                return
            await self.options.sleep(delay)

    def _pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, self.options.clock() + seconds)

    def _wire_origin(self) -> _Origin | None:
        """What requests relative to ``base_url`` share on the wire, parsed once (``None``: every request is
        built as an ``httpx.Request``): only for the asyncio transport (``AsyncioTransport.fetch``) and a plain
        ``http(s)://host[:port][/path]`` base."""
        import httpcore

        from soundcheck_cli.http.net_backend import AsyncioTransport

        if not all(isinstance(t, AsyncioTransport) for t in self._transports):
            return None
        _, sep, rest = self._base_url.partition("://")
        authority, slash, path = rest.partition("/")
        if not sep or any(c in authority for c in "?#@"):
            return None
        try:
            url = httpx.URL(self._base_url)
        except (httpx.InvalidURL, ValueError, TypeError):
            return None
        if url.scheme not in ("http", "https") or not url.host:
            return None
        return _Origin(url.raw_scheme, url.raw_host, url.port, url.netloc, slash + path, httpcore.URL)

    def _build(self, method: str, url: str, params: Any, headers: Any, json: Any, content: Any) -> _Prepared:
        """The request, with the URL parsed once (``AsyncClient.build_request`` parses it three times when it
        merges a base URL and params: a third of the client's CPU time per request). A body-less request relative
        to the base URL whose target httpx would send exactly as written (``_plain_target``) goes to the asyncio
        transport as httpcore's parts, and the ``httpx.Request`` (for messages, a redirect, ``response.request``)
        is only built when one is needed: parsing the URL is most of what building it costs."""
        relative = "://" not in url
        target = url if not relative else f"{self._base_url}/{url.lstrip('/')}"
        query = ""
        if params:
            query = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params), doseq=True, quote_via=quote)
            target += ("&" if "?" in target else "?") + query
        merged = self._headers
        if headers:
            merged = httpx.Headers(self._headers)
            merged.update(headers)
        extensions = {"timeout": self._timeout}
        origin = self._origin
        if origin is not None and relative and json is None and content is None and method in _BODYLESS:
            path = f"{origin.prefix}/{url.lstrip('/')}"
            if query:
                path += ("&" if "?" in path else "?") + query
            if _plain_target(path):
                raw = merged.raw
                if "host" not in merged:
                    raw = [(b"Host", origin.netloc), *raw]  # as ``httpx.Request`` puts it: first
                core_url = origin.core_url(scheme=origin.scheme, host=origin.host, port=origin.port, target=path.encode("ascii"))
                wire = (method, core_url, raw)
                return _Prepared(None, (method, target, merged, extensions), wire, extensions)
        request = httpx.Request(method, target, headers=merged, json=json, content=content, extensions=extensions)
        return _Prepared(request, None, None, extensions)

    async def _send(self, shard: int, prepared: _Prepared) -> httpx.Response:
        if prepared.wire is not None:
            method, core_url, raw_headers = prepared.wire
            transport = self._transports[shard]
            response, body = await transport.fetch(method, core_url, raw_headers, prepared.extensions)  # type: ignore[attr-defined]
            if response.has_redirect_location:  # not ``is_redirect``: that is any 3xx, so a 304 would be sent twice
                return await self._shards[shard].send(prepared.request)  # httpx follows it (drops credentials cross-origin)
            if "content-encoding" in response.headers:
                response.read()  # decoded (gzip, br...) as ``aread`` decodes it
                prepared.body = response.content
            else:
                prepared.body = body  # no encoding: the content is the body as received
                prepared.unread = True  # ``attach`` reads it into the response if the response is kept
            prepared.detached = response  # no ``request`` attached yet: ``attach`` does it if the response is kept
            return response
        request = prepared.request
        if not self._direct:
            return await self._shards[shard].send(request)
        response = await self._transports[shard].handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        response.request = request
        if response.has_redirect_location:  # not ``is_redirect``: that is any 3xx, so a 304 would be sent twice
            return await self._shards[shard].send(request)  # let httpx follow it (and drop credentials cross-origin)
        return response

    def _shown(self, prepared: _Prepared) -> str:
        """``METHOD url`` for messages, secrets masked (computed only when a message is written)."""
        request = prepared.request
        return f"{request.method} {self.redactor.redact(str(request.url))}"

    async def _attempt(
        self, method: str, url: str, params: Any, headers: Any, json: Any, content: Any, decode_json: bool, attempt: int
    ) -> tuple[httpx.Response, Any]:
        try:
            # Built before taking a slot: a slot is held only while the request is on the wire.
            request = self._build(method, url, params, headers, json, content)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise HttpError(f"{method} {self.redactor.redact(url)}: invalid request ({self.redactor.redact(exc)})") from None
        if self._resume_at > self.options.clock():
            await self._wait_until_resumed()
        async with self._semaphore:
            if self._limiter is not None:
                await self._limiter.acquire()
            if self._resume_at > self.options.clock():
                await self._wait_until_resumed()
            started = self.options.clock()
            self.requests += 1
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            load = self._shard_load
            shard = load.index(min(load))  # the least busy shard (the first of them)
            load[shard] += 1
            try:
                response = await self._send(shard, request)
            except httpx.TimeoutException as exc:
                self._trace(request, f"timeout ({type(exc).__name__})", started, attempt)
                raise _Retry(f"{self._shown(request)}: timed out ({type(exc).__name__})") from None
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._trace(request, f"connection error ({type(exc).__name__})", started, attempt)
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
        return self._judge(response, request, decode_json)

    def _trace(self, request: _Prepared, status: str, started: float, attempt: int) -> None:
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

    def _judge(self, response: httpx.Response, request: _Prepared, decode_json: bool) -> tuple[httpx.Response, Any]:
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
            request.attach(response)
            raise NotFound(f"{self._shown(request)}: not found (HTTP {status})", status, response)
        if status >= 400:
            request.attach(response)
            detail = _error_detail(response)
            message = f"{self._shown(request)}: HTTP {status} {response.reason_phrase}".rstrip()
            raise HttpError(self.redactor.redact(f"{message}: {detail}" if detail else message), status, response)
        if not decode_json:
            request.attach(response)  # returned to the caller
            return response, None
        content = request.content(response)
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
