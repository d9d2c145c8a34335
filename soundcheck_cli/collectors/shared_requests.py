"""Identical requests of one batch share one request: ``SharedRequests.share(key, factory)``.

Several facts of a batch often need the same answer (GitHub's ``/repos/{owner}/{repo}`` for details, protection and
rules; a repository's default branch for every SCM file fact of it). The first caller of a key starts
``factory()``; later callers of the same key await the same task. Each waiter awaits it shielded, so one fact being
cancelled does not cancel the request another waits for; a failure reaches every waiter. ``clear()`` forgets the
tasks (at the end of a batch: bounded memory, never a stale answer); ``cancel()`` also stops those under way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class SharedRequests:
    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Future[Any]] = {}

    async def share(self, key: Hashable, factory: Callable[[], Awaitable[Any]]) -> Any:
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = asyncio.ensure_future(factory())
            # retrieved here, so a failure every waiter gave up on is not reported as "never retrieved"
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    def clear(self) -> None:
        self._tasks.clear()

    def cancel(self) -> None:
        """Cancel the requests still under way and forget every task (the collector is closing)."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            if not task.done():
                task.cancel()
