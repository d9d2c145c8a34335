"""Time of ``soundcheck site`` at scale: 10,000 entities x 20 checks, one track of 3 levels, 20 recorded runs.

Builds a workspace (``tests/site_support.py``), records RUNS real ``check`` runs (a few annotations change
between runs, so the history has changes), then times ``soundcheck site -o DIR`` as a process and reports the
largest file written. Usage:

    python bench/bench_site.py [ENTITIES] [CHECKS] [RUNS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from site_support import make_workspace, write_catalog  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    exe = [sys.executable, "-m", "soundcheck_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        common = make_workspace(root, n, m)
        for r in range(runs):
            write_catalog(root, n, m, salt=r % 5)
            subprocess.run([*exe, "check", "-q", "-f", "json", "-o", str(root / "report.json"), *common],
                           check=False, stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        done = subprocess.run([*exe, "site", "-o", str(root / "site"), *common], capture_output=True, text=True)
        took = time.perf_counter() - start
        if done.returncode:
            sys.exit(done.stderr)
        sizes = [(p.stat().st_size, p) for p in (root / "site").rglob("*") if p.is_file()]
        biggest = max(sizes)
        print(done.stdout.strip())
        print(f"{n:,} entities x {m} checks, {runs} runs: site written in {took:.2f}s; {len(sizes):,} files, "
              f"{sum(s for s, _ in sizes) / 1024 / 1024:.0f} MiB; largest {biggest[0] / 1024:.0f} KiB "
              f"({os.path.relpath(biggest[1], root / 'site')})")


if __name__ == "__main__":
    main()
