"""DiskFactStore: put/get/overwrite/delete, filters, load_all, meta, expiry as data, persistence, locks,
concurrent writers, and the store path rules."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
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


def test_put_get_and_missing(store: DiskFactStore) -> None:
    f = fact("component:default/payments-api", SERVICE, {"status": "active", "n": [1, 2.5, None, True]})
    store.put(f)
    assert store.get("component:default/payments-api", SERVICE) == f
    assert store.get("component:default/payments-api", REPO) is None
    assert store.get("component:default/other", SERVICE) is None


def test_entity_refs_are_case_insensitive_and_keep_their_spelling(store: DiskFactStore) -> None:
    store.put(fact("component:Default/Payments-API", SERVICE, 1))
    got = store.get("COMPONENT:default/payments-api", SERVICE)
    assert got is not None and got.data == 1
    assert got.entity_ref == "component:Default/Payments-API"
    assert [f.data for f in store.facts(entity_ref="Component:DEFAULT/PAYMENTS-API")] == [1]
    assert list(store.load_all()) == [("component:default/payments-api", SERVICE)]
    # A differently-cased ref is the same key: it overwrites.
    store.put(fact("component:default/payments-api", SERVICE, 2))
    assert [f.data for f in store.facts()] == [2]


def test_overwrite_replaces_the_whole_fact(store: DiskFactStore) -> None:
    store.put(fact("component:default/x", SERVICE, {"a": 1, "b": 2}, expires=T0 + timedelta(hours=1)))
    newer = fact("component:default/x", SERVICE, {"a": 3}, ts=T0 + timedelta(minutes=5))
    store.put(newer)
    assert store.get("component:default/x", SERVICE) == newer
    assert len(list(store.facts())) == 1


def test_names_with_slashes_are_distinct_facts(store: DiskFactStore) -> None:
    store.put(fact("component:default/x", TRACK, {"highestLevel": {"ordinal": 1}}))
    store.put(fact("component:default/x", FactRef.parse("soundcheck:default/track"), "other"))
    assert store.get("component:default/x", TRACK).data == {"highestLevel": {"ordinal": 1}}
    assert store.get("component:default/x", FactRef.parse("soundcheck:default/track")).data == "other"
    assert [f.data for f in store.facts(fact_ref=TRACK)] == [{"highestLevel": {"ordinal": 1}}]


def seed(store: DiskFactStore) -> None:
    store.put_many(
        [
            fact("component:default/a", SERVICE, "a-service"),
            fact("component:default/a", REPO, "a-repo"),
            fact("component:default/ab", SERVICE, "ab-service"),  # a prefix of another entity's key
            fact("component:default/b", REPO, "b-repo"),
            fact("api:default/a", SERVICE, "api-a-service"),
        ]
    )


def test_facts_filters(store: DiskFactStore) -> None:
    seed(store)
    assert sorted(f.data for f in store.facts()) == ["a-repo", "a-service", "ab-service", "api-a-service", "b-repo"]
    assert sorted(f.data for f in store.facts(entity_ref="component:default/a")) == ["a-repo", "a-service"]
    assert sorted(f.data for f in store.facts(fact_ref=SERVICE)) == ["a-service", "ab-service", "api-a-service"]
    assert [f.data for f in store.facts(entity_ref="component:default/a", fact_ref=REPO)] == ["a-repo"]
    assert list(store.facts(entity_ref="component:default/b", fact_ref=SERVICE)) == []
    assert list(store.facts(entity_ref="component:default/none")) == []
    # A fact ref that is a prefix/suffix of another one does not match it.
    assert list(store.facts(fact_ref=FactRef.parse("pagerduty:default/vice"))) == []


def test_load_all_keys_by_entity_key_and_fact_ref(store: DiskFactStore) -> None:
    seed(store)
    everything = store.load_all()
    assert len(everything) == 5
    assert everything[("component:default/ab", SERVICE)].data == "ab-service"
    assert everything[("api:default/a", SERVICE)].data == "api-a-service"
    # Same result as the interface's generic definition.
    assert everything == FactStore.load_all(store)


def test_delete_by_entity_by_fact_ref_and_all(store: DiskFactStore) -> None:
    seed(store)
    store.set_meta("etag:x", "W/1")
    assert store.delete(entity_ref="Component:Default/A") == 2
    assert store.delete(entity_ref="component:default/a") == 0
    assert store.delete(fact_ref=SERVICE) == 2
    assert [f.data for f in store.facts()] == ["b-repo"]
    seed(store)
    assert store.delete(entity_ref="component:default/b", fact_ref=REPO) == 1
    assert store.delete() == 4  # "facts clear": every fact...
    assert list(store.facts()) == [] and store.load_all() == {}
    assert store.get_meta("etag:x") == "W/1"  # ...but not the runtime's meta data


def test_put_many_returns_count_and_is_all_or_nothing(store: DiskFactStore) -> None:
    assert store.put_many(fact(f"component:default/e{i}", SERVICE, i) for i in range(50)) == 50
    assert len(store.load_all()) == 50
    bad = [fact("component:default/new", SERVICE, 1), fact("component:default/bad", SERVICE, {1, 2})]
    with pytest.raises(StoreError, match="not JSON"):
        store.put_many(bad)
    assert store.get("component:default/new", SERVICE) is None


def test_a_failed_put_keeps_the_earlier_fact(store: DiskFactStore) -> None:
    good = fact("component:default/x", SERVICE, "old")
    store.put(good)
    with pytest.raises(StoreError):
        store.put(fact("component:default/x", SERVICE, object()))
    assert store.get("component:default/x", SERVICE) == good


def test_control_characters_in_refs_are_refused(store: DiskFactStore) -> None:
    with pytest.raises(StoreError, match="control character"):
        store.put(fact("component:default/a\x1fb", SERVICE, 1))
    assert list(store.facts()) == []


def test_expiry_is_data_not_deletion(store: DiskFactStore) -> None:
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    expired = fact("component:default/x", SERVICE, "stale", ts=past - timedelta(hours=2), expires=past)
    store.put(expired)
    got = store.get("component:default/x", SERVICE)
    assert got == expired
    assert got.is_expired()
    assert store.load_all()[("component:default/x", SERVICE)].expires_at == past
    assert [f.expires_at for f in store.facts(fact_ref=SERVICE)] == [past]


def test_meta_round_trips_json_values(store: DiskFactStore) -> None:
    assert store.get_meta("missing") is None
    assert store.get_meta("missing", {"d": 1}) == {"d": 1}
    value = {"etag": 'W/"abc"', "runs": [1, 2], "ok": True, "none": None}
    store.set_meta("etag:pagerduty:service/P123", value)
    assert store.get_meta("etag:pagerduty:service/P123") == value
    store.set_meta("counter", 0)
    assert store.get_meta("counter", 99) == 0
    assert store.meta_keys("etag:") == ["etag:pagerduty:service/P123"]
    assert store.delete_meta("counter") is True
    assert store.get_meta("counter") is None
    with pytest.raises(StoreError, match="not JSON"):
        store.set_meta("bad", object())
    # Meta never shows up as facts.
    assert list(store.facts()) == []


def test_reopen_persists_facts_and_meta(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    f = fact("component:default/x", TRACK, {"levels": []}, expires=T0 + timedelta(days=1))
    with open_store(path) as s:
        s.put(f)
        s.set_meta("last-run", "2026-01-05")
    with open_store(path) as s:
        assert s.get("component:default/x", TRACK) == f
        assert s.get_meta("last-run") == "2026-01-05"


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


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    with open_store(path) as first, open_store(path) as second:
        with first.lock("collect:pagerduty", expire_seconds=60) as got:
            assert got is True
            with second.lock("collect:pagerduty", expire_seconds=60) as other:
                assert other is False
            with second.lock("collect:github", expire_seconds=60) as unrelated:
                assert unrelated is True
        with second.lock("collect:pagerduty", expire_seconds=60) as again:
            assert again is True


def test_lock_lapses_after_expiry_and_release_only_frees_own_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    with open_store(path) as first, open_store(path) as second, ExitStack() as stack:
        with first.lock("job", expire_seconds=0.01) as got:
            assert got
            time.sleep(0.05)  # the first holder "hangs" past its expiry
            taken_over = stack.enter_context(second.lock("job", expire_seconds=60))
            assert taken_over is True
        # The first holder's exit must not have released the second holder's claim.
        with first.lock("job", expire_seconds=60) as meanwhile:
            assert meanwhile is False
        stack.close()  # second releases
        with first.lock("job", expire_seconds=60) as later:
            assert later is True


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
