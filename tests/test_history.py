"""Run history: recording, the keep bound, the latest-state snapshot, and the history/diff commands."""

from __future__ import annotations

import json
from pathlib import Path

from soundcheck_cli import app as core
from soundcheck_cli.cli import run_cli
from soundcheck_cli.history.codec import decode, encode, from_report, pack, unpack
from soundcheck_cli.history.store import History

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: a, description: fine}
spec: {type: service, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: b}
spec: {type: service%s}
"""

CONFIG = """\
catalog:
  locations: [{type: file, target: ./catalog.yaml}]
soundcheck:
  checks:
    - id: has_owner
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: matches, value: '\\S'}
      failedMessage: '{{ entity.metadata.name }} has no owner'
    - id: has_desc
      rule: {factRef: catalog:default/entity_descriptor, path: $.metadata.description, operator: matches, value: '\\S'}
  tracks:
    - id: hygiene
      levels:
        - {ordinal: 1, checks: [{id: has_owner}]}
        - {ordinal: 2, checks: [{id: has_desc}]}
"""


def setup(tmp_path: Path, extra: str = "", b_owner: bool = False) -> core.CommonOptions:
    (tmp_path / "catalog.yaml").write_text(CATALOG % (", owner: team-b" if b_owner else ""))
    (tmp_path / "app-config.yaml").write_text(CONFIG + extra)
    return core.CommonOptions(config_paths=("app-config.yaml",), store_path=str(tmp_path / "store"),
                              cwd=str(tmp_path), environ={})


def run_once(options: core.CommonOptions):
    ws = core.load_workspace(options)
    report = core.check(ws, core.CheckOptions())
    outcome = core.record_run(ws, report)
    return ws, report, outcome


def test_each_run_is_recorded_with_states_and_messages(tmp_path):
    options = setup(tmp_path)
    ws, report, outcome = run_once(options)
    assert outcome.run_id and not outcome.warnings
    with ws.open_store() as store:
        runs = History(store).runs()
        assert [r.id for r in runs] == [outcome.run_id]
        assert runs[0].counts == {"passed": 2, "failed": 2}
        record = History(store).load(runs[0])
    assert record.states.checks[("has_owner", "component:default/b")] == "f"
    assert record.states.levels[("hygiene", "component:default/a", 2)] == "p"
    assert record.messages[("has_owner", "component:default/b")] == "b has no owner"


def test_keep_bounds_the_history(tmp_path):
    options = setup(tmp_path, "  history: {keep: 3}\n")
    ids = [run_once(options)[2].run_id for _ in range(5)]
    ws = core.load_workspace(options)
    with ws.open_store() as store:
        assert [r.id for r in History(store).runs()] == ids[-3:]
        assert store.meta_keys("history:run:") == sorted("history:run:" + i for i in ids[-3:])
        # the latest state survives the dropped runs
        assert store.get_meta("history:state") is not None


def test_history_disabled_records_no_runs(tmp_path):
    options = setup(tmp_path, "  history: {enabled: false}\n")
    ws, _, outcome = run_once(options)
    assert outcome.run_id is None
    with ws.open_store() as store:
        assert History(store).runs() == []


def test_bad_history_config_is_a_located_error(tmp_path):
    import pytest

    from soundcheck_cli.errors import ConfigError

    options = setup(tmp_path, "  history: {keep: 0}\n")
    with pytest.raises(ConfigError, match=r"app-config.yaml:\d+:\d+: soundcheck.history: 'keep' must be"):
        core.load_workspace(options)


def test_diff_and_history_commands(tmp_path, capsys):
    options = setup(tmp_path)
    run_once(options)
    base = ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]
    assert run_cli(["diff", *base]) == 0
    assert "nothing to compare" in capsys.readouterr().out
    setup(tmp_path, b_owner=True)  # b gets an owner: has_owner fixed, b reaches level 1
    run_once(options)
    assert run_cli(["diff", *base, "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["changes"]
    assert {(r["type"], r["kind"]) for r in rows} == {("check", "fixed"), ("certification", "level-up")}
    fixed = next(r for r in rows if r["type"] == "check")
    assert (fixed["checkId"], fixed["entityRef"], fixed["previousState"], fixed["state"]) == (
        "has_owner", "component:default/b", "failed", "passed")
    level = next(r for r in rows if r["type"] == "certification")
    assert (level["previousLevel"], level["level"]) == (None, 1)
    setup(tmp_path, b_owner=False)  # and loses it again: a new failure
    run_once(options)
    assert run_cli(["diff", *base]) == 0
    text = capsys.readouterr().out
    assert "New failures (1):" in text and "has_owner" in text and "b has no owner" in text
    assert "Level changes (1):" in text and "level 1 -> no level" in text

    assert run_cli(["history", *base, "--entity", "b", "--check", "has_owner"]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if "has_owner" in line]
    assert "(new) -> failed" in lines[0] and "failed -> passed" in lines[1] and "passed -> failed" in lines[2]
    assert len(lines) == 3
    assert run_cli(["history", *base, "--track", "hygiene", "-f", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 3
    assert [len(r["changes"]) for r in runs[1:]] == [2, 2]


def test_partial_run_keeps_the_state_of_what_it_did_not_evaluate(tmp_path):
    options = setup(tmp_path)
    run_once(options)
    ws = core.load_workspace(options)
    report = core.check(ws, core.CheckOptions(check_ids=("has_desc",)))
    outcome = core.record_run(ws, report)
    assert not outcome.changes  # nothing changed for has_desc; has_owner was not evaluated
    with ws.open_store() as store:
        state = History(store).state()
    assert state.checks[("has_owner", "component:default/b")] == "f"


def test_encoding_round_trip_and_size(tmp_path):
    """The compact encoding of 2,000 entities x 20 checks stays small (bench/bench_history.py measures 10,000)."""
    from soundcheck_cli.rules.model import CheckResult, CheckState

    states = list(CheckState)
    results = [CheckResult(f"check_{c}", f"component:default/service-{e}", states[(e * 7 + c) % 3])
               for e in range(2000) for c in range(20)]
    st = from_report(results, [], [])
    packed = pack(encode(st))
    size = len(json.dumps(packed))
    assert size < 200_000, size  # about 10 bytes per result before compression would be 400 KB
    again = decode(unpack(packed))
    assert again.checks == st.checks
