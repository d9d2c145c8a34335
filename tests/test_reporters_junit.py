"""The ``junit`` reporter: parsed-structure assertions, and validation with ``xmlschema`` against
``fixtures/reporters/junit.xsd``, this project's own schema of the JUnit XML dialect CI servers read (see that
directory's README)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from soundcheck_cli.reporters import junit_reporter
from test_reporters_common import FIXTURES, ROOT, empty_report, sample_report

XSD = FIXTURES / "junit.xsd"


def _validate(text: str) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(XSD)).validate(text)


def _cases(suite: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}


def test_output_is_valid_against_the_junit_xsd():
    _validate(junit_reporter.render(sample_report(), root=ROOT))
    _validate(junit_reporter.render(sample_report(), warning_as_failure=True))
    _validate(junit_reporter.render(empty_report()))


def test_the_xsd_rejects_what_ci_servers_reject():
    # Guards the validation itself: a testsuite without its required `tests` attribute is invalid.
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    assert not schema.is_valid('<testsuites><testsuite name="x"><testcase name="y"/></testsuite></testsuites>')
    assert not schema.is_valid('<testsuites><testsuite name="x"><testcase name="y" classname="c"/>'
                               '</testsuite></testsuites>')
    # ... and the schema is not vacuous: the same document with the attributes CI servers require is valid,
    assert schema.is_valid('<testsuites><testsuite name="x" tests="1"><testcase name="y" classname="c"/>'
                           '</testsuite></testsuites>')
    # but two outcomes on one test case, an unknown attribute or a child out of order are not.
    assert not schema.is_valid('<testsuite name="x" tests="1"><testcase name="y" classname="c">'
                               '<failure/><error/></testcase></testsuite>')
    assert not schema.is_valid('<testsuite name="x" tests="1" flaky="1"><testcase name="y" classname="c"/>'
                               '</testsuite>')
    assert not schema.is_valid('<testsuite name="x" tests="1"><testcase name="y" classname="c"/>'
                               '<properties/></testsuite>')


def test_one_suite_per_track_plus_one_for_checks_in_no_track():
    top = ET.fromstring(junit_reporter.render(sample_report(), root=ROOT))
    suites = top.findall("testsuite")
    assert [s.get("id") for s in suites] == ["basic_hygiene", "ops", "soundcheck.standalone"]
    assert suites[0].get("name") == "Basic Catalog Hygiene (basic_hygiene)"
    assert suites[2].get("name") == junit_reporter.STANDALONE_SUITE
    # one testcase per entity x check of the track: 3 entities x 3 checks, 3 x 2, and 3 x has_tier
    assert [len(s.findall("testcase")) for s in suites] == [9, 6, 3]
    assert {c.get("name") for c in suites[2].iter("testcase")} == {"has_tier"}
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["soundcheck.ownerEntityRef"] == "group:default/platform-team"


def test_states_map_to_failure_error_and_skipped():
    top = ET.fromstring(junit_reporter.render(sample_report(), root=ROOT))
    hygiene, ops, alone = top.findall("testsuite")
    cases = _cases(hygiene) | _cases(ops) | _cases(alone)
    failed = cases[("component:default/payments-api", "has_docs")]
    failure = failed.find("failure")
    assert failure.get("type") == "failed"
    assert failure.get("message").startswith("No docs <script>")  # parsed back: escaped in the file
    assert "track: basic_hygiene (2. Silver)" in failure.text
    assert cases[("component:default/payments-api", "pd_service")].find("error").get("type") == "not-reported"
    assert "missing facts: pagerduty:default/service" in cases[("component:default/payments-api", "pd_service")].find("error").text
    assert cases[("component:default/payments-api", "regex_check")].find("error").get("type") == "error"
    skipped = cases[("component:default/payments-api", "has_tier")].find("skipped")
    assert skipped.get("type") == "exempt" and "migrating to tier 1" in skipped.get("message")
    assert cases[("component:default/docs-site", "pd_service")].find("skipped").get("type") == "not-applicable"
    passed = cases[("component:default/legacy", "has_owner")]
    assert list(passed) == []
    warning = cases[("component:default/payments-api", "lint_warn")]
    assert warning.find("failure") is None and warning.find("system-out").text.startswith("warning: lint: 3 issues")


def test_counts_on_suites_and_root_match_the_children():
    top = ET.fromstring(junit_reporter.render(sample_report()))
    for suite in top.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        for attr, child in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            assert int(suite.get(attr)) == sum(1 for c in cases if c.find(child) is not None)
    assert (top.get("tests"), top.get("failures"), top.get("errors")) == ("18", "2", "2")


def test_warning_as_failure_turns_warnings_into_failures():
    top = ET.fromstring(junit_reporter.render(sample_report(), warning_as_failure=True))
    case = _cases(top.find("testsuite"))[("component:default/payments-api", "lint_warn")]
    assert case.find("failure").get("type") == "warning"
    assert top.get("failures") == "3"


def test_testcases_point_at_the_catalog_file_and_line():
    top = ET.fromstring(junit_reporter.render(sample_report(), root=ROOT))
    cases = _cases(top.find("testsuite"))
    assert (cases[("component:default/docs-site", "has_owner")].get("file"),
            cases[("component:default/docs-site", "has_owner")].get("line")) == ("docs/catalog-info.yaml", "3")
    assert cases[("component:default/payments-api", "has_owner")].get("file") == "catalog/payments/catalog-info.yaml"
    assert cases[("component:default/legacy", "has_owner")].get("file") is None


def test_control_characters_never_make_the_xml_invalid():
    text = junit_reporter.render(sample_report())
    assert "\x07" not in text
    failure = _cases(ET.fromstring(text).find("testsuite"))[("component:default/docs-site", "has_owner")].find("failure")
    assert failure.get("message") == "docs-site has no owner:\ufffd set spec.owner in its catalog-info.yaml."
