"""soundcheck.exemptions: parsing with located errors, the exempt state, certification, expiry, and the CLI list."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from soundcheck_cli import app as core
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.errors import ConfigError, Problems
from soundcheck_cli.exemptions import parse_exemptions, status
from soundcheck_cli.rules.model import CheckState
from workspaces import hygiene_config, two_components


def workspace(tmp_path: Path, extra: str = "") -> core.Workspace:
    (tmp_path / "catalog.yaml").write_text(two_components(common=", lifecycle: production"))
    (tmp_path / "app-config.yaml").write_text(hygiene_config() + extra)
    options = core.CommonOptions(config_paths=("app-config.yaml",), store_path=str(tmp_path / "store"),
                                 cwd=str(tmp_path), environ={})
    return core.load_workspace(options)


def results(report):
    return {(r.check_id, r.entity_ref): r for r in report.check_results}


def test_exempt_check_counts_as_passing_for_certification(tmp_path):
    ws = workspace(tmp_path, """\
  exemptions:
    - {checkId: has_owner, entityRef: b, reason: "owned by the vendor", by: alice, expires: 2999-12-31}
    - {checkId: has_desc, entityRef: component:default/b, reason: "generated"}
""")
    report = core.check(ws, core.CheckOptions())
    r = results(report)[("has_owner", "component:default/b")]
    assert r.state is CheckState.EXEMPT and r.message == "owned by the vendor"
    assert results(report)[("has_owner", "component:default/a")].state is CheckState.PASSED
    cert = {tr.entity_ref: tr.highest_level.ordinal if tr.highest_level else None for tr in report.track_results}
    assert cert["component:default/b"] == 2
    assert int(core.exit_code_for_report(report)) == 0


def test_without_exemption_the_same_entity_fails(tmp_path):
    report = core.check(workspace(tmp_path), core.CheckOptions())
    assert results(report)[("has_owner", "component:default/b")].state is CheckState.FAILED
    assert int(core.exit_code_for_report(report)) == 1


def test_expired_exemption_stops_applying_and_is_reported(tmp_path):
    ws = workspace(tmp_path, """\
  exemptions:
    - {checkId: has_owner, entityRef: b, reason: "migration", expires: 2020-01-31}
""")
    report = core.check(ws, core.CheckOptions(), now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert results(report)[("has_owner", "component:default/b")].state is CheckState.FAILED
    warnings = [str(p) for p in report.problems if "expired" in p.message]
    assert len(warnings) == 1
    assert "app-config.yaml:" in warnings[0] and "2020-01-31" in warnings[0] and "migration" in warnings[0]


def test_date_expiry_holds_through_that_day(tmp_path):
    ws = workspace(tmp_path, """\
  exemptions:
    - {checkId: has_owner, entityRef: b, reason: r, expires: 2026-01-01}
""")
    ex = ws.settings.exemptions[0]
    assert status(ex, datetime(2026, 1, 1, 23, 59, tzinfo=timezone.utc)).startswith("active")
    assert status(ex, datetime(2026, 1, 2, 0, 0, tzinfo=timezone.utc)) == "expired"
    report = core.check(ws, core.CheckOptions(), now=datetime(2026, 1, 1, 12, tzinfo=timezone.utc))
    assert results(report)[("has_owner", "component:default/b")].state is CheckState.EXEMPT


def test_not_applicable_results_stay_not_applicable():
    from soundcheck_cli.exemptions import Exemption, apply_exemptions
    from soundcheck_cli.rules.model import CheckResult

    ex = Exemption("c", "component:default/x", "why")
    out = apply_exemptions([CheckResult("c", "component:default/x", CheckState.NOT_APPLICABLE)],
                           {"component:default/x": ex}, datetime(2026, 1, 1, tzinfo=timezone.utc), Problems())
    assert out[0].state is CheckState.NOT_APPLICABLE


def test_bad_exemptions_are_located_errors(tmp_path):
    with pytest.raises(ConfigError) as info:
        workspace(tmp_path, """\
  exemptions:
    - {checkId: has_owner, entityRef: b}
    - {checkId: has_owner, entityRef: a, reason: x, expires: next week}
    - just a string
""")
    text = str(info.value)
    assert "exemption 1: 'reason' is required" in text
    assert "'expires' must be a date" in text
    assert "exemption must be a mapping" in text
    assert all("app-config.yaml:" in line for line in text.splitlines())


def test_unknown_check_and_duplicates_are_warnings():
    from soundcheck_cli.located.nodes import LocatedDict, LocatedList

    problems = Problems()
    node = LocatedList([LocatedDict({"checkId": "nope", "entityRef": "b", "reason": "r"}),
                        LocatedDict({"checkId": "c", "entityRef": "b", "reason": "r"}),
                        LocatedDict({"checkId": "c", "entityRef": "component:default/B", "reason": "again"})])
    out = parse_exemptions(node, problems, None, ["c"])
    assert [e.check_id for e in out] == ["nope", "c"]
    messages = [p.message for p in problems.warnings]
    assert any("'nope' is not defined" in m for m in messages)
    assert any("already exempted" in m for m in messages)
    assert not problems.errors


def test_exemptions_command_lists_status(tmp_path, capsys):
    workspace(tmp_path, """\
  exemptions:
    - {checkId: has_owner, entityRef: b, reason: "vendor", by: alice, expires: 2020-01-31}
    - {checkId: has_desc, entityRef: b, reason: "generated"}
""")
    code = run_cli(["exemptions", "-c", str(tmp_path / "app-config.yaml"), "-f", "json"])
    out = capsys.readouterr().out
    assert code == 0
    import json

    rows = {r["checkId"]: r for r in json.loads(out)}
    assert rows["has_owner"]["status"] == "expired" and rows["has_owner"]["expires"] == "2020-01-31"
    assert rows["has_owner"]["by"] == "alice" and rows["has_desc"]["status"] == "active"
    assert run_cli(["exemptions", "-c", str(tmp_path / "app-config.yaml")]) == 0
    text = capsys.readouterr().out
    assert "2 exemptions, 1 expired" in text and "vendor" in text
