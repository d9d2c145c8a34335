"""The documents of ``soundcheck serve``'s API, in the shapes of Soundcheck's REST API (``/api/soundcheck``).

Pure functions of the settings (checks, tracks) and of what the store holds: the latest known state of every
(check, entity) and (track, entity, level) the run history keeps (``history.store``), the messages and time of the
latest recorded run, and the results pushed through ``POST /results`` (``results_store``). They know nothing of
HTTP; ``serve.app`` turns them into responses. Shapes follow Soundcheck's API reference
(backstage.spotify.com/docs/plugins/soundcheck/api-reference): ``GET /checks`` -> ``{checks: [Check]}``,
``GET /tracks`` -> ``{tracks: [Track]}``, ``GET /results`` -> ``{results: [CheckResult]}``,
``GET /certifications`` -> ``{certifications: [Certification]}``, ``GET /checks/{id}/status`` -> ``CheckStatus``,
``GET /tracks/{id}/status`` -> ``TrackStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import format_timestamp
from soundcheck_cli.history.codec import CHAR_STATES, LEVEL_PASSED, States, cumulative, highest
from soundcheck_cli.results_store import DEFAULT_SCOPE, PushedResult, pushed_results

# CheckStatus counters of Soundcheck, by our state names.
STATUS_FIELDS = {"passed": "passed", "failed": "failed", "warning": "warning", "exempt": "exempt",
                 "not-applicable": "notApplicable", "error": "error", "not-reported": "notReported"}


@dataclass
class Snapshot:
    """What the store knows now: the latest state of every result, and the latest run's messages and time."""

    states: States
    messages: dict[tuple[str, str], str] = field(default_factory=dict)
    run_id: str | None = None
    run_time: str | None = None
    in_latest_run: set[tuple[str, str]] = field(default_factory=set)
    pushed: list[PushedResult] = field(default_factory=list)


def snapshot(store: FactStore) -> Snapshot:
    """Read the store once for one request (a run recorded meanwhile shows in the next request)."""
    from soundcheck_cli.history.store import History

    history = History(store)
    states = history.state()
    runs = history.runs()
    snap = Snapshot(states, pushed=pushed_results(store))
    if runs:
        record = history.load(runs[-1])
        snap.messages = record.messages
        snap.run_id = record.info.id
        snap.run_time = format_timestamp(record.info.timestamp)
        snap.in_latest_run = set(record.states.checks)
    return snap


def _check_doc(check: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": check.id, "name": check.name or check.id}
    if check.description:
        doc["description"] = check.description
    if check.owner_entity_ref:
        doc["ownerEntityRef"] = check.owner_entity_ref
    return doc


def checks_doc(settings: Any) -> dict[str, Any]:
    return {"checks": [_check_doc(c) for c in settings.checks]}


def check_doc(settings: Any, check_id: str) -> dict[str, Any] | None:
    for check in settings.checks:
        if check.id == check_id:
            return {"check": _check_doc(check)}
    return None


def _track_doc(track: Any) -> dict[str, Any]:
    levels = []
    for level in track.levels:
        checks = []
        for lc in level.checks:
            item: dict[str, Any] = {"id": lc.id}
            if lc.name:
                item["name"] = lc.name
            if lc.description:
                item["description"] = lc.description
            checks.append(item)
        entry: dict[str, Any] = {"ordinal": level.ordinal, "checks": checks, "name": level.title}
        if level.description:
            entry["description"] = level.description
        levels.append(entry)
    doc: dict[str, Any] = {"id": track.id, "levels": levels, "name": track.title}
    if track.description:
        doc["description"] = track.description
    if track.owner_entity_ref:
        doc["ownerEntityRef"] = track.owner_entity_ref
    return doc


def tracks_doc(settings: Any) -> dict[str, Any]:
    return {"tracks": [_track_doc(t) for t in settings.tracks]}


def track_doc(settings: Any, track_id: str) -> dict[str, Any] | None:
    for track in settings.tracks:
        if track.id == track_id:
            return {"track": _track_doc(track)}
    return None


def _merged_results(snap: Snapshot, key: str | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``{(check id, entity key, scope): CheckResult}`` for one entity key (``None``: every entity): the recorded
    runs' states, then the pushed results, a pushed result replacing a run's when it is newer."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    refs = snap.states.refs
    for (check_id, k), char in snap.states.checks.items():
        if key is not None and k != key:
            continue
        doc: dict[str, Any] = {"entityRef": refs.get(k, k), "checkId": check_id, "state": CHAR_STATES.get(char, char),
                               "details": {}, "scope": DEFAULT_SCOPE}
        if (check_id, k) in snap.in_latest_run:
            message = snap.messages.get((check_id, k))
            if message:
                doc["details"] = {"message": message}
            if snap.run_time:
                doc["lastChecked"] = snap.run_time
        out[(check_id, k, DEFAULT_SCOPE)] = doc
    for pushed in snap.pushed:
        k = entity_key(pushed.entity_ref)
        if key is not None and k != key:
            continue
        slot = (pushed.check_id, k, pushed.scope)
        current = out.get(slot)
        # ISO-8601 UTC texts of one format compare in time order.
        if current is None or (pushed.last_checked or "") >= (current.get("lastChecked") or ""):
            out[slot] = pushed.to_json()
    return out


def results_doc(snap: Snapshot, entity_ref: str, scope: str | None, check_ids: list[str]) -> dict[str, Any]:
    wanted = set(check_ids)
    results = [doc for (check_id, _, doc_scope), doc in sorted(_merged_results(snap, entity_key(entity_ref)).items())
               if (not wanted or check_id in wanted) and (scope is None or doc_scope == scope)]
    return {"results": results}


def check_status_doc(snap: Snapshot, check_id: str) -> dict[str, Any]:
    counts = dict.fromkeys(STATUS_FIELDS.values(), 0)
    entities: set[str] = set()
    for (cid, k, scope), doc in _merged_results(snap, None).items():
        if cid != check_id or scope != DEFAULT_SCOPE:
            continue
        entities.add(k)
        name = STATUS_FIELDS.get(doc["state"])
        if name:
            counts[name] += 1
    return {**counts, "id": check_id, "numberOfEntities": len(entities)}


def _level_by_ordinal(track: Any) -> dict[int, Any]:
    return {level.ordinal: level for level in track.levels}


def certifications_doc(settings: Any, snap: Snapshot, entity_ref: str, track_id: str | None) -> dict[str, Any]:
    key = entity_key(entity_ref)
    ref = snap.states.refs.get(key, entity_ref)
    results = _merged_results(snap, key)
    by_track = snap.states.track_entities()
    out = []
    for track in settings.tracks:
        if track_id is not None and track.id != track_id:
            continue
        levels = by_track.get((track.id, key))
        if not levels:
            continue  # never certified for this entity (not applicable, or not run yet)
        defined = _level_by_ordinal(track)
        level_docs: dict[int, dict[str, Any]] = {}
        for ordinal in sorted(levels):
            level = defined.get(ordinal)
            checks = []
            for lc in (level.checks if level else ()):
                result = results.get((lc.id, key, DEFAULT_SCOPE))
                item: dict[str, Any] = {"id": lc.id, "name": lc.name or lc.id, "entityRef": ref}
                if lc.description:
                    item["description"] = lc.description
                if result is not None:
                    item["details"] = {"state": result["state"], **({"message": result["details"]["message"]}
                                                                    if "message" in result.get("details", {}) else {})}
                    if result.get("lastChecked"):
                        item["timestamp"] = result["lastChecked"]
                checks.append(item)
            doc: dict[str, Any] = {"ordinal": ordinal, "name": level.title if level else f"Level {ordinal}",
                                   "entityRef": ref, "checks": checks, "certified": levels[ordinal] == LEVEL_PASSED}
            if level is not None and level.description:
                doc["description"] = level.description
            level_docs[ordinal] = doc
        cert: dict[str, Any] = {"entityRef": ref, "track": {"id": track.id}, "levels": list(level_docs.values())}
        top = highest(levels)
        if top is not None:
            cert["highestLevel"] = level_docs[top]
        out.append(cert)
    return {"certifications": out}


def track_status_doc(settings: Any, snap: Snapshot, track_id: str) -> dict[str, Any]:
    track = next(t for t in settings.tracks if t.id == track_id)
    per_entity = {k: levels for (tid, k), levels in snap.states.track_entities().items() if tid == track_id}
    rows = []
    for level in track.levels:
        o = level.ordinal
        row = {"ordinal": o, "passed": 0, "failed": 0, "cumulativelyPassed": 0, "cumulativelyFailed": 0,
               "notReported": 0}
        for levels in per_entity.values():
            if o not in levels:
                row["notReported"] += 1
                continue
            row["passed" if levels[o] == LEVEL_PASSED else "failed"] += 1
            row["cumulativelyPassed" if cumulative(levels)[o] == LEVEL_PASSED else "cumulativelyFailed"] += 1
        rows.append(row)
    return {"id": track_id, "numberOfEntities": len(per_entity), "statusByLevel": rows}
