"""Report files of ``check`` (``app.reports``), as a user sees them: every file complete, a file of an earlier run
rewritten whole, nothing stale left after a failed write, and a file that cannot be written stopping the run
before it is recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.errors import UsageError
from workspaces import hygiene_config, two_components


def _workspace(tmp_path: Path) -> list[str]:
    (tmp_path / "catalog.yaml").write_text(two_components())
    (tmp_path / "app-config.yaml").write_text(hygiene_config("{{ entity.metadata.name }} has no owner"))
    return ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]


def _runs(base: list[str], capsys) -> list[dict]:
    capsys.readouterr()
    assert run_cli(["history", *base, "-f", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _without_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "generatedAt" not in line and "timestamp=" not in line)


def test_check_writes_every_file_and_prints_the_others_and_records_the_run(tmp_path, capsys):
    base = _workspace(tmp_path)
    code = run_cli(["check", *base, "-f", "json", "-o", str(tmp_path / "out" / "r.json"), "-f", "junit",
                    "-o", str(tmp_path / "out" / "r.xml"), "-f", "markdown"])
    assert code == 1  # b has no owner and no description
    captured = capsys.readouterr()
    assert "has_owner" in captured.out  # the format without -o goes to stdout
    assert "4 results for 2 entities" in captured.err  # the one-line summary: stdout carries a format
    assert len(json.loads((tmp_path / "out" / "r.json").read_text())["results"]) == 4
    assert "<testsuites" in (tmp_path / "out" / "r.xml").read_text()
    assert len(_runs(base, capsys)) == 1


def test_a_report_file_that_cannot_be_opened_stops_the_run_before_the_history(tmp_path, capsys):
    base = _workspace(tmp_path)
    (tmp_path / "taken").mkdir()
    code = run_cli(["check", *base, "-f", "json", "-o", str(tmp_path / "ok.json"), "-f", "junit",
                    "-o", str(tmp_path / "taken")])
    assert code == 2
    assert f"cannot write {tmp_path / 'taken'}" in capsys.readouterr().err
    assert _runs(base, capsys) == []


def test_an_error_while_writing_is_the_run_error(tmp_path, monkeypatch, capsys):
    from soundcheck_cli.reporters import junit_reporter

    base = _workspace(tmp_path)

    class Broken(junit_reporter.Writer):  # junit writes part by part: its Writer fails at the close
        def close(self, problems=()):
            self.spool.close()
            raise UsageError("junit: the report is too strange to write")

    monkeypatch.setattr(junit_reporter, "Writer", Broken)
    code = run_cli(["check", *base, "-f", "json", "-o", str(tmp_path / "r.json"), "-f", "junit",
                    "-o", str(tmp_path / "r.xml")])
    assert code == 2
    assert "error: junit: the report is too strange to write" in capsys.readouterr().err
    # The reports are written together, part by part (issue 23): a failed one leaves every file empty, never a
    # report that looks complete while the run failed.
    assert (tmp_path / "r.json").read_text() == "" and (tmp_path / "r.xml").read_text() == ""
    assert _runs(base, capsys) == []


def test_a_longer_earlier_report_leaves_no_tail(tmp_path, capsys):
    base = _workspace(tmp_path)
    target = tmp_path / "r.json"
    target.write_text("x" * 1_000_000 + "\n")  # far longer than the report
    assert run_cli(["check", *base, "-f", "json", "-o", str(target)]) == 1
    text = target.read_text()
    assert "xxx" not in text and len(json.loads(text)["results"]) == 4
    fresh = tmp_path / "fresh.json"
    assert run_cli(["check", *base, "-f", "json", "-o", str(fresh)]) == 1
    assert _without_time(text) == _without_time(fresh.read_text())  # same bytes as a file written from nothing


def test_a_report_that_fails_before_writing_leaves_no_stale_content(tmp_path, monkeypatch, capsys):
    from soundcheck_cli.reporters import junit_reporter

    base = _workspace(tmp_path)
    target = tmp_path / "r.xml"
    target.write_text("<old report/>\n")

    class Broken(junit_reporter.Writer):  # junit writes part by part: its Writer fails at the close
        def close(self, problems=()):
            self.spool.close()
            raise UsageError("junit: the report is too strange to write")

    monkeypatch.setattr(junit_reporter, "Writer", Broken)
    assert run_cli(["check", *base, "-f", "junit", "-o", str(target)]) == 2
    assert target.read_text() == ""  # not last run's report, which a CI step would read as this one's


def test_a_report_can_go_to_a_file_that_is_not_a_regular_file(tmp_path, capsys):
    base = _workspace(tmp_path)
    assert run_cli(["check", *base, "-f", "json", "-o", os.devnull]) == 1
    assert "error" not in capsys.readouterr().err


def test_a_disk_that_fills_up_mid_write_leaves_no_cut_report(tmp_path):
    """A report bigger than the space left (here a file size limit, ``RLIMIT_FSIZE``: writes past it fail with
    EFBIG as on a full disk) is left empty, never a cut file that looks complete; the run fails with 2 and records
    nothing."""
    import resource
    import signal
    import subprocess
    import sys

    docs = [f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}}}\nspec: {{type: service}}"
            for i in range(400)]
    (tmp_path / "catalog.yaml").write_text("\n---\n".join(docs) + "\n")
    (tmp_path / "app-config.yaml").write_text(hygiene_config("{{ entity.metadata.name }} has no owner"))
    (tmp_path / "store").mkdir()
    limit = 64 * 1024

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    target = tmp_path / "r.csv"
    target.write_text("stale,report\n")
    proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", "check", "-c", "app-config.yaml", "--store",
                           "store", "-f", "json", "-o", "r.json", "-f", "csv", "-o", "r.csv", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, preexec_fn=small_disk, timeout=120)
    assert proc.returncode == 2, proc.stderr
    # EFBIG (File too large) on whichever report reached the limit first: they are written together, part by part
    assert any(f"cannot write {name}: {os.strerror(27)}" in proc.stderr for name in ("r.json", "r.csv")), proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "r.json").stat().st_size == 0  # empty, not 64 kB of a cut JSON report
    assert target.stat().st_size == 0  # opened before anything was written: not the stale report either
