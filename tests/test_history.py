"""Run history: recording, the keep bound, the latest-state snapshot, and the history/diff commands."""

from __future__ import annotations

import json
from pathlib import Path

from soundcheck_cli import app as core
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.history.codec import decode, encode, from_report, pack, unpack
from soundcheck_cli.history.store import History
from soundcheck_cli.history.recorder import record_and_publish
from workspaces import hygiene_config, two_components


def setup(tmp_path: Path, extra: str = "", b_owner: bool = False) -> core.CommonOptions:
    (tmp_path / "catalog.yaml").write_text(two_components(", owner: team-b" if b_owner else ""))
    (tmp_path / "app-config.yaml").write_text(hygiene_config("{{ entity.metadata.name }} has no owner") + extra)
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
    with ws.open_store() as store:
        outcome = record_and_publish(store, ws.settings, report, changes=True)
    assert not outcome.changes  # nothing changed for has_desc; has_owner was not evaluated
    with ws.open_store() as store:
        state = History(store).state()
    assert state.checks[("has_owner", "component:default/b")] == "f"


def test_changes_are_computed_only_for_events(tmp_path):
    """Nothing but the events reads a run's changes: with events off a first run (every result new) computes none,
    yet records its run and state; with ``changes=True`` the same first run sees every result as new."""
    options = setup(tmp_path)
    ws, report, outcome = run_once(options)
    assert outcome.run_id and not outcome.changes
    with ws.open_store() as store:
        assert History(store).state().checks[("has_owner", "component:default/b")] == "f"
    (tmp_path / "again").mkdir()
    fresh = setup(tmp_path / "again")
    ws = core.load_workspace(fresh)
    report = core.check(ws, core.CheckOptions())
    with ws.open_store() as store:
        outcome = record_and_publish(store, ws.settings, report, changes=True)
    assert len(outcome.changes.checks) == len(report.check_results) > 0


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


def _bench_like_report(refs, checks, flip, when, order="check-major"):
    """A report shaped like evaluation's (check-major results, one track of 3 levels), with some states flipped."""
    from dataclasses import replace

    from soundcheck_cli.results import RunReport
    from soundcheck_cli.rules.model import CheckResult, CheckState
    from soundcheck_cli.tracks.certification import certify_many
    from soundcheck_cli.tracks.model import Level, LevelCheck, Track

    cycle = [CheckState.PASSED, CheckState.FAILED, CheckState.WARNING, CheckState.PASSED, CheckState.NOT_REPORTED]
    columns = {}
    for c, cid in enumerate(checks):
        col = []
        for i, ref in enumerate(refs):
            state = cycle[(i * 3 + c + (1 if (i + c) % 7 < flip else 0)) % len(cycle)]
            # messages: most passed results have none, some do (not kept); some texts are longer than the limit
            text = f"{cid} on {ref}" if state is not CheckState.PASSED else ("" if i % 5 else "passed fine")
            if i % 11 == 0 and state is not CheckState.WARNING:
                text = (text or "long") * 60
            elif state is CheckState.FAILED and i % 13 == 0:
                text = ""  # a kept state without a message
            col.append(CheckResult(cid, ref, state, text))
        columns[cid] = col
    track = Track("t", tuple(Level(o + 1, tuple(LevelCheck(c) for c in checks[o::3])) for o in range(3)))

    class Ent:
        def __init__(self, ref):
            self.ref = ref

    track_results = certify_many(track, [Ent(r) for r in refs], columns, lambda f, x: [True] * len(refs))
    results = [r for cid in checks for r in columns[cid]]
    if order == "entity-major":
        results = [columns[cid][i] for i in range(len(refs)) for cid in checks]
    report = RunReport(when, tuple(Ent(r) for r in refs), (), (track,), tuple(results), tuple(track_results))
    return replace(report)


def _general_record(store, settings, report, outcome):
    """The reference: the run's states from every result (from_report), compared (compare) and encoded (encode)
    whole, with the messages as a plain mapping; what the recorder used to do for any order of results."""
    from soundcheck_cli.facts.interface import entity_key
    from soundcheck_cli.history.changes import compare
    from soundcheck_cli.history.recorder import KEEP_MESSAGES, _selection
    from soundcheck_cli.history.store import RunInfo, run_id

    history = History(store)
    hs = settings.history
    before = history.state()
    current = from_report(report.check_results, report.track_results, report.tracks)
    outcome.changes = compare(before, current)
    encoded = encode(current)
    rid = run_id(report.generated_at, {r.id for r in history.runs()})
    counts, messages = {}, {}
    keep = {state.value for state in KEEP_MESSAGES}
    for r in report.check_results:
        counts[r.state.value] = counts.get(r.state.value, 0) + 1
        if r.message and r.state.value in keep:
            messages[(r.check_id, entity_key(r.entity_ref))] = r.message
    info = RunInfo(rid, report.generated_at, _selection(report, settings), counts, len(report.entities))
    history.add(info, current, messages, hs.keep, encoded=encoded, keep_daily=hs.keep_daily)
    if (before.checks.keys() <= current.checks.keys() and before.levels.keys() <= current.levels.keys()
            and before.tracks.keys() <= current.tracks.keys()):
        history.save_state(current, encoded=encoded)
    else:
        history.save_state(before.merged(current))


def _split(report, size):
    """``report`` as the parts a streamed evaluation gives: entity chunks of ``size``, check-major in each."""
    from soundcheck_cli.results import RunReport

    refs = [e.ref for e in report.entities]
    parts = []
    for start in range(0, len(refs), size):
        chunk = set(refs[start:start + size])
        parts.append(RunReport(report.generated_at, tuple(e for e in report.entities if e.ref in chunk),
                               report.checks, report.tracks,
                               tuple(r for r in report.check_results if r.entity_ref in chunk),
                               tuple(t for t in report.track_results if t.entity_ref in chunk)))
    return parts


def test_recording_matches_the_general_path(tmp_path):
    """The recorder (part by part: codec.encode_run per part, run_doc.RunEncoder, changes.compare_encoded) stores
    and emits exactly what the general path (from_report + compare + encode over every result) does, over full,
    partial, re-ordered and growing runs, whole or given in parts of 7 entities."""
    from datetime import UTC, datetime, timedelta

    from soundcheck_cli.config.model import Settings
    from soundcheck_cli.events.config import EventsSettings
    from soundcheck_cli.facts.store import open_store
    from soundcheck_cli.history import recorder
    from soundcheck_cli.history.config import HistorySettings
    from soundcheck_cli.history.store import INDEX_KEY, RUN_PREFIX, STATE_KEY

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    refs = [f"component:default/s{i}" for i in range(40)]
    checks = [f"c{c}" for c in range(6)]
    when = iter(t0 + timedelta(hours=h) for h in range(100))
    reports = [
        _bench_like_report(refs, checks, 0, next(when)),
        _bench_like_report(refs, checks, 0, next(when)),  # nothing changed
        _bench_like_report(refs, checks, 2, next(when)),  # some checks and levels changed
        _bench_like_report(refs, checks[:2], 0, next(when)),  # a partial run (2 checks)
        _bench_like_report(refs[::2], checks, 3, next(when)),  # fewer entities
        _bench_like_report([r.upper() if r.endswith("3") else r for r in refs], checks, 0, next(when)),
        _bench_like_report(refs, checks, 1, next(when), order="entity-major"),  # not check-major
        _bench_like_report(refs + ["component:default/new"], checks, 4, next(when)),  # a new entity
        _bench_like_report(refs, checks, 4, next(when)),
    ]
    settings = Settings(files=(), history=HistorySettings(keep=3), events=EventsSettings(enabled=False))

    def record_all(folder, how):
        seen = []
        with open_store(str(folder)) as store:
            for report in reports:
                if how == "general":
                    outcome = recorder.RunOutcome()
                    _general_record(store, settings, report, outcome)
                elif how == "parts":  # as app.reports' Recorder gives them: a RunEncoder fed part by part
                    encoder = recorder.new_encoder(report)
                    for part in _split(report, 7):
                        encoder.add(part)
                    outcome = recorder.record_and_publish(store, settings, report, changes=True, encoder=encoder)
                else:
                    outcome = recorder.record_and_publish(store, settings, report, changes=True)
                runs = store.get_meta(INDEX_KEY)
                seen.append((outcome.changes, store.get_meta(STATE_KEY), runs,
                             [store.get_meta(RUN_PREFIX + r["id"]) for r in runs]))
        return seen

    fast = record_all(tmp_path / "fast", "whole")
    general = record_all(tmp_path / "general", "general")
    assert [len(s[0].checks) for s in fast][:3] == [240, 0, len(general[2][0].checks)]
    assert fast[2][0].checks and fast[2][0].levels  # the changed run did change something
    in_parts = record_all(tmp_path / "parts", "parts")
    for way in (fast, in_parts):
        for step, (a, b) in enumerate(zip(way, general)):
            if step == 6:  # entity-major results: the same changes (listed check by check), states and runs
                assert sorted(map(repr, a[0].checks)) == sorted(map(repr, b[0].checks))
                assert sorted(map(repr, a[0].levels)) == sorted(map(repr, b[0].levels))
                assert a[1:3] == b[1:3], step
                assert [unpack(x) for x in a[3]] == [unpack(x) for x in b[3]]
                continue
            assert a == b, step
