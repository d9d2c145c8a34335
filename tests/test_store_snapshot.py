"""The folder store's fact snapshot (``load_all``'s fast path, ``facts/store.py``): it is used only while it holds
exactly the stored facts, every way of changing a fact row invalidates it (in this process, another instance,
another process, diskcache or SQLite by hand, rolled back), and a damaged or foreign snapshot file is ignored.

``SNAPSHOT_MIN_FACTS`` is lowered to 1 here so that small stores get a snapshot."""

from __future__ import annotations

import marshal
import math
import multiprocessing
import os
import shutil
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import soundcheck_cli.facts.store as store_module
from soundcheck_cli.errors import StoreError
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import SNAPSHOT_NAME, DiskFactStore, fact_key, open_store

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 6, 11, 30, 15, 250000, tzinfo=timezone.utc)
SERVICE = FactRef.parse("pagerduty:default/service")
REPO = FactRef.parse("github:default/repo_details")
TRACK = FactRef.parse("soundcheck:default/track/pagerduty_track")


@pytest.fixture(autouse=True)
def small_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_FACTS", 1)
    monkeypatch.setattr(store_module, "SNAPSHOT_AFTER_LOADS", 1)  # the second-load rule has tests of its own


def _facts(n: int = 12, tag: str = "a") -> list[Fact]:
    out = []
    for i in range(n):
        ref = (SERVICE, REPO, TRACK)[i % 3]
        data: Any = {"tag": tag, "i": i, "nested": {"list": [1, 2.5, None, True, "é☃"], "empty": {}}, "big": 10**30}
        if i % 4 == 1:
            data = [tag, i]
        elif i % 4 == 2:
            data = f"{tag}-{i}"
        expires = None if i % 2 else (T1 if i % 3 else T0 - timedelta(days=1))  # some already expired
        out.append(Fact(ref, f"Component:default/Svc-{i // 3}", data, T0 if i % 5 else T1, expires))
    return out


def _truth(store: DiskFactStore) -> dict[tuple[str, FactRef], Fact]:
    """What ``load_all`` must return: what it returned before snapshots, read from SQLite now."""
    start = len("fact\x1f")
    return {(key[start : key.index("\x1f", start)], f.fact_ref): f for key, f in store._decode_all(store._rows())}


def _snapshot_valid(store: DiskFactStore) -> bool:
    """Whether the snapshot file is labelled with the store's current fact token (``load_all`` would use it)."""
    return store._read_snapshot()[0] is not None


def _loaded_from_snapshot(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, FactRef], Fact]:
    """``load_all()``, failing the test if it went to SQLite."""
    with monkeypatch.context() as m:
        m.setattr(DiskFactStore, "_rows_and_token", lambda self: pytest.fail("load_all read SQLite"))
        return store.load_all()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiskFactStore]:
    with open_store(str(tmp_path / "store")) as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def snapshotted(store: DiskFactStore) -> DiskFactStore:
    """A store with facts and a valid snapshot of them."""
    store.put_many(_facts())
    store.load_all()
    assert _snapshot_valid(store)
    return store


def _same(a: dict[tuple[str, FactRef], Fact], b: dict[tuple[str, FactRef], Fact]) -> None:
    assert a == b
    assert list(a) == list(b)  # same order (the key order of the store)
    for key, fact in a.items():
        other = b[key]
        assert repr(fact) == repr(other)
        assert type(fact.fact_ref) is FactRef and type(fact.timestamp) is datetime
        assert fact.timestamp.utcoffset() == other.timestamp.utcoffset()
        assert (fact.expires_at is None) == (other.expires_at is None)


# -- the snapshot reads back what SQLite holds ------------------------------------------------------------------


def test_first_load_writes_the_snapshot_and_the_next_reads_it(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_many(_facts())
    assert not os.path.exists(os.path.join(store.directory, SNAPSHOT_NAME))
    first = store.load_all()
    assert os.path.exists(os.path.join(store.directory, SNAPSHOT_NAME))
    second = _loaded_from_snapshot(store, monkeypatch)
    _same(second, first)
    _same(second, _truth(store))
    assert second is not first and next(iter(second.values())).data is not next(iter(first.values())).data
    assert not [name for name in os.listdir(store.directory) if name.endswith(".tmp")]


def test_a_snapshot_is_written_by_the_second_load_of_the_same_facts(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """collect, then check once (a CI job): no snapshot written; a second check of the same facts writes it."""
    monkeypatch.setattr(store_module, "SNAPSHOT_AFTER_LOADS", 2)
    snapshot = os.path.join(store.directory, SNAPSHOT_NAME)
    store.put_many(_facts())
    _same(store.load_all(), _truth(store))
    assert not os.path.exists(snapshot)  # read once: nothing written but the token it saw
    store.put(_facts(1, tag="changed")[0])  # a write between two loads: the next one is a first load again
    _same(store.load_all(), _truth(store))
    assert not os.path.exists(snapshot)
    _same(store.load_all(), _truth(store))  # the same facts as the load before: now it is written
    assert os.path.exists(snapshot)
    _same(_loaded_from_snapshot(store, monkeypatch), _truth(store))


@pytest.mark.parametrize("seen", ["missing", "damaged", "folder"])
def test_a_lost_or_damaged_seen_file_only_delays_the_snapshot(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch, seen: str) -> None:
    monkeypatch.setattr(store_module, "SNAPSHOT_AFTER_LOADS", 2)
    store.put_many(_facts())
    store.load_all()
    path = os.path.join(store.directory, store_module.SEEN_NAME)
    os.unlink(path)
    if seen == "damaged":
        with open(path, "wb") as handle:
            handle.write(b"\x00" * 40)
    elif seen == "folder":
        os.mkdir(path)
    _same(store.load_all(), _truth(store))  # not taken for the same token: remembered (or not) now
    _same(store.load_all(), _truth(store))
    assert os.path.exists(os.path.join(store.directory, SNAPSHOT_NAME)) == (seen != "folder")
    assert not [name for name in os.listdir(store.directory) if name.endswith(".tmp")]


def test_snapshot_keeps_every_value_exactly(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = {"nan": math.nan, "inf": -math.inf, "neg0": -0.0, "huge": 2**200, "s": "\x00\ud7ff\U0010ffff", "k": [[], {}]}
    store.put(Fact(SERVICE, "component:default/odd", odd, T1, T1 + timedelta(microseconds=1000)))
    store.put(Fact(REPO, "component:default/odd", None, T0))
    store.load_all()
    got = _loaded_from_snapshot(store, monkeypatch)[("component:default/odd", SERVICE)]
    assert math.isnan(got.data["nan"]) and got.data["inf"] == -math.inf and math.copysign(1, got.data["neg0"]) < 0
    assert {k: v for k, v in got.data.items() if k != "nan"} == {k: v for k, v in odd.items() if k != "nan"}
    assert got.timestamp == T1 and got.expires_at == T1 + timedelta(milliseconds=1)
    assert _loaded_from_snapshot(store, monkeypatch)[("component:default/odd", REPO)].data is None


def test_facts_in_side_files_are_in_the_snapshot(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    big = {"incidents": ["x" * 100] * 500}  # > diskcache's 32 KB inline limit: a side file
    store.put_many([Fact(SERVICE, "component:default/big", big, T0), *_facts(3)])
    first = store.load_all()
    _same(_loaded_from_snapshot(store, monkeypatch), first)
    assert first[("component:default/big", SERVICE)].data == big


def test_small_store_gets_no_snapshot_and_no_token(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_FACTS", 100)
    store.put_many(_facts())
    _same(store.load_all(), _truth(store))
    assert not os.path.exists(os.path.join(store.directory, SNAPSHOT_NAME))
    tables = store._cache._sql("SELECT name FROM sqlite_master WHERE name LIKE 'soundcheck%'").fetchall()
    assert tables == []


def test_snapshot_survives_reopening_and_reads_that_do_not_write_facts(snapshotted: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _truth(snapshotted)
    snapshotted.set_meta("history:x", {"a": 1})
    snapshotted.delete_meta("history:x")
    with snapshotted.lock("job"):
        pass
    with snapshotted.claim_many(["a", "b"]):
        pass
    snapshotted.get("component:default/svc-0", SERVICE)
    snapshotted.get_many([("component:default/svc-0", SERVICE)])
    list(snapshotted.facts())
    with open_store(snapshotted.directory) as again:
        _same(_loaded_from_snapshot(again, monkeypatch), expected)
    _same(_loaded_from_snapshot(snapshotted, monkeypatch), expected)


# -- every write path invalidates it ------------------------------------------------------------------------------


def _new_fact() -> Fact:
    return Fact(SERVICE, "component:default/new", {"new": True}, T1)


def _big_fact() -> Fact:
    return Fact(SERVICE, "component:default/svc-0", {"big": "y" * 40_000}, T1)


def _raw_sql(store: DiskFactStore, statement: str, params: tuple[Any, ...] = ()) -> None:
    con = sqlite3.connect(os.path.join(store.directory, "cache.db"))
    try:
        with con:
            con.execute(statement, params)
    finally:
        con.close()


def _key(entity: str = "component:default/svc-0", ref: FactRef = SERVICE) -> str:
    return fact_key(entity, ref)


def _other_instance(store: DiskFactStore, fn: Callable[[DiskFactStore], Any]) -> None:
    with open_store(store.directory) as other:
        fn(other)


def _expire_by_diskcache(store: DiskFactStore) -> None:
    text = store._encode(_new_fact())[1]
    store._cache.set(_key("component:default/new"), text, expire=0.001)
    store.load_all()  # a snapshot with that row in it
    assert _snapshot_valid(store)
    time.sleep(0.01)
    assert store._cache.expire() == 1


WRITES: dict[str, Callable[[DiskFactStore], Any]] = {
    "put new": lambda s: s.put(_new_fact()),
    "put replace": lambda s: s.put(Fact(SERVICE, "component:default/svc-0", {"changed": 1}, T0)),
    "put same value again": lambda s: s.put(next(iter(s.facts(entity_ref="component:default/svc-0", fact_ref=SERVICE)))),
    "put_many": lambda s: s.put_many([_new_fact(), Fact(REPO, "component:default/svc-1", 1, T0)]),
    "put_many side file": lambda s: s.put_many([_big_fact()]),
    "put side file": lambda s: s.put(_big_fact()),
    "delete one": lambda s: s.delete("component:default/svc-0", SERVICE),
    "delete entity": lambda s: s.delete("component:default/svc-1"),
    "delete fact ref": lambda s: s.delete(fact_ref=REPO),
    "delete all (facts clear)": lambda s: s.delete(),
    "delete all, write as many": lambda s: (s.delete(), s.put_many(_facts(tag="b"))),
    "other instance put": lambda s: _other_instance(s, lambda o: o.put(_new_fact())),
    "other instance delete": lambda s: _other_instance(s, lambda o: o.delete("component:default/svc-2")),
    "diskcache set": lambda s: s._cache.set(_key(), s._encode(Fact(SERVICE, "component:default/svc-0", 7, T0))[1]),
    "diskcache delete": lambda s: s._cache.delete(_key()),
    "diskcache pop": lambda s: s._cache.pop(_key()),
    "diskcache clear": lambda s: s._cache.clear(),
    "diskcache expiry and cull": _expire_by_diskcache,
    "diskcache touch": lambda s: s._cache.touch(_key(), expire=3600),
    "sqlite update value": lambda s: _raw_sql(
        s, "UPDATE Cache SET value = ? WHERE key = ?", (s._encode(Fact(SERVICE, "component:default/svc-0", "hand", T0))[1], _key())
    ),
    "sqlite rename key": lambda s: _raw_sql(s, "UPDATE Cache SET key = ? WHERE key = ?", (_key("component:default/moved"), _key())),
    "sqlite move a key in": lambda s: _raw_sql(
        s, "INSERT INTO Cache(key, raw, store_time, value) VALUES (?, 1, 0, ?)",
        ("fact\x1fcomponent:default/svc-0\x1fpagerduty:default/other", s._encode(Fact(FactRef.parse("pagerduty:default/other"), "component:default/svc-0", 1, T0))[1]),
    ),
    "sqlite rename key out of the facts": lambda s: _raw_sql(s, "UPDATE Cache SET key = 'meta:moved' WHERE key = ?", (_key(),)),
    "sqlite delete": lambda s: _raw_sql(s, "DELETE FROM Cache WHERE key = ?", (_key(),)),
    "sqlite delete everything": lambda s: _raw_sql(s, "DELETE FROM Cache"),
}


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_every_write_invalidates_the_snapshot(snapshotted: DiskFactStore, write: str, monkeypatch: pytest.MonkeyPatch) -> None:
    WRITES[write](snapshotted)
    assert not _snapshot_valid(snapshotted)  # by the token, not by luck: the file is there, its label is old
    assert os.path.exists(os.path.join(snapshotted.directory, SNAPSHOT_NAME))
    loaded = snapshotted.load_all()
    _same(loaded, _truth(snapshotted))
    if loaded:  # ...and the new snapshot holds the new state (an empty store gets none: fewer than 1 fact)
        _same(_loaded_from_snapshot(snapshotted, monkeypatch), _truth(snapshotted))


def _process_writer(path: str, what: str) -> None:
    with open_store(path) as s:
        if what == "put":
            s.put(_new_fact())
        else:
            s.delete("component:default/svc-0")


@pytest.mark.parametrize("what", ["put", "delete"])
def test_a_write_by_another_process_invalidates_the_snapshot(snapshotted: DiskFactStore, what: str) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=_process_writer, args=(snapshotted.directory, what))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert not _snapshot_valid(snapshotted)
    _same(snapshotted.load_all(), _truth(snapshotted))
    assert (("component:default/new", SERVICE) in snapshotted.load_all()) == (what == "put")


def test_a_rolled_back_write_never_validates_a_snapshot(snapshotted: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot written inside a transaction that is rolled back is labelled with a token that never commits."""
    before = _truth(snapshotted)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with snapshotted._cache.transact():
            snapshotted.put(_new_fact())
            inside = snapshotted.load_all()  # sees (and snapshots) its own uncommitted write
            assert ("component:default/new", SERVICE) in inside
            raise Abort
    assert not _snapshot_valid(snapshotted)
    _same(snapshotted.load_all(), before)
    snapshotted.put(Fact(REPO, "component:default/svc-0", "later", T0))  # a later write gets yet another token
    _same(snapshotted.load_all(), _truth(snapshotted))
    assert ("component:default/new", SERVICE) not in _loaded_from_snapshot(snapshotted, monkeypatch)


def test_a_write_between_reading_the_token_and_the_rows_is_not_missed(store: DiskFactStore) -> None:
    """The token and the rows are read in one read transaction: a write landing in between is not in the rows and
    changes the token, so the snapshot just written is not used."""
    store.put_many(_facts())
    store.load_all()
    original = DiskFactStore._token
    calls = []

    def token_then_write(con: sqlite3.Connection) -> bytes | None:
        token = original(con)
        if not calls:
            calls.append(1)
            _raw_sql(store, "DELETE FROM Cache WHERE key = ?", (_key(),))
        return token

    store.put(_new_fact())  # the snapshot is stale: the next load_all reads SQLite
    with pytest.MonkeyPatch.context() as m:
        m.setattr(DiskFactStore, "_token", staticmethod(token_then_write))
        m.setattr(DiskFactStore, "_read_snapshot", lambda self: (None, b"x" * 16))
        loaded = store.load_all()
    assert ("component:default/svc-0", SERVICE) in loaded  # read before the delete, in one view
    assert not _snapshot_valid(store)
    _same(store.load_all(), _truth(store))
    assert ("component:default/svc-0", SERVICE) not in store.load_all()


def test_a_side_file_replaced_during_the_read_means_no_snapshot(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_many([*_facts(3), _big_fact()])
    fetch = store._cache._disk.fetch

    calls: list[int] = []

    def gone(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the first read: the file had been replaced; diskcache's ``get`` then reads it again
            raise FileNotFoundError("replaced meanwhile")
        return fetch(*args)

    monkeypatch.setattr(store._cache._disk, "fetch", gone)
    loaded = store.load_all()  # the side file's value is read again, a newer one perhaps: not of the token's moment
    assert loaded[("component:default/svc-0", SERVICE)] == _big_fact() and len(calls) == 2
    assert not os.path.exists(os.path.join(store.directory, SNAPSHOT_NAME))
    monkeypatch.setattr(store._cache._disk, "fetch", fetch)
    store.load_all()
    assert _snapshot_valid(store)


def test_a_missing_trigger_renews_the_token_before_a_snapshot_is_used(snapshotted: DiskFactStore) -> None:
    _raw_sql(snapshotted, "DROP TRIGGER soundcheck_fact_token_v1_insert")
    _same(snapshotted.load_all(), _truth(snapshotted))  # reads SQLite and reinstalls the triggers, new token
    names = {n for (n,) in snapshotted._cache._sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()}
    assert set(store_module._TRIGGERS) <= names
    snapshotted.put(_new_fact())
    assert not _snapshot_valid(snapshotted)
    assert ("component:default/new", SERVICE) in snapshotted.load_all()


def test_an_altered_trigger_is_replaced(snapshotted: DiskFactStore) -> None:
    _raw_sql(snapshotted, "DROP TRIGGER soundcheck_fact_token_v1_update")
    _raw_sql(snapshotted, "CREATE TRIGGER soundcheck_fact_token_v1_update AFTER UPDATE ON Cache BEGIN SELECT 1; END")
    assert not _snapshot_valid(snapshotted)
    snapshotted.load_all()
    sql = snapshotted._cache._sql("SELECT sql FROM sqlite_master WHERE name = 'soundcheck_fact_token_v1_update'").fetchone()[0]
    assert sql == store_module._TRIGGERS["soundcheck_fact_token_v1_update"]


def test_a_store_written_before_snapshots_existed_gets_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "old")
    with open_store(path) as s:
        monkeypatch.setattr(store_module, "SNAPSHOT_MIN_FACTS", 10**9)
        s.put_many(_facts())
        s.load_all()
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_FACTS", 1)
    with open_store(path) as s:
        first = s.load_all()  # installs the token and writes the snapshot
        _same(_loaded_from_snapshot(s, monkeypatch), first)
        _same(first, _truth(s))


def test_a_snapshot_of_another_store_or_an_older_copy_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with open_store(a) as sa, open_store(b) as sb:
        sa.put_many(_facts(tag="a"))
        sb.put_many(_facts(tag="b"))
        sa.load_all()
        sb.load_all()
    shutil.copy(os.path.join(a, SNAPSHOT_NAME), os.path.join(b, SNAPSHOT_NAME))
    with open_store(b) as sb:
        assert not _snapshot_valid(sb)
        loaded = sb.load_all()
        _same(loaded, _truth(sb))
        assert loaded[("component:default/svc-0", TRACK)].data == "b-2"
    # An older copy of the database (restored from a backup) beside a newer snapshot.
    backup = tmp_path / "backup"
    shutil.copytree(a, backup)
    with open_store(a) as sa:
        sa.put(_new_fact())
        sa.load_all()
    shutil.copy(os.path.join(a, SNAPSHOT_NAME), backup / SNAPSHOT_NAME)
    with open_store(str(backup)) as restored:
        assert not _snapshot_valid(restored)
        assert ("component:default/new", SERVICE) not in restored.load_all()


# -- a damaged snapshot file is ignored -------------------------------------------------------------------------


def _damage(path: str, how: str) -> None:
    blob = Path(path).read_bytes()
    head = len(store_module._SNAPSHOT_MAGIC) + store_module._SNAPSHOT_HEAD.size
    if how == "empty":
        blob = b""
    elif how == "truncated":
        blob = blob[:-1]
    elif how == "header only":
        blob = blob[:head]
    elif how == "extra byte":
        blob = blob + b"\0"
    elif how == "flipped byte":
        middle = head + (len(blob) - head) // 2
        blob = blob[:middle] + bytes([blob[middle] ^ 0x01]) + blob[middle + 1 :]
    elif how == "other magic":
        blob = blob.replace(b"python", b"pythoX", 1)
    elif how == "garbage":
        blob = os.urandom(len(blob))
    elif how in ("foreign payload", "short columns"):
        # A payload with a valid header, CRC and the current token, but not a snapshot's shape.
        token, _, _ = store_module._SNAPSHOT_HEAD.unpack_from(blob, len(store_module._SNAPSHOT_MAGIC))
        if how == "foreign payload":
            payload = marshal.dumps({"not": "a snapshot"})
        else:
            payload = marshal.dumps(([("a", "b", "c")], [], ["k", "k2"], ["e"], [1], [0], [0], [-1]))
        blob = store_module._SNAPSHOT_MAGIC + store_module._SNAPSHOT_HEAD.pack(token, len(payload), zlib.crc32(payload)) + payload
    Path(path).write_bytes(blob)


@pytest.mark.parametrize(
    "how", ["empty", "truncated", "header only", "extra byte", "flipped byte", "other magic", "garbage", "foreign payload", "short columns"]
)
def test_a_damaged_snapshot_is_ignored_and_rewritten(snapshotted: DiskFactStore, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.path.join(snapshotted.directory, SNAPSHOT_NAME)
    _damage(path, how)
    assert not _snapshot_valid(snapshotted)
    _same(snapshotted.load_all(), _truth(snapshotted))
    _same(_loaded_from_snapshot(snapshotted, monkeypatch), _truth(snapshotted))  # rewritten whole


def test_a_snapshot_path_that_is_a_folder_is_ignored(store: DiskFactStore) -> None:
    store.put_many(_facts())
    os.mkdir(os.path.join(store.directory, SNAPSHOT_NAME))
    for _ in range(2):
        _same(store.load_all(), _truth(store))
    assert not [name for name in os.listdir(store.directory) if name.endswith(".tmp")]


def test_a_failed_snapshot_write_leaves_no_file_and_loses_no_fact(store: DiskFactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_many(_facts())

    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", fail)
    _same(store.load_all(), _truth(store))
    assert not [name for name in os.listdir(store.directory) if name.startswith(SNAPSHOT_NAME)]


def test_an_unreadable_record_is_still_reported_after_a_snapshot(snapshotted: DiskFactStore) -> None:
    snapshotted._cache.set(_key(), "{not json")
    with pytest.raises(StoreError, match="unreadable record"):
        snapshotted.load_all()


# -- concurrent writers -------------------------------------------------------------------------------------------


def _generations(path: str, entities: int, generations: int) -> None:
    with open_store(path) as s:
        for g in range(1, generations + 1):
            s.put_many(Fact(SERVICE, f"component:default/c{i}", {"g": g}, T0) for i in range(entities))


def test_loads_during_concurrent_writers_always_see_one_committed_state(store: DiskFactStore) -> None:
    """Two processes rewrite every fact, one generation per transaction, while this one loads again and again:
    each load holds one generation only (one committed state, from SQLite or a snapshot), and the last load
    after the writers are done holds their last writes."""
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
    assert {f.data["g"] for f in final.values()} == {generations}
    _same(final, _truth(store))


def test_a_temporary_file_left_by_a_killed_writer_is_removed_once_old(store: DiskFactStore) -> None:
    store.put_many(_facts())
    old = os.path.join(store.directory, f"{SNAPSHOT_NAME}.123.456.dead.tmp")
    recent = os.path.join(store.directory, f"{SNAPSHOT_NAME}.123.456.busy.tmp")  # perhaps another process's, now
    for path in (old, recent):
        Path(path).write_bytes(b"half a snapshot")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    store.load_all()
    assert not os.path.exists(old) and os.path.exists(recent)
    assert _snapshot_valid(store)
