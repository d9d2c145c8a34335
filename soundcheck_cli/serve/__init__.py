"""``soundcheck serve``: the static results site and a read/write subset of Soundcheck's REST API
(``/api/soundcheck``) over the same store, so that scripts written for Soundcheck (release gates, fact pushers)
work against it. See docs/serve.md.

- ``config``: the ``soundcheck.serve`` settings (the write token, the body size bound);
- ``api``: the response documents, pure functions of the settings and the store (no HTTP);
- ``body``: request bodies read bounded and validated with located errors (JSON pointers);
- ``app``: the Starlette application (routes, bearer-token auth for writes, errors in Soundcheck's shape).

Starlette and uvicorn are an optional extra (``pip install 'soundcheck-cli[serve]'``), imported only here, only
by ``serve``: ``require_stack`` says how to install them when they are missing.
"""

from __future__ import annotations

from soundcheck_cli.errors import UsageError

INSTALL_HINT = "pip install 'soundcheck-cli[serve]'"


def require_stack() -> None:
    """Raise ``UsageError`` (exit 2) naming the install command when Starlette or uvicorn is missing."""
    import importlib.util

    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"`soundcheck serve` needs {' and '.join(missing)}, which are not installed: "
                         f"install them with {INSTALL_HINT}")
