"""``soundcheck results push|list|delete`` and ``type: manual`` checks (issue 21), through the CLI: a pushed
result passes a track level, ``preserveStateOnError`` keeps the earlier non-error state, an unknown check or entity
is an error at the pushed file's line with nothing written, and a manual check without a result is not-reported."""

from __future__ import annotations

import json
from pathlib import Path

from soundcheck_cli.cli.commands import run_cli

CATALOG = "".join(
    f"---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {n}}}\n"
    f"spec: {{type: service, owner: team-{n}}}\n" for n in ("a", "b", "c"))

CONFIG = """\
catalog:
  locations: [{type: file, target: ./catalog.yaml}]
soundcheck:
  checks:
    - id: has_owner
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: matches, value: '\\S'}
    - id: arch_review
      type: manual
      name: Architecture review done
  tracks:
    - id: readiness
      levels:
        - {ordinal: 1, checks: [{id: has_owner}]}
        - {ordinal: 2, checks: [{id: arch_review}]}
"""


def setup(tmp_path: Path) -> list[str]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "app-config.yaml").write_text(CONFIG)
    return ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]


def push(tmp_path: Path, common: list[str], body: dict, name: str = "push.json") -> int:
    (tmp_path / name).write_text(json.dumps(body, indent=1))
    return run_cli(["results", "push", str(tmp_path / name), "--submitted-by", "ci-bot", *common])


def report(capsys, common: list[str]) -> dict:
    capsys.readouterr()
    run_cli(["check", *common, "-f", "json"])
    return json.loads(capsys.readouterr().out)


def states(doc: dict) -> dict[tuple[str, str], dict]:
    return {(r["checkId"], r["entityRef"].split("/")[-1]): r for r in doc["results"]}


def levels(doc: dict) -> dict[str, int | None]:
    return {c["entityRef"].split("/")[-1]: (c.get("highestLevel") or {}).get("ordinal") for c in doc["certifications"]}


def test_pushed_manual_result_passes_a_track_level(tmp_path, capsys):
    common = setup(tmp_path)
    before = report(capsys, common)
    assert states(before)[("arch_review", "a")]["state"] == "not-reported"
    assert "no result was pushed" in states(before)[("arch_review", "a")]["message"]
    assert levels(before)["a"] == 1
    assert push(tmp_path, common, {"results": [
        {"entityRef": "component:default/a", "checkId": "arch_review", "state": "passed",
         "details": {"message": "reviewed in ADR-12"}, "submittedBy": "alice"},
        {"entityRef": "component:default/b", "checkId": "arch_review", "state": "failed"}]}) == 0
    after = report(capsys, common)
    a = states(after)[("arch_review", "a")]
    assert a["state"] == "passed" and "reviewed in ADR-12" in a["message"] and "by alice" in a["message"]
    assert "by ci-bot" in states(after)[("arch_review", "b")]["message"]  # the pusher, when the body names none
    assert levels(after) == {"a": 2, "b": 1, "c": 1}
    # list shows who and when; the history records the run like any other
    capsys.readouterr()
    assert run_cli(["results", "list", *common, "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert {(r["entityRef"], r["submittedBy"]) for r in rows} == {("component:default/a", "alice"),
                                                                 ("component:default/b", "ci-bot")}
    assert all(r["lastChecked"].endswith("Z") for r in rows)
    # The history records the manual check's change like any other result's.
    assert run_cli(["history", *common, "--check", "arch_review", "-f", "json"]) == 0
    changes = [c for run in json.loads(capsys.readouterr().out) for c in run["changes"]]
    assert {"checkId": "arch_review", "entityRef": "component:default/a", "previousState": "not-reported",
            "state": "passed"}.items() <= next(c for c in changes if c["entityRef"] == "component:default/a"
                                               and c["previousState"]).items()


def test_preserve_state_on_error_keeps_the_earlier_state(tmp_path, capsys):
    common = setup(tmp_path)
    result = {"entityRef": "component:default/a", "checkId": "arch_review", "state": "passed"}
    assert push(tmp_path, common, {"results": [result]}) == 0
    error = dict(result, state="error", details={"message": "reviewer tool down"})
    assert push(tmp_path, common, {"results": [error], "preserveStateOnError": True}) == 0
    assert states(report(capsys, common))[("arch_review", "a")]["state"] == "passed"
    assert push(tmp_path, common, {"results": [error]}) == 0  # without the flag the error replaces it
    assert states(report(capsys, common))[("arch_review", "a")]["state"] == "error"


def test_unknown_check_or_entity_is_located_and_nothing_is_written(tmp_path, capsys):
    common = setup(tmp_path)
    body = {"results": [{"entityRef": "component:default/a", "checkId": "arch_review", "state": "passed"},
                        {"entityRef": "component:default/a", "checkId": "no_such_check", "state": "passed"},
                        {"entityRef": "component:default/ghost", "checkId": "arch_review", "state": "passed"},
                        {"entityRef": "component:default/a", "checkId": "has_owner", "state": "passed"}]}
    capsys.readouterr()
    assert push(tmp_path, common, body) == 2
    err = capsys.readouterr().err
    lines = (tmp_path / "push.json").read_text().splitlines()
    line_of = {needle: next(i for i, line in enumerate(lines, 1) if needle in line)
               for needle in ("no_such_check", "ghost", "has_owner")}
    assert f"push.json:{line_of['no_such_check']}:" in err and "unknown check 'no_such_check'" in err
    assert f"push.json:{line_of['ghost']}:" in err and "unknown entity 'component:default/ghost'" in err
    assert f"push.json:{line_of['has_owner']}:" in err and "has a rule" in err
    assert run_cli(["results", "list", *common, "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []  # nothing written


def test_bad_state_is_located_and_delete_removes(tmp_path, capsys):
    common = setup(tmp_path)
    capsys.readouterr()
    assert push(tmp_path, common, {"results": [{"entityRef": "component:default/a", "checkId": "arch_review", "state": "great"}]}) == 2
    assert "push.json:" in capsys.readouterr().err
    assert push(tmp_path, common, {"results": [{"entityRef": "component:default/a", "checkId": "arch_review", "state": "passed"},
                                               {"entityRef": "component:default/b", "checkId": "arch_review", "state": "passed"}]}) == 0
    assert run_cli(["results", "delete", *common]) == 2  # says what to delete
    assert run_cli(["results", "delete", "--entity", "a", *common]) == 0
    capsys.readouterr()
    run_cli(["results", "list", *common, "-f", "json"])
    assert [r["entityRef"] for r in json.loads(capsys.readouterr().out)["results"]] == ["component:default/b"]


def test_manual_check_with_a_rule_is_a_config_error(tmp_path, capsys):
    setup(tmp_path)
    (tmp_path / "app-config.yaml").write_text(CONFIG.replace("      type: manual\n",
                                                             "      type: manual\n      rule: [x]\n"))
    assert run_cli(["validate", "-c", str(tmp_path / "app-config.yaml")]) == 2
    assert "app-config.yaml:9:" in capsys.readouterr().err
