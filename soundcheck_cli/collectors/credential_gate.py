"""``CredentialGate``: the first request made with a credential goes alone; the others wait for its answer.

Collectors start every (entity, fact) at once, so with a wrong token as many requests as the client's
concurrency would be sent before the first 401 comes back, on every run. Behind this gate the first call per
credential (a block's token, a cluster's service account) runs alone; once it has answered, the others run
concurrently, or -- when the call recorded the credential as rejected -- read the rejection without a request.
It costs one round trip of latency per credential and run, and saves a dead credential's host ``concurrency - 1``
requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class CredentialGate:
    def __init__(self) -> None:
        self._answered: set[Hashable] = set()
        self._locks: dict[Hashable, asyncio.Lock] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()``, alone when it is the first call for ``key``. ``call`` itself checks and records
        whether the credential was rejected (so the calls that waited see the rejection first thing)."""
        if key not in self._answered:
            async with self._locks.setdefault(key, asyncio.Lock()):
                if key not in self._answered:
                    try:
                        return await call()
                    finally:
                        self._answered.add(key)
        return await call()
