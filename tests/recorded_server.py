"""A small HTTP API on 127.0.0.1 for the Azure DevOps and Bitbucket tests: ``route(method, path, query, headers,
body)`` → ``(status, body, headers)`` (a JSON-able body, or bytes sent as they are). Every request is recorded as
``(method, raw path with query, headers, body)``."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def recordings(name: str) -> list[dict[str, Any]]:
    """``fixtures/<name>``: records copied from /work/shared/api-recordings (SOURCES-more.md says where from)."""
    return json.loads((FIXTURES / name).read_text())


class RecordedServer:
    def __init__(self, route: Any) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body_in = json.loads(raw) if raw else None
                outer.requests.append((method, self.path, dict(self.headers), body_in))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, body, headers = route(method, parts.path, query, dict(self.headers), body_in)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                headers = dict(headers)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer("HEAD")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self, method: str = "GET") -> list[str]:
        return [p for m, p, _, _ in self.requests if m == method]
