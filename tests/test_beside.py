"""``beside``: a job in a forked child, its error raised in the parent; and ``check`` writing its report files
from such a child while the parent records the run (``cli._emit_report``): same files, same history, same errors."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from soundcheck_cli.cli import beside, commands as cli
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.errors import Location, UsageError
from workspaces import hygiene_config, two_components

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_the_job_runs_in_another_process(tmp_path):
    out = tmp_path / "pid"
    child = beside.start(lambda: out.write_text(str(os.getpid())))
    assert child is not None
    child.wait()
    assert int(out.read_text()) == child.pid != os.getpid()


def test_an_error_of_the_job_is_raised_in_the_parent_with_its_location(tmp_path):
    def job() -> None:
        raise UsageError("cannot write report.json: No space left on device", Location("report.json", 3, 1))

    child = beside.start(job)
    assert child is not None
    with pytest.raises(UsageError) as caught:
        child.wait()
    (problem,) = caught.value.problems
    assert problem.message == "cannot write report.json: No space left on device"
    assert problem.location == Location("report.json", 3, 1)


def test_an_error_that_cannot_be_pickled_comes_back_as_text():
    class Local(Exception):  # defined in a function: pickle cannot find the class again
        pass

    def job() -> None:
        raise Local("the disk is on fire")

    child = beside.start(job)
    assert child is not None
    with pytest.raises(beside.ChildFailed, match="Local: the disk is on fire"):
        child.wait()


def test_a_killed_child_is_an_error():
    child = beside.start(lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert child is not None
    with pytest.raises(beside.ChildFailed, match="killed by signal 9"):
        child.wait()


def test_no_fork_when_asked_or_when_other_threads_run(monkeypatch):
    assert beside.can_fork()
    monkeypatch.setenv(beside.NO_FORK_ENV, "1")
    assert not beside.can_fork() and beside.start(lambda: None) is None
    monkeypatch.delenv(beside.NO_FORK_ENV)
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not beside.can_fork() and beside.start(lambda: None) is None
    finally:
        release.set()
        thread.join()


# --- check: report files written beside the history recording -------------------------------------------------
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


def test_check_writes_the_same_files_from_a_child_and_records_the_run(tmp_path, monkeypatch, capsys):
    base = _workspace(tmp_path)
    forked = []
    real_start = beside.start
    monkeypatch.setattr(beside, "start", lambda job: forked.append(1) or real_start(job))
    monkeypatch.setattr(cli, "FORK_MIN_RESULTS", 0)
    outputs = {}
    for mode in ("forked", "inline"):
        if mode == "inline":
            monkeypatch.setenv(beside.NO_FORK_ENV, "1")
        folder = tmp_path / mode
        code = run_cli(["check", *base, "-f", "json", "-o", str(folder / "r.json"), "-f", "junit",
                        "-o", str(folder / "r.xml"), "-f", "markdown"])
        assert code == 1  # b has no owner and no description
        assert "has_owner" in capsys.readouterr().out  # the stdout format is printed by the parent
        outputs[mode] = {name: _without_time((folder / name).read_text()) for name in ("r.json", "r.xml")}
    assert forked == [1]  # the first run forked; the second (SOUNDCHECK_NO_FORK) wrote its files itself
    assert outputs["forked"] == outputs["inline"]
    assert len(json.loads((tmp_path / "forked" / "r.json").read_text())["results"]) == 4
    assert len(_runs(base, capsys)) == 2  # both runs recorded


def test_a_report_file_that_cannot_be_opened_stops_the_run_before_the_history(tmp_path, monkeypatch, capsys):
    base = _workspace(tmp_path)
    monkeypatch.setattr(cli, "FORK_MIN_RESULTS", 0)
    (tmp_path / "taken").mkdir()
    code = run_cli(["check", *base, "-f", "json", "-o", str(tmp_path / "ok.json"), "-f", "junit",
                    "-o", str(tmp_path / "taken")])
    assert code == 2
    assert f"cannot write {tmp_path / 'taken'}" in capsys.readouterr().err
    assert _runs(base, capsys) == []


def test_an_error_while_the_child_writes_is_the_run_error(tmp_path, monkeypatch, capsys):
    from soundcheck_cli.reporters import junit_reporter

    base = _workspace(tmp_path)
    monkeypatch.setattr(cli, "FORK_MIN_RESULTS", 0)

    def broken(report, **_):
        raise UsageError("junit: the report is too strange to write")

    monkeypatch.setattr(junit_reporter, "render", broken)
    code = run_cli(["check", *base, "-f", "json", "-o", str(tmp_path / "r.json"), "-f", "junit",
                    "-o", str(tmp_path / "r.xml")])
    assert code == 2
    assert "error: junit: the report is too strange to write" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["results"]  # the first file was written


# --- report files rewritten in place (opened without truncating, cut at the end of what was written) ----------
@pytest.fixture(params=[True, False], ids=["forked", "inline"])
def base_either_way(request, tmp_path, monkeypatch):
    """A workspace's common arguments; its report files are written by a forked child, then by the process."""
    monkeypatch.setattr(cli, "FORK_MIN_RESULTS", 0)
    if not request.param:
        monkeypatch.setenv(beside.NO_FORK_ENV, "1")
    return _workspace(tmp_path)


def test_a_longer_earlier_report_leaves_no_tail(tmp_path, capsys, base_either_way):
    base = base_either_way
    target = tmp_path / "r.json"
    target.write_text("x" * 1_000_000 + "\n")  # far longer than the report
    assert run_cli(["check", *base, "-f", "json", "-o", str(target)]) == 1
    text = target.read_text()
    assert "xxx" not in text and len(json.loads(text)["results"]) == 4
    fresh = tmp_path / "fresh.json"
    assert run_cli(["check", *base, "-f", "json", "-o", str(fresh)]) == 1
    assert _without_time(text) == _without_time(fresh.read_text())  # same bytes as a file written from nothing


def test_a_report_that_fails_before_writing_leaves_no_stale_content(tmp_path, monkeypatch, capsys, base_either_way):
    from soundcheck_cli.reporters import junit_reporter

    base = base_either_way
    target = tmp_path / "r.xml"
    target.write_text("<old report/>\n")

    def broken(report, **_):
        raise UsageError("junit: the report is too strange to write")

    monkeypatch.setattr(junit_reporter, "render", broken)
    assert run_cli(["check", *base, "-f", "junit", "-o", str(target)]) == 2
    assert target.read_text() == ""  # as a truncating open would have left it: not last run's report


def test_a_report_can_go_to_a_file_that_is_not_a_regular_file(tmp_path, monkeypatch, capsys):
    base = _workspace(tmp_path)
    monkeypatch.setattr(cli, "FORK_MIN_RESULTS", 0)
    assert run_cli(["check", *base, "-f", "json", "-o", os.devnull]) == 1  # no truncate on a device
    assert "error" not in capsys.readouterr().err
