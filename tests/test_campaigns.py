"""Campaigns (issue 21) through the CLI: ``soundcheck campaigns`` progress per owner equals what the JSON report of
``check --campaign`` gives, on the sample and on generated catalogs; every format; ``--fail-on overdue``; located
config errors."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from soundcheck_cli import app as core
from soundcheck_cli.cli.commands import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample-config" / "app-config.yaml"
HOLDING = {"failed", "not-reported", "error"}


def owners_of(config_paths: list[str], cwd: str) -> dict[str, str]:
    ws = core.load_workspace(core.CommonOptions(config_paths=tuple(config_paths), cwd=cwd, environ={}))
    return {str(e.ref): str(e.spec.get("owner") or "(no owner)") for e in ws.entities}


def expected_from_report(report: dict, owners: dict[str, str], checks: set[str],
                         levels: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Per owner (done, total), from the JSON report of `check --campaign` (which holds the campaign's entities)."""
    results = defaultdict(list)
    for r in report["results"]:
        if r["checkId"] in checks:
            results[r["entityRef"]].append(r["state"])
    reached = defaultdict(dict)
    for c in report["certifications"]:
        if c["trackId"] in levels:
            reached[c["entityRef"]][c["trackId"]] = (c.get("highestLevel") or {}).get("ordinal") or 0
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ref in set(results) | set(reached):
        states = results.get(ref, [])
        if not reached.get(ref) and all(s == "not-applicable" for s in states):
            continue
        done = not any(s in HOLDING for s in states) and all(
            got >= levels[track] for track, got in reached[ref].items())
        tally[owners[ref]][0] += done
        tally[owners[ref]][1] += 1
    return {owner: (d, t) for owner, (d, t) in tally.items()}


def progress_json(capsys, args: list[str]) -> dict:
    capsys.readouterr()
    assert run_cli(["campaigns", *args, "-f", "json"]) == 0
    return json.loads(capsys.readouterr().out)["campaigns"][0]


def report_json(capsys, args: list[str]) -> dict:
    capsys.readouterr()
    assert run_cli(["check", *args, "-f", "json", "--exit-zero"]) == 0
    return json.loads(capsys.readouterr().out)


SAMPLE_CAMPAIGN = """\
soundcheck:
  campaigns:
    - id: findable
      name: Make every component findable
      ownerEntityRef: group:default/platform-team
      checks: [has_description, has_tags, production_has_pagerduty_annotation]
      levels: [{trackId: basic_hygiene, level: 1}]
      filter: {kind: Component}
      startDate: 2026-01-01
      endDate: 2999-12-31
"""


def test_sample_campaign_per_owner_counts_match_the_json_report(tmp_path, capsys):
    extra = tmp_path / "campaigns.yaml"
    extra.write_text(SAMPLE_CAMPAIGN)
    common = ["-c", str(SAMPLE), "-c", str(extra), "--store", str(tmp_path / "store")]
    doc = progress_json(capsys, ["findable", *common])
    report = report_json(capsys, ["--campaign", "findable", *common])
    owners = owners_of([str(SAMPLE), str(extra)], str(tmp_path))
    expected = expected_from_report(report, owners, {"has_description", "has_tags",
                                                     "production_has_pagerduty_annotation"}, {"basic_hygiene": 1})
    got = {o["owner"]: (o["done"], o["total"]) for o in doc["owners"]}
    assert got == expected and sum(t for _, t in got.values()) > 3
    assert doc["progress"]["total"] == sum(t for _, t in expected.values())
    assert doc["status"] in ("active", "complete") and doc["overdue"] is False and doc["daysLeft"] > 0
    # The report of --campaign holds only the campaign's entities (components) and its checks' and track's results.
    assert all(r["entityRef"].startswith("component:") for r in report["results"])


def generated(tmp_path: Path, seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        spec = {"type": "service", "lifecycle": rng.choice(["production", "experimental"])}
        if rng.random() < 0.9:
            spec["owner"] = f"team-{rng.randrange(6)}"
        meta = {"name": f"svc-{i}"}
        if rng.random() < 0.6:
            meta["description"] = "a service"
        if rng.random() < 0.5:
            meta["tags"] = ["python"]
        docs.append(json.dumps({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": meta,
                                "spec": spec}))
    (tmp_path / "catalog.yaml").write_text("\n---\n".join(docs) + "\n")
    (tmp_path / "app-config.yaml").write_text("""\
catalog:
  locations: [{type: file, target: ./catalog.yaml}]
soundcheck:
  checks:
    - id: has_description
      rule: {factRef: catalog:default/entity_descriptor, path: $.metadata.description, operator: matches, value: '\\S'}
    - id: has_tags
      rule: {factRef: catalog:default/entity_descriptor, path: '$.metadata.tags[0]', operator: matches, value: '\\S'}
    - id: prod_only
      filter: {spec.lifecycle: production}
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: matches, value: '\\S'}
  tracks:
    - id: docs
      levels:
        - {ordinal: 1, checks: [{id: has_description}]}
        - {ordinal: 2, checks: [{id: has_tags}]}
  campaigns:
    - id: docs-drive
      checks: [prod_only]
      levels: [{trackId: docs, level: 2}]
      filter: {spec.lifecycle: production}
      endDate: 2999-01-01
    - id: overdue-drive
      checks: [has_tags]
      endDate: 2020-01-01
""")
    return ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]


@pytest.mark.parametrize("seed,count", [(1, 40), (7, 150)])
def test_generated_campaign_per_owner_counts_match_the_json_report(tmp_path, capsys, seed, count):
    common = generated(tmp_path, seed, count)
    doc = progress_json(capsys, ["docs-drive", *common])
    report = report_json(capsys, ["--campaign", "docs-drive", *common])
    owners = owners_of([str(tmp_path / "app-config.yaml")], str(tmp_path))
    expected = expected_from_report(report, owners, {"prod_only"}, {"docs": 2})
    assert {o["owner"]: (o["done"], o["total"]) for o in doc["owners"]} == expected
    remaining = {r["entityRef"] for r in doc["remaining"]}
    assert len(remaining) == doc["progress"]["total"] - doc["progress"]["done"]
    # csv: one row per entity of the campaign, done or not, agreeing with json
    capsys.readouterr()
    assert run_cli(["campaigns", "docs-drive", *common, "-f", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == doc["progress"]["total"]
    assert {r["entityRef"] for r in rows if r["done"] == "false"} == remaining


def test_overdue_campaign_is_marked_in_every_format_and_fails_the_gate(tmp_path, capsys):
    common = generated(tmp_path, 3, 30)
    doc = progress_json(capsys, ["overdue-drive", *common])
    assert doc["overdue"] is True and doc["status"] == "overdue" and doc["daysLeft"] < 0
    for fmt in ("table", "markdown"):
        capsys.readouterr()
        assert run_cli(["campaigns", *common, "-f", fmt]) == 0
        assert "OVERDUE" in capsys.readouterr().out
    capsys.readouterr()
    assert run_cli(["check", "--campaign", "overdue-drive", "--fail-on", "overdue", *common, "-q"]) == 1
    assert "campaign overdue-drive is past its deadline" in capsys.readouterr().err
    # Before its deadline, --fail-on overdue reports without failing (docs-drive ends in 2999).
    assert run_cli(["check", "--campaign", "docs-drive", "--fail-on", "overdue", *common, "-q"]) == 0
    assert run_cli(["check", "--fail-on", "overdue", *common]) == 2  # needs --campaign
    assert run_cli(["check", "--campaign", "nope", *common]) == 2


def test_campaign_config_errors_are_located(tmp_path, capsys):
    common = generated(tmp_path, 1, 3)
    config = tmp_path / "app-config.yaml"
    text = config.read_text()
    config.write_text(text.replace("checks: [has_tags]", "checks: [no_such]").replace(
        "levels: [{trackId: docs, level: 2}]", "levels: [{trackId: docs, level: 9}]"))
    capsys.readouterr()
    assert run_cli(["validate", *common]) == 2
    err = capsys.readouterr().err
    lines = config.read_text().splitlines()
    assert f"app-config.yaml:{next(i for i, l in enumerate(lines, 1) if 'no_such' in l)}:" in err
    assert "undefined check 'no_such'" in err and "track 'docs' has no level 9" in err
