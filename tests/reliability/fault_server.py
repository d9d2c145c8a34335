"""``FaultServer``: a real HTTP server on 127.0.0.1, in a thread, that injects faults into a share of the requests.

Faults, each a share of the *attempts* (decided by a hash of ``(seed, request path, attempt number of that
path)``, so the same path sees the same sequence of faults whatever the thread interleaving: the suites are
deterministic):

- ``rate_limited``: HTTP 429 with ``Retry-After: <retry_after>`` (RFC 9110 §10.2.3 delta-seconds); the paths in
  ``long_429`` get one on their first attempt with ``Retry-After: <long_retry_after>``;
- ``server_error``: HTTP 500;
- ``reset``: the TCP connection is closed with a RST (``SO_LINGER`` 0) before any answer;
- ``slow``: the answer comes after ``slow_seconds`` (set it longer than the client's ``timeout``);
- ``bad_json``: HTTP 200, ``Content-Type: application/json``, with a truncated JSON body.

``hold_until`` holds every answer until that many requests have arrived (overlap tests). Paths starting with one
of ``hard_fail`` always get HTTP 500 (they fail for good). Every request is recorded
(method, raw target, headers, body) and counted per path. The server is bounded: after ``max_requests`` requests it
answers 503 to everything, and it shuts itself down after ``max_seconds``, so a test that goes wrong cannot hang.
Use it as a context manager; ``url`` is its base URL.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Faults:
    rate_limited: float = 0.0
    retry_after: str = "0"
    server_error: float = 0.0
    reset: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 1.0
    bad_json: float = 0.0
    latency: float = 0.0  # every answer (faulty or not) waits this long first
    # No answer at all until this many requests have arrived (at most ``hold_seconds``): with clients whose
    # concurrency is below it, this proves several clients were asking at the same time (overlap tests).
    hold_until: int = 0
    hold_seconds: float = 10.0
    hard_fail: tuple[str, ...] = ()
    script: tuple[str | None, ...] = ()  # the fault of attempt 1, 2... of every path (then the shares apply)
    # Paths whose first attempt is a 429 with ``Retry-After: <long_retry_after>`` (to see the wait honoured).
    long_429: tuple[str, ...] = ()
    long_retry_after: str = "1"
    seed: int = 7

    def pick(self, path: str, attempt: int) -> str | None:
        """The fault for ``attempt`` (1-based) of ``path``, or ``None`` to answer normally."""
        if any(path.startswith(prefix) for prefix in self.hard_fail):
            return "hard"
        if attempt == 1 and path in self.long_429:
            return "long_429"
        if attempt <= len(self.script):
            return self.script[attempt - 1]
        digest = hashlib.sha256(f"{self.seed}|{path}|{attempt}".encode()).digest()
        x = int.from_bytes(digest[:8], "big") / 2**64
        for name in ("rate_limited", "server_error", "reset", "slow", "bad_json"):
            share = getattr(self, name)
            if x < share:
                return name
            x -= share
        return None


@dataclass(frozen=True)
class Record:
    method: str
    target: str  # the raw request target, exactly as sent on the wire
    path: str  # the target without its query, still percent-encoded
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes
    fault: str | None
    at: float  # time.monotonic() when the request arrived


Responder = Callable[[Record], tuple[int, dict[str, str], Any]]


def pagerduty_service(record: Record) -> tuple[int, dict[str, str], Any]:
    """A PagerDuty-like ``GET /services/{id}``: the service object named after the (decoded) id."""
    sid = unquote(record.path.rsplit("/", 1)[-1])
    return 200, {}, {"service": {"id": sid, "name": f"service {sid}", "status": "active"}}


def echo(record: Record) -> tuple[int, dict[str, str], Any]:
    """Answers with what it received (target and headers), so a fact shows what reached the server."""
    return 200, {}, {"target": record.target, "path": record.path}


class FaultServer:
    def __init__(
        self,
        responder: Responder = pagerduty_service,
        faults: Faults = Faults(),
        *,
        max_requests: int = 5000,
        max_seconds: float = 60.0,
    ) -> None:
        self.responder = responder
        self.faults = faults
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.records: list[Record] = []
        self.per_path: Counter[str] = Counter()
        self.faults_sent: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(max_seconds, self.stop)
        self._timer.daemon = True

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> FaultServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was seen ----------------------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.records)

    def wait_for_requests(self, n: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.requests >= n:
                return True
            time.sleep(0.01)
        return False

    # -- answering --------------------------------------------------------------------------------------------
    def _register(self, handler: BaseHTTPRequestHandler, body: bytes) -> Record:
        target = handler.path
        path = urlsplit(target).path if not target.startswith("/") else target.split("?", 1)[0]
        with self._lock:
            self.per_path[path] += 1
            attempt = self.per_path[path]
            over = len(self.records) >= self.max_requests
            fault = "over_budget" if over else self.faults.pick(path, attempt)
            record = Record(
                handler.command,
                target,
                path,
                {k.lower(): v for k, v in handler.headers.items()},
                list(handler.headers.items()),
                body,
                fault,
                time.monotonic(),
            )
            self.records.append(record)
            if fault:
                self.faults_sent[fault] += 1
        return record


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for handlers still sleeping in a "slow" fault
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and clients that gave up on a slow answer are expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        owner: FaultServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = owner._register(self, body)
        faults = owner.faults
        if faults.hold_until:
            owner.wait_for_requests(faults.hold_until, faults.hold_seconds)
        if faults.latency:
            time.sleep(faults.latency)
        fault = record.fault
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault == "slow":
            time.sleep(faults.slow_seconds)
        if fault in ("rate_limited", "long_429"):
            wait = faults.long_retry_after if fault == "long_429" else faults.retry_after
            self._send(429, {"Retry-After": wait}, {"error": {"message": "Rate Limit Exceeded"}})
        elif fault in ("server_error", "hard"):
            self._send(500, {}, {"error": {"message": "Internal Server Error"}})
        elif fault == "over_budget":
            self._send(503, {}, {"error": {"message": "fault server request budget exhausted"}})
        elif fault == "bad_json":
            self._send_raw(200, {"Content-Type": "application/json"}, b'{"service": {"id": "trunc')
        else:
            status, headers, payload = owner.responder(record)
            self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
        if isinstance(payload, (bytes, str)):
            data = payload.encode() if isinstance(payload, str) else payload
            self._send_raw(status, {"Content-Type": "text/plain", **headers}, data)
        else:
            self._send_raw(status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode())

    def _send_raw(self, status: int, headers: dict[str, str], data: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout): nothing to do
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

