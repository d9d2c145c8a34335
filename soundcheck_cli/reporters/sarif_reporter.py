"""The ``sarif`` format: SARIF 2.1.0 (OASIS), e.g. for GitHub code scanning (``upload-sarif``).

One run, tool ``soundcheck``:

- a rule (``reportingDescriptor``) per evaluated check: ``id`` the check id, short/full description from its name
  and description, ``defaultConfiguration.level`` ``warning`` for ``warning: true`` checks else ``error``, tags
  the ids of the tracks it belongs to (at most 20, GitHub's limit per rule);
- a result per entity × check that did not pass: failed → level ``error``, warning → ``warning``, error →
  ``error``, not-reported → ``warning`` (a fact is missing, not a finding); exempt results are included as
  suppressed (``suppressions: [{kind: external, justification: reason}]``) so code scanning shows them closed;
- each result is located at the entity's catalog file and line (``Entity.source``), relative to ``root`` (the
  repository root) with ``uriBaseId: %SRCROOT%`` when the file lies under it, plus a logical location naming the
  entity; ``partialFingerprints`` keep a result's identity stable across runs;
- at most ``max_results`` results per run (GitHub rejects more than 25,000): failing results first, and
  ``run.properties`` says ``resultsTruncated: true`` with the total when the cap was hit.

Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html; GitHub limits:
https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from soundcheck_cli import __version__
from soundcheck_cli.facts.model import format_timestamp
from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.reporters.common import (
    Index,
    build_index,
    clean_text,
    first_per_state,
    message_of,
    redacted,
    source_of,
)
from soundcheck_cli.reporters.spool import Spool
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckResult, CheckState

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
GITHUB_MAX_RESULTS = 25_000
GITHUB_MAX_TAGS = 20
SRCROOT = "%SRCROOT%"
INFORMATION_URI = "https://backstage.spotify.com/docs/plugins/soundcheck/"

LEVEL = {
    CheckState.FAILED: "error",
    CheckState.ERROR: "error",
    CheckState.WARNING: "warning",
    CheckState.NOT_REPORTED: "warning",
    CheckState.EXEMPT: "note",
}
# Failing states first, so that a capped run keeps what matters most.
PRIORITY = {CheckState.FAILED: 0, CheckState.ERROR: 1, CheckState.WARNING: 2, CheckState.NOT_REPORTED: 3,
            CheckState.EXEMPT: 4}


def _rule(check: Check, index: Index) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": check.id,
        "name": check.id,
        "shortDescription": {"text": clean_text(check.title)},
        "defaultConfiguration": {"level": "warning" if check.warning else "error"},
    }
    if check.description:
        rule["fullDescription"] = {"text": clean_text(check.description)}
        rule["help"] = {"text": clean_text(check.description)}
    props: dict[str, Any] = {}
    tracks = list(index.tracks_of_check.get(check.id, ()))[:GITHUB_MAX_TAGS]
    if tracks:
        props["tags"] = tracks
    if check.owner_entity_ref:
        props["ownerEntityRef"] = check.owner_entity_ref
    if props:
        rule["properties"] = props
    return rule


def _uri(path: str, relative: bool) -> str:
    """A relative reference for paths under the root, else a ``file:`` URI (RFC 8089), percent-encoded."""
    if relative:
        return quote(path, safe="/")
    posix = path.replace("\\", "/")
    return "file://" + ("" if posix.startswith("/") else "/") + quote(posix, safe="/:")


def _result(result: CheckResult, rule_index: int, index: Index, root: str | None) -> dict[str, Any]:
    check = index.check(result.check_id)
    text = clean_text(message_of(result, check))
    if result.missing_facts:
        text += " (missing: " + "; ".join(clean_text(m) for m in result.missing_facts) + ")"
    location: dict[str, Any] = {
        "logicalLocations": [{"fullyQualifiedName": clean_text(result.entity_ref), "kind": "resource"}],
    }
    source = source_of(index.entity(result.entity_ref), root)
    if source is not None:
        artifact: dict[str, Any] = {"uri": _uri(source.path, source.relative)}
        if source.relative:
            artifact["uriBaseId"] = SRCROOT
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if source.line is not None:
            region: dict[str, Any] = {"startLine": source.line}
            if source.column is not None:
                region["startColumn"] = source.column
            physical["region"] = region
        location["physicalLocation"] = physical
    identity = hashlib.sha256(f"{result.check_id}\0{result.entity_ref.lower()}".encode()).hexdigest()
    out: dict[str, Any] = {
        "ruleId": result.check_id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVEL[result.state],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"soundcheckResult/v1": identity},
        "properties": {"state": result.state.value, "entityRef": clean_text(result.entity_ref)},
    }
    if result.state is CheckState.EXEMPT:
        out["suppressions"] = [{"kind": "external", "justification": text}]
    return out


def to_document(report: RunReport, *, root: str | None = None, max_results: int = GITHUB_MAX_RESULTS,
                redactor: Any = None) -> dict[str, Any]:
    """The whole report as a SARIF document (plain data): what ``render`` writes."""
    return json.loads(render(report, root=root, max_results=max_results, redactor=redactor))


def _skeleton(head: RunReport, root: str | None, max_results: int, total: int, kept: int) -> dict[str, Any]:
    """The document without its results (``run.results`` is empty): rules, invocation, totals."""
    index = build_index(head)
    rules = [_rule(c, index) for c in head.checks]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "soundcheck", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFORMATION_URI, "rules": rules}},
        "invocations": [{"executionSuccessful": True, "endTimeUtc": format_timestamp(head.generated_at)}],
        "columnKind": "unicodeCodePoints",
        "results": [],
        "properties": {"resultsTotal": total, "resultsTruncated": kept < total},
    }
    if kept < total:
        run["properties"]["resultsLimit"] = max_results
        run["properties"]["note"] = (f"{total - kept} of {total} results were left out: "
                                     f"a SARIF run holds at most {max_results} results (GitHub's limit)")
    if root:
        base = root.replace("\\", "/").rstrip("/") + "/"
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _uri(base, False)}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render(report: RunReport, *, root: str | None = None, max_results: int = GITHUB_MAX_RESULTS,
           redactor: Any = None, **_: Any) -> str:
    return "".join(render_whole(Writer, report, root=root, max_results=max_results, redactor=redactor))


# Where ``run.results`` sits in the document ``json.dumps(..., indent=2)`` writes: its items are 8 spaces in.
_RESULTS_KEY = '"results": []'
_ITEM_INDENT = " " * 8


class Writer(ReportWriter):
    """The document of a run given in parts (``reporters.get_writer``), the results in the order of the joined
    report: per state (failed, error, warning, not-reported, exempt), in part order. Each state's first
    ``max_results`` results go to a temporary file (one compact JSON line each), the rest are counted; at the close
    the rules, the kept results (laid out as ``json.dumps(indent=2)`` does) and the totals are written. Holds the
    counts. A part's piece is its count and the JSON lines of its first ``max_results`` results of each state."""

    PIECES = True

    def __init__(self, head: RunReport, write: Any, *, root: str | None = None,
                 max_results: int = GITHUB_MAX_RESULTS, redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.root = root
        self.max = max_results
        self.redactor = redactor
        self.head = RunReport(head.generated_at, (), head.checks, head.tracks, (), ())
        self.rule_index = {c.id: i for i, c in enumerate(head.checks)}
        self.spooled = {state: 0 for state in PRIORITY}
        self.total = 0
        self.spool = Spool()

    def piece(self, part: RunReport) -> tuple[int, dict[CheckState, tuple[int, str]]]:
        """How many of the part's results are reported, and per state the first of them that ``take`` may keep,
        as their number and their JSON lines, one text.

        That is the first ``max_results`` less what this writer has kept of the state so far: once a state is full,
        a big run's later parts format none of its results (at most 25,000 a state in all, instead of every
        failing result of the run: a part of 5,000 entities x 20 checks takes 5 ms instead of 275 ms then). A copy
        of the writer in a worker process knows what was kept when it was made, never more than the writer it
        serves has kept by now (counts only grow), so its pieces hold at least what ``take`` keeps."""
        reported = [r for r in part.check_results if r.state in PRIORITY and r.check_id in self.rule_index]
        listed = first_per_state(reported, max(0, self.max), self.spooled)
        if not listed:
            return len(reported), {}
        part = redacted(RunReport(part.generated_at, part.entities, part.checks, part.tracks, tuple(listed), ()),
                        self.redactor)
        index = build_index(part)
        rule_index = {c.id: i for i, c in enumerate(part.checks)}  # the ids as masked in this part
        lines: dict[CheckState, list[str]] = {}
        for r in part.check_results:
            lines.setdefault(r.state, []).append(json.dumps(_result(r, rule_index[r.check_id], index, self.root),
                                                            ensure_ascii=False) + "\n")
        return len(reported), {state: (len(text), "".join(text)) for state, text in lines.items()}

    def take(self, piece: tuple[int, dict[CheckState, tuple[int, str]]]) -> None:
        count, lines = piece
        self.total += count
        room = max(0, self.max)
        for state, (n, text) in lines.items():
            left = room - self.spooled[state]
            if left <= 0:
                continue
            if n > left:  # the cap falls in this piece: its first ``left`` lines (a JSON line holds no newline)
                n, text = left, "".join(line + "\n" for line in text.split("\n", left)[:left])
            self.spooled[state] += n
            self.spool.add(state, text)

    def close(self, problems: Any = ()) -> None:
        try:
            kept = min(self.total, max(0, self.max))
            head = redacted(self.head, self.redactor)
            text = json.dumps(_skeleton(head, self.root, self.max, self.total, kept), indent=2,
                              ensure_ascii=False) + "\n"
            before, after = text.split(_RESULTS_KEY, 1)
            if not kept:
                self.write(before + _RESULTS_KEY + after)
                return
            self.write(before + '"results": [\n')
            written = 0
            for state in sorted(PRIORITY, key=PRIORITY.__getitem__):
                for line in self.spool.lines(state):
                    if written == kept:
                        break
                    written += 1
                    item = json.dumps(json.loads(line), indent=2, ensure_ascii=False)
                    self.write(_ITEM_INDENT + item.replace("\n", "\n" + _ITEM_INDENT)
                               + (",\n" if written < kept else "\n"))
            self.write("      ]" + after)
        finally:
            self.spool.close()
