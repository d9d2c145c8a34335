"""The PostgreSQL store rides out a brief outage (issue 18 item 30), through the real CLI in subprocesses.

Each test starts its own throwaway cluster (``tests/pg_support.py``), stops it mid-run with ``pg_ctl stop -m fast``
(every client is disconnected, as in a restart or failover) and starts it again. Before, an 8 s outage aborted the
collector and left its claims, and a ``check`` meeting a restart exited 2 (the code of a configuration error). Now
operations are retried with backoff for up to 30 s (``SOUNDCHECK_STORE_RETRY_SECONDS``) and a store still
unreachable after that is exit code 4 (``tests/test_pg_store.py`` covers that one).
"""

from __future__ import annotations

import time

import psycopg
import pytest

import pg_support
from reliability.cli import component, run, spawn, write_catalog
from reliability.fault_server import Faults, FaultServer


REF = "pagerduty:default/service"
TOKEN = "pd-outage-token-0123456789"


@pytest.fixture
def cluster():
    try:
        started = pg_support.start_cluster()
    except pg_support.ClusterUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield started
    finally:
        pg_support.stop_cluster(started)


def workspace(tmp_path, url: str, n: int) -> None:
    write_catalog(tmp_path / "catalog-info.yaml",
                  [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i}"}) for i in range(n)])
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
        f"      baseUrl: {url}\n      concurrency: 4\n      batchSize: 10\n      collects:\n        - type: Service\n"
        "  checks:\n    - id: active\n      rule: {factRef: pagerduty:default/service, path: $.status,"
        " operator: equal, value: active}\n"
    )


def count(url: str, query: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchone()[0]


def test_collect_survives_an_8_second_outage_and_leaves_no_claim(tmp_path, cluster):
    n = 120
    with FaultServer(faults=Faults(latency=0.1), max_seconds=120) as api:  # ~3 s of requests at concurrency 4
        workspace(tmp_path, api.url, n)
        assert run(["store", "init", "--store", cluster.url], tmp_path).returncode == 0
        proc = spawn(["collect", "--store", cluster.url], tmp_path, {"PAGERDUTY_TOKEN": TOKEN})
        assert api.wait_for_requests(20)  # collecting, claims held
        pg_support.stop_server(cluster)
        time.sleep(8)
        pg_support.start_server(cluster)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err and cluster.password not in out + err
    assert count(cluster.url, "SELECT count(*) FROM soundcheck_facts") >= n
    assert count(cluster.url, "SELECT count(*) FROM soundcheck_leases") == 0  # every claim released


def test_check_waits_for_a_restarting_server(tmp_path, cluster):
    with FaultServer(max_seconds=60) as api:
        workspace(tmp_path, api.url, 5)
        assert run(["store", "init", "--store", cluster.url], tmp_path).returncode == 0
        assert run(["collect", "--store", cluster.url], tmp_path, {"PAGERDUTY_TOKEN": TOKEN}).returncode == 0
    pg_support.stop_server(cluster)
    proc = spawn(["check", "--store", cluster.url], tmp_path)
    time.sleep(3)
    pg_support.start_server(cluster)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err  # every check passed: not 2 ("configuration error") nor 4
    assert "active" in out and cluster.password not in out + err


def test_a_store_down_for_good_is_exit_4_naming_the_store_without_its_password(tmp_path, cluster):
    workspace(tmp_path, "http://127.0.0.1:9", 1)
    assert run(["store", "init", "--store", cluster.url], tmp_path).returncode == 0
    pg_support.stop_server(cluster)
    started = time.monotonic()
    proc = run(["check", "--store", cluster.url], tmp_path, {"SOUNDCHECK_STORE_RETRY_SECONDS": "2"})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert 1.5 <= time.monotonic() - started < 30
    assert f"the fact store {pg_support.masked(cluster.url)} cannot be reached" in proc.stderr
    assert "gave up after retrying for 2 s" in proc.stderr and cluster.password not in proc.stdout + proc.stderr
