"""A check's ``schedule: {frequency, filter}`` (issue 17 item 11): ``filter`` is the set of entities the check runs
for, ``frequency`` is validated and informational (a CLI run is "now")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Problems
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.rules.engine import evaluate_check
from soundcheck_cli.rules.model import Check, CheckSchedule, CheckState, Condition
from soundcheck_cli.facts.model import FactRef

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc}
spec: {type: service, owner: team-a, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: lib}
spec: {type: library, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ann}
spec: {}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: pay-api}
spec: {type: openapi, owner: team-a}
"""

CHECKS = """\
soundcheck:
  checks:
    - id: has_lifecycle
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.lifecycle, operator: equal, value: production}
      schedule:
        frequency: {cron: '0 * * * *'}
        filter: {kind: Component}
    - id: has_owner
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: notEqual, value: null}
      schedule:
        frequency: {hours: 1}
        filter: {kind: [Component, API]}
      filter: {spec.type: service}
"""


def run_check(tmp_path: Path, config: str, *extra: str) -> tuple[int, list[dict]]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "app-config.yaml").write_text(config)
    out = tmp_path / "out.json"
    code = run_cli(["check", "-c", str(tmp_path / "app-config.yaml"), "--catalog", str(tmp_path / "catalog.yaml"),
                    "--store", str(tmp_path / "store"), "-f", "json", "-o", str(out), "-q", *extra])
    return code, json.loads(out.read_text())["results"]


def test_schedule_filter_is_the_set_of_entities_a_check_runs_for(tmp_path: Path) -> None:
    code, results = run_check(tmp_path, CHECKS)
    got = {(r["checkId"], r["entityRef"]): r["state"] for r in results}
    assert got == {
        # Components only: no result (and so no failure) for the User, the Group and the API
        ("has_lifecycle", "component:default/svc"): "passed",
        ("has_lifecycle", "component:default/lib"): "passed",
        # the schedule's Components and APIs; inside them the check's own filter decides not-applicable
        ("has_owner", "component:default/svc"): "passed",
        ("has_owner", "component:default/lib"): "not-applicable",
        ("has_owner", "api:default/pay-api"): "not-applicable",
    }
    assert code == 0


def test_without_schedule_filter_every_entity_is_checked(tmp_path: Path) -> None:
    config = CHECKS.replace("        filter: {kind: Component}\n", "")
    code, results = run_check(tmp_path, config)
    states = {r["entityRef"]: r["state"] for r in results if r["checkId"] == "has_lifecycle"}
    assert states["user:default/ann"] == "failed" and len(states) == 5
    assert code == 1


def test_a_track_sees_a_check_not_scheduled_for_an_entity_as_not_applicable(tmp_path: Path) -> None:
    config = CHECKS + ("  tracks:\n"
                       "    - id: basics\n"
                       "      levels:\n"
                       "        - {ordinal: 1, checks: [{id: has_lifecycle}]}\n")
    out = tmp_path / "out.json"
    run_check(tmp_path, config)
    report = json.loads(out.read_text())
    assert {r["entityRef"] for r in report["results"] if r["checkId"] == "has_lifecycle"} == {
        "component:default/svc", "component:default/lib"}
    highest = {c["entityRef"]: c["highestLevel"] for c in report["certifications"]}
    # the unscheduled check does not block the user, the group or the API: level 1 is certified for them
    assert {ref: level["ordinal"] for ref, level in highest.items()} == {
        "component:default/svc": 1, "component:default/lib": 1, "user:default/ann": 1, "group:default/team-a": 1,
        "api:default/pay-api": 1}


@pytest.mark.parametrize("schedule, message", [
    ("schedule: daily", "'schedule' must be a mapping {frequency, filter}, not a string"),
    ("schedule: {frequency: {cron: 'every hour'}}", "frequency: invalid cron expression 'every hour'"),
    ("schedule: {frequency: {cron: '* * * * *', minutes: 5}}", "frequency: 'cron' cannot be combined with minutes"),
    ("schedule: {frequency: {fortnights: 1}}", "frequency"),
    ("schedule: {filter: 12}", "schedule.filter"),
])
def test_validate_reports_schedule_errors_with_file_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         schedule: str, message: str) -> None:
    config = ("soundcheck:\n  checks:\n    - id: c\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.kind, operator: equal, value: x}\n"
              f"      {schedule}\n")
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "app-config.yaml").write_text(config)
    code = run_cli(["validate", "-c", str(tmp_path / "app-config.yaml"), "--catalog", str(tmp_path / "catalog.yaml")])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert f"{tmp_path / 'app-config.yaml'}:5:" in captured.err and message in captured.err


def test_validate_warns_about_an_unknown_schedule_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ("soundcheck:\n  checks:\n    - id: c\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.kind, operator: equal, value: x}\n"
              "      schedule: {frequency: {minutes: 10}, filtre: {kind: Component}}\n")
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "app-config.yaml").write_text(config)
    code = run_cli(["validate", "-c", str(tmp_path / "app-config.yaml"), "--catalog", str(tmp_path / "catalog.yaml")])
    captured = capsys.readouterr()
    assert code == 0
    assert f"{tmp_path / 'app-config.yaml'}:5:" in captured.out + captured.err
    assert "check 'c': schedule: unknown key 'filtre'" in captured.out + captured.err


def test_single_evaluation_honours_the_schedule_filter() -> None:
    problems = Problems()
    check = Check(id="c", rule=Condition(FactRef.parse("catalog:default/entity_descriptor"), "$.kind", "equal", "User"),
                  schedule=CheckSchedule(filter=EntityFilter.parse({"kind": "Component"}, problems)))
    user = Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": {"name": "ann"}})
    assert evaluate_check(check, user, {}).state is CheckState.NOT_APPLICABLE
