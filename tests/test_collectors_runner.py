"""Tests of ``collectors.runner``: due/fresh, ``--force``/``--refresh``, cache expiry, failure isolation (the old
fact is kept), batchSize, the concurrency bound, interruption (cancellation and a real SIGINT), overlapping runs on
one store, unknown/not-installed collectors, the missing-token warning, progress events and secret redaction."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from typing import Any

import httpx
import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectionConfig, FactCollector
from soundcheck_cli.http.client import HttpOptions
from soundcheck_cli.collectors.outcomes import CollectorStatus, OutcomeKind
from soundcheck_cli.collectors.progress import LoggingListener
from soundcheck_cli.collectors.registry import Plugin, Registry, find_plugins
from soundcheck_cli.collectors.runner import collect_async, run_collection
from soundcheck_cli.config.model import CollectorSettings, Settings
from soundcheck_cli.errors import ConfigError, Problems, UsageError
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.facts.store import open_store

TOKEN = "pd-SECRET-token-42"
SERVICE = FactRef("pagerduty", "default", "service")
STANDARDS = FactRef("pagerduty", "default", "standards")


def entities(n: int, annotated: bool = True) -> list[Entity]:
    out = []
    for i in range(n):
        annotations = {"pagerduty.com/service-id": f"P{i:04d}"} if annotated else {}
        out.append(
            Entity.from_data(
                {
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "Component",
                    "metadata": {"name": f"svc-{i}", "annotations": annotations},
                    "spec": {"lifecycle": "production"},
                }
            )
        )
    return out


def settings_for(**collectors: Any) -> Settings:
    return Settings(
        files=(),
        collectors=tuple(CollectorSettings(cid, cfg) for cid, cfg in collectors.items()),
        app_config={"soundcheck": {"collectors": collectors}},
    )


def pd_config(**extra: Any) -> dict[str, Any]:
    return {"token": TOKEN, "frequency": {"hours": 1}, "collects": [{"type": "Service"}], **extra}


class FakeApi:
    """A PagerDuty-like API: ``fail`` maps a service id to a status; counts requests per service id."""

    def __init__(self, fail: dict[str, int] | None = None, delay: float = 0.0, echo_token: bool = False) -> None:
        self.fail = fail or {}
        self.delay = delay
        self.echo_token = echo_token
        self.requests: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[1]
        self.requests.append(sid)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        status = self.fail.get(sid)
        if status:
            message = f"bad token {request.headers['Authorization']}" if self.echo_token else "boom"
            return httpx.Response(status, json={"error": {"message": message}})
        if request.url.path.startswith("/standards"):
            return httpx.Response(200, json={"resource_id": sid, "score": {"passing": 1, "total": 1}, "standards": []})
        return httpx.Response(200, json={"service": {"id": sid, "name": sid, "status": "active"}})


def http_options(api: FakeApi) -> HttpOptions:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    return HttpOptions(transport=httpx.MockTransport(api), sleep=no_sleep)


class Events:
    """A listener that records everything."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}
        self.advanced: dict[str, int] = {}
        self.messages: list[tuple[str, str]] = []
        self.done: list[Any] = []

    def on_collector_start(self, collector_id, total):
        self.started[collector_id] = total

    def on_advance(self, collector_id, n=1):
        self.advanced[collector_id] = self.advanced.get(collector_id, 0) + n

    def on_message(self, level, text):
        self.messages.append((level, text))

    def on_collector_done(self, summary):
        self.done.append(summary)


@pytest.fixture
def store(tmp_path):
    with open_store(str(tmp_path / "store")) as s:
        yield s


# -- due / fresh / force / refresh -------------------------------------------------------------------------------


def test_first_run_collects_second_run_is_fresh_and_makes_no_request(store):
    api = FakeApi()
    ents = entities(5)
    s = settings_for(pagerduty=pd_config())
    first = run_collection(s, ents, store, http=http_options(api))
    pd = first.collector("pagerduty")
    assert (pd.collected, pd.fresh, pd.failed, pd.requests) == (5, 0, 0, 5)
    assert first.ok
    fact = store.get("component:default/svc-3", SERVICE)
    assert fact.data == {"id": "P0003", "name": "P0003", "status": "active"}
    second = run_collection(s, ents, store, http=http_options(api))
    pd = second.collector("pagerduty")
    assert (pd.collected, pd.fresh, pd.requests) == (0, 5, 0)
    assert len(api.requests) == 5


def test_fact_is_due_again_after_its_frequency(store):
    api = FakeApi()
    ents = entities(2)
    s = settings_for(pagerduty=pd_config(frequency={"minutes": 10}))
    run_collection(s, ents, store, http=http_options(api))
    later = utcnow() + timedelta(minutes=11)
    summary = run_collection(s, ents, store, http=http_options(api), now=lambda: later)
    assert summary.collector("pagerduty").collected == 2 and len(api.requests) == 4


def test_cron_frequency_due_logic_in_a_run(store):
    api = FakeApi()
    ents = entities(1)
    s = settings_for(pagerduty=pd_config(frequency={"cron": "0 0 * * *"}))  # daily at midnight UTC
    run_collection(s, ents, store, http=http_options(api))
    assert run_collection(s, ents, store, http=http_options(api)).collector("pagerduty").fresh == 1
    tomorrow = utcnow() + timedelta(days=1, minutes=1)
    assert run_collection(s, ents, store, http=http_options(api), now=lambda: tomorrow).collector("pagerduty").collected == 1


def test_force_recollects_everything(store):
    api = FakeApi()
    ents = entities(3)
    s = settings_for(pagerduty=pd_config())
    run_collection(s, ents, store, http=http_options(api))
    summary = run_collection(s, ents, store, http=http_options(api), force=True)
    assert summary.collector("pagerduty").collected == 3 and len(api.requests) == 6


def test_refresh_recollects_only_that_fact(store):
    api = FakeApi()
    ents = entities(2)
    s = settings_for(pagerduty=pd_config(collects=[{"type": "Service"}, {"type": "Standards"}]))
    run_collection(s, ents, store, http=http_options(api))
    assert len(api.requests) == 4
    summary = run_collection(s, ents, store, http=http_options(api), refresh=["pagerduty:default/standards"])
    pd = summary.collector("pagerduty")
    assert (pd.collected, pd.fresh) == (2, 2)
    assert len(api.requests) == 6


def test_unknown_refresh_fact_is_a_usage_error(store):
    s = settings_for(pagerduty=pd_config())
    with pytest.raises(UsageError, match="pagerduty:default/nope"):
        run_collection(s, entities(1), store, http=http_options(FakeApi()), refresh=["pagerduty:default/nope"])


def test_cache_duration_sets_expiry_and_cache_false_does_not(store):
    api = FakeApi()
    ents = entities(1)
    s = settings_for(
        pagerduty=pd_config(
            cache={"duration": {"hours": 2}},
            collects=[{"type": "Service"}, {"type": "Standards", "cache": False}],
        )
    )
    before = utcnow()
    run_collection(s, ents, store, http=http_options(api))
    service = store.get("component:default/svc-0", SERVICE)
    standards = store.get("component:default/svc-0", STANDARDS)
    assert service.expires_at == service.timestamp + timedelta(hours=2)
    assert service.expires_at >= before + timedelta(hours=2)
    assert standards.expires_at is None
    # An expired fact is due whatever the frequency says.
    later = utcnow() + timedelta(hours=2, seconds=1)
    summary = run_collection(s, ents, store, http=http_options(api), now=lambda: later)
    assert summary.collector("pagerduty").collected == 2


# -- failures ----------------------------------------------------------------------------------------------------


def test_hard_failure_keeps_the_old_fact(store):
    ents = entities(3)
    s = settings_for(pagerduty=pd_config())
    run_collection(s, ents, store, http=http_options(FakeApi()))
    old = store.get("component:default/svc-1", SERVICE)
    broken = FakeApi(fail={"P0001": 500})
    summary = run_collection(s, ents, store, http=http_options(broken), force=True)
    pd = summary.collector("pagerduty")
    assert (pd.collected, pd.failed) == (2, 1) and not summary.ok
    assert store.get("component:default/svc-1", SERVICE) == old  # untouched, same timestamp
    assert broken.requests.count("P0001") == 5  # retried up to maxAttempts
    [detail] = [d for d in pd.details if d.kind is OutcomeKind.FAILED]
    assert detail.entity_ref == "component:default/svc-1" and "HTTP 500" in detail.reason
    assert "failed: " in summary.render() and "component:default/svc-1" in summary.render()


def test_404_is_stored_as_absent_and_is_not_a_failure(store):
    api = FakeApi(fail={"P0000": 404})
    summary = run_collection(settings_for(pagerduty=pd_config()), entities(2), store, http=http_options(api))
    pd = summary.collector("pagerduty")
    assert (pd.collected, pd.absent, pd.failed) == (1, 1, 0) and summary.ok
    absent = store.get("component:default/svc-0", SERVICE)
    assert absent is not None and absent.data is None
    assert ("absent: PagerDuty has no service '…' (HTTP 404: boom) (1 fact) "
            "[component:default/svc-0 (PagerDuty has no service 'P0000' (HTTP 404: boom))]") in summary.render()


class Exploding(FactCollector):
    id = "exploding"

    async def collect(self, entities, fact_refs=None, refresh=None):
        raise RuntimeError("plugin bug")

    def fact_names(self):
        return ["exploding:default/x"]

    def collection_configs(self):
        return [CollectionConfig(fact_refs=(FactRef.parse("exploding:default/x"),))]


class Recording(FactCollector):
    """A plain (non-HTTP) plugin: records the batches it is given; ``delay`` per batch."""

    id = "rec"
    batch_size: int | None = 3
    delay = 0.0
    interrupt_at = 0  # send ourselves SIGINT (Ctrl-C) when this batch starts
    batches: list[list[str]] = []

    async def collect(self, entities, fact_refs=None, refresh=None):
        Recording.batches.append([e.name for e in entities])
        if len(Recording.batches) == Recording.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        if Recording.delay:
            await asyncio.sleep(Recording.delay)
        return [Fact(FactRef.parse("rec:default/x"), str(e.ref), {"n": e.name}) for e in entities]

    def fact_names(self):
        return ["rec:default/x"]

    def collection_configs(self):
        return [CollectionConfig(fact_refs=(FactRef.parse("rec:default/x"),), batch_size=Recording.batch_size)]


def registry_with(*classes: type[FactCollector]) -> Registry:
    plugins = find_plugins(Problems(), entry_points=[])
    for cls in classes:
        plugins[cls.id] = Plugin(cls.id, f"tests:{cls.__name__}", "tests", load=lambda cls=cls: cls)
    return Registry(plugins)


def test_one_collector_failing_does_not_stop_the_others(store):
    s = settings_for(exploding={}, pagerduty=pd_config())
    summary = run_collection(s, entities(2), store, registry=registry_with(Exploding), http=http_options(FakeApi()))
    assert summary.collector("pagerduty").collected == 2
    boom = summary.collector("exploding")
    assert boom.failed == 2 and "RuntimeError: plugin bug" in boom.details[0].reason
    assert not summary.ok


def test_batch_size_is_honoured(store):
    Recording.batches = []
    Recording.batch_size = 3
    summary = run_collection(settings_for(rec={}), entities(8), store, registry=registry_with(Recording))
    assert summary.collector("rec").collected == 8
    assert sorted(len(b) for b in Recording.batches) == [2, 3, 3]
    assert sorted(n for b in Recording.batches for n in b) == sorted(f"svc-{i}" for i in range(8))


def test_batch_size_from_config_for_http_collectors(store):
    api = FakeApi()
    s = settings_for(pagerduty=pd_config(batchSize=4))
    events = Events()
    run_collection(s, entities(10), store, http=http_options(api), listener=events)
    assert events.started["pagerduty"] == 10 and events.advanced["pagerduty"] == 10
    # 3 chunks (4 + 4 + 2): facts are written per chunk, visible as soon as each chunk is done.
    assert len(list(store.facts(fact_ref=SERVICE))) == 10


def test_concurrency_bound_is_respected(store):
    api = FakeApi(delay=0.01)
    s = settings_for(pagerduty=pd_config(concurrency=3, batchSize=5))
    summary = run_collection(s, entities(30), store, http=http_options(api))
    assert summary.collector("pagerduty").collected == 30
    assert api.max_in_flight == 3


class SlowOne(FakeApi):
    """``slow`` answers after ``seconds``; every other service at once (a fact stuck in retries, in effect)."""

    def __init__(self, slow: str, seconds: float) -> None:
        super().__init__()
        self.slow, self.seconds = slow, seconds
        self.answered: dict[str, float] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[1]
        if sid == self.slow:
            await asyncio.sleep(self.seconds)
        self.answered[sid] = asyncio.get_running_loop().time()
        return await super().__call__(request)


def test_a_slow_fact_does_not_hold_back_the_other_chunks(store):
    # Issue 18 item 23: a chunk used to wait for its slowest fact while the request slots idled, so a run under
    # faults took ~190x longer. Facts now stream: while svc-0 (first chunk) is slow, every other chunk is
    # claimed, collected and written, and svc-0's chunk-mates are written without waiting for it.
    api = SlowOne("P0000", 0.6)
    seen: list[int] = []

    class Watch(Events):
        def on_advance(self, collector_id, n=1):
            super().on_advance(collector_id, n)
            seen.append(len(list(store.facts(fact_ref=SERVICE))))

    s = settings_for(pagerduty=pd_config(concurrency=2, batchSize=5))
    summary = run_collection(s, entities(40), store, http=http_options(api), listener=Watch())
    assert summary.collector("pagerduty").collected == 40
    last_others = max(t for sid, t in api.answered.items() if sid != "P0000")
    assert last_others < api.answered["P0000"]  # the 39 others were all answered while svc-0 was slow
    assert 39 in seen  # ... and written before it came back


# -- interruption ------------------------------------------------------------------------------------------------


def test_cancellation_keeps_the_facts_already_collected(store):
    api = FakeApi(delay=0.02)
    s = settings_for(pagerduty=pd_config(concurrency=2, batchSize=2))
    ents = entities(40)

    async def go():
        task = asyncio.ensure_future(collect_async(s, ents, store, http=http_options(api)))
        while len(list(store.facts(fact_ref=SERVICE))) < 4:
            await asyncio.sleep(0.005)
        task.cancel()
        return await task

    summary = asyncio.run(go())
    saved = len(list(store.facts(fact_ref=SERVICE)))
    pd = summary.collector("pagerduty")
    assert summary.interrupted and not summary.ok
    assert 4 <= saved < 40
    assert pd.collected == saved and pd.not_done == 40 - saved
    assert "interrupted" in summary.render()


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler, reason="SIGINT is handled by the test runner"
)
def test_sigint_stops_cleanly_and_keeps_collected_facts(store):
    Recording.batches = []
    Recording.batch_size = 1
    Recording.delay = 0.02
    Recording.interrupt_at = 30
    try:
        summary = run_collection(settings_for(rec={}), entities(60), store, registry=registry_with(Recording))
    finally:
        Recording.delay = 0.0
        Recording.interrupt_at = 0
    saved = len(list(store.facts(fact_ref=FactRef.parse("rec:default/x"))))
    rec = summary.collector("rec")
    assert summary.interrupted
    assert 0 < saved < 60 and rec.collected == saved and rec.not_done == 60 - saved


SIGTERM_SCRIPT = """
import asyncio, os, signal, sys
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectionConfig, FactCollector
from soundcheck_cli.collectors.registry import Plugin, Registry, find_plugins
from soundcheck_cli.collectors.runner import run_collection
from soundcheck_cli.config.model import CollectorSettings, Settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import open_store

REF = FactRef.parse("slow:default/x")
calls = []

class Slow(FactCollector):
    id = "slow"
    async def collect(self, entities, fact_refs=None, refresh=None):
        calls.append(1)
        if len(calls) == 60:
            os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.02)
        return [Fact(REF, str(e.ref), {}) for e in entities]
    def fact_names(self):
        return [str(REF)]
    def collection_configs(self):
        return [CollectionConfig(fact_refs=(REF,), batch_size=1)]

plugins = find_plugins(Problems(), entry_points=[])
plugins["slow"] = Plugin("slow", "x:Slow", "tests", load=lambda: Slow)
entities = [Entity.from_data({"kind": "Component", "metadata": {"name": f"e{i}"}}) for i in range(100)]
with open_store(sys.argv[1]) as store:
    summary = run_collection(Settings(files=(), collectors=(CollectorSettings("slow", {}),)), entities, store,
                             registry=Registry(plugins), collector_ids=["slow"])
    saved = len(list(store.facts(fact_ref=REF)))
print(summary.interrupted, summary.collector("slow").collected, summary.collector("slow").not_done, saved)
"""


def test_sigterm_stops_cleanly_and_keeps_collected_facts(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path / "store")],
        capture_output=True, text=True, timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    interrupted, collected, not_done, saved = proc.stdout.split()
    assert interrupted == "True"
    assert 0 < int(saved) < 100 and int(collected) == int(saved) and int(not_done) == 100 - int(saved)


# -- overlap -----------------------------------------------------------------------------------------------------


def test_two_overlapping_runs_do_not_redo_each_others_work(tmp_path):
    api = FakeApi(delay=0.01)
    s = settings_for(pagerduty=pd_config(concurrency=4, batchSize=5))
    ents = entities(40)
    path = str(tmp_path / "store")

    async def go():
        with open_store(path) as one, open_store(path) as two:  # two handles, as two processes would have
            a = asyncio.ensure_future(collect_async(s, ents, one, http=http_options(api), claim_poll=0.01))
            await asyncio.sleep(0.03)
            b = asyncio.ensure_future(collect_async(s, ents, two, http=http_options(api), claim_poll=0.01))
            return await a, await b

    first, second = asyncio.run(go())
    assert sorted(api.requests) == sorted(f"P{i:04d}" for i in range(40))  # each service asked exactly once
    p1, p2 = first.collector("pagerduty"), second.collector("pagerduty")
    assert p1.collected + p2.collected == 40
    assert p2.fresh == 40 - p2.collected
    with open_store(path) as check:
        assert len(list(check.facts(fact_ref=SERVICE))) == 40


def test_overlapping_runs_chunked_differently_still_fetch_each_fact_once(tmp_path):
    # Claims are per (entity, fact), not per chunk: a run cut into batches of 3 and one cut into batches of 7 (or a
    # full run and a shard run, or two hosts with slightly different catalogs) never fetch the same fact twice.
    api = FakeApi(delay=0.01)
    ents = entities(40)
    path = str(tmp_path / "store")

    async def go():
        with open_store(path) as one, open_store(path) as two:
            a = asyncio.ensure_future(collect_async(settings_for(pagerduty=pd_config(concurrency=4, batchSize=3)),
                                                    ents, one, http=http_options(api), claim_poll=0.01))
            await asyncio.sleep(0.03)
            b = asyncio.ensure_future(collect_async(settings_for(pagerduty=pd_config(concurrency=4, batchSize=7)),
                                                    list(reversed(ents)), two, http=http_options(api),
                                                    claim_poll=0.01))
            return await a, await b

    first, second = asyncio.run(go())
    assert sorted(api.requests) == sorted(f"P{i:04d}" for i in range(40))  # each service asked exactly once
    p1, p2 = first.collector("pagerduty"), second.collector("pagerduty")
    assert p1.collected + p2.collected == 40 and p1.collected > 0 and p2.collected > 0
    assert p1.fresh + p2.fresh == 40


# -- collectors that cannot run ----------------------------------------------------------------------------------


def test_configured_but_not_installed_is_a_warning(store):
    # (not "jira": that collector is installed now)
    summary = run_collection(settings_for(acme_tracker={"token": "x"}), entities(1), store)
    gh = summary.collector("acme_tracker")
    assert gh.status is CollectorStatus.NOT_INSTALLED and summary.ok
    assert any("acme_tracker is configured but not installed" in w.message for w in summary.warnings)


def test_unknown_collector_option_is_a_usage_error(store):
    with pytest.raises(UsageError, match="unknown collector: nope"):
        run_collection(settings_for(pagerduty=pd_config()), entities(1), store, collector_ids=["nope"])


def test_collector_option_selects_collectors(store):
    Recording.batches = []
    Recording.batch_size = 3
    s = settings_for(rec={}, pagerduty=pd_config())
    api = FakeApi()
    summary = run_collection(s, entities(2), store, registry=registry_with(Recording), http=http_options(api), collector_ids=["rec"])
    assert [c.collector_id for c in summary.collectors] == ["rec"] and api.requests == []


def test_entity_option_restricts_the_run(store):
    api = FakeApi()
    summary = run_collection(
        settings_for(pagerduty=pd_config()), entities(5), store, http=http_options(api), entity_refs=["svc-2"]
    )
    assert summary.collector("pagerduty").collected == 1 and api.requests == ["P0002"]
    with pytest.raises(UsageError):
        run_collection(settings_for(pagerduty=pd_config()), entities(5), store, entity_refs=["missing"])


def test_invalid_collector_config_is_a_config_error_before_any_request(store):
    api = FakeApi()
    s = settings_for(pagerduty={"token": TOKEN, "collects": [{"type": "Service", "frequency": {"cron": "bad"}}]})
    with pytest.raises(ConfigError, match="invalid cron expression"):
        run_collection(s, entities(1), store, http=http_options(api))
    assert api.requests == []


def test_missing_token_fails_the_run_and_collects_nothing(store):
    """Issue 17 item 2: a collector skipped for missing credentials is an error and fails ``collect``."""
    events = Events()
    api = FakeApi()
    s = settings_for(pagerduty={"collects": [{"type": "Service"}]})
    summary = run_collection(s, entities(3), store, http=http_options(api), listener=events)
    pd = summary.collector("pagerduty")
    assert pd.status is CollectorStatus.SKIPPED and not pd.ok and not summary.ok and api.requests == []
    assert summary.warnings == []
    assert [e.message for e in summary.errors] == ["collector pagerduty: no token provided, facts cannot be collected"]
    assert ("error", "collector pagerduty: no token provided, facts cannot be collected") in events.messages
    assert list(store.facts(fact_ref=SERVICE)) == []


def test_catalog_collector_runs_without_configuration(store):
    summary = run_collection(settings_for(), entities(3), store)
    assert [c.collector_id for c in summary.collectors] == ["catalog"]
    assert summary.collector("catalog").collected == 3
    fact = store.get("component:default/svc-1", FactRef("catalog", "default", "entity_descriptor"))
    assert fact.data["metadata"]["name"] == "svc-1"


def test_installed_but_unconfigured_collector_warns(store):
    summary = run_collection(settings_for(), entities(1), store, collector_ids=["pagerduty"])
    assert summary.collector("pagerduty").total == 0
    assert any("collector pagerduty is not configured" in w.message for w in summary.warnings)


def test_entities_without_annotation_are_not_applicable(store):
    api = FakeApi()
    summary = run_collection(settings_for(pagerduty=pd_config()), entities(2, annotated=False), store, http=http_options(api))
    pd = summary.collector("pagerduty")
    assert pd.not_applicable == 2 and pd.failed == 0 and api.requests == []
    assert "not-applicable: no pagerduty.com/service-id annotation" in summary.render()


# -- progress and secrets ----------------------------------------------------------------------------------------


def test_progress_events_and_plain_log_lines(store):
    import io

    stream = io.StringIO()
    api = FakeApi()
    summary = run_collection(
        settings_for(pagerduty=pd_config()), entities(8), store, http=http_options(api), listener=LoggingListener(stream)
    )
    assert "pagerduty: 8 collected, 0 fresh (skipped), 0 not applicable, 0 failed; 8 requests" in summary.render()
    text = stream.getvalue()
    assert "collect pagerduty: 8 entity facts to check" in text
    assert "collect pagerduty: done in " in text


def test_secrets_never_reach_logs_errors_or_summary(store):
    events = Events()
    api = FakeApi(fail={"P0001": 400}, echo_token=True)  # the API echoes the Authorization header back
    s = settings_for(
        pagerduty=pd_config(),
        http={
            "secrets": [{"key": "apiKey", "value": "http-SECRET-value"}],
            "collects": [{"factName": "x", "url": "https://h.test/{{ entity.metadata.name }}?key={{ secrets.apiKey }}"}],
        },
    )

    async def no_sleep(_):
        await asyncio.sleep(0)

    def transport(request):
        if request.url.host == "h.test":
            return httpx.Response(500, text=f"failed for {request.url}")
        return None

    class Both:
        def __init__(self):
            self.pd = httpx.MockTransport(api)

        async def handle_async_request(self, request):
            if request.url.host == "h.test":
                return transport(request)
            return await self.pd.handle_async_request(request)

    options = HttpOptions(transport=Both(), sleep=no_sleep)
    summary = run_collection(s, entities(2), store, http=options, listener=events, verbose=True)
    everything = "\n".join(t for _, t in events.messages) + summary.render() + "\n".join(
        str(d) for c in summary.collectors for d in c.details
    )
    assert events.messages and any("GET https://h.test/svc-0?key=***" in t for _, t in events.messages)
    assert TOKEN not in everything and "http-SECRET-value" not in everything
    assert summary.collector("pagerduty").failed == 1 and summary.collector("http").failed == 2


def test_refresh_of_a_skipped_collectors_fact_is_not_a_usage_error(store):
    s = settings_for(pagerduty={"collects": [{"type": "Service"}]})  # no token: skipped
    summary = run_collection(s, entities(1), store, refresh=["pagerduty:default/service"])
    assert summary.collector("pagerduty").status is CollectorStatus.SKIPPED
    with pytest.raises(UsageError, match="--refresh"):
        run_collection(s, entities(1), store, refresh=["not a ref"])
