"""The report every reporter test renders (``sample_report``), golden-file helpers, and tests of the helpers in
``reporters/common.py`` and of the ``Format`` registry.

The report is built by hand (not from the sample config) so that golden files change only when a reporter does:
three entities (one with a relative source, one absolute, one without), two tracks and a check in no track, and
every check state, with messages that carry HTML, Markdown, CSV and workflow-command special characters.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from soundcheck_cli import reporters
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Location, Problem, Severity, UsageError
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.reporters import common
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckResult, CheckState, Condition
from soundcheck_cli.tracks.certification import certify
from soundcheck_cli.tracks.model import Level, LevelCheck, Track

FIXTURES = Path(__file__).parent / "fixtures" / "reporters"
ROOT = "/repo"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
EVIL = "No docs <script>alert('x')</script> | see `mkdocs.yml` & *fix* it"
MULTILINE = "lint: 3 issues, 50% fixed: see a,b\nsecond line ::error::injected"


def _entity(name: str, owner: str | None, source: Location | None) -> Entity:
    spec = {"type": "service", "lifecycle": "production"}
    if owner:
        spec["owner"] = owner
    return Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                             "metadata": {"name": name}, "spec": spec}, source)


def _check(check_id: str, **kwargs) -> Check:
    rule = Condition(FactRef("catalog", "default", "entity_descriptor"), "$.spec.owner", "exists", True)
    return Check(id=check_id, rule=rule, **kwargs)


def sample_report() -> RunReport:
    entities = (
        _entity("payments-api", "payments-team", Location("catalog/payments/catalog-info.yaml", 1, 1)),
        _entity("docs-site", "group:default/platform-team", Location("/repo/docs/catalog-info.yaml", 3, 1)),
        _entity("legacy", None, None),
    )
    checks = (
        _check("has_owner", name="Has an owner"),
        _check("has_docs", name="Has docs", description="Has a TechDocs annotation",
               owner_entity_ref="group:default/docs-guild"),
        _check("lint_warn", warning=True),
        _check("pd_service", name="PagerDuty service"),
        _check("regex_check"),
        _check("has_tier", name="Has a tier"),
    )
    tracks = (
        Track("basic_hygiene", (Level(1, (LevelCheck("has_owner"),), "Bronze"),
                                Level(2, (LevelCheck("has_docs"), LevelCheck("lint_warn")), "Silver")),
              name="Basic Catalog Hygiene", owner_entity_ref="group:default/platform-team"),
        Track("ops", (Level(1, (LevelCheck("pd_service"), LevelCheck("regex_check"))),)),
    )
    S = CheckState
    table = {
        "component:default/payments-api": [
            ("has_owner", S.PASSED, "payments-api has an owner"),
            ("has_docs", S.FAILED, EVIL),
            ("lint_warn", S.WARNING, MULTILINE),
            ("pd_service", S.NOT_REPORTED, "not reported: pagerduty:default/service (never collected)"),
            ("regex_check", S.ERROR, "invalid regular expression '(': missing )"),
            ("has_tier", S.EXEMPT, "exempt: migrating to tier 1 (by jane, until 2027-01-01)"),
        ],
        "component:default/docs-site": [
            ("has_owner", S.FAILED, "docs-site has no owner:\x07 set spec.owner in its catalog-info.yaml."),
            ("has_docs", S.PASSED, ""),
            ("lint_warn", S.PASSED, "ok"),
            ("pd_service", S.NOT_APPLICABLE, "not applicable: no pagerduty.com/service-id annotation"),
            ("regex_check", S.PASSED, "ok"),
            ("has_tier", S.PASSED, "ok"),
        ],
        "component:default/legacy": [
            ("has_owner", S.PASSED, "ok"),
            ("has_docs", S.PASSED, "ok"),
            ("lint_warn", S.PASSED, "ok"),
            ("pd_service", S.PASSED, "ok"),
            ("regex_check", S.PASSED, "ok"),
            ("has_tier", S.NOT_APPLICABLE, "=1+2 is not a formula here"),
        ],
    }
    results: list[CheckResult] = []
    for check in checks:  # config order, as evaluation reports them
        for ref, rows in table.items():
            for cid, state, message in rows:
                if cid == check.id:
                    missing = ("pagerduty:default/service (never collected)",) if state is S.NOT_REPORTED else ()
                    results.append(CheckResult(cid, ref, state, message, missing))
    by_entity = {ref: {r.check_id: r for r in results if r.entity_ref == ref} for ref in table}
    track_results = tuple(certify(t, e, by_entity[str(e.ref)]) for t in tracks for e in entities)
    problems = (Problem("unknown key 'ownr'", Location("catalog/x.yaml", 4, 3), Severity.WARNING),)
    return RunReport(NOW, entities, checks, tracks, tuple(results), track_results, problems)


def empty_report() -> RunReport:
    return RunReport(NOW, (), (), (), (), ())


def golden(name: str, text: str) -> None:
    """Compare with ``fixtures/reporters/<name>``; ``SOUNDCHECK_UPDATE_GOLDEN=1`` rewrites it instead."""
    path = FIXTURES / name
    if os.environ.get("SOUNDCHECK_UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes().decode("utf-8") == text, f"{name} differs (see tests/fixtures/reporters/README.md)"


# --- tests of the helpers ---------------------------------------------------------------------------------------
def test_every_format_has_a_render_function_and_unknown_ones_are_usage_errors():
    assert set(reporters.FORMATS) == {"table", "json", "junit", "markdown", "sarif", "html", "csv", "github"}
    report = sample_report()
    for name in reporters.FORMATS:
        text = reporters.get(name)(report, color=False, width=100, root=ROOT)
        assert isinstance(text, str) and text
    with pytest.raises(UsageError, match="choose one of: table, json, junit"):
        reporters.get("yaml")


def test_every_format_renders_an_empty_report():
    for name in reporters.FORMATS:
        assert isinstance(reporters.get(name)(empty_report()), str)


def test_owner_prefers_the_check_owner_then_the_entity_owner_read_as_a_group():
    report = sample_report()
    index = common.build_index(report)
    payments = index.entity("component:default/payments-api")
    assert common.owner_of(index.check("has_docs"), payments) == "group:default/docs-guild"
    assert common.owner_of(index.check("has_owner"), payments) == "group:default/payments-team"
    assert common.owner_of(None, index.entity("component:default/legacy")) == common.NO_OWNER


def test_index_finds_entities_case_insensitively_and_knows_track_membership():
    index = common.build_index(sample_report())
    assert index.entity("Component:Default/Legacy").name == "legacy"
    assert index.tracks_of_check["has_docs"] == ("basic_hygiene",)
    assert [c.id for c in common.standalone_checks(sample_report(), index)] == ["has_tier"]


def test_source_paths_are_made_relative_to_the_root_when_under_it():
    index = common.build_index(sample_report())
    docs = common.source_of(index.entity("component:default/docs-site"), ROOT)
    assert (docs.path, docs.relative, docs.line) == ("docs/catalog-info.yaml", True, 3)
    outside = common.source_of(index.entity("component:default/docs-site"), "/elsewhere")
    assert (outside.path, outside.relative) == ("/repo/docs/catalog-info.yaml", False)
    assert common.source_of(index.entity("component:default/legacy"), ROOT) is None


def test_level_distribution_counts_the_highest_level_reached():
    report = sample_report()
    hygiene = report.tracks[0]
    # payments-api: Bronze (has_docs failed at Silver); docs-site: none (no owner); legacy: Silver
    assert common.level_distribution(hygiene, common.track_rows(report, hygiene)) == [
        ("none", 1), ("1. Bronze", 1), ("2. Silver", 1)]


def test_clean_text_replaces_control_characters_but_keeps_newlines_and_tabs():
    assert common.clean_text("a\x00b\x07c\td\ne") == "a\ufffdb\ufffdc\td\ne"


def test_summary_line_counts_in_the_singular_where_there_is_one():
    """Issue 17 item 7: "1 results for 1 entities" read wrong in every CI log of a one-entity run."""
    from datetime import datetime, timezone

    from soundcheck_cli.reporters.common import summary_line
    from soundcheck_cli.results import RunReport
    from soundcheck_cli.rules.model import CheckResult, CheckState

    def report(results):
        return RunReport(generated_at=datetime(2026, 1, 1, tzinfo=timezone.utc), entities=(), checks=(), tracks=(),
                         check_results=tuple(results), track_results=(), problems=())

    one = CheckResult("c", "component:default/a", CheckState.PASSED)
    assert summary_line(report([one])) == "1 result for 1 entity: 1 passed"
    two = CheckResult("d", "component:default/a", CheckState.FAILED)
    assert summary_line(report([one, two])) == "2 results for 1 entity: 1 passed, 1 failed"
