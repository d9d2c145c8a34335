"""Fact store speed, folder (SQLite) vs PostgreSQL: ``put_many``, ``load_all`` and single ``get`` calls.

The workload is ``bench_eval.py``'s: 10,000 entities with ~27,000 facts (three fact refs, ~90% coverage each).
PostgreSQL is a throwaway local cluster (``tests/pg_support.py``, durability off, over TCP on 127.0.0.1) unless
``--pg-url`` / env ``SOUNDCHECK_TEST_PG_URL`` names a server (a fresh schema is created in it and dropped after).
Prints the best of ``--repeat`` runs of each operation.

``--cpu`` measures the folder store alone in CPU time (``time.process_time``, best and median): ``load_all`` (the
evaluation's one bulk read) and ``put_many`` of ``--chunk`` facts, new and replacing (a collection chunk). ``--store
DIR`` reads a copy of an existing store instead of a generated one.

    python bench/bench_store.py
    python bench/bench_store.py --entities 50000 --repeat 3
    python bench/bench_store.py --cpu --repeat 9
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_eval import make_entities, make_facts  # noqa: E402

from soundcheck_cli.facts.interface import FactStore  # noqa: E402


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, store: FactStore, facts: list, repeat: int) -> None:
    put = best(lambda: store.put_many(facts), repeat)
    loaded = store.load_all()
    assert len(loaded) == len(facts), (len(loaded), len(facts))
    load = best(store.load_all, repeat)
    sample = facts[:: max(1, len(facts) // 1000)]
    get = best(lambda: [store.get(f.entity_ref, f.fact_ref) for f in sample], repeat) / len(sample)
    print(f"{name:<11} put_many {put * 1000:8.0f} ms   load_all {load * 1000:7.0f} ms "
          f"({load / len(facts) * 1e6:5.2f} us/fact)   get {get * 1e6:6.0f} us")


def _cpu(name: str, fn: Callable[[], object], repeat: int) -> None:
    """Run ``fn`` ``repeat`` times; print best and median CPU time."""
    import gc

    values = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        values.append(time.process_time() - start)
    values.sort()
    print(f"  {name:<44} best {values[0] * 1000:7.1f} ms   median {values[len(values) // 2] * 1000:7.1f} ms")


def cpu_bench(args: argparse.Namespace) -> int:
    import shutil

    from soundcheck_cli.facts.model import Fact
    from soundcheck_cli.facts.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "store")
        rng = random.Random(7)
        if args.store:
            shutil.copytree(args.store, path)
        else:
            with open_store(path) as store:
                store.put_many(make_facts(make_entities(args.entities, rng), rng).values())
        with open_store(path) as store:
            facts = store.load_all()
            print(f"{len(facts)} facts; CPU time, {args.repeat} runs")
            _cpu("load_all", store.load_all, args.repeat)
            chunk = list(facts.values())[: args.chunk]
            counter = [0]

            def replacing() -> None:
                counter[0] += 1
                store.put_many(Fact(f.fact_ref, f.entity_ref, {"run": counter[0]}, f.timestamp, f.expires_at) for f in chunk)

            def new() -> None:
                counter[0] += 1
                store.put_many(Fact(f.fact_ref, f"{f.entity_ref}-{counter[0]}", f.data, f.timestamp, f.expires_at)
                               for f in chunk)

            _cpu(f"put_many of {len(chunk)} facts, replacing", replacing, args.repeat)
            _cpu(f"put_many of {len(chunk)} new facts", new, args.repeat)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("SOUNDCHECK_TEST_PG_URL"))
    parser.add_argument("--cpu", action="store_true", help="the folder store alone, in CPU time (no PostgreSQL)")
    parser.add_argument("--store", help="with --cpu: copy and read this existing store folder")
    parser.add_argument("--chunk", type=int, default=2000, help="with --cpu: facts per put_many")
    args = parser.parse_args(argv)
    if args.cpu:
        return cpu_bench(args)

    import pg_support

    from soundcheck_cli.facts.pg_store import open_pg_store
    from soundcheck_cli.facts.store import open_store

    rng = random.Random(7)
    facts = list(make_facts(make_entities(args.entities, rng), rng).values())
    print(f"{args.entities} entities, {len(facts)} facts; best of {args.repeat}")
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        with open_store(os.path.join(folder, "store")) as disk:
            measure("folder", disk, facts, args.repeat)
        base = args.pg_url or stack.enter_context(pg_support.pg_cluster()).url
        url = stack.enter_context(pg_support.fresh_schema(base, prefix="bench"))
        from soundcheck_cli.facts.locate import init_store

        init_store(url)
        with open_pg_store(url) as pg:
            measure("postgresql", pg, facts, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
