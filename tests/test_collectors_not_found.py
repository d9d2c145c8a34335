"""A collector block whose every lookup answers 404 is a configuration error, not a wipe (issue 18 item 19).

A ``baseUrl`` typo makes every ``GET /services/{id}`` answer 404. Before, ``collect`` stored ``null`` ("absent")
over every good fact and exited 0. Now the runner holds "not found" answers back until the block has collected
something (``collectors/runner.py``, ``_Lookups``): a block with at least ``MIN_NOT_FOUND`` lookups that ALL
answered 404/410 writes nothing for them, fails them (exit 1) and names the URL tried, never the token. A few
404s, or 404s beside facts collected from the same block, are still absent facts (deleted services).
Each case runs the real CLI in a subprocess against a server on 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

from reliability.cli import component, run, stored, write_catalog
from reliability.fault_server import FaultServer, Record

from soundcheck_cli.collectors.runner import MIN_NOT_FOUND

REF = "pagerduty:default/service"
TOKEN = "pd-not-found-token-0123456789"


def knows(*known: str):
    """A PagerDuty-like server that knows only the services ``known`` (404 for any other path)."""

    def respond(record: Record) -> tuple[int, dict[str, str], Any]:
        sid = record.path.rsplit("/", 1)[-1]
        if record.path.startswith("/services/") and sid in known:
            return 200, {}, {"service": {"id": sid, "name": f"new {sid}", "status": "active"}}
        return 404, {}, {"error": {"message": "Not Found", "code": 2100}}

    return respond


def workspace(tmp_path, base_url: str, n: int):
    write_catalog(tmp_path / "catalog-info.yaml",
                  [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i}"}) for i in range(n)])
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
        f"      baseUrl: {base_url}\n      frequency: {{hours: 1}}\n      collects:\n        - type: Service\n"
    )
    store = tmp_path / "store"
    seed = [{"factRef": REF, "entityRef": f"component:default/svc-{i}", "data": {"id": f"P{i}", "name": f"old P{i}"},
             "timestamp": "2020-01-01T00:00:00Z"} for i in range(n)]
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    proc = run(["facts", "push", str(tmp_path / "seed.json"), "--store", str(store)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return store


def collect(tmp_path, store):
    return run(["collect", "--store", str(store)], tmp_path, {"PAGERDUTY_TOKEN": TOKEN})


def test_a_base_url_typo_keeps_every_fact_fails_and_names_the_url(tmp_path):
    n = 40
    with FaultServer(knows()) as server:
        typo = f"{server.url}/typo"
        store = workspace(tmp_path, typo, n)
        proc = collect(tmp_path, store)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out and TOKEN not in out
    assert f"all {n} lookups of block 1 ({typo})" in out and "configuration error" in out
    assert "e.g. PagerDuty has no service" in out  # an example of the answers
    facts = stored(store, REF)
    assert len(facts) == n and all(f.data["name"].startswith("old ") for f in facts.values())  # nothing wiped
    # The next run asks again (nothing was recorded as absent), and once the URL is fixed it collects.
    (tmp_path / "app-config.yaml").write_text((tmp_path / "app-config.yaml").read_text().replace("/typo", ""))
    with FaultServer(knows(*(f"P{i}" for i in range(n)))) as fixed:
        text = (tmp_path / "app-config.yaml").read_text()
        (tmp_path / "app-config.yaml").write_text(text.replace(server.url, fixed.url))
        again = collect(tmp_path, store)
        assert fixed.requests == n
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(f.data["name"].startswith("new ") for f in stored(store, REF).values())


def test_not_found_beside_a_found_service_is_an_absent_fact(tmp_path):
    n = 12
    with FaultServer(knows("P5")) as server:
        store = workspace(tmp_path, server.url, n)
        proc = collect(tmp_path, store)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = stored(store, REF)
    assert facts["component:default/svc-5"].data["name"] == "new P5"
    assert all(facts[f"component:default/svc-{i}"].data is None for i in range(n) if i != 5)  # deleted services


def test_fewer_than_the_minimum_of_not_found_are_absent_facts(tmp_path):
    n = MIN_NOT_FOUND - 1
    with FaultServer(knows()) as server:
        store = workspace(tmp_path, server.url, n)
        proc = collect(tmp_path, store)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(f.data is None for f in stored(store, REF).values()) and len(stored(store, REF)) == n
