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
from soundcheck_cli.reporters.common import Index, build_index, clean_text, message_of, redacted, source_of
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
    report = redacted(report, redactor)
    index = build_index(report)
    rules = [_rule(c, index) for c in report.checks]
    rule_index = {c.id: i for i, c in enumerate(report.checks)}
    reported = [r for r in report.check_results if r.state in PRIORITY and r.check_id in rule_index]
    reported.sort(key=lambda r: PRIORITY[r.state])  # stable: config order within a state
    kept = reported[: max(0, max_results)]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "soundcheck", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFORMATION_URI, "rules": rules}},
        "invocations": [{"executionSuccessful": True, "endTimeUtc": format_timestamp(report.generated_at)}],
        "columnKind": "unicodeCodePoints",
        "results": [_result(r, rule_index[r.check_id], index, root) for r in kept],
        "properties": {"resultsTotal": len(reported), "resultsTruncated": len(kept) < len(reported)},
    }
    if len(kept) < len(reported):
        run["properties"]["resultsLimit"] = max_results
        run["properties"]["note"] = (f"{len(reported) - len(kept)} of {len(reported)} results were left out: "
                                     f"a SARIF run holds at most {max_results} results (GitHub's limit)")
    if root:
        base = root.replace("\\", "/").rstrip("/") + "/"
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _uri(base, False)}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render(report: RunReport, *, root: str | None = None, max_results: int = GITHUB_MAX_RESULTS,
           redactor: Any = None, **_: Any) -> str:
    document = to_document(report, root=root, max_results=max_results, redactor=redactor)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
