"""PostgresFactStore specifics: many processes at once, leases across processes, schema init/migrate/versions,
connection errors (password never shown), threads, and collect/check end to end on a PostgreSQL store.

What every store does (PostgreSQL included) is in ``test_store_contract.py``. These tests use ``pg_url`` (a fresh
schema on the session's server, see ``conftest.py``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from soundcheck_cli.errors import StoreError, StoreUnavailable
from soundcheck_cli.facts import pg_store
from soundcheck_cli.facts.locate import init_store, migrate_store, open_any
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.pg_store import LEASE_STEP, SCHEMA_VERSION, PostgresFactStore, open_pg_store
from soundcheck_cli.redact import GLOBAL

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "sample-config" / "app-config.yaml")
CATALOG = str(ROOT / "catalog-fixtures")
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
SERVICE = FactRef.parse("pagerduty:default/service")
REPO = FactRef.parse("github:default/repo_details")

WORKERS = 4
SHARED = 40  # entities every worker writes
ROUNDS = 5  # times each worker rewrites the shared facts
OWN = 30  # entities only one worker writes


@pytest.fixture
def store(pg_url: str):
    init_store(pg_url)
    with open_pg_store(pg_url) as s:
        yield s


def sql(url: str, query: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def run_cli(argv: list[str]) -> int:
    # Imported on use: the worker processes below import this module, and need no CLI.
    from soundcheck_cli.cli.commands import run_cli as run

    return run(argv)


# -- many processes -------------------------------------------------------------------------------------------------


def _writer(url: str, worker: int, barrier) -> None:
    with open_pg_store(url) as s:
        barrier.wait(30)
        for i in range(ROUNDS):
            shared = [Fact(SERVICE, f"component:default/shared-{e}", {"worker": worker, "round": i},
                           T0 + timedelta(seconds=i)) for e in range(SHARED)]
            if worker % 2:
                shared.reverse()  # other workers write the same keys in the opposite order
            s.put_many(shared)
            for e in range(OWN // ROUNDS):
                n = i * (OWN // ROUNDS) + e
                s.put(Fact(REPO, f"component:default/w{worker}-{n}", {"worker": worker, "n": n}, T0))
            s.set_meta(f"progress:{worker}", i)


def test_processes_writing_overlapping_facts_lose_and_duplicate_nothing(pg_url: str) -> None:
    init_store(pg_url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_writer, args=(pg_url, w, barrier)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    with open_pg_store(pg_url) as s:
        everything = s.load_all()
        assert len(everything) == SHARED + WORKERS * OWN
        for e in range(SHARED):
            got = everything[(f"component:default/shared-{e}", SERVICE)]
            # The last write wins: some worker's last round, with that round's timestamp.
            assert got.data["round"] == ROUNDS - 1
            assert got.timestamp == T0 + timedelta(seconds=ROUNDS - 1)
        for w in range(WORKERS):
            for n in range(OWN):
                assert everything[(f"component:default/w{w}-{n}", REPO)].data == {"worker": w, "n": n}
            assert s.get_meta(f"progress:{w}") == ROUNDS - 1
    rows = sql(pg_url, "SELECT count(*), count(DISTINCT (entity_key, fact_ref)) FROM soundcheck_facts")
    assert rows == [(SHARED + WORKERS * OWN, SHARED + WORKERS * OWN)]


def _claimer(url: str, barrier, results) -> None:
    with open_pg_store(url) as s:
        barrier.wait(30)
        with s.lock("collect:chunk-1", expire_seconds=60) as got:
            results.put(got)
            barrier.wait(30)  # everyone has tried while the winner still holds the claim


def test_a_claim_is_won_by_exactly_one_process(pg_url: str) -> None:
    init_store(pg_url)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(pg_url, barrier, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(WORKERS)]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    assert sorted(outcomes) == [False] * (WORKERS - 1) + [True]
    # Released by the winner on exit.
    assert sql(pg_url, "SELECT count(*) FROM soundcheck_leases") == [(0,)]


HOLDER = """
import sys, time
from soundcheck_cli.facts.pg_store import open_pg_store
store = open_pg_store(sys.argv[1])
with store.lock("collect:chunk-1", expire_seconds=float(sys.argv[2])) as got:
    print("held" if got else "refused", flush=True)
    time.sleep(600)
"""


def test_a_lease_held_by_a_killed_process_of_another_host_lapses(pg_url: str, store: PostgresFactStore) -> None:
    """This host cannot see another host's processes: such a lease lapses at its expiry (a killed process of this
    host is found gone at once: ``test_store_contract``)."""
    expire = 3.0
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url, str(expire)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "held"
        claimed_at = time.monotonic()
        # As if the holder ran on another machine: its token names that host.
        sql(pg_url, "UPDATE soundcheck_leases SET token = 'build-07:' || split_part(token, ':', 2) || ':x'")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        with store.lock("collect:chunk-1", expire_seconds=60) as got:
            assert got is False  # the dead process's lease is still running
        assert store.claim_holders(["collect:chunk-1"])["collect:chunk-1"].startswith(f"build-07 pid {proc.pid} since ")
    finally:
        proc.kill()
        proc.wait(30)
    time.sleep(max(0.0, expire + 0.5 - (time.monotonic() - claimed_at)))
    with store.lock("collect:chunk-1", expire_seconds=60) as got:
        assert got is True


REMOTE_HOLDER = """
import sys, time
import soundcheck_cli.facts.store, soundcheck_cli.facts.pg_store
soundcheck_cli.facts.store.HOST = "build-07"  # as if on another machine: its pids are not this host's
soundcheck_cli.facts.pg_store.LEASE_STEP = 1.0  # leases of 1 s, renewed every 1/3 s
store = soundcheck_cli.facts.pg_store.open_pg_store(sys.argv[1])
with store.claim_many(["fact/a", "fact/b"], expire_seconds=900) as got:
    print(sorted(got), flush=True)
    time.sleep(600)
"""


def test_leases_are_renewed_while_the_holder_lives_and_lapse_soon_after_it_is_killed(
        pg_url: str, store: PostgresFactStore) -> None:
    """A run killed on another machine (a CronJob pod, another CI runner) stops renewing its leases: they lapse
    within ``LEASE_STEP`` seconds, not after the claims' 15 minutes; while it lives they are renewed."""
    proc = subprocess.Popen([sys.executable, "-c", REMOTE_HOLDER, pg_url], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "['fact/a', 'fact/b']"
        time.sleep(2.5)  # more than two lease steps: only renewals keep the claims
        with store.claim_many(["fact/a", "fact/b", "fact/c"], expire_seconds=60) as got:
            assert got == {"fact/c"}
        assert store.claim_holders(["fact/a"])["fact/a"].startswith(f"build-07 pid {proc.pid} since ")
        (left,) = sql(pg_url, "SELECT max(expires_at - clock_timestamp()) FROM soundcheck_leases WHERE name = 'fact/a'")[0]
        assert left.total_seconds() <= 1.0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        killed = time.monotonic()
        while True:
            with store.claim_many(["fact/a", "fact/b"], expire_seconds=60) as got:
                if got:
                    assert got == {"fact/a", "fact/b"}
                    break
            assert time.monotonic() - killed < 5, "the killed holder's leases did not lapse"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait(30)


def test_the_heartbeat_thread_runs_only_while_claims_are_held(monkeypatch: pytest.MonkeyPatch, store: PostgresFactStore) -> None:
    """No thread is left once the claims are released: ``check`` forks its report writer only from a process with
    no other thread (``cli.beside``)."""
    import threading

    from soundcheck_cli.facts import pg_store

    monkeypatch.setattr(pg_store, "LEASE_STEP", 0.3)

    def heartbeats() -> int:
        return sum(t.name == "soundcheck-lease-heartbeat" for t in threading.enumerate())

    with store.claim_many(["a", "b"], expire_seconds=60) as got:
        assert got == {"a", "b"} and heartbeats() == 1
        time.sleep(0.5)
    deadline = time.monotonic() + 5
    while heartbeats() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert heartbeats() == 0
    with store.lock("short", expire_seconds=0.2) as got:  # within one lease step: nothing to renew
        assert got and heartbeats() == 0


def test_lease_expiry_follows_the_server_clock(pg_url: str, store: PostgresFactStore) -> None:
    with store.lock("job", expire_seconds=20) as got:
        assert got
        (remaining,) = sql(pg_url, "SELECT expires_at - clock_timestamp() FROM soundcheck_leases WHERE name = 'job'")[0]
        assert timedelta(seconds=10) < remaining <= timedelta(seconds=20)
    with store.lock("long", expire_seconds=600) as got:  # a lease step at a time, renewed while we live
        assert got
        (remaining,) = sql(pg_url, "SELECT expires_at - clock_timestamp() FROM soundcheck_leases WHERE name = 'long'")[0]
        assert timedelta(seconds=LEASE_STEP - 10) < remaining <= timedelta(seconds=LEASE_STEP)


# -- threads ----------------------------------------------------------------------------------------------------


def test_one_store_shared_by_threads(store: PostgresFactStore) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(20):
                store.put_many([Fact(SERVICE, f"component:default/t{t}-{i}", {"t": t, "i": i}, T0),
                                Fact(REPO, "component:default/shared", {"t": t, "i": i}, T0)])
                assert store.get(f"component:default/t{t}-{i}", SERVICE).data == {"t": t, "i": i}
                with store.lock(f"thread-{t}", 60) as got:
                    assert got
                store.set_meta(f"etag:{t}", i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert len(store.load_all()) == 6 * 20 + 1
    assert store.meta_keys("etag:") == [f"etag:{t}" for t in range(6)]


# -- storage format -------------------------------------------------------------------------------------------------


def test_rows_hold_the_json_text_as_written_and_microseconds(pg_url: str, store: PostgresFactStore) -> None:
    ts = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    data = {"z": 1, "a": ["\u0000", "é", float("inf")]}
    store.put(Fact(SERVICE, "Component:Default/X", data, ts))
    rows = sql(pg_url, "SELECT entity_key, fact_ref, entity_ref, ts, expires_at, data FROM soundcheck_facts")
    assert rows == [("component:default/x", "pagerduty:default/service", "Component:Default/X", ts, None,
                     '{"z":1,"a":["\\u0000","é",Infinity]}')]
    got = store.get("component:default/x", SERVICE)
    assert got.timestamp == ts and got.data == data and list(got.data) == ["z", "a"]


def test_a_hand_written_bad_record_is_a_store_error(pg_url: str, store: PostgresFactStore) -> None:
    store.put(Fact(SERVICE, "component:default/x", 1, T0))
    sql(pg_url, "INSERT INTO soundcheck_facts VALUES ('component:default/y', 'pagerduty:default/service', "
                "'component:default/y', now(), NULL, '{not json')")
    with pytest.raises(StoreError, match=r"unreadable record \(component:default/y pagerduty:default/service\)"):
        store.load_all()
    assert store.get("component:default/x", SERVICE).data == 1


def test_the_store_reconnects_when_the_server_dropped_its_connection(pg_url: str, store: PostgresFactStore) -> None:
    store.put(Fact(SERVICE, "component:default/x", 1, T0))
    for operation in (lambda: store.get("component:default/x", SERVICE).data,
                      lambda: store.put_many([Fact(SERVICE, "component:default/x", 2, T0)]) and store.load_all()[
                          ("component:default/x", SERVICE)].data,
                      lambda: store.set_meta("k", 3) or store.get_meta("k")):
        pid = store._conn.info.backend_pid
        assert sql(pg_url, "SELECT pg_terminate_backend(%s, 10000)", (pid,)) == [(True,)]
        assert operation() in (1, 2, 3)
        assert store._conn.info.backend_pid != pid  # a new connection
    with store.lock("job", 60) as got:
        assert got


# -- schema -----------------------------------------------------------------------------------------------------


def test_init_is_idempotent_and_creates_the_tables(pg_url: str) -> None:
    first = init_store(pg_url)
    assert "schema created (version 1)" in first
    assert "already initialised" in init_store(pg_url)
    tables = {name for (name,) in sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert tables == {"soundcheck_facts", "soundcheck_meta", "soundcheck_leases", "soundcheck_schema_version"}
    with open_pg_store(pg_url) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.init_schema() is False
        assert s.migrate() == []


def _initialiser(url: str, barrier, results) -> None:
    barrier.wait(30)
    results.put(init_store(url))


def test_two_inits_at_once_both_succeed_and_one_creates(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_initialiser, args=(pg_url, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(2)]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted("created" in line for line in outcomes) == [False, True]
    assert sql(pg_url, "SELECT version FROM soundcheck_schema_version") == [(1,)]


def test_a_missing_schema_says_to_run_store_init(pg_url: str, capsys) -> None:
    with pytest.raises(StoreError, match=r"has no soundcheck schema.*run `soundcheck store init --store URL`"):
        open_pg_store(pg_url)
    with pytest.raises(StoreError, match="has no soundcheck schema"):
        migrate_store(pg_url)
    code = run_cli(["facts", "list", "--store", pg_url])
    _, err = capsys.readouterr()
    assert code == 2 and "soundcheck store init" in err


def test_an_older_schema_says_to_migrate_and_migrate_upgrades_it(pg_url: str, monkeypatch) -> None:
    init_store(pg_url)
    newer = [*pg_store.MIGRATIONS,
             (2, "an index on expiry", ("CREATE INDEX soundcheck_facts_expires ON soundcheck_facts (expires_at)",))]
    monkeypatch.setattr(pg_store, "MIGRATIONS", newer)
    monkeypatch.setattr(pg_store, "SCHEMA_VERSION", 2)
    with pytest.raises(StoreError, match=r"schema version 1, older than this soundcheck's \(2\); run `soundcheck "
                                         r"store migrate"):
        open_pg_store(pg_url)
    assert "applied migration(s) 2 (schema version 2)" in migrate_store(pg_url)
    assert "nothing to migrate (schema version 2)" in migrate_store(pg_url)
    with open_pg_store(pg_url) as s:
        assert s.schema_version() == 2
    assert sql(pg_url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'soundcheck_facts_expires'") == [(1,)]


def test_a_newer_schema_says_to_upgrade_soundcheck(pg_url: str) -> None:
    init_store(pg_url)
    sql(pg_url, "INSERT INTO soundcheck_schema_version (version, description) VALUES (%s, 'future')",
        (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=r"newer than this soundcheck's \(1\); upgrade soundcheck"):
        open_pg_store(pg_url)
    with pytest.raises(StoreError, match="upgrade soundcheck"):
        migrate_store(pg_url)


def test_a_dropped_table_is_a_store_error(pg_url: str, store: PostgresFactStore) -> None:
    sql(pg_url, "DROP TABLE soundcheck_facts")
    with pytest.raises(StoreError, match="no soundcheck schema"):
        store.load_all()


# -- connection errors and passwords --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, host = rest.split("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{password}@{host}"


def test_connection_refused_is_retried_then_unavailable_without_the_password(monkeypatch) -> None:
    # A server that cannot be reached is tried again for SOUNDCHECK_STORE_RETRY_SECONDS (30 s by default), then
    # is its own failure: exit code 4, not 2 (issue 18 item 30).
    monkeypatch.setenv(pg_store.RETRY_ENV, "1.2")
    url = f"postgresql://app:Refused-S3cret-pw@127.0.0.1:{_free_port()}/db"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        open_pg_store(url)
    assert 0.7 <= time.monotonic() - started < 10  # retried with backoff (0.25 + 0.5), then gave up
    message = str(info.value)
    assert message.startswith(f"the fact store postgresql://app:***@127.0.0.1:{url.split(':')[3]} cannot be reached: ")
    assert "Connection refused" in message and "Refused-S3cret-pw" not in message and "\n" not in message
    assert message.endswith("gave up after retrying for 1.2 s (SOUNDCHECK_STORE_RETRY_SECONDS)")
    assert info.value.exit_code == 4
    assert "Refused-S3cret-pw" in GLOBAL.values  # registered: masked in anything printed later


def test_a_wrong_password_is_a_store_error_without_the_password(pg_url: str) -> None:
    url = _with_password(pg_url, "Wrong-S3cret-pw")
    with pytest.raises(StoreError, match="password authentication failed") as info:
        open_pg_store(url)
    assert "Wrong-S3cret-pw" not in str(info.value) and "postgres:***@127.0.0.1" in str(info.value)


def test_an_unknown_database_is_a_store_error(pg_url: str) -> None:
    url = pg_url.replace("/postgres?", "/no_such_db?")
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        open_pg_store(url)


def test_a_malformed_url_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as info:
        open_pg_store("postgresql://app:Malformed-S3cret@127.0.0.1:5432/db?bogus_option=1")
    assert "bogus_option" in str(info.value) and "Malformed-S3cret" not in str(info.value)


@pytest.mark.parametrize("case", ["refused", "wrong-password"])
@pytest.mark.parametrize("command", [["facts", "list"], ["check", "-c", SAMPLE, "--catalog", CATALOG],
                                     ["collect", "-c", SAMPLE, "--catalog", CATALOG], ["store", "init"]])
def test_cli_exits_4_or_2_and_never_prints_the_password(request, capsys, monkeypatch, case: str,
                                                        command: list[str]) -> None:
    # Unreachable (after retrying): 4; reachable but refusing (a wrong password): 2, a configuration error.
    monkeypatch.setenv(pg_store.RETRY_ENV, "0.3")
    monkeypatch.delenv("SOUNDCHECK_STORE", raising=False)
    monkeypatch.delenv("PAGERDUTY_TOKEN", raising=False)
    password = "Cli-S3cret-pw-" + case
    if case == "refused":
        url = f"postgresql://app:{password}@127.0.0.1:{_free_port()}/db"
    else:
        url = _with_password(request.getfixturevalue("pg_server"), password)
    code = run_cli([*command, "--store", url])
    out, err = capsys.readouterr()
    if case == "refused":
        assert code == 4 and "error: the fact store postgresql://app:***@127.0.0.1:" in err and "cannot be reached" in err
    else:
        assert code == 2 and "cannot connect to the fact store postgresql://" in err
    assert password not in out + err
    assert "Traceback" not in err


# -- end to end -------------------------------------------------------------------------------------------------


def test_collect_then_check_on_postgres_matches_the_folder_store(pg_url: str, tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    monkeypatch.delenv("SOUNDCHECK_STORE", raising=False)
    monkeypatch.delenv("PAGERDUTY_TOKEN", raising=False)
    init_store(pg_url)
    reports = {}
    for name, spec in (("pg", pg_url), ("disk", str(tmp_path / "store"))):
        # 1: without PAGERDUTY_TOKEN the sample's pagerduty collector cannot run (the catalog facts are collected)
        assert run_cli(["collect", "-c", SAMPLE, "--catalog", CATALOG, "--store", spec]) == 1
        out = tmp_path / f"{name}.json"
        code = run_cli(["check", "-c", SAMPLE, "--catalog", CATALOG, "--store", spec, "-q", "-f", "json",
                        "-o", str(out)])
        assert code == 1  # the sample has failing checks
        reports[name] = json.loads(out.read_text())
    _, err = capsys.readouterr()
    assert pg_url.split(":")[2].split("@")[0] not in err  # the password
    assert reports["pg"]["summary"] == reports["disk"]["summary"]
    assert reports["pg"]["summary"]["results"]["passed"] > 0
    results = {name: sorted(json.dumps(r, sort_keys=True) for r in report["results"]) for name, report in reports.items()}
    assert results["pg"] == results["disk"]
    with open_any(pg_url) as s, open_any(str(tmp_path / "store")) as d:
        assert {k: f.data for k, f in s.load_all().items()} == {k: f.data for k, f in d.load_all().items()}
        assert len(s.load_all()) == 16


def test_init_into_a_missing_search_path_schema_is_a_store_error(pg_server: str) -> None:
    import pg_support

    url = pg_support.with_search_path(pg_server, "no_such_schema")
    with pytest.raises(StoreError, match="cannot create the schema: no schema has been selected to create in"):
        init_store(url)
    with pytest.raises(StoreError, match="has no soundcheck schema"):
        open_pg_store(url)
