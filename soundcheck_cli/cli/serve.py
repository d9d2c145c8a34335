"""``soundcheck serve [--host 127.0.0.1] [--port 7007] [--site DIR]``: the static results site and a read/write
subset of Soundcheck's REST API under ``/api/soundcheck``, on the store the other commands use (docs/serve.md).

Parses the options, calls ``app.serve``, prints where it listens; Starlette and uvicorn are an optional extra
(``pip install 'soundcheck-cli[serve]'``): without them the command says how to install them and exits 2.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from soundcheck_cli.cli.common import (
    CatalogOpt,
    CatalogUrlOpt,
    ConfigOpt,
    StoreOpt,
    common_options,
    err,
    print_warnings,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7007


def serve(
    host: Annotated[str, typer.Option(
        "--host", metavar="HOST", help="Address to listen on (default: 127.0.0.1, this machine only).")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", "-p", metavar="PORT",
                                      help="Port to listen on (0: any free port, printed at start).")] = DEFAULT_PORT,
    site: Annotated[Optional[str], typer.Option(
        "--site", metavar="DIR", help="Also serve this folder (the static site of `soundcheck site -o DIR`) at /.",
        show_default=False)] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    catalog_url: CatalogUrlOpt = None,
    store: StoreOpt = None,
) -> None:
    """Serve the results site and Soundcheck's REST API (/api/soundcheck: checks, tracks, results, certifications,
    facts) over the store, for scripts written for Soundcheck. Writes (POST) need the bearer token of
    soundcheck.serve.token or $SOUNDCHECK_SERVE_TOKEN. Stop with Ctrl-C."""
    from soundcheck_cli.serve import require_stack

    require_stack()
    from soundcheck_cli.app import serve as core

    plan = core.plan(common_options(config, catalog, store, catalog_url), site)
    print_warnings(plan.warnings)
    sock = core.bind(host, port)
    actual_host, actual_port = sock.getsockname()[:2]
    if not core.is_loopback(host):
        err(f"warning: listening on {host}, reachable from other machines: reads need no token, and anyone who "
            "can reach this port can read every result (use --host 127.0.0.1 or a reverse proxy with TLS)")
    if plan.token is None:
        err("note: no write token is configured (soundcheck.serve.token or SOUNDCHECK_SERVE_TOKEN): "
            "POST /facts and POST /results are refused")
    if plan.site is not None:
        import os

        if not os.path.isdir(plan.site):
            err(f"warning: --site {site}: the folder does not exist (yet); build it with `soundcheck site -o {site}`")
    shown = f"[{actual_host}]" if ":" in actual_host else actual_host
    url = f"http://{shown}:{actual_port}"

    def ready() -> None:
        typer.echo(f"serving {url} (API: {url}/api/soundcheck{', site: ' + url + '/' if plan.site else ''})")

    try:
        core.serve(plan, sock, host, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown: the normal way to stop
        err("stopped")
