"""Start-up time of the CLI as a process (issue 7 target: ``soundcheck --help`` and ``--version`` <= 150 ms).

Prints the best (and median) wall time of ``--runs`` launches of ``python -m soundcheck_cli --version`` and
``--help``, next to two floors that soundcheck cannot go below on this interpreter: a bare ``python -c pass``
(interpreter + ``site``, including any ``.pth`` files of the environment) and ``python -c "import typer"`` (the
CLI framework ``--help`` needs). The load average is printed too: on a busy 2-core machine every figure grows.

    python bench/bench_startup.py            # best of 20
    python bench/bench_startup.py --runs 50

To see where import time goes: ``python -X importtime -m soundcheck_cli --version``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_env(bytecode: bool) -> dict[str, str]:
    """The environment of the timed processes. With ``bytecode`` (the default), compiled modules are cached (in a
    temporary ``PYTHONPYCACHEPREFIX``, so the checkout is not touched) as they are for an installed package; this
    machine sets ``PYTHONDONTWRITEBYTECODE=1``, which makes every run compile every soundcheck module again."""
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "soundcheck-bench-pycache")
    return env


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env)  # warm-up: fills the bytecode cache
    walls: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env)
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with {proc.returncode}:\n{proc.stderr.decode()}")
    return min(walls), statistics.median(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="keep this environment's PYTHONDONTWRITEBYTECODE (every module compiled on every run)")
    args = parser.parse_args(argv)
    env = child_env(not args.no_bytecode)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"soundcheck start-up -- Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}, "
          f"bytecode cache {'off' if args.no_bytecode else 'on'}")
    print(f"{'command':<34} {'best ms':>8} {'median ms':>10}")
    cases = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("python -c 'import typer' (floor)", [sys.executable, "-c", "import typer"]),
        ("soundcheck --version", [sys.executable, "-m", "soundcheck_cli", "--version"]),
        ("soundcheck --help", [sys.executable, "-m", "soundcheck_cli", "--help"]),
    ]
    for label, cmd in cases:
        best, median = timed(cmd, args.runs, env)
        print(f"{label:<34} {best * 1000:>8.0f} {median * 1000:>10.0f}")
    print("target: soundcheck --help and --version <= 150 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
