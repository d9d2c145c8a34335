"""``entry``: ``--version`` and ``--help`` answered without importing typer, with the same text as the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from soundcheck_cli import __version__
from soundcheck_cli.cli import entry

PROBE = """
import sys
from soundcheck_cli.cli.entry import main
main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("typer imported: %s" % ("typer" in sys.modules))
"""


def _run(args: list[str], cache: Path, columns: str = "72") -> tuple[str, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": columns}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def _cli_help(columns: str, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", columns)
    text = entry.render_help()
    assert text is not None
    return text


def test_version_without_typer(tmp_path):
    out, err = _run(["--version"], tmp_path)
    assert out == f"soundcheck {__version__}\n"
    assert err == "typer imported: False"


def test_help_is_the_clis_text_and_is_kept_for_the_next_time(tmp_path, monkeypatch):
    for columns in ("72", "120"):
        expected = _cli_help(columns, monkeypatch)
        first, err = _run(["--help"], tmp_path, columns)
        assert first == expected and "Commands:" in first and "check" in first
        assert err == "typer imported: True"  # rendered through the CLI, then kept
        again, err = _run(["-h"], tmp_path, columns)
        assert again == expected
        assert err == "typer imported: False"
    assert len(list((tmp_path / "soundcheck").glob("help-*.txt"))) == 2  # one per width


def test_a_cached_text_of_other_code_or_width_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "72")
    key = entry.help_cache_key()
    monkeypatch.setenv("COLUMNS", "90")
    assert entry.help_cache_key() != key
    monkeypatch.setattr(entry, "_stamp", lambda path: f"{path}:changed")  # a CLI module edited or reinstalled
    assert entry.help_cache_key() != key
    monkeypatch.undo()

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "72")
    key = entry.help_cache_key()
    path = entry._help_path(key)
    Path(path).write_text("some other key\nstale help\n")  # same file name, another key: never printed
    out, _ = _run(["--help"], tmp_path, "72")
    assert "stale help" not in out and out == _cli_help("72", monkeypatch)
    assert Path(path).read_text() == key + "\n" + out  # replaced by the right text


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for args in (["--version"], ["--help"], ["--help"]):  # the second --help prints the kept text
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
