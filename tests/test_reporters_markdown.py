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


def test_big_runs_count_each_check_and_show_ten_rows_per_owner_and_check():
    from test_reporters_table import _big_report

    report = _big_report(1_000, 2)  # every other entity fails each check; one owner
    text = markdown_reporter.render(report)
    by_check = text.split("### Checks that did not pass, by check")[1].split("###")[0]
    assert "| <code>check_0</code> | 500 |  |  |  |" in by_check
    assert "| <code>check_1</code> | 500 |  |  |  |" in by_check
    rows = [line for line in text.splitlines() if line.startswith("| ❌ failed | <code>check_0</code>")]
    assert len(rows) == 11
    assert rows[-1] == "| ❌ failed | <code>check_0</code> | _… and 490 more_ | use `--all` or the `json` report |"
    assert "more not shown" not in text  # every result is either shown or counted
    everything = markdown_reporter.render(report, show_all=True)
    assert sum(1 for line in everything.splitlines() if line.startswith("| ❌ failed")) == 1_000
    assert "more_ |" not in everything


def test_the_row_cap_still_holds_with_the_per_check_limit():
    from test_reporters_table import _big_report

    text = markdown_reporter.render(_big_report(200, 30), max_rows=100)
    assert sum(1 for line in text.splitlines() if line.startswith("| ❌ failed") and "more_ |" not in line) == 100
    assert "more not shown (limit 100); see the full report._" in text
