"""The ``junit`` format: JUnit XML as Jenkins, GitLab, Azure DevOps and GitHub test-report actions read it.

Shape (the Ant/Surefire dialect CI servers accept; tests validate it against ``tests/fixtures/reporters/junit.xsd``):

- ``<testsuites>`` holds one ``<testsuite>`` per reported track (config order), plus one named
  ``checks not in a track`` for the checks that belong to no reported track;
- each suite has one ``<testcase>`` per entity × check: ``classname`` is the entity ref, ``name`` the check id,
  ``file``/``line`` the entity's catalog file (test-report actions turn those into annotations);
- failed → ``<failure>`` (the check's failedMessage), error / not-reported → ``<error>``, not-applicable / exempt
  → ``<skipped>`` (with the reason), passed → an empty testcase, warning → a passing testcase whose
  ``<system-out>`` says ``warning: ...`` (or a ``<failure type="warning">`` with ``warning_as_failure=True``).

Built with ElementTree, which escapes text and attributes; control characters XML 1.0 cannot carry are replaced.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from soundcheck_cli.reporters.common import (
    Index,
    build_index,
    clean_text,
    level_label,
    message_of,
    reached_label,
    redacted,
    source_of,
    standalone_checks,
    track_rows,
)
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState

STANDALONE_SUITE = "checks not in a track"


class _Suite:
    def __init__(self, parent: ET.Element, name: str, suite_id: str, timestamp: str) -> None:
        self.element = ET.SubElement(parent, "testsuite", name=clean_text(name), id=clean_text(suite_id),
                                     tests="0", failures="0", errors="0", skipped="0", time="0",
                                     timestamp=timestamp)
        self.properties = ET.SubElement(self.element, "properties")
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def prop(self, name: str, value: object) -> None:
        if value is not None:
            ET.SubElement(self.properties, "property", name=name, value=clean_text(value))

    def finish(self) -> None:
        for key, value in self.counts.items():
            self.element.set(key, str(value))
        if not len(self.properties):
            self.element.remove(self.properties)


def _testcase(suite: _Suite, index: Index, result: CheckResult, root: str | None, context: str,
              warning_as_failure: bool) -> None:
    check = index.check(result.check_id)
    case = ET.SubElement(suite.element, "testcase", name=clean_text(result.check_id),
                         classname=clean_text(result.entity_ref), time="0")
    source = source_of(index.entity(result.entity_ref), root)
    if source is not None:
        case.set("file", clean_text(source.path))
        if source.line is not None:
            case.set("line", str(source.line))
    suite.counts["tests"] += 1
    message = clean_text(message_of(result, check))
    details = [message, "", f"check: {result.check_id}" + (f" ({check.name})" if check and check.name else ""),
               f"entity: {result.entity_ref}", f"state: {result.state.value}"]
    if context:
        details.append(context)
    if result.missing_facts:
        details.append("missing facts: " + "; ".join(result.missing_facts))
    body = clean_text("\n".join(details))
    state = result.state
    if state is CheckState.FAILED or (state is CheckState.WARNING and warning_as_failure):
        child = ET.SubElement(case, "failure", message=message, type=state.value)
        child.text = body
        suite.counts["failures"] += 1
    elif state in (CheckState.ERROR, CheckState.NOT_REPORTED):
        child = ET.SubElement(case, "error", message=message, type=state.value)
        child.text = body
        suite.counts["errors"] += 1
    elif state in (CheckState.NOT_APPLICABLE, CheckState.EXEMPT):
        ET.SubElement(case, "skipped", message=clean_text(f"{state.value}: {message}"), type=state.value)
        suite.counts["skipped"] += 1
    elif state is CheckState.WARNING:
        out = ET.SubElement(case, "system-out")
        out.text = clean_text(f"warning: {message}")


def _standalone_results(report: RunReport, ids: Iterable[str]) -> list[CheckResult]:
    wanted = set(ids)
    return [r for r in report.check_results if r.check_id in wanted]


def to_element(report: RunReport, *, root: str | None = None, warning_as_failure: bool = False,
               redactor: Any = None) -> ET.Element:
    report = redacted(report, redactor)
    index = build_index(report)
    timestamp = report.generated_at.strftime("%Y-%m-%dT%H:%M:%S")  # Ant's format: no zone, UTC by our convention
    top = ET.Element("testsuites", name="soundcheck", tests="0", failures="0", errors="0", time="0")
    suites: list[_Suite] = []
    for track in report.tracks:
        name = f"{track.title} ({track.id})" if track.name and track.name != track.id else track.id
        suite = _Suite(top, name, track.id, timestamp)
        suite.prop("soundcheck.kind", track.kind)
        suite.prop("soundcheck.trackId", track.id)
        suite.prop("soundcheck.ownerEntityRef", track.owner_entity_ref)
        rows = track_rows(report, track)
        for tr in rows:
            for lv in tr.levels:
                context = f"track: {track.id} ({level_label(lv.ordinal, lv.name)})"
                for result in lv.checks:
                    _testcase(suite, index, result, root, context, warning_as_failure)
        if rows:
            out = ET.SubElement(suite.element, "system-out")
            out.text = clean_text("\n".join(f"{tr.entity_ref}: level reached {reached_label(tr)}" for tr in rows))
        suites.append(suite)
    alone = standalone_checks(report, index)
    if alone:
        suite = _Suite(top, STANDALONE_SUITE, "soundcheck.standalone", timestamp)
        for result in _standalone_results(report, (c.id for c in alone)):
            _testcase(suite, index, result, root, "", warning_as_failure)
        suites.append(suite)
    for suite in suites:
        suite.finish()
    for key in ("tests", "failures", "errors"):
        top.set(key, str(sum(s.counts[key] for s in suites)))
    return top


def render(report: RunReport, *, root: str | None = None, warning_as_failure: bool = False, redactor: Any = None,
           **_: Any) -> str:
    element = to_element(report, root=root, warning_as_failure=warning_as_failure, redactor=redactor)
    ET.indent(element, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode") + "\n"
