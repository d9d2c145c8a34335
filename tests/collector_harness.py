"""Creating a built-in collector against a mock HTTP API and running it, as the collector tests do.

``create_collector`` goes through the registry (as ``collect`` does: config schema validation included) with a
``CollectorContext`` whose HTTP transport is ``handler`` (an ``httpx.MockTransport`` handler) and whose retry
back-off does not wait; ``run_outcomes`` collects and closes the collector's clients.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import httpx

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
