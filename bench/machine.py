"""How fast and how busy this machine is while a benchmark runs, printed beside its figures.

Wall times on a shared 2-core VM move by 30 % or more from one minute to the next: the hypervisor lends the cores
to other guests (``steal`` in ``/proc/stat``). Two figures make a table comparable with another run:

- ``reference_loop()``: the best of three timings of a fixed pure-Python loop (10 million additions). The larger it
  is, the slower the machine was at that time; figures scale roughly with it.
- ``Steal``: the share of CPU time the hypervisor took from this VM while the benchmark ran (Linux only).
"""

from __future__ import annotations

import time


def reference_loop(repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def _cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs, or None where /proc/stat is not there."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


class Steal:
    """``with Steal() as s: ...`` then ``s.percent`` (None when unknown)."""

    def __enter__(self) -> Steal:
        self._start = _cpu_times()
        self.percent: float | None = None
        return self

    def __exit__(self, *_: object) -> None:
        end = _cpu_times()
        if self._start is not None and end is not None and end[1] > self._start[1]:
            self.percent = 100.0 * (end[0] - self._start[0]) / (end[1] - self._start[1])


def describe(steal: Steal | None = None) -> str:
    text = f"reference loop (10M Python additions): {reference_loop():.2f} s"
    if steal is not None and steal.percent is not None:
        text += f"; CPU steal during the runs: {steal.percent:.0f} %"
    return text
