"""The ``markdown`` reporter: a golden file of the sample report, and the escaping, grouping and cap."""

from __future__ import annotations

from soundcheck_cli.reporters import markdown_reporter
from test_reporters_common import empty_report, golden, sample_report


def test_golden_markdown():
    golden("sample.golden.md", markdown_reporter.render(sample_report()))


def test_per_track_table_counts_levels_reached_and_certified():
    text = markdown_reporter.render(sample_report())
    section = text.split("### Basic Catalog Hygiene")[1].split("###")[0]
    assert "| none | 1 | |" in section
    assert "| 1. Bronze | 1 | 2 |" in section  # legacy and payments-api certified at Bronze
    assert "| 2. Silver | 1 | 2 |" in section  # docs-site certified at Silver, but not at Bronze
    assert "1/3 entities reached the top level." in section


def test_failing_checks_are_grouped_by_check_owner_then_entity_owner():
    text = markdown_reporter.render(sample_report())
    owners = [line[5:].rsplit(" (", 1)[0] for line in text.splitlines() if line.startswith("#### ")]
    assert owners == ["group:default/docs-guild", "group:default/payments-team", "group:default/platform-team"]
    docs_guild = text.split("#### group:default/docs-guild")[1].split("####")[0]
    assert "has\\_docs" not in docs_guild and "<code>has_docs</code>" in docs_guild  # check owner wins
    assert "exempt" not in text.split("by owner")[1]  # exempt and not-applicable are not "did not pass"


def test_messages_cannot_inject_html_or_break_the_table():
    text = markdown_reporter.render(sample_report())
    assert "<script>" not in text
    assert "No docs &lt;script&gt;alert('x')&lt;/script&gt; \\| see \\`mkdocs.yml\\` &amp; \\*fix\\* it" in text
    row = next(line for line in text.splitlines() if "lint: 3 issues" in line)
    assert "<br>second line" in row  # one table row, whatever the newlines
    assert row.count(" | ") == 3


def test_long_lists_are_cut_with_a_note():
    text = markdown_reporter.render(sample_report(), max_rows=2)
    rows = [line for line in text.splitlines() if line.startswith("| ❌") or line.startswith("| 💥")
            or line.startswith("| ❔") or line.startswith("| ⚠️")]
    assert len(rows) == 2
    assert "_3 more not shown (limit 2); see the full report._" in text


def test_a_clean_run_says_so():
    assert "None: every evaluated check passed." in markdown_reporter.render(empty_report())
