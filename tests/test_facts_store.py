"""DiskFactStore specifics: the on-disk record format, side files, format versions, corrupt stores, concurrent
writing processes, and the store path rules. What every store does is in ``test_store_contract.py``."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from soundcheck_cli.errors import StoreError
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import FORMAT_VERSION, DiskFactStore, default_store_path, fact_key, open_store

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)  # millisecond precision: the stored format's precision
SERVICE = FactRef.parse("pagerduty:default/service")
REPO = FactRef.parse("github:default/repo_details")
TRACK = FactRef.parse("soundcheck:default/track/pagerduty_track")


def fact(entity: str, ref: FactRef, data: object, ts: datetime = T0, expires: datetime | None = None) -> Fact:
    return Fact(ref, entity, data, ts, expires)


@pytest.fixture
def store(tmp_path: Path):
    with open_store(str(tmp_path / "store")) as s:
        yield s


def test_open_store_creates_directory_and_returns_a_fact_store(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / ".soundcheck"
    s = open_store(str(target))
    try:
        assert isinstance(s, FactStore)
        assert target.is_dir()
    finally:
        s.close()


def test_records_are_json_not_pickle(store: DiskFactStore) -> None:
    store.put(fact("component:default/x", SERVICE, {"status": "active"}))
    con = sqlite3.connect(os.path.join(store.directory, "cache.db"))
    try:
        (value,) = con.execute("SELECT value FROM Cache WHERE key = ?", (fact_key("component:default/x", SERVICE),)).fetchone()
    finally:
        con.close()
    assert json.loads(value) == [FORMAT_VERSION, "component:default/x", "pagerduty:default/service", "2026-01-05T10:00:00.000Z", None, {"status": "active"}]


def test_large_fact_stored_in_a_side_file_reads_back(store: DiskFactStore) -> None:
    big = {"incidents": [{"id": f"P{i}", "title": "x" * 50} for i in range(2000)]}  # > diskcache's 32 KB inline limit
    store.put(fact("component:default/x", SERVICE, big))
    store.put(fact("component:default/y", SERVICE, "small"))
    assert store.get("component:default/x", SERVICE).data == big
    assert store.load_all()[("component:default/x", SERVICE)].data == big
    assert {f.data if isinstance(f.data, str) else "big" for f in store.facts(fact_ref=SERVICE)} == {"big", "small"}


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    with open_store(path) as s:
        s._cache.set("store:format", FORMAT_VERSION + 1)
    with pytest.raises(StoreError, match="newer soundcheck"):
        open_store(path)


def test_unreadable_record_is_a_store_error_not_a_crash(store: DiskFactStore) -> None:
    store.put(fact("component:default/x", SERVICE, 1))
    store._cache.set(fact_key("component:default/y", SERVICE), "{not json")
    with pytest.raises(StoreError, match=r"unreadable record \(fact component:default/y pagerduty:default/service\)"):
        store.load_all()
    assert store.get("component:default/x", SERVICE).data == 1


def test_path_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="it is a file, not a directory") as info:
        open_store(str(blocker))
    assert info.value.exit_code == 2
    with pytest.raises(StoreError, match="cannot create the fact store directory"):
        open_store(str(blocker / ".soundcheck"))


def test_corrupt_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store"
    path.mkdir()
    (path / "cache.db").write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match="cannot open the fact store"):
        open_store(str(path))


def _writer(path: str, worker: int, count: int) -> None:
    with open_store(path) as s:
        for i in range(count):
            s.put(Fact(SERVICE, f"component:default/w{worker}-{i}", {"worker": worker, "i": i}, T0))
            # Both workers also keep overwriting one shared fact.
            s.put(Fact(REPO, "component:default/shared", {"worker": worker, "i": i}, T0))
        s.put_many(Fact(TRACK, f"component:default/w{worker}-{i}", i, T0) for i in range(count))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    open_store(path).close()  # created before the race, as `collect` does
    ctx = multiprocessing.get_context("spawn")
    count = 60
    procs = [ctx.Process(target=_writer, args=(path, w, count)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with open_store(path) as s:
        everything = s.load_all()
        assert len(everything) == 2 * count * 2 + 1
        for w in (1, 2):
            for i in range(count):
                assert everything[(f"component:default/w{w}-{i}", SERVICE)].data == {"worker": w, "i": i}
                assert everything[(f"component:default/w{w}-{i}", TRACK)].data == i
        assert everything[("component:default/shared", REPO)].data["i"] == count - 1


def test_entity_key_normalises() -> None:
    assert entity_key("  Component:Default/X ") == "component:default/x"


def test_default_store_path_precedence(tmp_path: Path) -> None:
    cwd = str(tmp_path / "work")
    env = {"SOUNDCHECK_STORE": "/var/lib/soundcheck"}
    configs = ["conf/app-config.yaml", "other/app-config.local.yaml"]
    assert default_store_path("mystore", configs, cwd, env) == os.path.join(cwd, "mystore")
    assert default_store_path(None, configs, cwd, env) == "/var/lib/soundcheck"
    assert default_store_path(None, configs, cwd, {"SOUNDCHECK_STORE": "rel"}) == os.path.join(cwd, "rel")
    assert default_store_path(None, configs, cwd, {}) == os.path.join(cwd, "conf", ".soundcheck")
    assert default_store_path(None, ["/etc/sc/app-config.yaml"], cwd, {}) == "/etc/sc/.soundcheck"
    assert default_store_path(None, [], cwd, {"SOUNDCHECK_STORE": ""}) == os.path.join(cwd, ".soundcheck")
    assert default_store_path(None, [], cwd, {}) == os.path.join(cwd, ".soundcheck")
    # The brief's form without --store: (config_files, cwd, environ).
    assert default_store_path(configs, cwd, {}) == os.path.join(cwd, "conf", ".soundcheck")  # type: ignore[arg-type]
    assert default_store_path([], cwd, env) == "/var/lib/soundcheck"  # type: ignore[arg-type]
