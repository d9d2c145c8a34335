"""DiskFactStore specifics: its SQLite file (our own tables, JSON text, format versions), corrupt or foreign files,
concurrent writing and reading processes, and converting a format-1 (diskcache) folder with `store migrate`.
What every store does is in ``test_store_contract.py``; which folder is used, in ``test_facts_locate.py``."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import diskcache
import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.errors import StoreError
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import (
    APPLICATION_ID,
    DB_NAME,
    FORMAT_VERSION,
    LEGACY_DB_NAME,
    DiskFactStore,
    open_store,
)

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


def _sql(store: DiskFactStore, statement: str, params: tuple = ()) -> list[tuple]:
    """Another connection to the store's file, as ``sqlite3`` by hand would be."""
    con = sqlite3.connect(os.path.join(store.directory, DB_NAME), isolation_level=None)
    try:
        return con.execute(statement, params).fetchall()
    finally:
        con.close()


def test_open_store_creates_directory_and_returns_a_fact_store(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / ".soundcheck"
    s = open_store(str(target))
    try:
        assert isinstance(s, FactStore)
        assert (target / DB_NAME).is_file()
        assert sorted(p.name for p in target.iterdir() if not p.name.startswith(DB_NAME)) == []
    finally:
        s.close()


def test_records_are_plain_columns_and_json_text_not_pickle(store: DiskFactStore) -> None:
    store.put(fact("Component:default/X", SERVICE, {"status": "active", "n": [1, 2.5]}, expires=T0 + timedelta(days=1)))
    store.set_meta("history:index", [{"id": "r1"}])
    assert _sql(store, "SELECT entity_key, fact_ref, entity_ref, ts, expires_at, data FROM facts") == [
        ("component:default/x", "pagerduty:default/service", "Component:default/X", "2026-01-05T10:00:00.000Z",
         "2026-01-06T10:00:00.000Z", '{"status":"active","n":[1,2.5]}')]
    assert _sql(store, "SELECT key, value FROM meta") == [("history:index", '[{"id":"r1"}]')]
    assert _sql(store, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert _sql(store, "PRAGMA user_version") == [(FORMAT_VERSION,)]
    assert _sql(store, "PRAGMA journal_mode") == [("wal",)]
    # Nothing but our own tables (no triggers, no tables of another library).
    assert sorted(_sql(store, "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")) == [
        ("index", "facts_fact_ref"), ("table", "facts"), ("table", "leases"), ("table", "meta")]


def test_a_large_fact_reads_back(store: DiskFactStore) -> None:
    big = {"incidents": [{"id": f"P{i}", "title": "x" * 50} for i in range(20000)]}  # ~1.3 MB of JSON
    store.put(fact("component:default/x", SERVICE, big))
    store.put(fact("component:default/y", SERVICE, "small"))
    assert store.get("component:default/x", SERVICE).data == big
    assert store.load_all()[("component:default/x", SERVICE)].data == big
    assert {f.data if isinstance(f.data, str) else "big" for f in store.facts(fact_ref=SERVICE)} == {"big", "small"}


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    with open_store(path) as s:
        _sql(s, f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    with pytest.raises(StoreError, match="newer soundcheck") as info:
        open_store(path)
    assert info.value.exit_code == 2


def test_an_sqlite_file_of_something_else_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    con = sqlite3.connect(folder / DB_NAME)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="is not a soundcheck fact store"):
        open_store(str(folder))
    con = sqlite3.connect(folder / DB_NAME)
    assert [name for (name,) in con.execute("SELECT name FROM sqlite_master")] == ["notes"]
    con.close()


def test_unreadable_record_is_a_store_error_not_a_crash(store: DiskFactStore) -> None:
    store.put(fact("component:default/x", SERVICE, 1))
    store.put(fact("component:default/y", SERVICE, 2))
    _sql(store, "UPDATE facts SET data = '{not json' WHERE entity_key = 'component:default/y'")
    with pytest.raises(StoreError, match=r"unreadable record \(component:default/y pagerduty:default/service\)"):
        store.load_all()
    assert store.get("component:default/x", SERVICE).data == 1
    _sql(store, "UPDATE facts SET data = '2', ts = 'yesterday' WHERE entity_key = 'component:default/y'")
    with pytest.raises(StoreError, match=r"unreadable record \(component:default/y .*`soundcheck facts clear`"):
        store.get("component:default/y", SERVICE)


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
    (path / DB_NAME).write_bytes(b"this is not a sqlite database" * 100)
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


def _opener(path: str, barrier: Any = None, worker: int = 0) -> None:
    if barrier is None:
        open_store(path).close()
        return
    for round_ in range(ROUNDS):
        barrier.wait(30)  # every process opens (and writes to) the same new store at the same moment
        with open_store(f"{path}-{round_}") as s:
            s.put(fact(f"component:default/w{worker}", SERVICE, round_))


ROUNDS = 25


def test_processes_opening_and_writing_one_new_store_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    """Regression: switching a new database to WAL answers "database is locked" at once (no busy wait) when
    another process has the file open at that moment; shards and overlapping cron runs open a new store together."""
    path = str(tmp_path / "store")
    ctx = multiprocessing.get_context("fork")
    workers = 6
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_opener, args=(path, barrier, w)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    for round_ in range(ROUNDS):
        with open_store(f"{path}-{round_}") as s:
            assert len(s.load_all()) == workers


def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_opener, args=(path,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with open_store(path) as s:
        s.put(fact("component:default/x", SERVICE, 1))
        assert len(s.load_all()) == 1


def _generations(path: str, entities: int, generations: int) -> None:
    with open_store(path) as s:
        for g in range(1, generations + 1):
            s.put_many(Fact(SERVICE, f"component:default/c{i}", {"g": g}, T0) for i in range(entities))


def test_loads_during_concurrent_writers_always_see_one_committed_state(store: DiskFactStore) -> None:
    """Two processes rewrite every fact, one generation per transaction, while this one loads again and again:
    each load holds one generation only (one committed state), and the last load holds their last writes."""
    entities, generations = 40, 25
    store.put_many(Fact(SERVICE, f"component:default/c{i}", {"g": 0}, T0) for i in range(entities))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_generations, args=(store.directory, entities, generations)) for _ in range(2)]
    for p in procs:
        p.start()
    loads = 0
    while any(p.is_alive() for p in procs) or loads == 0:
        seen = {f.data["g"] for f in store.load_all().values()}
        assert len(seen) == 1, seen
        loads += 1
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    final = store.load_all()
    assert len(final) == entities and {f.data["g"] for f in final.values()} == {generations}


def test_entity_key_normalises() -> None:
    assert entity_key("  Component:Default/X ") == "component:default/x"


# -- converting a format-1 folder (diskcache) ---------------------------------------------------------------------


def _legacy_store(folder: Path, facts: list[Fact], meta: dict[str, object], extra: dict[str, object] | None = None) -> None:
    """A folder as soundcheck's format 1 wrote it, through diskcache's public API: ``store:format`` = 1, one
    ``fact\\x1f<entity key>\\x1f<fact ref>`` key per fact (JSON text ``[1, entityRef, factRef, ts, expires, data]``),
    ``meta:<key>`` keys (JSON text), ``lock:<name>`` claims with an expiry."""
    from soundcheck_cli.facts.model import format_timestamp

    with diskcache.Cache(str(folder), eviction_policy="none") as cache:
        cache.set("store:format", 1)
        for f in facts:
            expires = None if f.expires_at is None else format_timestamp(f.expires_at)
            record = [1, f.entity_ref, str(f.fact_ref), format_timestamp(f.timestamp), expires, f.data]
            cache.set(f"fact\x1f{entity_key(f.entity_ref)}\x1f{f.fact_ref}", json.dumps(record, separators=(",", ":")))
        for key, value in meta.items():
            cache.set("meta:" + key, json.dumps(value))
        cache.set("lock:history", "123:abc", expire=60)
        for key, value in (extra or {}).items():
            cache.set(key, value)


LEGACY_FACTS = [
    fact("Component:default/A", SERVICE, {"z": 1, "a": [1, 2, None]}, expires=T0 + timedelta(days=1)),
    fact("component:default/a", REPO, "x" * 100_000),  # kept in a diskcache side file
    fact("component:default/b", TRACK, {"text": "naïve café 🎉"}, ts=T0 + timedelta(seconds=1.5)),
]
LEGACY_META = {"history:index": [{"id": "r1"}], "etag:github:https://api.github.com/repos/o/a": {"etag": "W/\"1\""}}


def test_a_format_1_folder_is_refused_with_the_command_that_converts_it(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    _legacy_store(folder, LEGACY_FACTS, LEGACY_META)
    with pytest.raises(StoreError, match=r"older soundcheck \(format 1, diskcache\); run `soundcheck store migrate"):
        open_store(str(folder))
    assert not (folder / DB_NAME).exists()
    code = run_cli(["facts", "list", "--store", str(folder)])
    _, err = capsys.readouterr()
    assert code == 2 and "soundcheck store migrate --store" in err


def test_store_migrate_converts_every_fact_and_meta_key_and_keeps_the_old_files(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    _legacy_store(folder, LEGACY_FACTS, LEGACY_META)
    (folder / "facts.snapshot").write_bytes(b"format 1's load_all cache")
    old_files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "facts.snapshot")
    code = run_cli(["store", "migrate", "--store", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "converted format 1 (diskcache) to format 2: 3 facts, 2 meta keys" in out
    with open_store(str(folder)) as s:
        assert s.load_all() == {(entity_key(f.entity_ref), f.fact_ref): f for f in LEGACY_FACTS}
        assert {key: s.get_meta(key) for key in s.meta_keys()} == LEGACY_META
        with s.lock("history", expire_seconds=60) as got:
            assert got  # claims of the old version are not carried over
    assert not (folder / "facts.snapshot").exists()
    assert all((folder / name).exists() for name in old_files)  # the old store is left as it was
    assert LEGACY_DB_NAME in old_files
    code = run_cli(["store", "migrate", "--store", str(folder)])
    out, _ = capsys.readouterr()
    assert code == 0 and "nothing to migrate (format 2)" in out


def test_an_unreadable_old_record_stops_the_migration_before_anything_is_written(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    _legacy_store(folder, LEGACY_FACTS, LEGACY_META, {"fact\x1fcomponent:default/c\x1fgithub:default/x": "{broken"})
    code = run_cli(["store", "migrate", "--store", str(folder)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "unreadable record (fact component:default/c github:default/x)" in err
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(DB_NAME)) == []
    with diskcache.Cache(str(folder)) as cache:  # the old store is untouched
        assert cache.get("meta:history:index") == json.dumps([{"id": "r1"}])


def test_a_folder_of_another_diskcache_user_is_not_converted(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    with diskcache.Cache(str(folder)) as cache:
        cache.set("something", "else")
    code = run_cli(["store", "migrate", "--store", str(folder)])
    _, err = capsys.readouterr()
    assert code == 2 and "is not a soundcheck fact store of format 1" in err
    assert not (folder / DB_NAME).exists()
