"""Reliability, faults (issue 7): the real ``soundcheck collect`` process against a local API that misbehaves.

The pagerduty collector is pointed (``baseUrl``) at ``reliability.fault_server.FaultServer``, which answers a
deterministic share of the attempts with 429 + ``Retry-After``, 500, a connection reset, a response slower than the
client's timeout, or a truncated JSON body, and always 500 for a few services (hard failures). Definitions used by
the assertions:

- **collected**: after ONE run, at least 99 % of the facts that can be collected (every entity but the hard
  failures) are in the store with this run's data; a second run then asks only for what is still missing.
- **retries bounded**: no path is requested more than ``retry.maxAttempts`` times, so the run sends at most
  ``N * maxAttempts`` requests (the documented worst case); with these shares it sends fewer than ``2 * N``.
- **no earlier fact lost**: facts pushed before the run for the hard-failing services are still there, unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from reliability.cli import component, run, stored, write_catalog
from reliability.fault_server import Faults, FaultServer

N = 200
MAX_ATTEMPTS = 6
HARD = ("P0007", "P0042", "P0123", "P0150", "P0199")
REF = "pagerduty:default/service"
TOKEN = "pd-fault-suite-token-0123456789"
FAULTS = Faults(
    rate_limited=0.20,
    retry_after="0",
    server_error=0.05,
    reset=0.03,
    slow=0.02,
    slow_seconds=1.5,
    bad_json=0.03,
    hard_fail=tuple(f"/services/{sid}" for sid in HARD),
    long_429=("/services/P0100",),  # its first answer: 429, Retry-After: 1
    long_retry_after="1",
)


def setup(tmp_path, url: str, n: int = N):
    write_catalog(
        tmp_path / "catalog-info.yaml",
        [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i:04d}"}) for i in range(n)],
    )
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n"
        "  collectors:\n"
        "    pagerduty:\n"
        "      token: ${PAGERDUTY_TOKEN}\n"
        f"      baseUrl: {url}\n"
        "      frequency: {hours: 1}\n"
        "      concurrency: 16\n"
        "      timeout: 0.4\n"
        f"      retry: {{maxAttempts: {MAX_ATTEMPTS}, maxDelay: 0.02}}\n"
        "      collects:\n"
        "        - type: Service\n"
    )
    return tmp_path / "store"


def seed_old_facts(tmp_path, store, sids) -> dict[str, dict]:
    """Push an old (2020) fact for each service, as an earlier collection would have left it."""
    facts = [
        {
            "factRef": REF,
            "entityRef": f"component:default/svc-{int(sid[1:])}",
            "data": {"id": sid, "name": f"old {sid}", "status": "active"},
            "timestamp": "2020-01-01T00:00:00Z",
        }
        for sid in sids
    ]
    (tmp_path / "seed.json").write_text(json.dumps(facts))
    proc = run(["facts", "push", str(tmp_path / "seed.json"), "--store", str(store)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return {f["entityRef"]: f["data"] for f in facts}


def test_collect_survives_faults_keeps_old_facts_and_bounds_retries(tmp_path):
    with FaultServer(faults=FAULTS, max_requests=N * MAX_ATTEMPTS + 50, max_seconds=60) as server:
        store = setup(tmp_path, server.url)
        # Old facts for the hard failures (they must survive) and for a few others (they must be replaced).
        seeded = seed_old_facts(tmp_path, store, [*HARD, "P0001", "P0002"])
        proc = run(["collect", "--store", str(store)], tmp_path, {"PAGERDUTY_TOKEN": TOKEN})
        first_requests = server.requests
        per_path_first = dict(server.per_path)

        # Every kind of fault was really injected.
        assert {"rate_limited", "long_429", "server_error", "reset", "slow", "bad_json", "hard"} <= set(server.faults_sent)
        # Some facts could not be collected: exit 1, reported without a traceback or the token.
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and TOKEN not in proc.stdout + proc.stderr

        facts = stored(store, REF)
        started = datetime(2021, 1, 1, tzinfo=UTC)
        fresh = {ref: f for ref, f in facts.items() if f.timestamp > started}
        # >= 99 % of the collectible facts after ONE run, each with the data the server sent (never a truncated body).
        collectible = N - len(HARD)
        assert len(fresh) >= 0.99 * collectible, f"{len(fresh)}/{collectible} collected"
        for ref, fact in fresh.items():
            sid = f"P{int(ref.rsplit('-', 1)[1]):04d}"
            assert fact.data["id"] == sid and fact.data["name"] == f"service {sid}"
        # No earlier fact lost: the hard failures keep their old fact, unchanged; the other old ones were replaced.
        for sid in HARD:
            ref = f"component:default/svc-{int(sid[1:])}"
            assert ref in facts and ref not in fresh and facts[ref].data == seeded[ref]
        assert facts["component:default/svc-1"].data["name"] == "service P0001"
        assert len(facts) >= len(fresh) + len(HARD)

        # Retries bounded: never more than maxAttempts per path (hard failures: exactly maxAttempts).
        assert max(per_path_first.values()) <= MAX_ATTEMPTS
        assert all(per_path_first[f"/services/{sid}"] == MAX_ATTEMPTS for sid in HARD)
        assert first_requests <= N * MAX_ATTEMPTS  # the documented worst case
        assert first_requests < 2 * N  # what these fault shares really cost
        # Retry-After honoured: the service told to wait 1 s was asked again no sooner (a lower bound, not a speed).
        first, second = [r.at for r in server.records if r.path == "/services/P0100"][:2]
        assert second - first >= 0.95

        # A second run asks only for what is still missing (the hard failures and any rare leftover).
        missing = {f"/services/P{int(r.rsplit('-', 1)[1]):04d}" for r in facts if r not in fresh}
        missing |= {f"/services/P{i:04d}" for i in range(N) if f"component:default/svc-{i}" not in facts}
        proc2 = run(["collect", "--store", str(store)], tmp_path, {"PAGERDUTY_TOKEN": TOKEN})
        asked_again = {r.path for r in server.records[first_requests:]}
        assert asked_again == missing
        assert proc2.returncode == 1 and "Traceback" not in proc2.stderr
        assert len(stored(store, REF)) == len(facts)
