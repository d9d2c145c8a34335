"""Fact store speed, folder (diskcache) vs PostgreSQL: ``put_many``, ``load_all`` and single ``get`` calls.

The workload is ``bench_eval.py``'s: 10,000 entities with ~27,000 facts (three fact refs, ~90% coverage each).
PostgreSQL is a throwaway local cluster (``tests/pg_support.py``, durability off, over TCP on 127.0.0.1) unless
``--pg-url`` / env ``SOUNDCHECK_TEST_PG_URL`` names a server (a fresh schema is created in it and dropped after).
Prints the best of ``--repeat`` runs of each operation.

    python bench/bench_store.py
    python bench/bench_store.py --entities 50000 --repeat 3
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("SOUNDCHECK_TEST_PG_URL"))
    args = parser.parse_args(argv)

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
