"""Shared by the plugin tests: make ``examples/example-pagerduty`` discoverable without pip or network, and a local
PagerDuty (127.0.0.1) serving PagerDuty's official API examples.

Installed plugins are found by ``importlib.metadata`` through ``*.dist-info`` folders on ``sys.path`` (their
``entry_points.txt``); ``install_plugin`` writes such a folder into a temporary directory, as pip would into
site-packages, and puts the plugin's source on ``sys.path`` (as an editable install does).
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from local_api import LocalServer, QuietHandler

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "example-pagerduty"
EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "pagerduty" / "openapi-examples.json").read_text())
SERVICE = EXAMPLES["/services/{id}"]["responses"]["200"]
EXAMPLE_ENTRY_POINT = "example-pagerduty = soundcheck_example_pagerduty.collector:ExamplePagerDutyFactCollector"


def install_plugin(
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    dist: str,
    entry_points: str,
    modules: dict[str, str] | None = None,
    src: Path | None = None,
) -> None:
    """A fake installed distribution ``dist`` in ``site`` (put on ``sys.path``): ``METADATA``, ``entry_points.txt``
    with ``[soundcheck.collectors]`` ``entry_points``, and optional top-level ``modules`` (name -> code)."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[soundcheck.collectors]\n{entry_points}\n")
    for name, code in (modules or {}).items():
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(textwrap.dedent(code))
    if src is not None:
        monkeypatch.syspath_prepend(str(src))
    monkeypatch.syspath_prepend(str(site))


def install_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``examples/example-pagerduty`` as if pip-installed (its src on sys.path + its entry point's dist-info)."""
    site = tmp_path / "site-packages"
    install_plugin(site, monkeypatch, "soundcheck-example-pagerduty", EXAMPLE_ENTRY_POINT, src=EXAMPLE / "src")
    return site


class PagerDutyHandler(QuietHandler):
    """``GET /services/{id}``: the official example with that id; ``statuses`` overrides ``status`` per id;
    unknown path or id ``PMISSING`` -> 404."""

    statuses: ClassVar[dict[str, str]] = {}  # each server gets a subclass with its own (see pagerduty_server)
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        type(self).requests.append({"path": path, "query": query, "authorization": self.headers.get("Authorization")})
        service_id = path.rsplit("/", 1)[-1]
        if not path.startswith("/services/") or service_id == "PMISSING":
            self.reply(404, {"error": {"message": "Not Found", "code": 2100}})
            return
        body = copy.deepcopy(SERVICE)
        body["service"]["id"] = service_id
        body["service"]["status"] = self.statuses.get(service_id, "active")
        self.reply(200, body)


@contextmanager
def pagerduty_server(statuses: dict[str, str] | None = None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local PagerDuty on 127.0.0.1 (a free port): yields (base URL, the requests it received)."""
    handler = type("Handler", (PagerDutyHandler,), {"statuses": dict(statuses or {}), "requests": []})
    with LocalServer(handler) as server:
        yield server.url, handler.requests


def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must not go through a proxy configured in the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def forget_plugin_modules() -> None:
    """Drop the example's modules so each test imports them from its own sys.path."""
    for name in [m for m in sys.modules if m.startswith("soundcheck_example_pagerduty")]:
        del sys.modules[name]
