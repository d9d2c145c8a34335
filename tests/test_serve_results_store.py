"""``results_store``: the one place pushed check results (``POST /results``, Soundcheck's body) are validated and
kept, under the store meta key ``results:pushed``; concurrent writers from several processes lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.results_store import PUSHED_KEY, pushed_results, results_from_body, store_pushed_results


def test_the_body_is_validated_with_json_pointers():
    problems = Problems()
    results, preserve = results_from_body({"results": [
        {"entityRef": "Component:default/A", "checkId": "sast", "state": "failed", "details": {"n": 3},
         "scope": "nightly", "submittedBy": "ci"},
        {"entityRef": "component:default/a", "checkId": "", "state": "passed", "details": []},
        "nope"]}, problems)
    assert [(p.location.path, p.message.split(" (")[0]) for p in problems.errors] == [
        ("/results/1/checkId", "'checkId' must be a non-empty string"),
        ("/results/1/details", "'details' must be an object"),
        ("/results/2", "a result must be an object {entityRef, checkId, state, details?, scope?, submittedBy?}")]
    assert preserve is False
    assert [(r.entity_ref, r.check_id, r.state, r.scope, r.submitted_by) for r in results] == [
        ("component:default/A", "sast", "failed", "nightly", "ci")]  # the kind lower-cased, as Backstage does
    for body, pointer in (([], "/"), ({"results": {}}, "/results"), ({"results": [], "dryRun": True}, "/dryRun")):
        problems = Problems()
        results_from_body(body, problems)
        assert [p.location.path for p in problems.errors] == [pointer]


def test_a_newer_push_replaces_the_result_of_the_same_check_entity_and_scope(tmp_path):
    problems = Problems()
    first, _ = results_from_body({"results": [
        {"entityRef": "component:default/a", "checkId": "sast", "state": "failed"},
        {"entityRef": "component:default/a", "checkId": "sast", "state": "passed", "scope": "nightly"}]}, problems)
    second, _ = results_from_body({"results": [
        {"entityRef": "COMPONENT:default/a", "checkId": "sast", "state": "passed"}]}, problems)
    assert not problems.errors
    with open_any(str(tmp_path / "store")) as store:
        store_pushed_results(store, first)
        store_pushed_results(store, second)
        kept = pushed_results(store)
        assert [(r.scope, r.state) for r in kept] == [("nightly", "passed"), ("default", "passed")]
        assert store.get_meta(PUSHED_KEY)["v"] == 1 and all(r.last_checked for r in kept)


PUSHER = """
import sys
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.results_store import results_from_body, store_pushed_results

store_path, who = sys.argv[1], sys.argv[2]
with open_any(store_path) as store:
    for i in range(25):
        problems = Problems()
        results, _ = results_from_body({"results": [
            {"entityRef": f"component:default/{who}-{i}", "checkId": "sast", "state": "passed"}]}, problems)
        store_pushed_results(store, results)
"""


def test_concurrent_pushers_in_several_processes_lose_nothing(tmp_path: Path):
    store_path = str(tmp_path / "store")
    with open_any(store_path):
        pass  # created once, before the writers race
    procs = [subprocess.Popen([sys.executable, "-c", PUSHER, store_path, who]) for who in ("x", "y", "z")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with open_any(store_path) as store:
        refs = {r.entity_ref for r in pushed_results(store)}
    assert refs == {f"component:default/{who}-{i}" for who in "xyz" for i in range(25)}
