"""Wall time and peak RSS of ``soundcheck check`` as a process, per size (issues 2, 7 and 23).

Writes the synthetic workload of ``bench_eval.py`` to disk as a user would have it -- catalog-info files (100
entities per multi-document file), an app-config.yaml with the checks and a 3-level track, and a fact store
filled with the facts -- then runs ``python -m soundcheck_cli check ... -f json -o report.json -q`` and prints,
for each size of ``--sizes``: the first run (cold catalog cache, empty history) and the best (warm) wall time of
``--repeat`` runs, microseconds per result, the peak memory of the first and of the warm runs (``run_once``), and
json-rules-engine's engine-only time on the same workload in the same run (``bench_jre.py``'s runner, mode
"reused": one Engine, ``engine.run`` per entity; its node process's peak RSS) with the ratio to soundcheck's whole
warm ``check``. The last line gives the growth from the smallest to the largest size (issue 23: RSS well below
linear).

    python bench/bench_check.py                      # 10,000 entities x 20 checks
    python bench/bench_check.py --sizes 10000,100000   # issue 23's curve (100k takes a few minutes)
    python bench/bench_check.py --no-jre               # without json-rules-engine (node/npm not needed)
    python bench/bench_check.py --postgres           # the facts in PostgreSQL (a throwaway local cluster)
    python bench/bench_check.py --store-url postgresql://...   # ... or in a server of yours (a fresh schema)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_eval  # noqa: E402
import bench_jre  # noqa: E402
from bench_eval import make_checks, make_entities, make_facts, make_tracks  # noqa: E402
from bench_push import PEAK  # noqa: E402 - runs the CLI and writes its own peak RSS at exit
from bench_startup import child_env  # noqa: E402 - the bytecode-cached environment of timed processes
from machine import Steal, describe  # noqa: E402

from soundcheck_cli.facts.store import open_store  # noqa: E402
from soundcheck_cli.rules.model import AllOf, AnyOf, Condition, Not  # noqa: E402

FILTERS = {
    # make_checks builds its two filters from these mappings; recognise them by their parsed shape.
    "production": {"kind": "Component", "spec.lifecycle": "production"},
    "components": {"kind": "Component"},
}


def rule_node(rule: Any) -> Any:
    if isinstance(rule, Condition):
        return {"factRef": str(rule.fact_ref), "path": rule.path, "operator": rule.operator, "value": rule.value}
    if isinstance(rule, AllOf):
        return {"all": [rule_node(r) for r in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_node(r) for r in rule.rules]}
    if isinstance(rule, Not):
        return {"not": rule_node(rule.rule)}
    raise TypeError(rule)


def filter_node(flt: Any) -> Any:
    if flt is None:
        return None
    keys = {".".join(parts) for parts, _ in flt.alternatives[0]}
    return FILTERS["production"] if "spec.lifecycle" in keys else FILTERS["components"]


def write_workload(folder: Path, n_entities: int, n_checks: int, seed: int,
                   store_url: str | None = None) -> tuple[Path, Path, Path | str]:
    rng = random.Random(seed)
    entities = make_entities(n_entities, rng)
    facts = make_facts(entities, rng)
    checks = make_checks(n_checks)
    tracks = make_tracks(checks)

    catalog = folder / "catalog"
    catalog.mkdir()
    for start in range(0, len(entities), 100):
        docs = [json.dumps(e.data) for e in entities[start : start + 100]]  # JSON is valid YAML
        (catalog / f"part-{start // 100:04d}.yaml").write_text("\n---\n".join(docs) + "\n")

    config = {
        "soundcheck": {
            "checks": [
                {k: v for k, v in {
                    "id": c.id,
                    "rule": rule_node(c.rule),
                    "filter": filter_node(c.filter),
                    "failedMessage": c.failed_message,
                }.items() if v is not None}
                for c in checks
            ],
            "tracks": [
                {"id": t.id, "levels": [
                    {"ordinal": lv.ordinal, "name": lv.name, "checks": [{"id": lc.id} for lc in lv.checks]}
                    for lv in t.levels
                ]}
                for t in tracks
            ],
        }
    }
    config_path = folder / "app-config.yaml"
    config_path.write_text(json.dumps(config, indent=1))
    if store_url is not None:
        from soundcheck_cli.facts.locate import init_store, open_any

        init_store(store_url)
        with open_any(store_url) as store:
            store.put_many(facts.values())
        return config_path, catalog, store_url
    store_path = folder / "store"
    with open_store(str(store_path)) as store:
        store.put_many(facts.values())
    return config_path, catalog, store_path


def run_once(config: Path, catalog: Path, store: Path | str, out: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of one ``check``: the larger of the process's own ``VmHWM`` (written by
    the ``bench_push.PEAK`` wrapper at its exit; ``wait4``'s ``ru_maxrss`` also counted this script's memory at
    the fork) and the peak of its process tree's summed ``Pss``, sampled every 0.1 s (``TreeMemory``): a run fanned
    out over worker processes (``app.fanout``) is the memory of all of them, pages they share counted once."""
    cmd = [sys.executable, "-c", PEAK, "check", "-c", str(config), "--catalog", str(catalog),
           "--store", str(store), "-f", "json", "-o", str(out), "-q"]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
        with TreeMemory(proc.pid) as tree:
            proc.wait()
        wall = time.perf_counter() - started
        err.seek(0)
        errors = err.read().decode(errors="replace")
        if proc.returncode not in (0, 1):
            raise SystemExit(f"check failed with {proc.returncode}:\n{errors}")
    peak = 0.0
    if "VmHWM:" in errors:
        peak = int(errors.rpartition("VmHWM:")[2].split()[0]) / 1024  # KiB
    return wall, max(peak, tree.peak / 1024)


class TreeMemory:
    """The peak of the summed proportional set size (``Pss`` of ``/proc/PID/smaps_rollup``, KiB) of a process and
    its descendants, sampled by a thread every ``interval`` seconds while the ``with`` block runs."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, sum(map(_pss, _tree(self.pid))))


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                for child in children.read().split():
                    out += _tree(int(child))
    except OSError:  # gone meanwhile
        pass
    return out


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated entity counts, e.g. 1000,10000,50000")
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the first one fills the catalog cache)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="keep this environment's PYTHONDONTWRITEBYTECODE (every module compiled on every run)")
    parser.add_argument("--postgres", action="store_true",
                        help="keep the facts in PostgreSQL: a throwaway local cluster (tests/pg_support.py)")
    parser.add_argument("--store-url", help="keep the facts in this PostgreSQL server (a fresh schema per size)")
    parser.add_argument("--no-jre", dest="jre", action="store_false",
                        help="skip json-rules-engine's engine-only time (needs node; npm installs it once)")
    args = parser.parse_args(argv)
    env = child_env(not args.no_bytecode)
    with contextlib.ExitStack() as stack:
        base_url = args.store_url
        if args.postgres or base_url:
            sys.path.insert(0, str(ROOT / "tests"))
            import pg_support  # start a throwaway cluster, and a fresh schema per size

            if not base_url:
                base_url = stack.enter_context(pg_support.pg_cluster()).url
            env["XDG_CACHE_HOME"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="soundcheck-bench-cache-"))
            return _measure(args, env, lambda: stack.enter_context(pg_support.fresh_schema(base_url, "bench")))
        return _measure(args, env, None)


def _measure(args: argparse.Namespace, env: dict[str, str], new_store_url: Any) -> int:

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"soundcheck check as a process -- Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load}, bytecode cache {'off' if args.no_bytecode else 'on'}, "
          f"store {'PostgreSQL' if new_store_url else 'folder'}")
    jre_prefix = None
    if args.jre:
        version, why = bench_jre.ensure_jre(bench_jre.cache_prefix())
        if version is None:
            print(f"json-rules-engine skipped: {why}")
        else:
            jre_prefix = bench_jre.cache_prefix()
            print(f"json-rules-engine {version}: engine-only, one Engine reused, engine.run per entity")
    print(f"{'entities':>9} {'checks':>6} {'results':>8} {'first s':>8} {'best s':>7} {'median s':>8} {'worst s':>7} "
          f"{'us/result':>9} {'first MB':>8} {'warm MB':>7} {'jre s':>7} {'jre MB':>6} {'jre/best':>8}")
    steal = Steal()
    with steal:
        rows = _sizes(args, env, new_store_url, jre_prefix)
    if len(rows) > 1:
        (n0, best0, rss0), (n1, best1, rss1) = rows[0], rows[-1]
        print(f"growth {n0:,} -> {n1:,} entities (x{n1 / n0:g}): warm time x{best1 / best0:.1f}, "
              f"warm peak RSS x{rss1 / rss0:.1f}")
    print(f"machine: {describe(steal)}")
    print("targets (issue 23): 10,000 x 20 warm <= 1.5 s and <= 400 MB; 100,000 x 20 warm <= 8 s, first <= 15 s, "
          "peak RSS <= 600 MB; RSS growth well below linear; jre/best >= 3")
    return 0


def jre_engine_only(size: int, checks: int, seed: int, prefix: str) -> tuple[float, float]:
    """json-rules-engine's best wall seconds (of 2) and its node process's peak RSS (MB) on this size's workload:
    the same entities, facts and checks (``bench_eval.make_workload``, same seed), mode "reused"."""
    entities, facts, made = bench_eval.make_workload(size, checks, seed)
    tables, infos, _ = bench_eval.prepare_engine(entities, facts, made)
    per_entity = bench_jre.entity_facts(tables, infos)
    del facts, tables
    with tempfile.TemporaryDirectory(prefix="soundcheck-bench-jre-") as folder:
        runner = bench_jre.NodeRunner(bench_jre.write_data(folder, made, infos, per_entity), prefix, folder)
        del per_entity
        try:
            wall = min(runner.ask("run reused")["wall"] for _ in range(2))
            peak = 0.0
            with open(f"/proc/{runner.proc.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) / 1024
        finally:
            runner.close()
    return wall, peak


def _sizes(args: argparse.Namespace, env: dict[str, str], new_store_url: Any,
           jre_prefix: str | None = None) -> list[tuple[int, float, float]]:
    rows: list[tuple[int, float, float]] = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        with tempfile.TemporaryDirectory(prefix="soundcheck-bench-") as tmp:
            folder = Path(tmp)
            config, catalog, store = write_workload(folder, size, args.checks, args.seed,
                                                    new_store_url() if new_store_url else None)
            # The catalog cache does not trust files modified in the last 2 s (catalog.cache.RACY_SECONDS).
            time.sleep(2.1)
            out = folder / "report.json"
            walls: list[float] = []
            peaks: list[float] = []
            for _ in range(max(1, args.repeat)):
                wall, rss = run_once(config, catalog, store, out, env)
                walls.append(wall)
                peaks.append(rss)
            results = _count_results(out)
            best = min(walls)
            warm = walls[1:] or walls  # the runs after the first (which fills the catalog cache)
            warm_rss = max(peaks[1:] or peaks)
        jre = "" if jre_prefix is None else "{:>7.2f} {:>6.0f} {:>7.1f}x".format(
            *(lambda w, m: (w, m, w / best))(*jre_engine_only(size, args.checks, args.seed, jre_prefix)))
        print(f"{size:>9} {args.checks:>6} {results:>8} {walls[0]:>8.2f} {best:>7.2f} "
              f"{statistics.median(warm):>8.2f} {max(warm):>7.2f} "
              f"{best / max(results, 1) * 1e6:>9.2f} {peaks[0]:>8.0f} {warm_rss:>7.0f} {jre}", flush=True)
        rows.append((size, best, warm_rss))
    return rows


def _count_results(report: Path) -> int:
    """Results in the JSON report, counted line by line (one result per line, ``json_reporter.dumps_lines``): a
    100,000-entity report is 440 MB, more than this script should load to count it."""
    count = 0
    inside = False
    with open(report, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith('  "results": ['):
                if line.startswith('  "results": []'):
                    break
                inside = True
            elif inside:
                if line.startswith("  ]"):
                    break
                count += 1
    return count


if __name__ == "__main__":
    raise SystemExit(main())
