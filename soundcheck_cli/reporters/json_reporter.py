"""The ``json`` format: a versioned, documented document (``docs/json-output.md``) with every result."""

from __future__ import annotations

import json
from typing import Any

from soundcheck_cli.facts.model import format_timestamp
from soundcheck_cli.results import REPORT_SCHEMA_VERSION, RunReport
from soundcheck_cli.rules.model import CheckState
from soundcheck_cli.tracks.model import LevelResult


def _level(level: LevelResult | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {"ordinal": level.ordinal, "name": level.name}


def to_document(report: RunReport) -> dict[str, Any]:
    counts = {state.value: 0 for state in CheckState}
    for r in report.check_results:
        counts[r.state.value] += 1
    return {
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "generatedAt": format_timestamp(report.generated_at),
        "summary": {
            "entities": len({r.entity_ref for r in report.check_results} | {t.entity_ref for t in report.track_results}),
            "checks": len(report.checks),
            "tracks": len(report.tracks),
            "results": counts,
        },
        "checks": [
            {
                "id": c.id,
                "name": c.name,
                "description": c.description,
                "ownerEntityRef": c.owner_entity_ref,
                "warning": c.warning,
            }
            for c in report.checks
        ],
        "tracks": [
            {
                "id": t.id,
                "kind": t.kind,
                "name": t.name,
                "description": t.description,
                "ownerEntityRef": t.owner_entity_ref,
                "levels": [
                    {"ordinal": lv.ordinal, "name": lv.name, "checks": [lc.id for lc in lv.checks]} for lv in t.levels
                ],
            }
            for t in report.tracks
        ],
        "results": [
            {
                "checkId": r.check_id,
                "entityRef": r.entity_ref,
                "state": r.state.value,
                "message": r.message,
                "missingFacts": list(r.missing_facts),
            }
            for r in report.check_results
        ],
        "certifications": [
            {
                "trackId": tr.track_id,
                "entityRef": tr.entity_ref,
                "highestLevel": _level(tr.highest_level),
                "levels": [
                    {
                        "ordinal": lv.ordinal,
                        "name": lv.name,
                        "certified": lv.certified,
                        "checks": [{"checkId": c.check_id, "state": c.state.value} for c in lv.checks],
                    }
                    for lv in tr.levels
                ],
            }
            for tr in report.track_results
        ],
        "problems": [
            {"severity": p.severity.value, "message": p.message, "location": str(p.location) if p.location else None}
            for p in report.problems
        ],
    }


def dumps_lines(doc: dict[str, Any]) -> str:
    """Readable and fast: one top-level key per line and one list item per line, each item encoded compactly.

    ``json.dumps(indent=...)`` falls back to the pure-Python encoder (15 s for 200,000 results); encoding
    item by item keeps the C encoder and still gives a diffable, greppable file.
    """
    parts: list[str] = []
    for key, value in doc.items():
        head = f"  {json.dumps(key)}: "
        if isinstance(value, list) and value:
            items = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
            parts.append(f"{head}[\n{items}\n  ]")
        else:
            parts.append(head + json.dumps(value, ensure_ascii=False))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def render(report: RunReport, **_: Any) -> str:
    return dumps_lines(to_document(report))
