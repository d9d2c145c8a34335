"""``facts.transfer``: the JSON-lines store export and its import (round trip, newer-wins, located errors)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from soundcheck_cli import app as core
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.errors import ConfigError
from soundcheck_cli.events.dispatch import load_pending, save_pending
from soundcheck_cli.events.model import Event
from soundcheck_cli.facts import transfer
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import open_store
from soundcheck_cli.facts.transfer import (
    MAX_REPORTED,
    export_store,
    import_store,
    read_export,
)
from soundcheck_cli.history.store import History
from workspaces import hygiene_config, two_components

T0 = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
REPO = FactRef("github", "default", "repo_details")
PD = FactRef("pagerduty", "default", "service")
HEADER = '{"soundcheck":"store-export","version":1,"exportedAt":"2026-11-25T18:20:29.123Z"}'


def fact(entity: str, ref: FactRef = REPO, data: object = None, ts: datetime = T0,
         expires: datetime | None = None) -> Fact:
    return Fact(fact_ref=ref, entity_ref=entity, data={"z": 1, "a": 2} if data is None else data, timestamp=ts,
                expires_at=expires)


def export_text(store) -> str:
    out = io.StringIO()
    export_store(store, out)
    return out.getvalue()


def snapshot(store) -> tuple[list[tuple], dict[str, object]]:
    """Every fact (with its data as JSON text, so key order counts) and every meta key with its value."""
    facts = sorted((f.entity_ref, str(f.fact_ref), f.timestamp, f.expires_at, json.dumps(f.data))
                   for f in store.facts())
    meta = {key: store.get_meta(key) for key in store.meta_keys()}
    return facts, meta


def lines(*records: object, header: str = HEADER) -> list[str]:
    return [header, *(r if isinstance(r, str) else json.dumps(r) for r in records)]


def good_fact(**overrides: object) -> dict[str, object]:
    record = {"type": "fact", "entityRef": "component:default/a", "factRef": "github:default/repo_details",
              "timestamp": "2026-11-01T12:00:00.000Z", "expiresAt": None, "data": {"x": 1}}
    record.update(overrides)
    return record


@pytest.fixture
def source(tmp_path: Path):
    """A disk store with facts (one expiring, data in non-sorted key order, a non-ASCII value), two recorded
    check runs (history meta), an ETag entry and pending events."""
    (tmp_path / "catalog.yaml").write_text(two_components())
    (tmp_path / "app-config.yaml").write_text(hygiene_config())
    options = core.CommonOptions(config_paths=("app-config.yaml",), store_path=str(tmp_path / "src"),
                                 cwd=str(tmp_path), environ={})
    ws = core.load_workspace(options)
    for _ in range(2):
        core.record_run(ws, core.check(ws, core.CheckOptions()))
    with ws.open_store() as store:
        store.put_many([
            fact("component:default/a", data={"zeta": 1, "alpha": {"y": [1, 2], "b": None}, "name": "Zoë"}),
            fact("component:default/b", PD, data=[3, 2, 1], expires=T0 + timedelta(days=1)),
            fact("Component:default/C", PD, data="text"),
        ])
        store.set_meta("etag:github:https://api.github.com/repos/o/a", {"etag": 'W/"abc"', "data": {"k": 1},
                                                                         "next": None})
        save_pending(store, "events:pending:jsonl", [Event("check.state_changed", {"checkId": "has_owner"})])
    return tmp_path / "src"


def test_round_trip_disk_to_disk_keeps_facts_meta_and_history(source, tmp_path, capsys):
    with open_store(str(source)) as src:
        text = export_text(src)
        before = snapshot(src)
        runs = [r.id for r in History(src).runs()]
    assert len(runs) == 2
    first, *records = text.splitlines()
    header = json.loads(first)
    assert header["soundcheck"] == "store-export" and header["version"] == 1 and header["exportedAt"].endswith("Z")
    assert {json.loads(r)["type"] for r in records} == {"fact", "meta"}
    assert '"name":"Zoë"' in text  # UTF-8, not \u escapes, by default

    with open_store(str(tmp_path / "dst")) as dst:
        counts = import_store(dst, text.splitlines(keepends=True), "export.jsonl")
        after = snapshot(dst)
        assert [e.payload for e in load_pending(dst, "events:pending:jsonl")] == [{"checkId": "has_owner"}]
    assert counts.facts == len(before[0]) and counts.meta == len(before[1]) and counts.kept == 0
    assert after == before
    # key order of the data survives
    data = next(f for f in after[0] if f[0] == "component:default/a")[4]
    assert data.startswith('{"zeta": 1, "alpha": {"y"')
    expiring = next(f for f in after[0] if f[0] == "component:default/b")
    assert expiring[3] == T0 + timedelta(days=1)
    assert any(key.startswith("history:run:") for key in after[1]) and "history:index" in after[1]

    code = run_cli(["history", "--store", str(tmp_path / "dst"), "-f", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert [run["run"] for run in json.loads(out)] == runs


def test_export_lines_are_one_record_each_and_can_be_ascii(tmp_path):
    with open_store(str(tmp_path / "s")) as store:
        store.put(fact("component:default/a", data={"name": "Zoë", "multi": "line\nbreak"}))
        store.set_meta("k", "Zoë")
        out = io.StringIO()
        counts = export_store(store, out, ensure_ascii=True)
    text = out.getvalue()
    assert text.isascii() and text.count("\n") == 3 and text.endswith("\n")
    assert (counts.facts, counts.meta) == (1, 1)
    record = json.loads(text.splitlines()[1])
    assert record == {"type": "fact", "entityRef": "component:default/a", "factRef": "github:default/repo_details",
                      "timestamp": "2026-11-01T12:00:00.123Z", "expiresAt": None,
                      "data": {"name": "Zoë", "multi": "line\nbreak"}}


def test_non_finite_numbers_round_trip(tmp_path):
    with open_store(str(tmp_path / "s")) as store:
        store.put(fact("component:default/a", data={"ratio": float("nan"), "max": float("inf")}))
        text = export_text(store)
    assert '"data":{"ratio":NaN,"max":Infinity}' in text
    with open_store(str(tmp_path / "t")) as target:
        import_store(target, text.splitlines(), "x")
        (got,) = target.facts()
    assert got.data["ratio"] != got.data["ratio"] and got.data["max"] == float("inf")


def test_export_of_an_empty_store_is_the_header_only(tmp_path):
    with open_store(str(tmp_path / "s")) as store:
        text = export_text(store)
    assert len(text.splitlines()) == 1
    with open_store(str(tmp_path / "t")) as target:
        counts = import_store(target, text.splitlines(), "x")
        assert (counts.facts, counts.meta) == (0, 0)
        assert list(target.facts()) == [] and target.meta_keys() == []


def test_existing_facts_newer_wins_by_default_and_replace_overwrites(tmp_path):
    a, b, c = "component:default/a", "component:default/b", "component:default/c"
    with open_store(str(tmp_path / "s")) as src:
        src.put_many([fact(a, data={"v": "old"}, ts=T0),                         # target has a newer one
                      fact(b, data={"v": "new"}, ts=T0 + timedelta(hours=1)),    # newer than the target's
                      fact(c, data={"v": "same"}, ts=T0)])                       # same timestamp
        src.set_meta("shared", "imported")
        text = export_text(src)
    with open_store(str(tmp_path / "t")) as target:
        target.put_many([fact("COMPONENT:default/A", data={"v": "target"}, ts=T0 + timedelta(hours=2)),
                         fact(b, data={"v": "target"}, ts=T0),
                         fact(c, data={"v": "target"}, ts=T0),
                         fact("component:default/only-here", data={"v": "kept"})])
        target.set_meta("shared", "target")
        target.set_meta("other", "untouched")

        counts = import_store(target, text.splitlines(), "x")
        assert (counts.facts, counts.kept, counts.meta) == (1, 2, 1)
        got = {f.entity_ref.lower(): f.data["v"] for f in target.facts()}
        assert got == {a: "target", b: "new", c: "target", "component:default/only-here": "kept"}
        assert target.get_meta("shared") == "imported" and target.get_meta("other") == "untouched"

        counts = import_store(target, text.splitlines(), "x", replace=True)
        assert (counts.facts, counts.kept) == (3, 0)
        got = {f.entity_ref.lower(): (f.data["v"], f.timestamp) for f in target.facts()}
        assert got[a] == ("old", T0) and got[b][0] == "new" and got[c][0] == "same"
        assert got["component:default/only-here"][0] == "kept"  # import never deletes


def test_import_writes_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "BATCH_SIZE", 10)
    calls: list[int] = []
    with open_store(str(tmp_path / "t")) as target:
        original = target.put_many

        def counting(facts):
            facts = list(facts)
            calls.append(len(facts))
            return original(facts)

        monkeypatch.setattr(target, "put_many", counting)
        records = [good_fact(entityRef=f"component:default/e{i}") for i in range(25)]
        counts = import_store(target, lines(*records), "x")
        assert counts.facts == 25
        assert calls == [10, 10, 5]
        assert len(list(target.facts())) == 25


BAD_LINES = [
    # (lines after the header, line number, message part)
    (['{"type": "fact",'], 2, "not valid JSON"),
    (["[1, 2]"], 2, "expected a JSON object"),
    (['{"entityRef": "component:default/a"}'], 2, "missing field type"),
    ([json.dumps({"type": "entity"})], 2, "unknown type 'entity'"),
    ([json.dumps(good_fact(entityRef=None))], 2, "entityRef must be a string, not null"),
    ([json.dumps({k: v for k, v in good_fact().items() if k != "data"})], 2, "missing field data"),
    ([json.dumps({k: v for k, v in good_fact().items() if k != "timestamp"})], 2, "missing field timestamp"),
    ([json.dumps(good_fact(entity_ref="x"))], 2, "unknown field 'entity_ref'"),
    ([json.dumps(good_fact(entityRef="payments-api"))], 2, "invalid entity ref"),
    ([json.dumps(good_fact(entityRef="component:default/a\x01"))], 2, "control character"),
    ([json.dumps(good_fact(factRef="no-source"))], 2, "invalid fact ref"),
    ([json.dumps(good_fact(factRef={"source": "github", "name": "x"}))], 2, "factRef must be a string"),
    ([json.dumps(good_fact(timestamp="yesterday"))], 2, "timestamp 'yesterday' is not an ISO-8601 timestamp"),
    ([json.dumps(good_fact(timestamp=1700000000))], 2, "timestamp must be an ISO-8601 timestamp string"),
    ([json.dumps(good_fact(expiresAt="2026-13-01T00:00:00Z"))], 2, "expiresAt '2026-13-01T00:00:00Z'"),
    ([json.dumps({"type": "meta", "key": "k"})], 2, "missing field value"),
    ([json.dumps({"type": "meta", "key": "", "value": 1})], 2, "key must be a non-empty string"),
    ([json.dumps({"type": "meta", "key": 3, "value": 1})], 2, "key must be a non-empty string, not a number"),
    ([json.dumps(good_fact()), json.dumps(good_fact(entityRef="COMPONENT:default/A"))], 3,
     "is given twice (first at line 4)"),
    ([json.dumps({"type": "meta", "key": "k", "value": 1}), json.dumps({"type": "meta", "key": "k", "value": 2})], 3,
     "meta key 'k' is given twice (first at line 4)"),
    ([json.dumps(good_fact()), "", b"\xff\xfe{}"], 4, "not UTF-8"),
]


@pytest.mark.parametrize(("records", "line", "message"), BAD_LINES, ids=[m for _, _, m in BAD_LINES])
def test_a_bad_line_is_located_and_nothing_is_written(tmp_path, records, line, message):
    good = [json.dumps(good_fact(entityRef="component:default/ok")), json.dumps({"type": "meta", "key": "m", "value": 1})]
    content = [HEADER, *good, *records]
    with open_store(str(tmp_path / "t")) as target:
        with pytest.raises(ConfigError) as info:
            import_store(target, content, "dump.jsonl")
        assert list(target.facts()) == [] and target.meta_keys() == []
    first = info.value.problems[0]
    assert str(first.location).startswith(f"dump.jsonl:{line + 2}")
    assert message in first.message
    assert "nothing was imported" in info.value.problems[-1].message


BAD_HEADERS = [
    ("", "not a blank line"),
    ("not json", "not valid JSON"),
    (json.dumps(good_fact()), "not a soundcheck store export"),
    ('{"soundcheck": "store-export"}', "version must be an integer, not null"),
    ('{"soundcheck": "store-export", "version": "1"}', "version must be an integer, not a string"),
    ('{"soundcheck": "store-export", "version": 2}', "written by a newer soundcheck"),
    ('{"soundcheck": "store-export", "version": 1, "exportedAt": "soon"}', "exportedAt 'soon'"),
]


@pytest.mark.parametrize(("header", "message"), BAD_HEADERS, ids=[m for _, m in BAD_HEADERS])
def test_a_bad_header_is_reported_on_line_1_only(tmp_path, header, message):
    with open_store(str(tmp_path / "t")) as target:
        with pytest.raises(ConfigError) as info:
            import_store(target, lines(good_fact(), "garbage", header=header), "dump.jsonl")
        assert list(target.facts()) == []
    problems = info.value.problems
    assert len(problems) == 2  # the header error and "nothing was imported": later lines are not judged
    assert str(problems[0].location).startswith("dump.jsonl:1") and message in problems[0].message


def test_an_empty_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        read_export([], "empty.jsonl")
    assert str(info.value.problems[0]).startswith("empty.jsonl:1: the file is empty")


def test_a_header_only_file_imports_nothing(tmp_path):
    with open_store(str(tmp_path / "t")) as target:
        target.put(fact("component:default/a"))
        counts = import_store(target, [HEADER + "\n"], "h.jsonl")
        assert (counts.facts, counts.meta, counts.kept) == (0, 0, 0)
        assert len(list(target.facts())) == 1


def test_bom_blank_lines_and_bytes_are_accepted():
    content = [("\ufeff" + HEADER + "\r\n").encode(), b"\n", (json.dumps(good_fact()) + "\r\n").encode(), b"   \n"]
    data = read_export(content, "x")
    assert len(data.facts) == 1 and data.facts[0].data == {"x": 1}


def test_every_bad_line_is_listed_up_to_a_limit():
    bad = ["{" for _ in range(MAX_REPORTED + 7)]
    with pytest.raises(ConfigError) as info:
        read_export(lines(*bad), "many.jsonl")
    problems = info.value.problems
    assert len(problems) == MAX_REPORTED + 1
    assert [str(p.location) for p in problems[:2]] == ["many.jsonl:2:2", "many.jsonl:3:2"]
    assert problems[-1].message.startswith("7 more error(s) not shown; nothing was imported")
