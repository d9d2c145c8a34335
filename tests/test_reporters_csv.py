"""The ``csv`` reporter: parsed back with the ``csv`` module, one row per entity x check, documented columns."""

from __future__ import annotations

import csv
import io

from soundcheck_cli.reporters import csv_reporter
from test_reporters_common import ROOT, empty_report, sample_report


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_header_and_one_row_per_result():
    report = sample_report()
    text = csv_reporter.render(report, root=ROOT)
    assert text.splitlines()[0].split(",") == list(csv_reporter.COLUMNS)
    rows = _rows(text)
    assert [(r["entityRef"], r["checkId"], r["state"]) for r in rows] == [
        (r.entity_ref, r.check_id, r.state.value) for r in report.check_results]
    assert text.endswith("\r\n") and "\r\n" in text  # RFC 4180 line ends


def test_values_round_trip_including_commas_quotes_and_newlines():
    rows = {(r["entityRef"], r["checkId"]): r for r in _rows(csv_reporter.render(sample_report(), root=ROOT))}
    warn = rows[("component:default/payments-api", "lint_warn")]
    assert warn["message"] == "lint: 3 issues, 50% fixed: see a,b\nsecond line ::error::injected"
    assert warn["owner"] == "group:default/payments-team" and warn["tracks"] == "basic_hygiene"
    docs = rows[("component:default/docs-site", "has_owner")]
    assert (docs["sourceFile"], docs["sourceLine"], docs["entityKind"], docs["entityName"]) == (
        "docs/catalog-info.yaml", "3", "Component", "docs-site")
    assert rows[("component:default/payments-api", "pd_service")]["missingFacts"] == (
        "pagerduty:default/service (never collected)")
    assert rows[("component:default/legacy", "has_owner")]["owner"] == "(no owner)"
    assert rows[("component:default/payments-api", "has_docs")]["owner"] == "group:default/docs-guild"


def test_formula_like_cells_are_defused_unless_asked_not_to():
    key = ("component:default/legacy", "has_tier")
    safe = {(r["entityRef"], r["checkId"]): r for r in _rows(csv_reporter.render(sample_report()))}
    assert safe[key]["message"] == "'=1+2 is not a formula here"
    raw = {(r["entityRef"], r["checkId"]): r for r in _rows(csv_reporter.render(sample_report(), spreadsheet_safe=False))}
    assert raw[key]["message"] == "=1+2 is not a formula here"


def test_empty_report_has_only_the_header():
    assert _rows(csv_reporter.render(empty_report())) == []
