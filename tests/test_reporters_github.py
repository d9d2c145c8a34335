"""The ``github`` reporter (workflow commands) and its use by the CLI: annotations on stderr under
``GITHUB_ACTIONS=true``, ``--summary`` appending Markdown to ``$GITHUB_STEP_SUMMARY``, ``-f``/``-o`` pairs."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.reporters import github_reporter
from test_reporters_common import ROOT, golden, sample_report

SAMPLE = str(Path(__file__).resolve().parent.parent / "sample-config" / "app-config.yaml")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PAGERDUTY_TOKEN", "SOUNDCHECK_STORE", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE",
                "GITHUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def test_escaping_follows_the_actions_toolkit():
    assert github_reporter.escape_data("50% a:b,c\r\nd") == "50%25 a:b,c%0D%0Ad"
    assert github_reporter.escape_property("50% a:b,c\r\nd") == "50%25 a%3Ab%2Cc%0D%0Ad"
    assert github_reporter.command("error", "m\n::warning::x", file="a,b:c.yaml", line=3, col=None, title="t") == (
        "::error file=a%2Cb%3Ac.yaml,line=3,title=t::m%0A::warning::x")
    assert github_reporter.command("notice", "plain") == "::notice::plain"


def test_golden_workflow_commands():
    golden("sample.golden.github.txt", github_reporter.render(sample_report(), root=ROOT))


def test_one_command_per_check_that_did_not_pass_each_on_one_line():
    lines = github_reporter.render(sample_report(), root=ROOT).splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["::error"] * 4 + ["::warning"]
    assert lines[0].startswith("::error file=docs/catalog-info.yaml,line=3,col=1,title=Has an owner (failed)%3A "
                               "component%3Adefault/docs-site::docs-site has no owner:\ufffd set")
    warning = lines[-1]
    assert warning.endswith("::lint: 3 issues, 50%25 fixed: see a,b%0Asecond line ::error::injected")


def test_annotations_are_capped_with_a_notice():
    lines = github_reporter.render(sample_report(), max_annotations=2).splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("::notice title=soundcheck::soundcheck: 3 more checks did not pass")


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_on_github_actions_annotations_go_to_stderr_and_stdout_stays_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(Path(SAMPLE).parent.parent))
    code, out, err = _cli(capsys, "check", "-c", SAMPLE, "--store", str(tmp_path / "s"), "-f", "json", "-q")
    assert code == 1
    json.loads(out)  # nothing but the JSON document on stdout
    errors = [line for line in err.splitlines() if line.startswith("::error ")]
    assert errors and all("file=catalog-fixtures/" in line for line in errors if "file=" in line)
    assert any(line.startswith("::warning ") for line in err.splitlines())


def test_without_github_actions_there_are_no_annotations(capsys, tmp_path):
    _, _, err = _cli(capsys, "check", "-c", SAMPLE, "--store", str(tmp_path / "s"), "-f", "json", "-q")
    assert "::error" not in err


def test_format_github_on_stdout_is_not_repeated_on_stderr(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _, out, err = _cli(capsys, "check", "-c", SAMPLE, "--store", str(tmp_path / "s"), "-f", "github", "-q")
    assert out.startswith("::") and "::error" not in err


def test_summary_appends_markdown_to_the_step_summary(capsys, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for _ in range(2):
        code, out, _ = _cli(capsys, "check", "-c", SAMPLE, "--store", str(tmp_path / "s"), "--summary", "-q")
        assert code == 1 and "results for" in out  # the table still goes to stdout
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")
    assert text.count("## Soundcheck results") == 2
    assert "### Checks that did not pass, by owner" in text


def test_summary_without_the_variable_is_a_warning_not_a_failure(capsys, tmp_path):
    code, _, err = _cli(capsys, "check", "-c", SAMPLE, "--store", str(tmp_path / "s"), "--summary", "-q")
    assert code == 1  # the checks' exit code, not a usage error
    assert "GITHUB_STEP_SUMMARY is not set" in err


def test_each_format_goes_to_its_output_and_the_last_to_stdout(capsys, tmp_path):
    out_dir = tmp_path / "out"
    code, out, _ = _cli(capsys, "check", "-c", SAMPLE, "--store", str(tmp_path / "s"), "-q",
                        "-f", "junit", "-o", str(out_dir / "r.xml"), "-f", "sarif", "-o", str(out_dir / "r.sarif"),
                        "-f", "csv", "-o", str(out_dir / "r.csv"), "-f", "html", "-o", str(out_dir / "r.html"),
                        "-f", "markdown", "-o", str(out_dir / "r.md"), "-f", "table")
    assert code == 1 and "results for" in out
    assert ET.parse(out_dir / "r.xml").getroot().tag == "testsuites"
    assert json.loads((out_dir / "r.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert next(csv.reader(io.StringIO((out_dir / "r.csv").read_text(encoding="utf-8"))))[0] == "entityRef"
    assert (out_dir / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (out_dir / "r.md").read_text(encoding="utf-8").startswith("## Soundcheck results")
