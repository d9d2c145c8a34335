"""The fact store's bulk write/claim/read paths (``DiskFactStore.put_many``/``claim_many``/``get_many``) write and
read the rows diskcache's own ``set``/``add``/``get`` would: the store stays a plain diskcache directory, its count
and size bookkeeping stays right, and values kept in side files are handled as diskcache does. Also: the runner's
store work runs off the event loop on one thread that is gone when the run ends."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import diskcache
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.config.model import CollectorSettings, Settings
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import _LOCK, DiskFactStore, fact_key, open_store

SERVICE = FactRef("pagerduty", "default", "service")
REPO = FactRef("github", "default", "repo_details")
T0 = datetime(2026, 11, 25, 18, 20, 29, 123000, tzinfo=timezone.utc)
BIG = 40_000  # above diskcache's disk_min_file_size (32 KiB): the record goes to a side file


def _rows(directory: str) -> list[tuple[Any, ...]]:
    """Every Cache row without the times (which differ between two writes), and the count/size settings."""
    cache = diskcache.Cache(directory, eviction_policy="none")
    try:
        rows = cache._sql(
            "SELECT key, raw, expire_time IS NULL, access_count, tag, size, mode, filename IS NULL, value"
            " FROM Cache ORDER BY key"
        ).fetchall()
        settings_rows = cache._sql("SELECT key, value FROM Settings WHERE key IN ('count', 'size') ORDER BY key").fetchall()
        real = cache._sql("SELECT count(*), coalesce(sum(size), 0) FROM Cache").fetchone()
        return [*rows, *settings_rows, ("real", *real)]
    finally:
        cache.close()


def _side_files(directory: str) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _, names in os.walk(directory)
        for name in names
        if name.endswith(".val")
    )


def _fact(i: int, value: object, ts: datetime = T0, entity: str | None = None, ref: FactRef = SERVICE) -> Fact:
    return Fact(ref, entity or f"component:default/e{i}", value, ts)


batches = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 6),
            st.sampled_from([SERVICE, REPO]),
            st.one_of(st.integers(), st.text(max_size=20), st.just("x" * BIG)),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches)
def test_put_many_writes_what_diskcache_set_writes(tmp_path_factory: Any, plan: list[list[tuple[int, FactRef, object, bool]]]) -> None:
    """Random batches (overwrites, a key twice in one batch, small <-> side-file values): the bulk path leaves the
    same rows, count, size and side files as one diskcache ``set`` per fact, and reads back the same facts."""
    base = tmp_path_factory.mktemp("stores")
    fast_dir, slow_dir = str(base / "fast"), str(base / "slow")
    with open_store(fast_dir) as fast, open_store(slow_dir) as slow:
        assert isinstance(fast, DiskFactStore) and isinstance(slow, DiskFactStore)
        for batch in plan:
            facts = [_fact(i, value, entity=f"{'Component' if upper else 'component'}:default/e{i}", ref=ref)
                     for i, ref, value, upper in batch]
            assert fast.put_many(facts) == len(facts)
            with slow._cache.transact():
                for f in facts:
                    slow._cache.set(*slow._encode(f))
        assert fast.load_all() == slow.load_all()
        pairs = [(f"component:default/e{i}", ref) for i in range(7) for ref in (SERVICE, REPO)]
        assert fast.get_many(pairs) == slow.get_many(pairs) == {
            (e, r): f for (e, r), f in slow.load_all().items()
        }
    assert _rows(fast_dir) == _rows(slow_dir)
    assert len(_side_files(fast_dir)) == len(_side_files(slow_dir))


def test_put_many_over_a_side_file_value_removes_the_file(tmp_path: Any) -> None:
    with open_store(str(tmp_path / "s")) as store:
        store.put_many([_fact(1, "x" * BIG), _fact(2, "y")])
        assert len(_side_files(str(tmp_path / "s"))) == 1
        store.put_many([_fact(1, "small"), _fact(2, "z")])
        assert _side_files(str(tmp_path / "s")) == []
        assert store.get("component:default/e1", SERVICE).data == "small"  # type: ignore[union-attr]
    with diskcache.Cache(str(tmp_path / "s")) as cache:  # still diskcache's own format
        assert len(cache) == 3  # two facts and the format key
        assert '"small"' in cache.get(fact_key("component:default/e1", SERVICE))


def test_get_many_reads_more_keys_than_one_query_holds(tmp_path: Any) -> None:
    with open_store(str(tmp_path / "s")) as store:
        store.put_many(_fact(i, i) for i in range(1200))
        found = store.get_many([(f"COMPONENT:default/E{i}", SERVICE) for i in range(0, 1300)])
        assert len(found) == 1200
        assert found[("component:default/e1199", SERVICE)].data == 1199
        assert ("component:default/e1200", SERVICE) not in found


def test_claim_many_rows_are_diskcache_add_rows_and_lapsed_claims_are_taken_over(tmp_path: Any) -> None:
    directory = str(tmp_path / "s")
    names = [f"fact/component:default/e{i}/{SERVICE}" for i in range(700)]  # more than one query's worth
    with open_store(directory) as first, open_store(directory) as second:
        with first.claim_many(names, expire_seconds=60) as got:
            assert got == set(names)
            with diskcache.Cache(directory) as cache:
                token, expire_time = cache.get(_LOCK + names[0], expire_time=True)
                assert token.startswith(f"{os.getpid()}:") and expire_time > time.time() + 50
                assert not cache.add(_LOCK + names[1], "other")  # diskcache sees the claim as taken
            with second.claim_many(names[:3] + ["free"], expire_seconds=60) as other:
                assert other == {"free"}
        with diskcache.Cache(directory) as cache:
            assert [k for k in cache.iterkeys() if str(k).startswith(_LOCK)] == []  # all released
            assert cache.add(_LOCK + "lapsed", "dead-run", expire=0.05)
            assert cache.add(_LOCK + "held", "live-run", expire=60)
        time.sleep(0.1)
        with first.claim_many(["lapsed", "held"], expire_seconds=60) as got:
            assert got == {"lapsed"}
        with diskcache.Cache(directory) as cache:
            assert cache.get(_LOCK + "held") == "live-run"  # not ours: never released by us
            assert cache.get(_LOCK + "lapsed") is None
            assert _rows(directory)[-1][1] == len(cache)  # count bookkeeping matches the table


def test_first_holder_leaving_after_a_takeover_keeps_the_new_claim(tmp_path: Any) -> None:
    directory = str(tmp_path / "s")
    with open_store(directory) as first, open_store(directory) as second:
        manager = first.claim_many(["n"], expire_seconds=0.05)
        assert manager.__enter__() == {"n"}
        time.sleep(0.1)
        with second.claim_many(["n"], expire_seconds=60) as taken:
            assert taken == {"n"}
            manager.__exit__(None, None, None)
            with diskcache.Cache(directory) as cache:
                assert cache.get(_LOCK + "n", "").startswith(f"{os.getpid()}:")  # still second's
            with first.claim_many(["n"], expire_seconds=60) as again:
                assert again == set()


def _entities(n: int) -> list[Entity]:
    return [
        Entity.from_data(
            {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
             "metadata": {"name": f"svc-{i}", "annotations": {"pagerduty.com/service-id": f"P{i:04d}"}}}
        )
        for i in range(n)
    ]


def test_store_work_runs_off_the_event_loop_on_one_thread_that_ends_with_the_run(tmp_path: Any) -> None:
    block = {"token": "t", "server": "http://pd.test", "concurrency": 4, "batchSize": 3,
             "frequency": {"hours": 1}, "collects": [{"type": "Service"}]}
    config = Settings(files=(), collectors=(CollectorSettings("pagerduty", block),),
                      app_config={"soundcheck": {"collectors": {"pagerduty": block}}})

    def handler(request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={"service": {"id": sid, "status": "active"}})

    threads: dict[str, set[str]] = {}

    class Recording(DiskFactStore):
        def _note(self, what: str) -> None:
            threads.setdefault(what, set()).add(threading.current_thread().name)

        def put_many(self, facts: Any) -> int:
            self._note("put_many")
            return super().put_many(facts)

        def get_many(self, pairs: Any) -> Any:
            self._note("get_many")
            return super().get_many(pairs)

    store = Recording(str(tmp_path / "s"))
    try:
        summary = run_collection(config, _entities(10), store, collector_ids=["pagerduty"],
                                 http=HttpOptions(transport=httpx.MockTransport(handler)))
        assert summary.collector("pagerduty").collected == 10
        assert len(store.load_all()) == 10
        used = threads["put_many"] | threads["get_many"]
        assert len(used) == 1 and threading.main_thread().name not in used
        assert not [t for t in threading.enumerate() if t.name in used and t.is_alive()]
        # the facts carry the collection time, as ``Fact`` built the ordinary way would
        fact = store.get("component:default/svc-3", SERVICE)
        assert fact == Fact(SERVICE, "component:default/svc-3", {"id": "P0003", "status": "active"}, fact.timestamp)  # type: ignore[union-attr]
        assert fact.expires_at is None and abs(fact.timestamp - datetime.now(timezone.utc)) < timedelta(minutes=5)  # type: ignore[union-attr]
    finally:
        store.close()
