"""What every test API on 127.0.0.1 built from recorded answers shares (``recorded_server``, ``gitlab_server``,
``vendor_api``, ``kube_api``, ``collector_harness.VendorServer``, ``plugin_fixtures``): a quiet request handler
that answers with a JSON body (or bytes as they are), and a threaded server bound to 127.0.0.1 only, run on a
daemon thread while used as a context manager. Each module keeps its own routing and what it records.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from typing import Any


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A handler that does not log each request to stderr (test output stays readable) and answers with
    ``reply``."""

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None, *, head: bool = False) -> None:
        """``body`` as JSON (bytes as they are); ``Content-Type`` is application/json unless ``headers`` sets it;
        the other ``headers`` follow it. ``head``: the headers only, as a HEAD request wants."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra = dict(headers or {})
        self.send_response(status)
        self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class LocalServer:
    """A ``ThreadingHTTPServer`` with ``handler`` on 127.0.0.1 (a free port), HTTPS when ``tls`` is a
    (certificate file, key file) pair; serving between ``__enter__`` and ``__exit__``. ``url`` is its base URL."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], *, tls: tuple[str, str] | None = None
                 ) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
