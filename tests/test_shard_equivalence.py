"""4 shards = 1 run (the ``--shard`` issue's acceptance test): four ``soundcheck collect --shard i/4`` processes,
running at the same time on one shared store, leave exactly the facts that one full ``soundcheck collect`` leaves
in another store — the same (entity, fact) pairs with the same data (timestamps differ) — and, counted on the
server, every entity's every URL was requested exactly once across the four shards.

The API is a real HTTP server on 127.0.0.1 (``reliability.fault_server``) read by the no-code ``http`` collector
(two facts per entity) next to the built-in ``catalog`` collector. The server holds its first answer until four
requests have arrived; each shard asks one at a time (``concurrency: 1``), so the first four requests come from
the four processes and prove they were collecting in parallel. Run on a folder store and on PostgreSQL (two fresh
schemas, initialised with ``soundcheck store init`` as an operator would).
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from reliability.cli import component, run, spawn, write_catalog
from reliability.fault_server import Faults, FaultServer, Record

from soundcheck_cli.collectors.shard import shard_of

N_ENTITIES = 36
SHARDS = 4
FACTS = ("http:default/info", "http:default/owner_profile", "catalog:default/entity_descriptor")
HOLD_SECONDS = 45.0
# Mixed case and punctuation too: the shard is chosen on the case-insensitive ref, the URL gets the name as written.
NAMES = [f"svc-{i:02d}" for i in range(N_ENTITIES - 4)] + ["Payments-API", "checkout.web", "a_b", "Z9"]


def answer(record: Record) -> tuple[int, dict[str, str], Any]:
    """``/info/<name>`` and ``/owners/<name>``: JSON that depends only on the path (so two runs can be compared)."""
    kind, name = record.path.strip("/").split("/", 1)
    name = unquote(name)
    if kind == "info":
        return 200, {}, {"name": name, "tier": len(name) % 3, "tags": sorted(set(name))}
    return 200, {}, {"team": f"team-{sum(map(ord, name)) % 5}", "oncall": name.upper()}


def write_workspace(folder: Path, server_url: str) -> None:
    write_catalog(folder / "catalog-info.yaml", [component(n, {"example.com/team": "t"}) for n in NAMES])
    (folder / "app-config.yaml").write_text(
        "soundcheck:\n"
        "  collectors:\n"
        "    http:\n"
        f"      config: {{base: '{server_url}'}}\n"
        "      frequency: {hours: 1}\n"
        "      concurrency: 1\n"
        "      timeout: {seconds: 60}\n"
        "      collects:\n"
        "        - factName: info\n"
        "          url: '{{ config.base }}/info/{{ entity.metadata.name }}'\n"
        "        - factName: owner_profile\n"
        "          url: '{{ config.base }}/owners/{{ entity.metadata.name }}'\n"
    )


def snapshot(spec: str) -> dict[tuple[str, str], Any]:
    """``{(entity key, fact ref): data}`` of every fact in the store ``spec`` (a folder or a URL)."""
    from soundcheck_cli.facts.locate import open_any

    with open_any(spec, create=False) as store:
        return {(f.entity_ref.lower(), str(f.fact_ref)): f.data for f in store.facts()}


@pytest.fixture(params=["disk", "postgres"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty stores on one backend: (the one the four shards share, the one the full run uses)."""
    if request.param == "disk":
        yield str(tmp_path / "store-sharded"), str(tmp_path / "store-full")
        return
    import pg_support

    sharded = request.getfixturevalue("pg_url")
    with pg_support.fresh_schema(request.getfixturevalue("pg_server")) as full:
        for url in (sharded, full):  # once, before the collectors, as docs/scaling.md says
            result = run(["store", "init", "--store", url], tmp_path)
            assert result.returncode == 0, result.stderr
            assert "***" in result.stdout and urlsplit(url).password not in result.stdout + result.stderr
        yield sharded, full


def collect_all(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str]]:
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            results.append((proc.returncode, out + err))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.communicate()
        raise
    return results


def test_four_parallel_shards_collect_exactly_what_one_full_run_does(tmp_path, two_stores):
    sharded, full = two_stores
    faults = Faults(hold_until=SHARDS, hold_seconds=HOLD_SECONDS)
    with FaultServer(answer, faults, max_requests=8 * N_ENTITIES, max_seconds=240) as server:
        write_workspace(tmp_path, server.url)
        procs = [spawn(["collect", "--shard", f"{i}/{SHARDS}", "--store", sharded], tmp_path)
                 for i in range(1, SHARDS + 1)]
        results = collect_all(procs)
        shard_records = list(server.records)

        for index, (code, output) in enumerate(results, start=1):
            assert code == 0, output
            assert "Traceback" not in output and f"Collection summary (shard {index}/{SHARDS}):" in output

        # Each entity's URLs were asked once in all, by the shard that owns the entity.
        per_path = Counter(unquote(r.path) for r in shard_records)
        assert per_path == Counter({f"/{kind}/{n}": 1 for n in NAMES for kind in ("info", "owners")})
        # The four were collecting at the same time: the first answer was held until 4 requests were in, each
        # process has at most one in flight, so those 4 came from the 4 shards (before the hold could lapse).
        first = shard_records[:SHARDS]
        owners = {shard_of(f"component:default/{unquote(r.path).rsplit('/', 1)[1]}".lower(), SHARDS) for r in first}
        assert owners == set(range(1, SHARDS + 1))
        assert first[-1].at - first[0].at < HOLD_SECONDS

        # Each shard collected exactly the entities it owns (both http facts and the descriptor of each).
        owned = Counter(shard_of(f"component:default/{n}".lower(), SHARDS) for n in NAMES)
        for index, (_, output) in enumerate(results, start=1):
            assert owned[index] > 0
            assert _count(output, "catalog") == owned[index] and _count(output, "http") == 2 * owned[index], output

        result = run(["collect", "--store", full], tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(server.records) == len(shard_records) + 2 * N_ENTITIES

    got, want = snapshot(sharded), snapshot(full)
    assert len(want) == len(FACTS) * N_ENTITIES
    assert {fact for _, fact in want} == set(FACTS)
    assert got == want  # same (entity, fact) pairs, same data


def _count(output: str, collector: str) -> int:
    """How many facts the summary line of ``collector`` says were collected."""
    found = re.search(rf"^  {collector}: (\d+) collected", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))
