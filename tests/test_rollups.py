"""``soundcheck report`` and ``soundcheck trend`` on a generated catalog: every rollup number equals the sum
computed from ``check -f json`` for the same run; trends follow several recorded runs whose facts change; the
history's daily retention keeps a quarter of trend points."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.history.store import RunInfo, retained

GROUPS = {  # group -> parent (the hierarchy: org <- platform <- {infra, data}; org <- product <- checkout)
    "org": None, "platform": "org", "infra": "platform", "data": "platform", "product": "org", "checkout": "product",
}
SYSTEMS = {"shop": "commerce", "pipeline": "analytics", "lonely": None}  # system -> domain
OWNERS = ["infra", "data", "checkout", "product", "user:jdoe", None]

CONFIG = """\
catalog:
  locations: [{type: file, target: ./catalog.yaml}]
soundcheck:
  checks:
    - id: has_owner
      filter: {kind: [component, api]}
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: matches, value: '\\S'}
    - id: has_desc
      filter: {kind: [component, api]}
      rule: {factRef: catalog:default/entity_descriptor, path: $.metadata.description, operator: matches, value: '\\S'}
    - id: is_prod
      filter: {kind: component}
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.lifecycle, operator: equal, value: production}
  tracks:
    - id: hygiene
      filter: {kind: [component, api]}
      levels:
        - {ordinal: 1, checks: [{id: has_owner}]}
        - {ordinal: 2, checks: [{id: has_desc}]}
    - id: prod
      filter: {kind: component}
      levels:
        - {ordinal: 1, checks: [{id: is_prod}]}
"""


def entity_plan(n: int, described: int) -> list[dict]:
    """``n`` entities (components, every fifth an API) with owners, systems and lifecycles; the first
    ``described`` have a description."""
    plan = []
    for i in range(n):
        system = list(SYSTEMS)[i % 4] if i % 4 < 3 else None
        plan.append({"name": f"svc-{i:02d}", "kind": "API" if i % 5 == 4 else "Component",
                     "owner": OWNERS[i % len(OWNERS)], "system": system, "description": i < described,
                     "lifecycle": "production" if i % 3 else "experimental"})
    return plan


def write_workspace(root: Path, plan: list[dict]) -> None:
    docs = []
    for group, parent in GROUPS.items():
        spec = {"type": "team", "profile": {"email": f"{group}@example.com"}}
        if parent and group != "checkout":
            spec["parent"] = parent
        if group == "product":
            spec["children"] = ["checkout"]  # the other way of saying it: the parent lists its child
        docs.append({"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": group},
                     "spec": spec})
    docs.append({"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": {"name": "jdoe"},
                 "spec": {"memberOf": ["data"]}})
    for system, domain in SYSTEMS.items():
        docs.append({"apiVersion": "backstage.io/v1alpha1", "kind": "System", "metadata": {"name": system},
                     "spec": {"owner": "org", **({"domain": domain} if domain else {})}})
    for e in plan:
        meta = {"name": e["name"], **({"description": "described"} if e["description"] else {})}
        spec = {"type": "service", "lifecycle": e["lifecycle"]}
        if e["owner"]:
            spec["owner"] = e["owner"]
        if e["system"]:
            spec["system"] = e["system"]
        docs.append({"apiVersion": "backstage.io/v1alpha1", "kind": e["kind"], "metadata": meta, "spec": spec})
    (root / "catalog.yaml").write_text("\n---\n".join(json.dumps(d) for d in docs) + "\n")
    (root / "app-config.yaml").write_text(CONFIG)


def groups_of(entity: dict, by: str) -> list[str]:
    """The expected groups of a planned entity, computed independently of the code under test."""
    kind = entity["kind"].lower()
    if by == "kind":
        return [kind]
    if by == "owner":
        owner = entity["owner"]
        if not owner:
            return ["(no owner)"]
        return ["user:default/jdoe"] if owner == "user:jdoe" else [f"group:default/{owner}"]
    if by == "system":
        return [f"system:default/{entity['system']}"] if entity["system"] else ["(no system)"]
    if by == "domain":
        domain = SYSTEMS.get(entity["system"]) if entity["system"] else None
        return [f"domain:default/{domain}"] if domain else ["(no domain)"]
    owner = entity["owner"]
    if owner is None:
        return ["(no group)"]
    group = "data" if owner == "user:jdoe" else owner
    chain = []
    while group:
        chain.append(f"group:default/{group}")
        group = GROUPS[group]
    return chain


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_json(capsys) -> dict:
    code, out, _ = cli(capsys, "check", "-f", "json", "--store", "store")
    assert code == 1  # some checks fail
    return json.loads(out)


@pytest.mark.parametrize("by", ["owner", "group", "system", "domain", "kind"])
def test_rollup_numbers_equal_the_sums_of_the_json_report(workspace, capsys, by):
    plan = entity_plan(30, described=17)
    write_workspace(workspace, plan)
    doc = check_json(capsys)
    by_ref = {f"{e['kind'].lower()}:default/{e['name']}": e for e in plan}
    expected_checks: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    expected_entities: dict[str, set] = defaultdict(set)
    for r in doc["results"]:
        for g in groups_of(by_ref[r["entityRef"]], by):
            expected_checks[g][r["checkId"]][r["state"]] += 1
            expected_entities[g].add(r["entityRef"])
    expected_levels: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for c in doc["certifications"]:
        level = str(c["highestLevel"]["ordinal"]) if c["highestLevel"] else "none"
        for g in groups_of(by_ref[c["entityRef"]], by):
            expected_levels[g][c["trackId"]][level] += 1

    code, out, _ = cli(capsys, "report", "--by", by, "-f", "json", "--store", "store")
    assert code == 0
    rollup = json.loads(out)
    assert {g["group"] for g in rollup["groups"]} == set(expected_checks)
    for g in rollup["groups"]:
        name = g["group"]
        assert g["entities"] == len(expected_entities[name]), name
        assert {c["checkId"]: Counter(c["states"]) for c in g["checks"]} == expected_checks[name], name
        assert {t["trackId"]: Counter(t["levels"]) for t in g["tracks"]} == expected_levels[name], name
        states = sum(expected_checks[name].values(), Counter())
        applicable = sum(n for s, n in states.items() if s != "not-applicable")
        assert g["passRate"] == round((states["passed"] + states["exempt"]) / applicable, 4)
    # the total is the run's own summary
    assert rollup["total"]["states"] == {s: n for s, n in doc["summary"]["results"].items() if n}
    assert rollup["total"]["entities"] == len({r["entityRef"] for r in doc["results"]})
    if by == "group":  # a parent includes its subgroups: org holds every entity with an owner
        org = next(g for g in rollup["groups"] if g["group"] == "group:default/org")
        assert org["entities"] == sum(1 for e in plan if e["owner"])


def test_report_track_and_formats(workspace, capsys):
    write_workspace(workspace, entity_plan(12, described=5))
    check_json(capsys)
    code, out, _ = cli(capsys, "report", "--by", "owner", "--track", "prod", "-f", "json", "--store", "store")
    assert code == 0
    doc = json.loads(out)
    assert all([c["checkId"] for c in g["checks"]] == ["is_prod"] for g in doc["groups"])
    assert all([t["trackId"] for t in g["tracks"]] == ["prod"] for g in doc["groups"])
    assert "group:default/infra" in {g["group"] for g in doc["groups"]}
    code, out, _ = cli(capsys, "report", "--by", "group", "-f", "csv", "--store", "store")
    rows = list(csv.DictReader(io.StringIO(out)))
    org = next(r for r in rows if r["group"] == "group:default/org" and r["kind"] == "group")
    assert int(org["entities"]) == sum(1 for e in entity_plan(12, 5) if e["owner"])
    code, out, _ = cli(capsys, "report", "--by", "system", "-f", "markdown", "--store", "store")
    assert code == 0 and "| system:default/shop |" in out
    code, out, _ = cli(capsys, "report", "-f", "html", "--store", "store", "-o", "r.html")
    assert code == 0 and out == "" and "<table>" in (workspace / "r.html").read_text()
    code, out, _ = cli(capsys, "report", "--store", "store")
    assert code == 0 and "group:default/infra" in out and "Pass rate per check" in out


def test_report_errors(workspace, capsys):
    write_workspace(workspace, entity_plan(4, described=1))
    code, _, err = cli(capsys, "report", "--store", "store")
    assert code == 1 and "no runs recorded yet" in err
    check_json(capsys)
    for args, message in ((["--by", "team"], "unknown --by 'team'"), (["--track", "nope"], "unknown track 'nope'"),
                          (["-f", "pdf"], "unknown format 'pdf'"), (["--run", "x"], "no recorded run 'x'")):
        code, _, err = cli(capsys, "report", *args, "--store", "store")
        assert code == 2 and message in err and "Traceback" not in err
    code, _, err = cli(capsys, "trend", "--since", "soon", "--store", "store")
    assert code == 2 and "--since 'soon'" in err


def test_trend_across_runs_with_changing_facts(workspace, capsys):
    """Three `check` runs, more entities described each time: three points whose pass rates are the runs' own."""
    summaries = []
    for described in (2, 8, 14):
        write_workspace(workspace, entity_plan(15, described))
        summaries.append(check_json(capsys)["summary"]["results"])
    code, out, _ = cli(capsys, "trend", "-f", "json", "--store", "store")
    assert code == 0
    doc = json.loads(out)
    assert len(doc["runs"]) == 3 and [s["group"] for s in doc["series"]] == ["(all)"]
    rates = [p["passRate"] for p in doc["series"][0]["points"]]
    for rate, summary in zip(rates, summaries):
        applicable = sum(n for s, n in summary.items() if s != "not-applicable")
        assert rate == round(summary["passed"] / applicable, 4)
    assert rates[0] < rates[1] < rates[2]
    levels = [next(t for t in p["tracks"] if t["trackId"] == "hygiene")["levels"]
              for p in doc["series"][0]["points"]]
    # level 2 of hygiene: owned and described
    assert [lv.get("2", 0) for lv in levels] == [sum(1 for e in entity_plan(15, d) if e["owner"] and e["description"])
                                                for d in (2, 8, 14)]

    code, out, _ = cli(capsys, "trend", "--by", "owner", "--track", "hygiene", "-f", "csv", "--store", "store")
    rows = list(csv.DictReader(io.StringIO(out)))
    infra = [r for r in rows if r["group"] == "group:default/infra"]
    assert len(infra) == 3 and "hygiene:1" in rows[0] and "prod:1" not in rows[0]

    code, out, _ = cli(capsys, "trend", "--by", "group", "-f", "html", "--store", "store")
    assert code == 0 and "<svg" in out and out.count("<polyline") >= 5
    org_line = next(line for line in out.split("<polyline")[1:] if "group:default/org" in line)
    assert len(org_line.split('points="')[1].split('"')[0].split()) == 3  # one point per run

    code, out, _ = cli(capsys, "trend", "-f", "html", "--store", "store")
    # one line for the pass rate, one per track for the share of entities at its top level
    assert out.count("<polyline") == 3 and "hygiene: entities at level 2" in out and "prod: entities at level 1" in out
    hygiene = out.split("hygiene: entities at level 2")[1].split('points="')[1].split('"')[0].split()
    heights = [float(xy.split(",")[1]) for xy in hygiene]
    assert heights[0] > heights[1] > heights[2]  # more entities at level 2 each run: the line climbs (y goes down)

    code, out, _ = cli(capsys, "trend", "--since", "1h", "-f", "json", "--store", "store")
    assert len(json.loads(out)["runs"]) == 3


def test_trend_through_the_console_script(workspace, capsys):
    write_workspace(workspace, entity_plan(6, described=3))
    check_json(capsys)
    proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", "trend", "-f", "json", "--store", "store"],
                          capture_output=True, text=True, cwd=workspace, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["series"][0]["points"]) == 1


def test_daily_retention_keeps_a_quarter_of_points():
    t0 = datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    # 120 days, 5 runs a day
    runs = [RunInfo(f"r{d:03d}-{k}", t0 + timedelta(days=d, hours=2 * k)) for d in range(120) for k in range(5)]
    kept = retained(runs, keep=20, keep_daily=92)
    assert {r.id for r in runs[-20:]} <= kept
    daily = kept - {r.id for r in runs[-20:]}
    assert daily == {f"r{d:03d}-4" for d in range(120 - 92, 120 - 4)}  # the last 4 days are whole in the latest 20
    assert len(kept) == 20 + 88
    assert retained(runs, keep=3, keep_daily=0) == {r.id for r in runs[-3:]}


def test_group_cycle_and_keep_daily_errors(workspace, capsys):
    """A cycle in the Group hierarchy stops (each group counts an entity once); a bad keepDaily is a located error."""
    (workspace / "catalog.yaml").write_text("\n---\n".join([
        '{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "x"}, "spec": {"parent": "y"}}',
        '{"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "y"}, "spec": {"parent": "x"}}',
        '{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "s"}, '
        '"spec": {"owner": "x", "lifecycle": "production"}}']) + "\n")
    (workspace / "app-config.yaml").write_text(CONFIG)
    check_json(capsys)
    code, out, _ = cli(capsys, "report", "--by", "group", "-f", "json", "--store", "store")
    assert code == 0
    assert {g["group"]: g["entities"] for g in json.loads(out)["groups"]} == {"group:default/x": 1,
                                                                             "group:default/y": 1}
    (workspace / "app-config.yaml").write_text(CONFIG + "  history: {keepDaily: -1}\n")
    code, _, err = cli(capsys, "report", "--store", "store")
    assert code == 2 and "app-config.yaml:" in err and "'keepDaily' must be a whole number of days from 0 to 3660" in err


def test_entities_gone_from_the_catalog_are_reported_apart(workspace, capsys):
    plan = entity_plan(6, described=3)
    write_workspace(workspace, plan)
    check_json(capsys)
    write_workspace(workspace, plan[1:])  # svc-00 deleted since the run was recorded
    code, out, _ = cli(capsys, "report", "--by", "owner", "-f", "json", "--store", "store")
    groups = {g["group"]: g for g in json.loads(out)["groups"]}
    assert groups["(not in catalog)"]["entities"] == 1
    assert "group:default/infra" not in groups  # svc-00 was its only entity: it is counted apart now
    assert json.loads(out)["total"]["entities"] == 6  # the run as recorded
