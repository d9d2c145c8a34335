"""``entry``: ``--version`` answered without importing typer; ``--help`` and everything else by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from soundcheck_cli import __version__

PROBE = """
import sys
from soundcheck_cli.cli.entry import main
try:
    main(sys.argv[1:])
finally:
    sys.stdout.flush()
    sys.stderr.write("typer imported: %s" % ("typer" in sys.modules))
"""


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60)


def test_version_without_typer():
    proc = _run(["--version"])
    assert proc.returncode == 0
    assert proc.stdout == f"soundcheck {__version__}\n"
    assert proc.stderr == "typer imported: False"


def test_help_is_the_clis_help_and_leaves_nothing_behind(tmp_path):
    env = {**os.environ, "COLUMNS": "80", "XDG_CACHE_HOME": str(tmp_path)}
    for flag in ("--help", "-h"):
        proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", flag], capture_output=True, text=True,
                              env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("Usage: soundcheck [OPTIONS] COMMAND [ARGS]...")
        for command in ("check", "collect", "run", "validate", "store"):
            assert f"\n  {command} " in proc.stdout
        assert "3 internal error" in proc.stdout  # every documented exit code
    assert not (tmp_path / "soundcheck").exists()  # no help text kept in the user's cache folder


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for args in (["--version"], ["--help"]):
        reader, writer = os.pipe()
        os.close(reader)  # nobody will read: every write fails with EPIPE
        try:
            proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", *args], stdout=writer,
                                  stderr=subprocess.PIPE, env=env, timeout=60)
        finally:
            os.close(writer)
        err = proc.stderr.decode()
        assert proc.returncode == 1
        assert "Traceback" not in err and err == ""
