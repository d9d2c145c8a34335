"""Wall time of a warm ``soundcheck check`` as a process (issue 2; issue 7 target: <= 2 s for 10,000 x 20).

Writes the synthetic workload of ``bench_eval.py`` to disk as a user would have it -- catalog-info files (100
entities per multi-document file), an app-config.yaml with the checks and a 3-level track, and a fact store
filled with the facts -- then runs ``python -m soundcheck_cli check ... -f json -o report.json -q`` and prints
the best wall time of ``--repeat`` runs, the peak RSS of the process, and the same for each size of
``--sizes`` (the scale curve).

    python bench/bench_check.py                      # 10,000 entities x 20 checks
    python bench/bench_check.py --sizes 1000,10000   # scale curve
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_eval import make_checks, make_entities, make_facts, make_tracks  # noqa: E402

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


def write_workload(folder: Path, n_entities: int, n_checks: int, seed: int) -> tuple[Path, Path, Path]:
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
    store_path = folder / "store"
    with open_store(str(store_path)) as store:
        store.put_many(facts.values())
    return config_path, catalog, store_path


def run_once(config: Path, catalog: Path, store: Path, out: Path) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "soundcheck_cli", "check", "-c", str(config), "--catalog", str(catalog),
           "--store", str(store), "-f", "json", "-o", str(out), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check failed with {proc.returncode}:\n{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated entity counts")
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    print(f"soundcheck check as a process -- Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{'entities':>9} {'checks':>6} {'results':>8} {'best wall s':>11} {'peak RSS MB':>11}")
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        with tempfile.TemporaryDirectory(prefix="soundcheck-bench-") as tmp:
            folder = Path(tmp)
            config, catalog, store = write_workload(folder, size, args.checks, args.seed)
            out = folder / "report.json"
            best = float("inf")
            for _ in range(args.repeat):
                wall, _peak = run_once(config, catalog, store, out)
                best = min(best, wall)
            # ru_maxrss of children is the largest child so far (KiB on Linux): every run has the same shape.
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            results = len(json.loads(out.read_text())["results"])
            print(f"{size:>9} {args.checks:>6} {results:>8} {best:>11.2f} {peak_mb:>11.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
