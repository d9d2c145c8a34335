"""A small HTTP API on 127.0.0.1 for the Azure DevOps and Bitbucket tests: ``route(method, path, query, headers,
body)`` → ``(status, body, headers)`` (a JSON-able body, or bytes sent as they are). Every request is recorded as
``(method, raw path with query, headers, body)``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_api import LocalServer, QuietHandler

FIXTURES = Path(__file__).parent / "fixtures"


def recordings(name: str) -> list[dict[str, Any]]:
    """``fixtures/<name>``: records copied from /work/shared/api-recordings (SOURCES-more.md says where from)."""
    return json.loads((FIXTURES / name).read_text())


class RecordedServer(LocalServer):
    def __init__(self, route: Any) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body_in = json.loads(raw) if raw else None
                outer.requests.append((method, self.path, dict(self.headers), body_in))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, body, headers = route(method, parts.path, query, dict(self.headers), body_in)
                self.reply(status, body, headers, head=method == "HEAD")

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer("HEAD")

        super().__init__(Handler)

    def paths(self, method: str = "GET") -> list[str]:
        return [p for m, p, _, _ in self.requests if m == method]
