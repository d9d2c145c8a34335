"""Pause Python's cyclic garbage collector around a burst of allocations that makes no reference cycles.

What it buys: a run that builds hundreds of thousands of small acyclic objects (facts read from a store, check
results, report lines) makes the collector start a collection every 700 allocations, and each older-generation
collection walks every object still held (the catalog, the facts, the results so far) to free nothing. Paused,
the objects are freed by reference counting as before; only the walks are saved.

Use it only where it pays a measured 20 % of a figure a user sees. ``check`` pauses it around the whole run
(evaluation, report files, recording: ``app.reports.check_and_report``) and around reading the file catalog
(``app.load_workspace``); the ``check`` command, from loading to its end (turned on in between, the collector made
one collection of every object allocated while paused, the whole catalog: 0.2 s at 100,000 entities). Measured on
the warm check of 10,000 entities x 20 checks, ``-f json -o``, alternating runs of the same commit with and without the two pauses: wall median -16 % (11 runs each) and -9 % (9 runs) in two
sessions; the collector off for the whole process: -21 % (7 runs), for 5 MB more peak memory (124 vs 120 MB). That
is at the edge of the 20 % rule: re-measure (``bench/bench_check.py``) before adding or removing a pause. At 100,000
entities x 20 checks (2026-12-08, warm, two processes, alternating): 7.3-7.5 s with every pause and freeze here,
15.9-17.1 s with none (3 runs each).

Pauses nest: the collector is turned back on only by the ``paused()`` that turned it off.

``before_exit()`` spares the collection the interpreter makes as it exits, which walks every object still held
(the catalog and its documents: ~1,000,000 objects at 100,000 entities) to free nothing the exit would not free.
Measured on the warm check of 100,000 entities x 20 checks: the time from the last line of the command's work to
the process's end went from 0.70 s to 0.04 s (two runs each).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused(*, keep: bool = False) -> Iterator[None]:
    """Turn the cyclic garbage collector off for the ``with`` block (if it was on), and back on after it.

    ``keep``: the objects still held when the block ends are frozen first (``gc.freeze``), for a block that is the
    rest of a command. Turned back on, the collector would otherwise walk every object allocated while paused
    (the catalog, 0.3 s at 100,000 entities) at its first allocation; frozen objects are still freed by reference
    counting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if keep:
                gc.freeze()
            gc.enable()


def before_exit() -> None:
    """Called by the console script once its command has ended (every file and store closed by then): the objects
    still held are frozen (``gc.freeze``), so the interpreter's last collection does not walk them."""
    gc.freeze()
