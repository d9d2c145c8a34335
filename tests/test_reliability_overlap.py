"""Reliability, overlap (issue 7): two ``soundcheck collect`` processes on the same store at once (a cron job that
overran its period).

Both run against one slow local API. Asserted: both really worked (each collected a share: they overlapped), every
service was requested exactly once across the two (the second does not redo what the first made fresh: the
runner's per-chunk claim in the store), no fact is lost (the store holds one fact per service, each with the data
the server sent), the two summaries add up, and the store reads back cleanly afterwards.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter

from reliability.cli import component, spawn, stored, write_catalog
from reliability.fault_server import Faults, FaultServer

N = 60
REF = "pagerduty:default/service"
TOKEN = "pd-overlap-suite-token-0123456789"


def counts(text: str) -> tuple[int, int]:
    found = re.search(r"pagerduty: (\d+) collected, (\d+) fresh", text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def test_two_collect_processes_share_the_work_without_loss_or_repeats(tmp_path):
    write_catalog(
        tmp_path / "catalog-info.yaml",
        [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i:04d}"}) for i in range(N)],
    )
    store = tmp_path / "store"
    # 60 services, 2 at a time (concurrency 2), 30 ms each. The server answers nothing before it has 3 requests in
    # hand: one process alone never has more than 2 in flight, so both processes are collecting at the same time.
    faults = Faults(latency=0.03, hold_until=3)
    with FaultServer(faults=faults, max_requests=3 * N, max_seconds=60) as server:
        (tmp_path / "app-config.yaml").write_text(
            "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
            f"      baseUrl: {server.url}\n      frequency: {{hours: 1}}\n      concurrency: 2\n      batchSize: 5\n"
            "      collects:\n        - type: Service\n"
        )
        env = {"PAGERDUTY_TOKEN": TOKEN}
        procs = [spawn(["collect", "--store", str(store)], tmp_path, env) for _ in range(2)]
        results = []
        try:
            for proc in procs:
                results.append(proc.communicate(timeout=60))
        except subprocess.TimeoutExpired:
            for proc in procs:
                proc.kill()
                proc.communicate()
            raise
        for proc, (out, err) in zip(procs, results):
            assert proc.returncode == 0, err
            assert "Traceback" not in err

        per_service = Counter(r.path.rsplit("/", 1)[1] for r in server.records)
        assert per_service == Counter({f"P{i:04d}": 1 for i in range(N)})  # each asked once, across both

        (c1, f1), (c2, f2) = (counts(out + err) for out, err in results)
        assert server.requests >= 3 and c1 > 0 and c2 > 0, "the two runs did not overlap"
        assert c1 + c2 == N and f1 == N - c1 and f2 == N - c2

        facts = stored(store, REF)
        assert len(facts) == N
        for i in range(N):
            assert facts[f"component:default/svc-{i}"].data["id"] == f"P{i:04d}"

