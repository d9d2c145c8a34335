"""The CI gate: the exit-code matrix of --fail-on x --min-level x --exit-zero (soundcheck_cli.gate)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from soundcheck_cli import app as core
from soundcheck_cli.errors import UsageError
from soundcheck_cli.gate import FailOn, GateOptions, exit_code, gate_options, parse_min_level
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.model import Level, LevelCheck, LevelResult, Track, TrackResult

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
TRACK = Track("t", (Level(1, (LevelCheck("a"),)), Level(2, (LevelCheck("b"),))))
REF = "component:default/x"


def report(state_a: CheckState, state_b: CheckState, highest: int | None) -> RunReport:
    results = (CheckResult("a", REF, state_a), CheckResult("b", REF, state_b))
    levels = (LevelResult(1, None, highest is not None and highest >= 1, results[:1]),
              LevelResult(2, None, highest == 2, results[1:]))
    top = {1: levels[0], 2: levels[1]}.get(highest) if highest else None
    return RunReport(NOW, (), (), (TRACK,), results, (TrackResult("t", REF, levels, top),))


P, F, W, X, E, R, N = (CheckState.PASSED, CheckState.FAILED, CheckState.WARNING, CheckState.EXEMPT,
                       CheckState.ERROR, CheckState.NOT_REPORTED, CheckState.NOT_APPLICABLE)


@pytest.mark.parametrize(
    ("a", "b", "highest", "fail_on", "min_levels", "exit_zero", "expected"),
    [
        # default: fail on failed/error/not-reported, and below the top level
        (P, P, 2, "failed", (), False, 0),
        (P, X, 2, "failed", (), False, 0),  # exempt counts as passing
        (P, N, 2, "failed", (), False, 0),
        (P, W, 2, "failed", (), False, 0),  # warnings allowed by default
        (P, F, 1, "failed", (), False, 1),
        (P, E, 1, "failed", (), False, 1),
        (P, R, 1, "failed", (), False, 1),
        (P, P, 1, "failed", (), False, 1),  # top level not reached
        # --fail-on warning
        (P, W, 2, "warning", (), False, 1),
        (P, X, 2, "warning", (), False, 0),
        # --fail-on never: results and the implicit top level no longer fail ...
        (P, F, 1, "never", (), False, 0),
        (F, F, None, "never", (), False, 0),
        # ... but an explicit --min-level still does
        (P, F, 1, "never", ("t=1",), False, 0),
        (P, F, 1, "never", ("t=2",), False, 1),
        (F, F, None, "never", ("t=1",), False, 1),
        (F, F, None, "never", ("t=0",), False, 0),
        # --min-level lowers the bar of the implicit top level (a failing check still fails with fail-on failed)
        (P, P, 1, "failed", ("t=1",), False, 0),
        (P, F, 1, "failed", ("t=1",), False, 1),
        # --exit-zero always exits 0
        (F, F, None, "warning", ("t=2",), True, 0),
    ],
)
def test_exit_code_matrix(a, b, highest, fail_on, min_levels, exit_zero, expected):
    gate = gate_options(fail_on, min_levels, exit_zero)
    assert int(exit_code(report(a, b, highest), gate)) == expected
    assert int(core.exit_code_for_report(report(a, b, highest), gate)) == expected  # app delegates


def test_default_gate_is_the_documented_behaviour():
    assert GateOptions().fail_on is FailOn.FAILED
    assert int(core.exit_code_for_report(report(P, P, 2))) == 0
    assert int(core.exit_code_for_report(report(P, F, 1))) == 1


def test_min_level_naming_a_track_not_evaluated_is_a_usage_error():
    with pytest.raises(UsageError, match="track 'nope' was not evaluated"):
        exit_code(report(P, P, 2), gate_options("failed", ["nope=1"]))


@pytest.mark.parametrize("text", ["t", "t=", "=2", "t=two"])
def test_malformed_min_level(text):
    with pytest.raises(UsageError, match="TRACK=ORDINAL"):
        parse_min_level(text)


def test_unknown_fail_on():
    with pytest.raises(UsageError, match="failed, warning, never or overdue"):
        gate_options("sometimes")


def test_cli_gate_options_on_the_sample(capsys, tmp_path, monkeypatch):
    from pathlib import Path

    from soundcheck_cli.cli.commands import run_cli

    monkeypatch.delenv("PAGERDUTY_TOKEN", raising=False)
    sample = str(Path(__file__).resolve().parent.parent / "sample-config" / "app-config.yaml")
    base = ["-c", sample, "--store", str(tmp_path / "s"), "-q", "-f", "json"]
    assert run_cli(["check", *base]) == 1
    assert run_cli(["check", *base, "--exit-zero"]) == 0
    assert run_cli(["check", *base, "--fail-on", "never"]) == 0
    assert run_cli(["check", *base, "--fail-on", "never", "--min-level", "basic_hygiene=1"]) == 1
    assert run_cli(["check", *base, "--fail-on", "bogus"]) == 2
    assert run_cli(["check", *base, "--min-level", "nope=1"]) == 2
    capsys.readouterr()
