"""Pause Python's cyclic garbage collector around a burst of allocations that makes no reference cycles.

What it buys: a run that builds hundreds of thousands of small acyclic objects (facts read from a store, check
results, report lines) makes the collector start a collection every 700 allocations, and each older-generation
collection walks every object still held (the catalog, the facts, the results so far) to free nothing. Paused,
the objects are freed by reference counting as before; only the walks are saved.

Use it only where it pays a measured 20 % of a figure a user sees. ``check`` pauses it around the whole run
(evaluation, report files, recording: ``app.reports.check_and_report``) and around reading the file catalog
(``app.load_workspace``). Measured on the warm check of 10,000 entities x 20 checks, ``-f json -o``, alternating
runs of the same commit with and without the two pauses: wall median -16 % (11 runs each) and -9 % (9 runs) in two
sessions; the collector off for the whole process: -21 % (7 runs), for 5 MB more peak memory (124 vs 120 MB). That
is at the edge of the 20 % rule: re-measure (``bench/bench_check.py``) before adding or removing a pause.

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
