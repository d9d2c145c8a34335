"""``soundcheck facts push`` throughput and memory (issue 18 item 28; target of issue 23: >= 50k facts/s at any
size, 270k facts in <= 15 s, peak RSS bounded).

Writes a JSON fact file (and, with ``--yaml``, the same facts as YAML) of ``--sizes`` facts shaped like a CI job's
test results (a fact ref, an entity ref, a timestamp and a small ``data`` object), then runs the real CLI
(``python -m soundcheck_cli facts push FILE --store DIR``) once per file into a fresh folder store and prints the
wall time (process start included), facts per second and the child's peak RSS (``os.wait4``'s ``ru_maxrss``).
Before issue 28 a 100k-fact file took 51 s and 650 MB (~1.7k facts/s).

Run from the repository root::

    python bench/bench_push.py                      # 27k and 270k facts, JSON
    python bench/bench_push.py --sizes 27000 --yaml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def facts(n: int) -> list[dict]:
    return [
        {
            "factRef": f"ci:default/tests_{i % 3}",
            "entityRef": f"component:default/service-{i // 3}",
            "timestamp": "2026-12-07T10:00:00Z",
            "data": {"passed": i % 7 != 0, "tests": 120 + i % 50, "failures": i % 7, "suite": f"suite-{i % 11}"},
        }
        for i in range(n)
    ]


def write_yaml(path: str, items: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for item in items:
            data = item["data"]
            out.write(
                f"- factRef: {item['factRef']}\n  entityRef: {item['entityRef']}\n  timestamp: '{item['timestamp']}'\n"
                f"  data:\n    passed: {'true' if data['passed'] else 'false'}\n    tests: {data['tests']}\n"
                f"    failures: {data['failures']}\n    suite: {data['suite']}\n"
            )


def push(path: str, store: str) -> tuple[float, int, int, str]:
    """Wall seconds, exit code, peak RSS in KiB, and the last line of output of one ``facts push``."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("SOUNDCHECK_STORE", None)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "soundcheck_cli", "facts", "push", path, "--store", store],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=os.path.dirname(path))
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = output.strip().splitlines()
    return wall, proc.returncode, usage.ru_maxrss, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[27_000, 270_000], help="facts per file")
    parser.add_argument("--yaml", action="store_true", help="also push the same facts as a YAML file")
    args = parser.parse_args()
    print(f"facts push: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{'facts':>8} {'format':<6}{'MB':>7}{'wall s':>9}{'facts/s':>10}{'peak RSS MB':>13}  exit, output")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            items = facts(n)
            files = [(os.path.join(tmp, f"facts-{n}.json"), "json")]
            with open(files[0][0], "w", encoding="utf-8") as out:
                json.dump(items, out)
            if args.yaml:
                files.append((os.path.join(tmp, f"facts-{n}.yaml"), "yaml"))
                write_yaml(files[1][0], items)
            del items
            for path, kind in files:
                store = os.path.join(tmp, f"store-{n}-{kind}")
                wall, code, rss, last = push(path, store)
                size = os.path.getsize(path) / 1e6
                print(f"{n:>8} {kind:<6}{size:>7.1f}{wall:>9.2f}{n / wall:>10.0f}{rss / 1024:>13.0f}  {code}, {last[:60]}")


if __name__ == "__main__":
    main()
