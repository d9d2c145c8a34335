"""Reliability, interruption (issue 7): SIGINT and SIGTERM sent to a real ``python -m soundcheck_cli collect`` while
it collects from a slow local API.

For each signal: the process ends promptly (well before the collection would have finished, within a generous
bound: no speed is measured here), says it was interrupted, without a traceback; the facts it reports as collected
are in the store, each with the data the server sent; the store opens cleanly afterwards: after SIGTERM
``soundcheck facts list`` lists exactly those facts, after SIGINT a new ``collect`` picks up exactly where the
interrupted one stopped (it requests only the services without a fact).
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest
from reliability.cli import component, run, spawn, stored, write_catalog
from reliability.fault_server import Faults, FaultServer

N = 120
REF = "pagerduty:default/service"
TOKEN = "pd-signal-suite-token-0123456789"


def setup(tmp_path, url: str):
    write_catalog(
        tmp_path / "catalog-info.yaml",
        [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i:04d}"}) for i in range(N)],
    )
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
        f"      baseUrl: {url}\n      frequency: {{hours: 1}}\n      concurrency: 2\n      batchSize: 2\n"
        "      collects:\n        - type: Service\n"
    )
    return tmp_path / "store"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_collection_keeps_facts_and_leaves_a_clean_store(tmp_path, sig):
    # 120 services, 2 at a time, 50 ms each: about 3 s if not interrupted; the signal comes after ~16 requests.
    with FaultServer(faults=Faults(latency=0.05), max_requests=2 * N, max_seconds=60) as server:
        store = setup(tmp_path, server.url)
        proc = spawn(["collect", "--store", str(store)], tmp_path, {"PAGERDUTY_TOKEN": TOKEN})
        try:
            assert server.wait_for_requests(16), "the collection never started"
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=15)  # prompt: a bound, not a measurement
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        asked_during_run = server.requests

        assert asked_during_run < N, "the signal came too late to interrupt anything"
        assert proc.returncode in (1, 130), (proc.returncode, err)
        assert "Traceback" not in err and "internal error" not in err
        assert "interrupted" in (out + err).lower()

        facts = stored(store, REF)
        assert 0 < len(facts) < N
        requested = {r.path.rsplit("/", 1)[1] for r in server.records}
        for entity_ref, fact in facts.items():
            assert fact.data["id"] in requested and entity_ref.endswith(f"svc-{int(fact.data['id'][1:])}")
        # What the summary says was collected is exactly what the store holds.
        said = re.search(r"pagerduty: (\d+) collected", out + err)
        if said:
            assert int(said.group(1)) == len(facts)

        if sig == signal.SIGTERM:  # (one process per variant keeps the suite short)
            listed = run(["facts", "list", "--fact", REF, "--store", str(store)], tmp_path)
            assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
            assert listed.stdout.count("pagerduty:default/service") == len(facts)
            return

        # A new run resumes: one request per service still without a fact, none for those already stored.
        server.faults = Faults()  # no latency now: only which services are asked matters
        before = server.requests
        again = run(["collect", "--store", str(store)], tmp_path, {"PAGERDUTY_TOKEN": TOKEN}, timeout=60)
        assert again.returncode == 0, again.stderr
        resumed = [r.path.rsplit("/", 1)[1] for r in server.records[before:]]
        have = {f.data["id"] for f in facts.values()}
        assert sorted(resumed) == sorted(f"P{i:04d}" for i in range(N) if f"P{i:04d}" not in have)
        assert len(stored(store, REF)) == N
