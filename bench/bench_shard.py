"""Sharded collection throughput: 1, 2 and 4 parallel ``soundcheck collect --shard i/k`` processes.

The local latency server of ``bench_collect.py`` (its own process, 127.0.0.1, every answer after ``--latency-ms``)
plays PagerDuty; a catalog of ``--n`` annotated components is collected by the real CLI (``python -m
soundcheck_cli collect``, the ``pagerduty`` collector at ``--concurrency`` plus the built-in ``catalog`` one) into
a fresh store each time, by k processes started together with ``--shard 1/k`` ... ``k/k``. Printed per k: the
wall time from the first start to the last exit (process start-up and catalog loading included, as a cron host
or CI job sees it), the slowest shard's collection time (from its summary), facts/s over the wall time, the
requests the server counted (each service once: k shards never repeat each other's work), the CPU seconds all k
processes used, and the facts in the store afterwards.

The store is a temporary folder, or PostgreSQL: ``--store postgresql://...`` (a server URL on which a fresh schema
is created, ``soundcheck store init``-ed and dropped for each k) or ``--postgres`` (a throwaway cluster started
with ``tests/pg_support.py``). Mind the cores: the processes share ``os.cpu_count()`` CPUs with the server.

Run from the repository root::

    python bench/bench_shard.py                 # 2,000 entities, 50 ms, concurrency 32, folder store
    python bench/bench_shard.py --postgres
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bench_collect import _serve  # noqa: E402 - the same latency server
from bench_startup import child_env  # noqa: E402 - the bytecode-cached environment of timed processes

TOKEN = "bench-shard-token"


def write_workspace(folder: str, n: int, server_url: str, concurrency: int) -> None:
    with open(os.path.join(folder, "catalog-info.yaml"), "w", encoding="utf-8") as fh:
        for i in range(n):
            entity = {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": f"service-{i}", "annotations": {"pagerduty.com/service-id": f"P{i:06d}"}},
                "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
            }
            fh.write("---\n" + json.dumps(entity) + "\n")
    with open(os.path.join(folder, "app-config.yaml"), "w", encoding="utf-8") as fh:
        fh.write(
            "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
            f"      baseUrl: {server_url}\n      frequency: {{hours: 1}}\n      concurrency: {concurrency}\n"
            "      collects:\n        - type: Service\n"
        )


def environment(bytecode: bool = True) -> dict[str, str]:
    """The processes' environment. With ``bytecode`` compiled modules are cached (in a temporary
    ``PYTHONPYCACHEPREFIX``, the checkout untouched) as for an installed package, even where the machine sets
    ``PYTHONDONTWRITEBYTECODE=1`` (``bench_startup.child_env``)."""
    env = {k: v for k, v in child_env(bytecode).items() if not k.startswith("SOUNDCHECK_") and "PROXY" not in k.upper()}
    env.update({"PYTHONPATH": ROOT, "NO_COLOR": "1", "PAGERDUTY_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1"})
    return env


@contextlib.contextmanager
def fresh_store(kind: str, base: str | None, tmp: str, label: str) -> Iterator[str]:
    """A new empty store: a folder under ``tmp``, or a new schema on the PostgreSQL server ``base``."""
    if kind == "disk":
        yield os.path.join(tmp, f"store-{label}")
        return
    import pg_support

    from soundcheck_cli.facts.locate import init_store

    with pg_support.fresh_schema(base, prefix="bench") as url:
        init_store(url)
        yield url


def count_facts(spec: str) -> int:
    from soundcheck_cli.facts.locate import open_any

    with open_any(spec, create=False) as store:
        return sum(1 for _ in store.facts())


def run_shards(k: int, folder: str, store: str, env: dict[str, str], shards: list[str] | None = None,
               ) -> tuple[float, float, float, list[str]]:
    """Start k ``collect --shard i/k`` processes at once (or one per ``shards`` value); (wall s, slowest
    collection s, CPU s of all, outputs)."""
    cpu0 = _children_cpu()
    cmd = [sys.executable, "-m", "soundcheck_cli", "collect", "--store", store]
    started = time.perf_counter()
    procs = [
        subprocess.Popen([*cmd, "--shard", shard], cwd=folder, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for shard in shards or [f"{i}/{k}" for i in range(1, k + 1)]
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    wall = time.perf_counter() - started
    for proc, out in zip(procs, outputs):
        if proc.returncode != 0:
            raise SystemExit(f"a shard failed (exit {proc.returncode}):\n{out}")
    seconds = [float(m) for out in outputs for m in re.findall(r"pagerduty: .*requests in ([0-9.]+)s", out)]
    return wall, max(seconds or [0.0]), _children_cpu() - cpu0, outputs


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="entities (default 2000)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server latency per request (default 50)")
    parser.add_argument("--concurrency", type=int, default=32, help="pagerduty concurrency per process (default 32)")
    parser.add_argument("--shards", default="1,2,4", help="process counts to compare (default 1,2,4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per process count; the fastest is shown (default 1)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="keep this environment's PYTHONDONTWRITEBYTECODE (every module compiled in every process)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="URL", help="a PostgreSQL server URL (a fresh schema per run)")
    where.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL cluster and use it")
    args = parser.parse_args()
    counts = [int(x) for x in args.shards.split(",")]

    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    counter = multiprocessing.Value("l", 0)
    server = multiprocessing.Process(target=_serve, args=(args.latency_ms / 1000, ready, counter), daemon=True)
    server.start()
    port = ready.get(timeout=10)
    cluster = None
    kind, base = "disk", None
    if args.store:
        kind, base = "postgres", args.store
    elif args.postgres:
        import pg_support

        cluster = pg_support.start_cluster()
        kind, base = "postgres", cluster.url
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
            write_workspace(tmp, args.n, f"http://127.0.0.1:{port}", args.concurrency)
            env = environment(not args.no_bytecode)
            # One process with (about) one entity to collect: the fixed cost of a shard (start-up, config,
            # catalog, store); the first run also fills the bytecode cache.
            fixed = []
            for attempt in range(1 + args.repeat):
                with fresh_store(kind, base, tmp, f"fixed-{attempt}") as store:
                    wall, _, cpu, _ = run_shards(1, tmp, store, env, [f"1/{args.n}"])
                fixed.append((wall, cpu))
            fixed_wall, fixed_cpu = min(fixed[1:] or fixed)
            for k in counts:
                runs = []
                for attempt in range(args.repeat):
                    with fresh_store(kind, base, tmp, f"{k}-{attempt}") as store:
                        before = counter.value
                        wall, slowest, cpu, _ = run_shards(k, tmp, store, env)
                        requests = counter.value - before
                        facts = count_facts(store)
                    runs.append((k, wall, slowest, cpu, facts, requests))
                rows.append(min(runs, key=lambda r: r[1]))
    finally:
        server.terminate()
        if cluster is not None:
            import pg_support

            pg_support.stop_cluster(cluster)

    ideal = args.n * (args.latency_ms / 1000) / args.concurrency
    store_name = "folder" if kind == "disk" else "PostgreSQL"
    print(f"sharded collection: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, N={args.n} entities, latency={args.latency_ms:g} ms, "
          f"concurrency={args.concurrency} per process, {store_name} store")
    print(f"one process's ideal N*latency/concurrency = {ideal:.2f} s; facts = pagerduty Service + catalog descriptor; "
          f"best of {args.repeat}; load average at the end {os.getloadavg()[0]:.2f}")
    print(f"fixed cost of one shard process (start-up, config, {args.n}-entity catalog, store; ~1 entity collected): "
          f"{fixed_wall:.2f} s wall, {fixed_cpu:.2f} s CPU; bytecode cache {'off' if args.no_bytecode else 'on'}")
    print(f"{'shards':>6}{'wall s':>9}{'slowest collect s':>19}{'CPU s':>8}{'facts':>8}{'facts/s':>9}{'requests':>10}"
          f"{'speed-up':>10}")
    base_wall = rows[0][1] if rows else 1.0
    for k, wall, slowest, cpu, facts, requests in rows:
        print(f"{k:>6}{wall:>9.2f}{slowest:>19.2f}{cpu:>8.2f}{facts:>8}{facts / wall:>9.0f}{requests:>10}"
              f"{base_wall / wall:>9.2f}x")
    bad = [k for k, _, _, _, facts, requests in rows if requests != args.n or facts != 2 * args.n]
    print("every service requested once and every fact stored: " + ("yes" if not bad else f"NO for k={bad}"))


if __name__ == "__main__":
    main()
