"""Fact store speed, folder (diskcache) vs PostgreSQL: ``put_many``, ``load_all`` and single ``get`` calls.

The workload is ``bench_eval.py``'s: 10,000 entities with ~27,000 facts (three fact refs, ~90% coverage each).
PostgreSQL is a throwaway local cluster (``tests/pg_support.py``, durability off, over TCP on 127.0.0.1) unless
``--pg-url`` / env ``SOUNDCHECK_TEST_PG_URL`` names a server (a fresh schema is created in it and dropped after).
Prints the best of ``--repeat`` runs of each operation.

``--snapshot`` measures the folder store's fact snapshot instead (CPU time, ``time.process_time``, A/B interleaved,
best and median): ``load_all`` from SQLite (as before snapshots) vs from the snapshot, the first ``load_all`` after a
write (SQLite + writing the snapshot), and ``put_many`` of ``--chunks`` chunks of ``--chunk`` facts into a store
without vs with the fact-token triggers. ``--store DIR`` reads an existing store (a copy: the snapshot is written
into it) instead of a generated one.

    python bench/bench_store.py
    python bench/bench_store.py --entities 50000 --repeat 3
    python bench/bench_store.py --snapshot --repeat 9
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


def _ab(named: dict[str, Callable[[], object]], repeat: int) -> None:
    """Run each function ``repeat`` times, interleaved (A, B, A, B ...); print best and median CPU time."""
    import gc

    times: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(repeat):
        for name, fn in named.items():
            gc.collect()
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    for name, values in times.items():
        values.sort()
        print(f"  {name:<44} best {values[0] * 1000:7.1f} ms   median {values[len(values) // 2] * 1000:7.1f} ms")


def snapshot_bench(args: argparse.Namespace) -> int:
    import shutil

    from soundcheck_cli.facts import store as store_module
    from soundcheck_cli.facts.store import _FACT, _SEP, DiskFactStore, gc_paused, open_store

    def load_sql(store: DiskFactStore) -> object:
        """``load_all`` as it was before the snapshot: SQLite rows, decoded."""
        start = len(_FACT)
        with gc_paused():
            rows = store._decode_all(store._rows())
            return {(key[start : key.index(_SEP, start)], fact.fact_ref): fact for key, fact in rows}

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "store")
        if args.store:
            shutil.copytree(args.store, path)
            for name in os.listdir(path):
                if name.startswith(store_module.SNAPSHOT_NAME):
                    os.unlink(os.path.join(path, name))
        else:
            rng = random.Random(7)
            with open_store(path) as store:
                store.put_many(make_facts(make_entities(args.entities, rng), rng).values())
        with open_store(path) as store:
            facts = store.load_all()  # installs the token and writes the snapshot
            assert store.load_all() == facts == load_sql(store)
            print(f"{len(facts)} facts; snapshot {os.path.getsize(os.path.join(path, store_module.SNAPSHOT_NAME)) / 1e6:.1f} MB;"
                  f" CPU time, {args.repeat} interleaved runs")
            print("load_all:")
            _ab({"SQLite (before snapshots)": lambda: load_sql(store), "snapshot": store.load_all}, args.repeat)

            def after_write() -> None:
                store.delete_meta("none")  # not a fact: the snapshot stays valid
                store._cache._sql("UPDATE soundcheck_fact_token SET token = randomblob(16)")  # as any fact write does
                store.load_all()

            print("first load_all after a write:")
            _ab({"SQLite (before snapshots)": lambda: load_sql(store), "SQLite + write the snapshot": after_write}, args.repeat)

        # Writes: the same chunks into a store without and one with the triggers (each run writes new values).
        rng = random.Random(11)
        chunk_facts = list(make_facts(make_entities(args.chunk * args.chunks // 3 + 1, rng), rng).values())
        chunk_facts = chunk_facts[: args.chunk * args.chunks]
        stores = {}
        for name in ("without triggers", "with the fact-token triggers"):
            stores[name] = open_store(os.path.join(folder, name.replace(" ", "-")))
            stores[name].put_many(chunk_facts)
        stores["with the fact-token triggers"]._install_token()
        counter = [0]

        def writer(store: DiskFactStore) -> Callable[[], object]:
            def write() -> None:
                counter[0] += 1
                changed = [f.__class__(f.fact_ref, f.entity_ref, {"run": counter[0]}, f.timestamp, f.expires_at) for f in chunk_facts]
                for start in range(0, len(changed), args.chunk):
                    store.put_many(changed[start : start + args.chunk])
            return write

        print(f"put_many, {args.chunks} chunks of {args.chunk} facts (rewriting existing facts):")
        _ab({name: writer(store) for name, store in stores.items()}, args.repeat)
        for store in stores.values():
            store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("SOUNDCHECK_TEST_PG_URL"))
    parser.add_argument("--snapshot", action="store_true", help="measure the folder store's fact snapshot (no PostgreSQL)")
    parser.add_argument("--store", help="with --snapshot: copy and read this existing store folder")
    parser.add_argument("--chunk", type=int, default=100, help="with --snapshot: facts per put_many")
    parser.add_argument("--chunks", type=int, default=20, help="with --snapshot: put_many calls per run")
    args = parser.parse_args(argv)
    if args.snapshot:
        return snapshot_bench(args)

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
