"""Start-up time of the CLI as a process (issue 7 target: ``soundcheck --help`` and ``--version`` <= 150 ms).

Prints the best (and median) wall time of ``--runs`` launches of ``python -m soundcheck_cli --version`` and
``--help``, next to two floors: a bare ``python -c pass`` (interpreter + ``site``, including any ``.pth`` files of
the environment) and ``python -c "import typer"`` (the CLI framework every other command needs). ``--version`` does
not import typer (``soundcheck_cli/cli/entry.py``); ``--help`` is rendered by typer, as every command's help is
(a command's help also imports pydantic: Typer's parameter coercion needs it). The fixed cost of a command that
does work is timed on ``soundcheck check`` over a workspace of one entity and 20 checks (config, catalog and store
loaded, evaluated, reported, recorded): what a 10,000-entity check pays before and beside its real work. The load average is printed too: on a busy 2-core machine every
figure grows.

    python bench/bench_startup.py            # best of 20
    python bench/bench_startup.py --runs 50

To see where import time goes: ``python -X importtime -m soundcheck_cli --version``.
"""

from __future__ import annotations

import argparse
import json
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


def timed(cmd: list[str], runs: int, env: dict[str, str], warm_up: bool = True,
          cwd: Path = ROOT) -> tuple[float, float]:
    if warm_up:  # fills the bytecode cache (and the catalog cache, the compiled checks)
        subprocess.run(cmd, capture_output=True, cwd=cwd, env=env)
    walls: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, cwd=cwd, env=env)
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
    print(f"{'command':<36} {'best ms':>8} {'median ms':>10}")
    soundcheck = [sys.executable, "-m", "soundcheck_cli"]
    with tempfile.TemporaryDirectory(prefix="soundcheck-bench-cache-") as cache:
        env = {**env, "XDG_CACHE_HOME": cache}  # the checks' compiled code is kept there
        cases = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], env),
            ("python -c 'import typer' (floor)", [sys.executable, "-c", "import typer"], env),
            ("soundcheck --version", [*soundcheck, "--version"], env),
            ("soundcheck --help", [*soundcheck, "--help"], env),
            ("soundcheck check --help", [*soundcheck, "check", "--help"], env),
        ]
        for label, cmd, case_env in cases:
            best, median = timed(cmd, args.runs, case_env)
            print(f"{label:<36} {best * 1000:>8.0f} {median * 1000:>10.0f}")
        workspace = Path(cache, "workspace")
        small_workspace(workspace)
        best, median = timed([*soundcheck, "check", "--store", "store", "-f", "json", "-o", "out.json", "-q"],
                             args.runs, env, cwd=workspace)
        print(f"{'soundcheck check (1 entity x 20)':<36} {best * 1000:>8.0f} {median * 1000:>10.0f}")
    print("target: soundcheck --help and --version <= 150 ms")
    return 0


def small_workspace(folder: Path, checks: int = 20) -> None:
    """An app-config of ``checks`` checks on the catalog fact (all passing) and a catalog of one entity."""
    folder.mkdir(parents=True)
    rule = {"factRef": "catalog:default/entity_descriptor", "path": "$.spec.owner", "operator": "equal", "value": "team-a"}
    config = {"soundcheck": {
        "checks": [{"id": f"check_{i}", "rule": rule} for i in range(checks)],
        "tracks": [{"id": "basics", "levels": [{"ordinal": 1, "checks": [{"id": f"check_{i}"} for i in range(checks)]}]}],
    }}
    (folder / "app-config.yaml").write_text(json.dumps(config, indent=1))
    (folder / "catalog-info.yaml").write_text(json.dumps({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "svc"},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}}))


if __name__ == "__main__":
    raise SystemExit(main())
