"""The ``sarif`` reporter: validated with ``jsonschema`` against ``fixtures/reporters/sarif-2.1.0-subset.schema.json``,
this project's own schema of the SARIF 2.1.0 properties the reporter emits (see that directory's README); rules,
results, locations and the 25,000 cap."""

from __future__ import annotations

import json

import jsonschema
import pytest

from soundcheck_cli.reporters import sarif_reporter
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState
from test_reporters_common import FIXTURES, ROOT, empty_report, sample_report


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((FIXTURES / "sarif-2.1.0-subset.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _run(**options) -> dict:
    return json.loads(sarif_reporter.render(sample_report(), **options))["runs"][0]


def test_output_is_valid_sarif_2_1_0(validator):
    for report, options in ((sample_report(), {"root": ROOT}), (sample_report(), {}), (empty_report(), {}),
                            (sample_report(), {"max_results": 1})):
        doc = json.loads(sarif_reporter.render(report, **options))
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, errors[0].message
        assert doc["version"] == "2.1.0"


def test_the_schema_rejects_a_malformed_log(validator):
    doc = json.loads(sarif_reporter.render(sample_report()))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(doc)


def test_the_schema_catches_typos_and_spec_violations(validator):
    def broken(change) -> dict:
        doc = json.loads(sarif_reporter.render(sample_report(), root=ROOT))
        change(doc["runs"][0])
        return doc

    assert validator.is_valid(broken(lambda run: None))
    assert not validator.is_valid(broken(lambda run: run["results"][0].update(ruleID="has_docs")))  # misspelt key
    assert not validator.is_valid(broken(lambda run: run["results"][0]["message"].pop("text")))
    assert not validator.is_valid(broken(lambda run: run["results"][0]["locations"][0]["physicalLocation"]["region"]
                                         .update(startLine=0)))
    assert not validator.is_valid(broken(lambda run: run["results"][-1]["suppressions"][0].update(kind="ignored")))
    assert not validator.is_valid(broken(lambda run: run["tool"]["driver"]["rules"][0].pop("id")))
    # SARIF: a result whose kind is not "fail" has level "none"; a uri with a uriBaseId is relative
    assert not validator.is_valid(broken(lambda run: run["results"][0].update(kind="pass")))
    assert not validator.is_valid(broken(lambda run: run["results"][0]["locations"][0]["physicalLocation"]
                                         ["artifactLocation"].update(uri="file:///repo/x.yaml")))


def test_a_rule_per_check_with_its_tracks_as_tags():
    rules = _run()["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["has_owner", "has_docs", "lint_warn", "pd_service", "regex_check", "has_tier"]
    by_id = {r["id"]: r for r in rules}
    assert by_id["has_docs"]["fullDescription"]["text"] == "Has a TechDocs annotation"
    assert by_id["has_docs"]["properties"] == {"tags": ["basic_hygiene"], "ownerEntityRef": "group:default/docs-guild"}
    assert by_id["lint_warn"]["defaultConfiguration"]["level"] == "warning"
    assert by_id["has_owner"]["defaultConfiguration"]["level"] == "error"
    assert "properties" not in by_id["has_tier"]


def test_a_result_per_entity_and_check_that_did_not_pass_and_exempt_ones_suppressed():
    run = _run(root=ROOT)
    got = {(r["ruleId"], r["properties"]["entityRef"]): r for r in run["results"]}
    assert set(got) == {
        ("has_owner", "component:default/docs-site"), ("has_docs", "component:default/payments-api"),
        ("lint_warn", "component:default/payments-api"), ("pd_service", "component:default/payments-api"),
        ("regex_check", "component:default/payments-api"), ("has_tier", "component:default/payments-api")}
    assert [r["level"] for r in run["results"][:2]] == ["error", "error"]  # failed results come first
    assert got[("lint_warn", "component:default/payments-api")]["level"] == "warning"
    assert got[("pd_service", "component:default/payments-api")]["message"]["text"].endswith(
        "(missing: pagerduty:default/service (never collected))")
    exempt = got[("has_tier", "component:default/payments-api")]
    assert exempt["suppressions"] == [{"kind": "external", "justification": exempt["message"]["text"]}]
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    assert "suppressions" not in got[("has_docs", "component:default/payments-api")]


def test_results_are_located_at_the_entity_catalog_file_and_line():
    run = _run(root=ROOT)
    got = {(r["ruleId"], r["properties"]["entityRef"]): r["locations"][0] for r in run["results"]}
    docs = got[("has_owner", "component:default/docs-site")]
    assert docs["physicalLocation"] == {"artifactLocation": {"uri": "docs/catalog-info.yaml", "uriBaseId": "%SRCROOT%"},
                                        "region": {"startLine": 3, "startColumn": 1}}
    assert docs["logicalLocations"] == [{"fullyQualifiedName": "component:default/docs-site", "kind": "resource"}]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///repo/"}}
    payments = got[("has_docs", "component:default/payments-api")]
    assert payments["physicalLocation"]["artifactLocation"]["uri"] == "catalog/payments/catalog-info.yaml"
    # outside the root: an absolute file URI; no root given: nothing relative is invented
    outside = {(r["ruleId"], r["properties"]["entityRef"]): r["locations"][0]
               for r in _run(root="/elsewhere")["results"]}
    assert outside[("has_owner", "component:default/docs-site")]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///repo/docs/catalog-info.yaml"}


def test_fingerprints_are_stable_and_distinct():
    first = [r["partialFingerprints"] for r in _run()["results"]]
    assert first == [r["partialFingerprints"] for r in _run(root=ROOT)["results"]]
    assert len({f["soundcheckResult/v1"] for f in first}) == len(first)


def test_results_are_capped_at_githubs_limit_and_the_run_says_so():
    base = sample_report()
    many = tuple(CheckResult("has_owner", f"component:default/svc-{i}", CheckState.FAILED, "no owner")
                 for i in range(sarif_reporter.GITHUB_MAX_RESULTS + 7))
    report = RunReport(base.generated_at, base.entities, base.checks, base.tracks, many, ())
    run = sarif_reporter.to_document(report)["runs"][0]
    assert len(run["results"]) == 25_000
    assert run["properties"]["resultsTruncated"] is True
    assert run["properties"]["resultsTotal"] == 25_007
    assert "7 of 25007 results were left out" in run["properties"]["note"]
    uncapped = _run()
    assert uncapped["properties"] == {"resultsTotal": 6, "resultsTruncated": False}


def test_a_small_cap_keeps_failures_before_warnings_and_exemptions():
    run = _run(max_results=2)
    assert [r["properties"]["state"] for r in run["results"]] == ["failed", "failed"]
    assert run["properties"]["resultsLimit"] == 2
