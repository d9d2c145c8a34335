"""The folder store's bulk paths and claims: ``get_many`` past one query's parameters, ``claim_many`` (leases in its
own table, taken over once lapsed, or at once when their process was killed), and the runner's store work, which
runs off the event loop on one thread that is gone when the run ends."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.config.model import CollectorSettings, Settings
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import DB_NAME, HOST, DiskFactStore, open_store

SERVICE = FactRef("pagerduty", "default", "service")
REPO = FactRef("github", "default", "repo_details")
T0 = datetime(2026, 11, 25, 18, 20, 29, 123000, tzinfo=timezone.utc)


def _fact(i: int, value: object, ts: datetime = T0, entity: str | None = None, ref: FactRef = SERVICE) -> Fact:
    return Fact(ref, entity or f"component:default/e{i}", value, ts)


def _leases(directory: str) -> dict[str, tuple[Any, ...]]:
    con = sqlite3.connect(os.path.join(directory, DB_NAME))
    try:
        return {name: rest for name, *rest in con.execute("SELECT name, token, host, pid, expires_at FROM leases")}
    finally:
        con.close()


def test_put_many_of_a_key_twice_and_of_big_values_keeps_the_last(tmp_path: Any) -> None:
    with open_store(str(tmp_path / "s")) as store:
        store.put_many([_fact(1, "x" * 100_000), _fact(2, "y"), _fact(1, "second")])
        store.put_many([_fact(2, "z" * 100_000)])
        assert store.get("component:default/e1", SERVICE).data == "second"  # type: ignore[union-attr]
        assert store.get("component:default/e2", SERVICE).data == "z" * 100_000  # type: ignore[union-attr]
        assert len(store.load_all()) == 2


def test_get_many_reads_more_keys_than_one_query_holds(tmp_path: Any) -> None:
    with open_store(str(tmp_path / "s")) as store:
        store.put_many(_fact(i, i) for i in range(1200))
        found = store.get_many([(f"COMPONENT:default/E{i}", SERVICE) for i in range(0, 1300)])
        assert len(found) == 1200
        assert found[("component:default/e1199", SERVICE)].data == 1199
        assert ("component:default/e1200", SERVICE) not in found


def test_claim_many_records_the_owner_and_lapsed_claims_are_taken_over(tmp_path: Any) -> None:
    directory = str(tmp_path / "s")
    names = [f"fact/component:default/e{i}/{SERVICE}" for i in range(700)]  # more than one query's worth
    with open_store(directory) as first, open_store(directory) as second:
        with first.claim_many(names, expire_seconds=60) as got:
            assert got == set(names)
            token, host, pid, expires = _leases(directory)[names[0]]
            assert (host, pid) == (HOST, os.getpid()) and token.startswith(f"{HOST}:{os.getpid()}:")
            assert expires > time.time() + 50
            with second.claim_many(names[:3] + ["free"], expire_seconds=60) as other:
                assert other == {"free"}
                assert set(second.claim_holders(names[:2] + ["nobody"])) == set(names[:2])
                assert f"{HOST.split('/')[0]} pid {os.getpid()} since " in second.claim_holders(names[:1])[names[0]]
        assert _leases(directory) == {}  # all released
        with first.claim_many(["lapsed"], expire_seconds=0.05), second.claim_many(["held"], expire_seconds=60):
            time.sleep(0.1)
            with second.claim_many(["lapsed", "held"], expire_seconds=60) as got:
                assert got == {"lapsed"}
        assert _leases(directory) == {}


def test_first_holder_leaving_after_a_takeover_keeps_the_new_claim(tmp_path: Any) -> None:
    directory = str(tmp_path / "s")
    with open_store(directory) as first, open_store(directory) as second:
        manager = first.claim_many(["n"], expire_seconds=0.05)
        assert manager.__enter__() == {"n"}
        time.sleep(0.1)
        with second.claim_many(["n"], expire_seconds=60) as taken:
            assert taken == {"n"}
            manager.__exit__(None, None, None)
            assert "n" in _leases(directory)  # still second's
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

        def get_many(self, pairs: Any, **options: Any) -> Any:
            self._note("get_many")
            return super().get_many(pairs, **options)

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


def test_a_run_waiting_for_another_runs_claims_says_whose_they_are(tmp_path: Any, monkeypatch: Any) -> None:
    """Every fact is claimed by another run (another store instance: another token) for a while: this run says
    whose claims it waits for (host, pid, since when), then collects everything once they are released."""
    from soundcheck_cli.collectors import runner
    from soundcheck_cli.collectors.progress import NullListener

    monkeypatch.setattr(runner, "WAIT_SAY_SECONDS", 0.3)
    block = {"token": "t", "server": "http://pd.test", "concurrency": 2, "batchSize": 5,
             "frequency": {"hours": 1}, "collects": [{"type": "Service"}]}
    config = Settings(files=(), collectors=(CollectorSettings("pagerduty", block),),
                      app_config={"soundcheck": {"collectors": {"pagerduty": block}}})

    def handler(request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={"service": {"id": sid, "status": "active"}})

    messages: list[tuple[str, str]] = []

    class Recording(NullListener):
        def on_message(self, level: str, text: str) -> None:
            messages.append((level, text))

    directory = str(tmp_path / "s")
    with open_store(directory) as other, open_store(directory) as store:
        names = [f"fact/component:default/svc-{i}/{SERVICE}" for i in range(10)]
        holding = other.claim_many(names, expire_seconds=60)
        assert holding.__enter__() == set(names)
        release = threading.Timer(1.5, holding.__exit__, (None, None, None))
        release.start()
        try:
            started = time.monotonic()
            summary = run_collection(config, _entities(10), store, collector_ids=["pagerduty"], listener=Recording(),
                                     http=HttpOptions(transport=httpx.MockTransport(handler)))
        finally:
            release.join()
        assert time.monotonic() - started >= 1.4
        assert summary.collector("pagerduty").collected == 10
        waits = [text for level, text in messages if "waiting for" in text]
        assert waits, messages
        host = HOST.split("/")[0]
        assert waits[0].startswith(f"collect pagerduty: waiting for ") and "facts claimed by another run" in waits[0]
        assert f"({host} pid {os.getpid()} since " in waits[0]
