"""Creating a built-in collector against a mock HTTP API and running it, as the collector tests do.

``create_collector`` goes through the registry (as ``collect`` does: config schema validation included) with a
``CollectorContext`` whose HTTP transport is ``handler`` (an ``httpx.MockTransport`` handler) and whose retry
back-off does not wait; ``run_outcomes`` collects and closes the collector's clients.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import httpx

from local_api import LocalServer

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectorContext
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.registry import Registry
from soundcheck_cli.config.model import CollectorSettings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef

C = TypeVar("C")


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def mock_http(handler: Any) -> HttpOptions:
    return HttpOptions(transport=httpx.MockTransport(handler), sleep=no_sleep)


def create_collector(collector_id: str, cls: type[C], config: Any, handler: Any, *, store: Any = None,
                     app_config: dict[str, Any] | None = None) -> C:
    context = CollectorContext(store=store, app_config=app_config or {}, extra={"http": mock_http(handler)})
    problems = Problems()
    collector = Registry.discover(problems).create(collector_id, CollectorSettings(collector_id, config), problems,
                                                   context)
    assert not problems.errors, [str(p) for p in problems.errors]
    assert isinstance(collector, cls)
    return collector


def run_outcomes(collector: Any, entities: list[Entity], refs: list[FactRef] | None = None, refresh: Any = None):
    async def go():
        try:
            return await collector.collect_outcomes(entities, refs, refresh)
        finally:
            await collector.aclose()

    return asyncio.run(go())


# -- a vendor API on 127.0.0.1 for tests through the CLI ------------------------------------------------------------

class VendorServer(LocalServer):
    """A threaded HTTP server on 127.0.0.1 answering with ``route(method, path, query, headers)`` ->
    ``(status, json_body)``; records every request as ``(method, raw path with query, headers)``. Use as a context
    manager; ``url`` is its base URL."""

    def __init__(self, route: Any) -> None:
        from urllib.parse import parse_qs, urlsplit

        from local_api import QuietHandler

        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                outer.requests.append(("GET", self.path, dict(self.headers)))
                parts = urlsplit(self.path)
                status, body = route("GET", parts.path, parse_qs(parts.query), dict(self.headers))
                self.reply(status, body)

        super().__init__(Handler)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]


def write_workspace(tmp_path: Any, collectors_yaml: str, entities: list[dict[str, Any]]) -> Any:
    """An app-config (``collectors_yaml`` indented under ``soundcheck.collectors``) and a catalog file of
    ``entities`` (annotations only) in ``tmp_path``; returns the app-config path."""
    import json
    import textwrap

    docs = [
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
         "metadata": {"name": e["name"], "annotations": e.get("annotations", {})},
         "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}
        for e in entities
    ]
    (tmp_path / "catalog.yaml").write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs))  # JSON is YAML
    config = ("catalog:\n  locations:\n    - {type: file, target: ./catalog.yaml}\n"
              "soundcheck:\n  collectors:\n" + textwrap.indent(textwrap.dedent(collectors_yaml), "    "))
    path = tmp_path / "app-config.yaml"
    path.write_text(config)
    return path
