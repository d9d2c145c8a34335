"""Collection under faults (issue 18 item 23): how much slower is a run when a share of the requests fail?

The reliability suite's ``FaultServer`` (``tests/reliability/fault_server.py``), in a child process so it does not
compete with the collector for the GIL, answers ``GET /services/{id}`` after ``--latency-ms`` and injects faults
into ``--faults`` of the attempts: 429 with ``Retry-After: 0``, HTTP 500 and connection resets, in equal shares
(deterministic: a hash of path and attempt). The real ``pagerduty`` collector and ``run_collection`` collect
``Service`` for ``--n`` entities at ``--concurrency`` with the default retry policy (5 attempts, backoff from
0.5 s) into a fresh store, ONE run. Prints the wall time, the facts collected after that one run, the requests
sent, and the same run against the same server without faults (the reference).

Before issue 23 was fixed (3 chunks of 50 in flight, each waiting for its slowest fact) 2,000 entities with 20 %
faults took ~190x the fault-free time; the runner now streams each chunk's facts as they complete and keeps
enough chunks in flight to fill the request slots (``collectors/runner.py``).

Run from the repository root::

    python bench/bench_faults.py --n 2000 --faults 0.2 --latency-ms 50 --concurrency 32
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from soundcheck_cli.catalog.model import Entity  # noqa: E402
from soundcheck_cli.collectors.runner import run_collection  # noqa: E402
from soundcheck_cli.config.model import CollectorSettings, Settings  # noqa: E402
from soundcheck_cli.facts.store import open_store  # noqa: E402


def _serve(share: float, latency: float, ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    from reliability.fault_server import Faults, FaultServer

    third = share / 3
    faults = Faults(rate_limited=third, retry_after="0", server_error=third, reset=third, latency=latency)
    with FaultServer(faults=faults, max_requests=10**7, max_seconds=3600) as server:
        ready.put(server.url)
        stop.wait(3600)
        ready.put((server.requests, dict(server.faults_sent)))


def _entities(n: int) -> list[Entity]:
    return [
        Entity.from_data(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": f"service-{i}", "annotations": {"pagerduty.com/service-id": f"P{i:06d}"}},
                "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
            }
        )
        for i in range(n)
    ]


def _one_run(share: float, args: argparse.Namespace) -> tuple[float, int, int, int, dict]:
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(share, args.latency_ms / 1000, ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=20)
    block: dict = {
        "token": "bench-token",
        "baseUrl": url,
        "concurrency": args.concurrency,
        "frequency": {"hours": 1},
        "collects": [{"type": "Service"}],
    }
    settings = Settings(
        files=(),
        collectors=(CollectorSettings("pagerduty", block),),
        app_config={"soundcheck": {"collectors": {"pagerduty": block}}},
    )
    try:
        with tempfile.TemporaryDirectory() as tmp, open_store(os.path.join(tmp, "store")) as store:
            started = time.perf_counter()
            summary = run_collection(settings, _entities(args.n), store, collector_ids=["pagerduty"])
            wall = time.perf_counter() - started
            stored = sum(1 for _ in store.facts())
        pd = summary.collector("pagerduty")
        stop.set()
        requests, sent = ready.get(timeout=20)
        return wall, stored, pd.failed, requests, sent
    finally:
        stop.set()
        server.join(5)
        if server.is_alive():
            server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="entities (default 2000)")
    parser.add_argument("--faults", type=float, default=0.2, help="share of attempts that fail (default 0.2)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server latency per request (default 50)")
    parser.add_argument("--concurrency", type=int, default=32, help="collector concurrency (default 32)")
    args = parser.parse_args()
    print(f"collection under faults: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, N={args.n}, latency={args.latency_ms:g} ms, concurrency={args.concurrency}")
    print(f"{'faults':<8}{'wall s':>9}{'facts':>8}{'failed':>8}{'requests':>10}  faults sent")
    rows = []
    for share in (0.0, args.faults):
        wall, stored, failed, requests, sent = _one_run(share, args)
        rows.append(wall)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(sent.items())) or "-"
        print(f"{share:<8.0%}{wall:>9.2f}{stored:>8}{failed:>8}{requests:>10}  {shown}")
    print(f"slow-down under faults: {rows[1] / rows[0]:.1f}x")


if __name__ == "__main__":
    main()
