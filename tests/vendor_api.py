"""A threaded JSON API on 127.0.0.1 for the collector tests that need POST as well as GET (Jira, New Relic's
NerdGraph, Tech Insights): ``route(method, path, query, headers, body)`` -> ``(status, json body or None)``;
every request is recorded as ``(method, path, query, headers, body)``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_api import LocalServer, QuietHandler


class VendorApi(LocalServer):
    def __init__(self, route: Any) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str], Any]] = []
        outer = self

        class Handler(QuietHandler):
            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                headers = dict(self.headers)
                outer.requests.append((method, parts.path, query, headers, body))
                status, answer = route(method, parts.path, query, headers, body)
                self.reply(status, b"" if answer is None else answer)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        super().__init__(Handler)
