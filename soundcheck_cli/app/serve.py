"""Orchestration of ``soundcheck serve``: load the settings, locate and open the store, bind the socket, run
uvicorn (docs/serve.md). The CLI (``cli.serve``) parses the options and prints; the routes are ``serve.app``."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.app import CommonOptions, load_settings, store_spec_for
from soundcheck_cli.errors import Problem, UsageError

LOOPBACK_NAMES = ("localhost",)


@dataclass
class ServePlan:
    settings: Any
    store_spec: str
    token: str | None = field(repr=False)
    max_body: int
    site: str | None
    warnings: list[Problem]


def plan(options: CommonOptions, site: str | None) -> ServePlan:
    """Everything ``serve`` needs before it listens; ``ConfigError``/``UsageError`` for a bad config or site."""
    from soundcheck_cli.redact import GLOBAL
    from soundcheck_cli.serve.config import parse_serve

    settings, warnings = load_settings(options)
    serve_node = settings.soundcheck.get("serve") if isinstance(settings.soundcheck, dict) else None
    serve_settings, more = parse_serve(serve_node, options.environ)
    if serve_settings.token:
        GLOBAL.add(serve_settings.token)  # masked in anything printed, whatever its source
    site_path = None
    if site is not None:
        site_path = os.path.abspath(os.path.join(options.cwd, site))
        if os.path.exists(site_path) and not os.path.isdir(site_path):
            raise UsageError(f"--site {site}: not a folder (build one with `soundcheck site -o {site}`)")
    return ServePlan(settings, store_spec_for(options, settings), serve_settings.token, serve_settings.max_body,
                     site_path, [*warnings, *more])


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one); ``UsageError`` when it cannot be had."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: expected a port number from 0 to 65535")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    try:
        sock = socket.create_server(address, family=family, reuse_port=False)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The ``Host`` names a loopback-bound server answers (None: any, when bound to another address)."""
    if not is_loopback(host):
        return None
    return frozenset({"localhost", "127.0.0.1", "::1", host.strip("[]").lower()})


def serve(plan_: ServePlan, sock: socket.socket, host: str, *, log_level: str = "info",
          on_ready: Callable[[], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C: uvicorn finishes the requests in flight, then re-raises it)."""
    import uvicorn

    _log_to_stderr()

    from soundcheck_cli.facts.locate import open_any
    from soundcheck_cli.serve.app import ServeContext, create_app

    with open_any(plan_.store_spec) as store:
        app = create_app(ServeContext(plan_.settings, store, plan_.token, plan_.max_body, plan_.site,
                                      allowed_hosts(host)))
        config = uvicorn.Config(app, log_level=log_level, access_log=True, server_header=False,
                                proxy_headers=False)
        server = uvicorn.Server(config)
        if on_ready is not None:
            on_ready()
        server.run(sockets=[sock])


class _Redacting(logging.Formatter):
    """uvicorn's look (``LEVEL:     message``), every known secret masked."""

    def format(self, record: logging.LogRecord) -> str:
        from soundcheck_cli.redact import GLOBAL

        return GLOBAL.redact(f"{record.levelname + ':':<10}{record.getMessage()}")


def _log_to_stderr() -> None:
    """The server's own lines (writes stored, requests refused) on standard error beside uvicorn's."""
    from soundcheck_cli.serve.app import LOG

    if not LOG.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_Redacting())
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False
