"""Pause Python's cyclic garbage collector around a burst of allocations that makes no reference cycles.

What it buys: a run that builds hundreds of thousands of small acyclic objects (facts read from a store, check
results, report lines) makes the collector start a collection every 700 allocations, and each older-generation
collection walks every object still held (the catalog, the facts, the results so far) to free nothing. Paused,
the objects are freed by reference counting as before; only the walks are saved. Measure it with
``bench/bench_check.py`` (``soundcheck check`` over 10,000 entities x 20 checks) with and without the pause.

Pauses nest: the collector is turned back on only by the ``paused()`` that turned it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Turn the cyclic garbage collector off for the ``with`` block (if it was on), and back on after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
