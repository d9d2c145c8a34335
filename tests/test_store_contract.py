"""The ``FactStore`` contract: every test runs on each implementation (``any_store``: ``disk`` and ``postgres``).

What a store must do is in ``facts/interface.py``; a new implementation joins the ``any_store`` fixture
(``tests/conftest.py``) and must pass this file unchanged.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import pytest

from soundcheck_cli.errors import StoreError
from soundcheck_cli.events.dispatch import load_pending, save_pending
from soundcheck_cli.events.model import Event
from soundcheck_cli.facts.interface import FactStore
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.history.codec import States
from soundcheck_cli.history.store import History, RunInfo

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
SERVICE = FactRef.parse("pagerduty:default/service")
REPO = FactRef.parse("github:default/repo_details")
TRACK = FactRef.parse("soundcheck:default/track/pagerduty_track")


def fact(entity: str, ref: FactRef, data: object, ts: datetime = T0, expires: datetime | None = None) -> Fact:
    return Fact(ref, entity, data, ts, expires)


def seed(store: FactStore) -> None:
    store.put_many(
        [
            fact("component:default/a", SERVICE, "a-service"),
            fact("component:default/a", REPO, "a-repo"),
            fact("component:default/ab", SERVICE, "ab-service"),  # a prefix of another entity's key
            fact("component:default/b", REPO, "b-repo"),
            fact("api:default/a", SERVICE, "api-a-service"),
        ]
    )


# -- facts ------------------------------------------------------------------------------------------------------


def test_put_get_and_missing(any_store: FactStore) -> None:
    f = fact("component:default/payments-api", SERVICE, {"status": "active", "n": [1, 2.5, None, True]})
    any_store.put(f)
    assert any_store.get("component:default/payments-api", SERVICE) == f
    assert any_store.get("component:default/payments-api", REPO) is None
    assert any_store.get("component:default/other", SERVICE) is None


def test_get_many_without_data_gives_the_same_facts_and_times(any_store: FactStore) -> None:
    """``get_many(..., data=False)`` (the runner's freshness check): the same pairs, times and expiries, no data."""
    seed(any_store)
    later = T0 + timedelta(days=2)
    any_store.put(fact("component:default/b", SERVICE, {"big": "x" * 1000}, T0, later))
    pairs = [("component:default/a", SERVICE), ("component:default/B", SERVICE), ("component:default/none", REPO)]
    full = any_store.get_many(pairs)
    bare = any_store.get_many(pairs, data=False)
    assert set(bare) == set(full) == {("component:default/a", SERVICE), ("component:default/b", SERVICE)}
    for key, f in full.items():
        assert (bare[key].timestamp, bare[key].expires_at, bare[key].fact_ref) == (f.timestamp, f.expires_at, f.fact_ref)
        assert bare[key].data is None and f.data is not None
    assert bare[("component:default/b", SERVICE)].expires_at == later


def test_load_entities_gives_every_fact_of_those_entities_only(any_store: FactStore) -> None:
    """What ``check`` reads per entity chunk: every fact of the given entity keys (a key that is a prefix of
    another entity's is not a match), keyed as ``load_all``; unknown keys give nothing; many keys in one call."""
    seed(any_store)
    got = any_store.load_entities(["component:default/a", "api:default/a", "component:default/none"])
    assert set(got) == {("component:default/a", SERVICE), ("component:default/a", REPO), ("api:default/a", SERVICE)}
    assert got[("component:default/a", REPO)].data == "a-repo"
    everything = any_store.load_all()
    assert {k: v for k, v in everything.items() if k in got} == got
    keys = [f"component:default/x{i}" for i in range(1000)] + ["component:default/b"]
    assert set(any_store.load_entities(keys)) == {("component:default/b", REPO)}
    assert any_store.load_entities([]) == {}


def test_get_many_returns_the_stored_pairs_keyed_by_entity_key(any_store: FactStore) -> None:
    seed(any_store)
    found = any_store.get_many(
        [("Component:Default/A", SERVICE), ("component:default/a", REPO), ("component:default/b", SERVICE),
         ("component:default/ab", SERVICE), ("component:default/nobody", REPO)]
    )
    assert {k: f.data for k, f in found.items()} == {
        ("component:default/a", SERVICE): "a-service",
        ("component:default/a", REPO): "a-repo",
        ("component:default/ab", SERVICE): "ab-service",
    }
    assert any_store.get_many([]) == {}


def test_round_trip_keeps_unicode_nesting_and_key_order(any_store: FactStore) -> None:
    data = {
        "zeta": 1,
        "alpha": {"y": [1, {"b": 2, "a": [None, False, 1.5, -3]}], "x": ""},
        "text": "naïve café 日本語 🎉 \u0000 \t \"quoted\" back\\slash",
        "big": 2**53 + 1,
        "empty": {},
        "list": [],
    }
    any_store.put(fact("component:default/Ünïcode-🎉", SERVICE, data))
    for got in (any_store.get("component:default/ünïcode-🎉", SERVICE),
                any_store.load_all()[("component:default/ünïcode-🎉", SERVICE)],
                next(any_store.facts(fact_ref=SERVICE))):
        assert got is not None
        assert got.data == data
        assert list(got.data) == list(data)  # key order as written, at every level
        assert list(got.data["alpha"]["y"][1]) == ["b", "a"]
        assert got.entity_ref == "component:default/Ünïcode-🎉"
    # Scalars and lists are facts too.
    for i, value in enumerate(["plain", 0, None, [3, 2, 1], True]):
        any_store.put(fact(f"component:default/s{i}", REPO, value))
        assert any_store.get(f"component:default/s{i}", REPO).data == value


def test_timestamps_are_tz_aware_and_keep_their_instant(any_store: FactStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    ts = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=plus2)
    expires = datetime(2026, 3, 2, 0, 0, 0, 999000, tzinfo=timezone.utc)
    any_store.put(fact("component:default/x", SERVICE, 1, ts=ts, expires=expires))
    any_store.put(fact("component:default/y", SERVICE, 2, ts=ts))
    got = any_store.get("component:default/x", SERVICE)
    assert got.timestamp.tzinfo is not None and got.expires_at.tzinfo is not None
    # The disk store keeps milliseconds, PostgreSQL microseconds: both keep the instant to the millisecond.
    assert timedelta(0) <= ts - got.timestamp < timedelta(milliseconds=1)
    assert got.expires_at == expires
    assert got.timestamp.utcoffset() == timedelta(0)  # given back in UTC
    assert any_store.get("component:default/y", SERVICE).expires_at is None
    assert any_store.load_all()[("component:default/x", SERVICE)].expires_at == expires


def test_entity_refs_are_case_insensitive_and_keep_their_spelling(any_store: FactStore) -> None:
    any_store.put(fact("component:Default/Payments-API", SERVICE, 1))
    got = any_store.get("COMPONENT:default/payments-api", SERVICE)
    assert got is not None and got.data == 1
    assert got.entity_ref == "component:Default/Payments-API"
    assert [f.data for f in any_store.facts(entity_ref="Component:DEFAULT/PAYMENTS-API")] == [1]
    assert list(any_store.load_all()) == [("component:default/payments-api", SERVICE)]
    # A differently-cased ref is the same key: it overwrites (and the new spelling is kept).
    any_store.put(fact("component:default/payments-api", SERVICE, 2))
    assert [(f.entity_ref, f.data) for f in any_store.facts()] == [("component:default/payments-api", 2)]


def test_put_replaces_the_whole_fact(any_store: FactStore) -> None:
    any_store.put(fact("component:default/x", SERVICE, {"a": 1, "b": 2}, expires=T0 + timedelta(hours=1)))
    newer = fact("component:default/x", SERVICE, {"a": 3}, ts=T0 + timedelta(minutes=5))
    any_store.put(newer)
    assert any_store.get("component:default/x", SERVICE) == newer
    assert len(list(any_store.facts())) == 1


def test_names_with_slashes_are_distinct_facts(any_store: FactStore) -> None:
    any_store.put(fact("component:default/x", TRACK, {"highestLevel": {"ordinal": 1}}))
    any_store.put(fact("component:default/x", FactRef.parse("soundcheck:default/track"), "other"))
    assert any_store.get("component:default/x", TRACK).data == {"highestLevel": {"ordinal": 1}}
    assert any_store.get("component:default/x", FactRef.parse("soundcheck:default/track")).data == "other"
    assert [f.data for f in any_store.facts(fact_ref=TRACK)] == [{"highestLevel": {"ordinal": 1}}]


def test_facts_filters(any_store: FactStore) -> None:
    seed(any_store)
    assert sorted(f.data for f in any_store.facts()) == ["a-repo", "a-service", "ab-service", "api-a-service", "b-repo"]
    assert sorted(f.data for f in any_store.facts(entity_ref="component:default/a")) == ["a-repo", "a-service"]
    assert sorted(f.data for f in any_store.facts(fact_ref=SERVICE)) == ["a-service", "ab-service", "api-a-service"]
    assert [f.data for f in any_store.facts(entity_ref="component:default/a", fact_ref=REPO)] == ["a-repo"]
    assert list(any_store.facts(entity_ref="component:default/b", fact_ref=SERVICE)) == []
    assert list(any_store.facts(entity_ref="component:default/none")) == []
    # A fact ref that is a prefix/suffix of another one does not match it.
    assert list(any_store.facts(fact_ref=FactRef.parse("pagerduty:default/vice"))) == []
    # Entity filters with LIKE/glob characters match literally.
    assert list(any_store.facts(entity_ref="component:default/%")) == []
    assert list(any_store.facts(entity_ref="component:default/_")) == []


def test_load_all_keys_by_entity_key_and_fact_ref(any_store: FactStore) -> None:
    assert any_store.load_all() == {}
    seed(any_store)
    everything = any_store.load_all()
    assert len(everything) == 5
    assert everything[("component:default/ab", SERVICE)].data == "ab-service"
    assert everything[("api:default/a", SERVICE)].data == "api-a-service"
    assert all(isinstance(ref, FactRef) for _, ref in everything)
    # Same result as the interface's generic definition.
    assert everything == FactStore.load_all(any_store)


def test_put_many_returns_count_and_is_all_or_nothing(any_store: FactStore) -> None:
    assert any_store.put_many(fact(f"component:default/e{i}", SERVICE, i) for i in range(50)) == 50
    assert any_store.put_many([]) == 0
    assert len(any_store.load_all()) == 50
    bad = [fact("component:default/new", SERVICE, 1), fact("component:default/e1", SERVICE, "changed"),
           fact("component:default/bad", SERVICE, {1, 2})]
    with pytest.raises(StoreError, match="not JSON"):
        any_store.put_many(bad)
    assert any_store.get("component:default/new", SERVICE) is None
    assert any_store.get("component:default/e1", SERVICE).data == 1
    with pytest.raises(StoreError, match="control character"):
        any_store.put_many([fact("component:default/new", SERVICE, 1), fact("component:default/a\nb", SERVICE, 1)])
    assert any_store.get("component:default/new", SERVICE) is None
    assert len(any_store.load_all()) == 50


def test_put_many_with_one_key_twice_keeps_the_last(any_store: FactStore) -> None:
    assert any_store.put_many([fact("component:default/x", SERVICE, 1), fact("Component:Default/X", SERVICE, 2)]) == 2
    assert [(f.entity_ref, f.data) for f in any_store.facts()] == [("Component:Default/X", 2)]


def test_a_failed_put_keeps_the_earlier_fact(any_store: FactStore) -> None:
    good = fact("component:default/x", SERVICE, "old")
    any_store.put(good)
    with pytest.raises(StoreError):
        any_store.put(fact("component:default/x", SERVICE, object()))
    assert any_store.get("component:default/x", SERVICE) == good


@pytest.mark.parametrize("entity", ["component:default/a\x1fb", "component:default/a\x00b", "x\x7f"])
def test_control_characters_in_refs_are_refused(any_store: FactStore, entity: str) -> None:
    with pytest.raises(StoreError, match="control character"):
        any_store.put(fact(entity, SERVICE, 1))
    with pytest.raises(StoreError, match="control character"):
        any_store.put(fact("component:default/a", FactRef("pagerduty", "default", "ser\x01vice"), 1))
    assert list(any_store.facts()) == []


def test_expiry_is_data_not_deletion(any_store: FactStore) -> None:
    past = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    expired = fact("component:default/x", SERVICE, "stale", ts=past - timedelta(hours=2), expires=past)
    any_store.put(expired)
    got = any_store.get("component:default/x", SERVICE)
    assert got == expired
    assert got.is_expired()
    assert any_store.load_all()[("component:default/x", SERVICE)].expires_at == past
    assert [f.expires_at for f in any_store.facts(fact_ref=SERVICE)] == [past]


def test_delete_by_entity_by_fact_ref_and_all(any_store: FactStore) -> None:
    seed(any_store)
    any_store.set_meta("etag:x", "W/1")
    assert any_store.delete(entity_ref="Component:Default/A") == 2
    assert any_store.delete(entity_ref="component:default/a") == 0
    assert any_store.delete(fact_ref=SERVICE) == 2
    assert [f.data for f in any_store.facts()] == ["b-repo"]
    seed(any_store)
    assert any_store.delete(entity_ref="component:default/b", fact_ref=SERVICE) == 0
    assert any_store.delete(entity_ref="component:default/b", fact_ref=REPO) == 1
    assert any_store.delete() == 4  # "facts clear": every fact...
    assert any_store.delete() == 0
    assert list(any_store.facts()) == [] and any_store.load_all() == {}
    assert any_store.get_meta("etag:x") == "W/1"  # ...but not the runtime's meta data


def test_another_instance_sees_the_writes(any_store_factory) -> None:
    first, second = any_store_factory(), any_store_factory()
    f = fact("component:default/x", TRACK, {"levels": []}, expires=T0 + timedelta(days=1))
    first.put(f)
    first.set_meta("last-run", "2026-01-05")
    first.close()
    assert second.get("component:default/x", TRACK) == f
    assert second.get_meta("last-run") == "2026-01-05"
    third = any_store_factory()
    assert third.load_all() == {("component:default/x", TRACK): f}


# -- meta -------------------------------------------------------------------------------------------------------


def test_meta_round_trips_json_values(any_store: FactStore) -> None:
    assert any_store.get_meta("missing") is None
    assert any_store.get_meta("missing", {"d": 1}) == {"d": 1}
    value = {"etag": 'W/"abc"', "runs": [1, 2], "ok": True, "none": None, "z": 1, "a": "é"}
    any_store.set_meta("etag:pagerduty:service/P123", value)
    got = any_store.get_meta("etag:pagerduty:service/P123")
    assert got == value and list(got) == list(value)
    any_store.set_meta("counter", 0)
    assert any_store.get_meta("counter", 99) == 0
    any_store.set_meta("counter", 1)  # set replaces
    assert any_store.get_meta("counter") == 1
    assert any_store.delete_meta("counter") is True
    assert any_store.delete_meta("counter") is False
    assert any_store.get_meta("counter") is None
    with pytest.raises(StoreError, match="not JSON"):
        any_store.set_meta("bad", object())
    assert any_store.get_meta("bad") is None
    # Meta never shows up as facts, and deleting facts leaves it alone.
    assert list(any_store.facts()) == [] and any_store.load_all() == {}


def test_meta_keys_with_prefix_are_sorted(any_store: FactStore) -> None:
    for key in ["etag:b", "etag:a", "etag:B", "etagx", "history:index", "etag:é", "etag:%", "etag:_"]:
        any_store.set_meta(key, 1)
    assert any_store.meta_keys("etag:") == sorted(["etag:B", "etag:a", "etag:b", "etag:é", "etag:%", "etag:_"])
    assert any_store.meta_keys("etag:%") == ["etag:%"]  # no pattern characters
    assert any_store.meta_keys("nothing") == []
    assert any_store.meta_keys() == sorted(["etag:b", "etag:a", "etag:B", "etagx", "history:index", "etag:é",
                                            "etag:%", "etag:_"])


# -- locks ------------------------------------------------------------------------------------------------------


def test_lock_is_exclusive_between_instances_and_released(any_store_factory) -> None:
    first, second = any_store_factory(), any_store_factory()
    with first.lock("collect:pagerduty", expire_seconds=60) as got:
        assert got is True
        with second.lock("collect:pagerduty", expire_seconds=60) as other:
            assert other is False
        with first.lock("collect:pagerduty", expire_seconds=60) as again_same_instance:
            assert again_same_instance is False  # a claim is not re-entrant
        with second.lock("collect:github", expire_seconds=60) as unrelated:
            assert unrelated is True
    with second.lock("collect:pagerduty", expire_seconds=60) as again:
        assert again is True


def test_claim_many_gets_only_the_free_names_and_releases_them(any_store_factory) -> None:
    first, second = any_store_factory(), any_store_factory()
    with first.claim_many(["fact/a/x", "fact/b/x", "fact/a/x"], expire_seconds=60) as got:
        assert got == {"fact/a/x", "fact/b/x"}
        with second.claim_many(["fact/b/x", "fact/c/x"], expire_seconds=60) as other:
            assert other == {"fact/c/x"}
        with second.lock("fact/a/x", expire_seconds=60) as single:
            assert single is False  # claim_many and lock share one namespace of claims
    with second.claim_many(["fact/a/x", "fact/b/x"], expire_seconds=60) as later:
        assert later == {"fact/a/x", "fact/b/x"}
    with first.claim_many([], expire_seconds=60) as nothing:
        assert nothing == set()


def test_claim_many_releases_when_the_body_raises_and_lapses_after_expiry(any_store_factory) -> None:
    first, second = any_store_factory(), any_store_factory()
    with pytest.raises(RuntimeError):
        with first.claim_many(["n1", "n2"], expire_seconds=60) as got:
            assert got == {"n1", "n2"}
            raise RuntimeError("boom")
    with first.claim_many(["n1"], expire_seconds=0.2) as got:
        assert got == {"n1"}
        time.sleep(0.4)  # the holder "hangs" past its expiry
        with second.claim_many(["n1", "n2"], expire_seconds=60) as taken_over:
            assert taken_over == {"n1", "n2"}


def test_lock_is_released_when_the_body_raises(any_store_factory) -> None:
    first, second = any_store_factory(), any_store_factory()
    with pytest.raises(RuntimeError):
        with first.lock("job", expire_seconds=60) as got:
            assert got
            raise RuntimeError("boom")
    with second.lock("job", expire_seconds=60) as after:
        assert after is True


def test_lock_lapses_after_expiry_and_release_only_frees_own_claim(any_store_factory) -> None:
    first, second = any_store_factory(), any_store_factory()
    with ExitStack() as stack:
        with first.lock("job", expire_seconds=0.2) as got:
            assert got
            time.sleep(0.4)  # the first holder "hangs" past its expiry
            taken_over = stack.enter_context(second.lock("job", expire_seconds=60))
            assert taken_over is True
        # The first holder's exit must not have released the second holder's claim.
        with first.lock("job", expire_seconds=60) as meanwhile:
            assert meanwhile is False
        stack.close()  # second releases
        with first.lock("job", expire_seconds=60) as later:
            assert later is True


HOLDER = """
import sys, time
from soundcheck_cli.facts.locate import open_any
store = open_any(sys.argv[1])
with store.claim_many(["fact/a", "fact/b"], expire_seconds=900) as got, store.lock("history", 900) as locked:
    print(sorted(got), locked, flush=True)
    time.sleep(600)
"""


def test_claims_of_a_process_killed_with_sigkill_are_taken_over_at_once(any_store_factory) -> None:
    """A run killed with ``kill -9`` cannot release its claims; the next one on that host finds its process gone
    and takes them over at once, instead of waiting ``expire_seconds`` (15 minutes for collect's claims)."""
    store = any_store_factory()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, any_store_factory.where], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "['fact/a', 'fact/b'] True"
        with store.claim_many(["fact/a", "fact/c"], expire_seconds=60) as got:
            assert got == {"fact/c"}  # its process is alive: its claims hold
        with store.lock("history", expire_seconds=60) as locked:
            assert locked is False
        holders = store.claim_holders(["fact/a", "fact/b", "history", "fact/c"])
        assert set(holders) == {"fact/a", "fact/b", "history"}
        assert f" pid {holder.pid} since " in holders["fact/a"]
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        started = time.monotonic()
        assert store.claim_holders(["fact/a", "history"]) == {}
        with store.lock("history", expire_seconds=60) as locked:
            assert locked is True
        with store.claim_many(["fact/a", "fact/b"], expire_seconds=60) as got:
            assert got == {"fact/a", "fact/b"}
        assert time.monotonic() - started < 5
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)


# -- the runtime's users of meta -----------------------------------------------------------------------------------


def test_run_history_works_on_the_store(any_store: FactStore) -> None:
    history = History(any_store)
    assert history.runs() == []
    ids = []
    for n in range(4):
        states = States(checks={("has_owner", "component:default/a"): "pf"[n % 2]},
                        levels={("hygiene", "component:default/a", 1): "p"},
                        refs={"component:default/a": "component:default/A"})
        info = RunInfo(f"20260105T10000{n}.000Z-0", T0 + timedelta(seconds=n), {"tracks": ["hygiene"]},
                       {"passed": 1}, 1)
        history.add(info, states, {("has_owner", "component:default/a"): f"run {n}"}, keep=3)
        history.save_state(states)
        ids.append(info.id)
    assert [r.id for r in history.runs()] == ids[1:]
    assert any_store.meta_keys("history:run:") == sorted("history:run:" + i for i in ids[1:])
    record = history.load(history.runs()[-1])
    assert record.states.checks == {("has_owner", "component:default/a"): "f"}
    assert record.messages == {("has_owner", "component:default/a"): "run 3"}
    assert history.state().checks == {("has_owner", "component:default/a"): "f"}


def test_pending_events_outbox_works_on_the_store(any_store: FactStore) -> None:
    key = "events:pending:webhook:https://hooks.example.com/x"
    assert load_pending(any_store, key) == []
    events = [Event("soundcheck/check-result", {"n": i, "entity": "component:default/é"}) for i in range(300)]
    save_pending(any_store, key, events)
    assert load_pending(any_store, key) == events
    save_pending(any_store, key, events[250:])
    assert load_pending(any_store, key) == events[250:]
    save_pending(any_store, key, [])
    assert load_pending(any_store, key) == []
    assert any_store.meta_keys("events:") == []
