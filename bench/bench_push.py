"""``soundcheck facts push`` throughput and memory (issue 18 item 28; target of issue 23: >= 50k facts/s at any
size, 270k facts in <= 15 s, peak RSS bounded).

Writes a JSON fact file (and, with ``--yaml``, the same facts as YAML) of ``--sizes`` facts shaped like a CI job's
test results (a fact ref, an entity ref, a timestamp and a small ``data`` object), then runs the real CLI
(``python -m soundcheck_cli facts push FILE --store DIR``) ``--repeat`` times per file, each into a fresh folder
store, and prints the best and median wall time (process start included), facts per second of the best, and the
child's peak RSS. The peak is the child's own ``VmHWM`` (``/proc``, printed by a wrapper at exit): ``wait4``'s
``ru_maxrss`` also counts the parent's memory at the (v)fork, and this script holds the facts it wrote.
Before issue 28 a 100k-fact file took 51 s and 650 MB (~1.7k facts/s); before issue 23's streaming push, 270k facts
took ~4.5 s at 310 MB (JSON) and 66 s (YAML).

Run from the repository root::

    python bench/bench_push.py                      # 27k and 270k facts, JSON
    python bench/bench_push.py --sizes 27000 --yaml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
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


# Runs the CLI and writes its own peak RSS (VmHWM, KiB) to standard error at exit.
PEAK = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        sys.stderr.write("".join(line for line in status if line.startswith("VmHWM")))
atexit.register(peak)
sys.argv = ["soundcheck", *sys.argv[1:]]
runpy.run_module("soundcheck_cli", run_name="__main__")
"""


def push(path: str, store: str) -> tuple[float, int, int, str]:
    """Wall seconds, exit code, peak RSS in KiB, and the last line of output of one ``facts push``."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("SOUNDCHECK_STORE", None)
    own_peak = os.path.exists("/proc/self/status")
    program = ["-c", PEAK] if own_peak else ["-m", "soundcheck_cli"]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *program, "facts", "push", path, "--store", store],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=os.path.dirname(path))
    output, errors = (stream.decode(errors="replace") for stream in proc.communicate())
    wall = time.perf_counter() - started
    peak = 0
    if own_peak and "VmHWM:" in errors:
        errors, _, tail = errors.rpartition("VmHWM:")
        peak = int(tail.split()[0])
    lines = (output + errors).strip().splitlines()
    return wall, proc.returncode, peak, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[27_000, 270_000], help="facts per file")
    parser.add_argument("--yaml", action="store_true", help="also push the same facts as a YAML file")
    parser.add_argument("--repeat", type=int, default=3, help="pushes per file (best and median wall are shown)")
    args = parser.parse_args()
    print(f"facts push: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs; "
          f"targets: >= 50,000 facts/s, 270k facts <= 15 s, peak RSS <= 600 MB")
    print(f"{'facts':>8} {'format':<6}{'MB':>7}{'best s':>9}{'median s':>10}{'facts/s':>10}{'peak RSS MB':>13}"
          "  exit, output")
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
                runs = []
                for attempt in range(args.repeat):
                    store = os.path.join(tmp, f"store-{n}-{kind}-{attempt}")
                    runs.append(push(path, store))
                    shutil.rmtree(store, ignore_errors=True)
                walls = sorted(run[0] for run in runs)
                _, code, rss, last = max(runs, key=lambda run: run[2])
                size = os.path.getsize(path) / 1e6
                print(f"{n:>8} {kind:<6}{size:>7.1f}{walls[0]:>9.2f}{statistics.median(walls):>10.2f}"
                      f"{n / walls[0]:>10.0f}{rss / 1024:>13.0f}  {code}, {last[:60]}")


if __name__ == "__main__":
    main()
