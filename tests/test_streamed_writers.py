"""Every format written part by part (issue 23): ``reporters.get_writer(fmt)`` fed a run entity chunk by entity
chunk writes what the format promises for the whole run, masks known secrets in every part, keeps no part after
``add`` returns, and ``check`` writes valid files when its run comes in several parts.

What each format promises for a run given in parts (``docs/output-formats.md``):

- ``table``, ``markdown``, ``html`` show counts and sorted lists (or one block per entity, in catalog order): the
  text is the whole report's, whatever the split into parts;
- ``json``, ``csv``, ``junit``, ``sarif``, ``github`` list results in report order: the text is that of the joined
  report, ``render(RunReport.join(head, parts, problems))`` (check-major inside each part).
"""

from __future__ import annotations

import gc
import importlib
import json
import weakref
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_reporters_common import ROOT, sample_report

from soundcheck_cli import reporters
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Location, Problem, Severity
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.redact import MASK, Redactor
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckResult, CheckState, Condition
from soundcheck_cli.tracks.certification import certify
from soundcheck_cli.tracks.model import Level, LevelCheck, Track

SAME_AS_WHOLE = ("table", "markdown", "html")
SAME_AS_JOINED = ("json", "csv", "junit", "sarif", "github")
assert set(SAME_AS_WHOLE + SAME_AS_JOINED) == set(reporters.FORMATS)


def split(report: RunReport, size: int) -> tuple[RunReport, list[RunReport]]:
    """``report``'s head and its parts of ``size`` entities, as ``evaluation.evaluate_stream`` makes them: each
    part holds its chunk's entities, its check results check-major (config order of the checks) and its track
    results track-major."""
    head = RunReport(report.generated_at, report.entities, report.checks, report.tracks, (), ())
    parts = []
    for start in range(0, len(report.entities), size):
        chunk = report.entities[start:start + size]
        refs = {str(e.ref) for e in chunk}
        results = tuple(r for c in report.checks for r in report.check_results
                        if r.check_id == c.id and r.entity_ref in refs)
        tracks = tuple(tr for t in report.tracks for tr in report.track_results
                       if tr.track_id == t.id and tr.entity_ref in refs)
        parts.append(RunReport(report.generated_at, chunk, report.checks, report.tracks, results, tracks))
    return head, parts


def streamed(fmt: str, head: RunReport, parts: list[RunReport], problems=(), **options) -> str:
    pieces: list[str] = []
    writer = reporters.get_writer(fmt)(head, pieces.append, **options)
    for part in parts:
        writer.add(part)
    writer.close(problems)
    assert all(piece.endswith("\n") for piece in pieces), fmt  # the caller masks secrets piece by piece
    return "".join(pieces)


def many_owners_report(entities: int = 23) -> RunReport:
    """Entities of four owners (one without), three checks (one owned, one in no track), every state, so that the
    caps (rows per owner and check, rows in all, SARIF results, annotations) fall in the middle of a part."""
    owners = ["team-b", "team-a", None, "Team-A"]
    ents = tuple(Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                                   "metadata": {"name": f"svc-{(i * 7) % entities:02d}"},
                                   "spec": {"owner": owners[i % 4]} if owners[i % 4] else {}},
                                  Location(f"catalog/{i}.yaml", i + 1, 1) if i % 3 else None)
                 for i in range(entities))
    rule = Condition(FactRef("catalog", "default", "entity_descriptor"), "$.spec.owner", "exists", True)
    checks = (Check(id="c_docs", rule=rule, name="Docs"), Check(id="a_owner", rule=rule,
                                                               owner_entity_ref="group:default/guild"),
              Check(id="b_alone", rule=rule, warning=True))
    tracks = (Track("t", (Level(1, (LevelCheck("c_docs"),), "Bronze"), Level(2, (LevelCheck("a_owner"),), "Gold"))),)
    states = list(CheckState)
    results, by_entity = [], {}
    for j, check in enumerate(checks):
        for i, e in enumerate(ents):
            state = states[(i * (j + 2) + j) % len(states)]
            r = CheckResult(check.id, str(e.ref), state, f"{e.name}: {state.value} <{check.id}>",
                            ("pagerduty:default/service",) if state is CheckState.NOT_REPORTED else ())
            results.append(r)
            by_entity.setdefault(str(e.ref), {})[check.id] = r
    track_results = tuple(certify(t, e, by_entity[str(e.ref)]) for t in tracks for e in ents)
    problems = (Problem("unknown key 'ownr'", Location("catalog/x.yaml", 4, 3), Severity.WARNING),)
    return RunReport(datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC), ents, checks, tracks, tuple(results),
                     track_results, problems)


OPTIONS = {
    "defaults": {},
    "small caps": {"max_rows": 7, "limit": 2, "max_results": 9, "max_annotations": 5, "warning_as_failure": True},
    "everything": {"show_all": True},
}


@pytest.mark.parametrize("options", sorted(OPTIONS))
@pytest.mark.parametrize("size", [1, 2, 5])
@pytest.mark.parametrize("fmt", reporters.FORMATS)
def test_a_run_in_parts_gives_the_text_the_format_promises(fmt, size, options):
    kwargs = dict(OPTIONS[options], root=ROOT, width=100)
    for report in (sample_report(), many_owners_report()):
        head, parts = split(report, size)
        joined = RunReport.join(head, parts, report.problems)
        assert len(parts) > 1 or len(report.entities) <= size
        text = streamed(fmt, head, parts, report.problems, **kwargs)
        render = reporters.get(fmt)
        assert text == render(joined, **kwargs)
        if fmt in SAME_AS_WHOLE:
            assert text == render(report, **kwargs)


def test_the_split_reorders_results_so_the_promises_differ():
    """The parts put results chunk-major: the joined report is another order than the whole, so the two kinds of
    promise above are different claims."""
    report = many_owners_report()
    head, parts = split(report, 5)
    joined = RunReport.join(head, parts, report.problems)
    assert joined.check_results != report.check_results
    assert sorted(joined.check_results) == sorted(report.check_results)
    assert reporters.get("sarif")(joined) != reporters.get("sarif")(report)


SECRET = "Zq9&Secret<Token>Xw7"


@pytest.mark.parametrize("fmt", reporters.FORMATS)
def test_a_known_secret_is_masked_in_every_part(fmt):
    report = many_owners_report()
    leaky = {report.check_results[i] for i in (0, 9, 30, 50)}  # in different parts, with states that are listed
    results = tuple(r._replace(message=f"token {SECRET} refused", state=CheckState.FAILED) if r in leaky else r
                    for r in report.check_results)
    report = RunReport(report.generated_at, report.entities, report.checks, report.tracks, results,
                       report.track_results, report.problems + (Problem(f"said {SECRET}"),))
    head, parts = split(report, 4)
    plain = streamed(fmt, head, parts, report.problems, root=ROOT, show_all=True, redactor=Redactor())
    assert "Secret" in plain  # the test can see a leak
    text = streamed(fmt, head, parts, report.problems, root=ROOT, show_all=True, redactor=Redactor([SECRET]))
    assert "Secret" not in text and "Zq9" not in text
    assert MASK in text or "\\*\\*\\*" in text  # Markdown escapes "*"
    assert text.count("refused") == plain.count("refused")  # every leaky message is still there, masked


@pytest.mark.parametrize("fmt", reporters.FORMATS)
def test_a_writer_keeps_no_part_after_add(fmt):
    module = importlib.import_module(f"soundcheck_cli.reporters.{fmt}_reporter")
    assert reporters.get_writer(fmt) is module.Writer  # native: none of them collects its parts
    report = many_owners_report()
    head, parts = split(report, 5)
    pieces: list[str] = []
    writer = reporters.get_writer(fmt)(head, pieces.append, root=ROOT, show_all=True)
    refs = []
    for part in parts:
        writer.add(part)
        refs.append(weakref.ref(part))
    del part, parts
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
    writer.close(report.problems)
    assert pieces


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_check_writes_valid_files_when_its_run_comes_in_parts(tmp_path, monkeypatch, capsys):
    """Through the CLI, one entity per part: every file parses and counts what a whole run counts."""
    from workspaces import hygiene_config, two_components

    from soundcheck_cli import evaluation
    from soundcheck_cli.cli.commands import run_cli

    monkeypatch.setattr(evaluation, "evaluate_stream", partial(evaluation.evaluate_stream, chunk=1))
    (tmp_path / "catalog.yaml").write_text(two_components())
    (tmp_path / "app-config.yaml").write_text(hygiene_config("{{ entity.metadata.name }} has no owner"))
    out = Path(tmp_path / "out")
    code = run_cli(["check", "-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store"),
                    "-f", "junit", "-o", str(out / "r.xml"), "-f", "sarif", "-o", str(out / "r.sarif"),
                    "-f", "markdown", "-o", str(out / "r.md"), "-f", "html", "-o", str(out / "r.html")])
    assert code == 1  # b has no owner and no description
    assert "4 results for 2 entities: 2 passed, 2 failed" in capsys.readouterr().err

    junit = ET.parse(out / "r.xml").getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("errors")) == ("4", "2", "0")
    cases = junit.findall("./testsuite/testcase")
    assert sorted((c.get("classname"), c.get("name")) for c in cases) == [
        ("component:default/a", "has_desc"), ("component:default/a", "has_owner"),
        ("component:default/b", "has_desc"), ("component:default/b", "has_owner")]
    assert junit.find("./testsuite/system-out").text.splitlines() == [
        "component:default/a: level reached Level 2", "component:default/b: level reached none"]

    sarif = json.loads((out / "r.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert sorted((r["ruleId"], r["properties"]["entityRef"]) for r in results) == [
        ("has_desc", "component:default/b"), ("has_owner", "component:default/b")]
    assert sarif["runs"][0]["properties"] == {"resultsTotal": 2, "resultsTruncated": False}

    markdown = (out / "r.md").read_text()
    assert "| 2 | 2 |" not in markdown and "| <code>has_owner</code> | 1 |" in markdown
    assert "b has no owner" in markdown

    page = _Page()
    page.feed((out / "r.html").read_text())
    page.close()
    assert page.tags.count("details") == 2 and page.tags[-1] == "script"
