"""Compact encoding of check and certification states, for the run history and the latest-state snapshot.

A run of 10,000 entities x 20 checks has 200,000 results; stored naively as JSON objects that is tens of MB per
run. Here a state is one character, and each check keeps one string with a character per entity of an entity
table (``.`` where the check has no result for that entity)::

    {"v": 1,
     "entities": ["component:default/a", ...],
     "checks": {"<check id>": "pfp.x..."},
     "tracks": {"<track id>": {"levels": [1, 2], "checks": [["c1"], ["c2", "c3"]], "states": ["pf.", "f.."]}}}

Level characters are ``p`` (certified, including a level that does not apply) and ``f`` (not certified);
``cumulative`` states derive from them (a level is cumulatively passed when it and every lower level are).
The JSON text is then zlib-compressed and stored base64'd under ``{"zlib": ...}`` in the store's meta area
(``FactStore.set_meta`` stores JSON), which makes the repetitive state strings nearly free.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.facts.interface import entity_key
from soundcheck_cli.rules.model import CheckState

FORMAT = 1
ABSENT = "."
STATE_CHARS: dict[CheckState, str] = {
    CheckState.PASSED: "p",
    CheckState.FAILED: "f",
    CheckState.WARNING: "w",
    CheckState.NOT_APPLICABLE: "n",
    CheckState.NOT_REPORTED: "r",
    CheckState.ERROR: "e",
    CheckState.EXEMPT: "x",
}
CHAR_STATES: dict[str, str] = {c: s.value for s, c in STATE_CHARS.items()}
LEVEL_PASSED, LEVEL_FAILED = "p", "f"
LEVEL_STATES = {LEVEL_PASSED: "passed", LEVEL_FAILED: "failed"}


def pack(value: Any) -> dict[str, str]:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return {"zlib": base64.b64encode(zlib.compress(text, 1)).decode("ascii")}


def unpack(stored: Any) -> Any:
    """The value ``pack`` stored (``None`` stays ``None``; a plain JSON value is returned as is)."""
    if isinstance(stored, dict) and set(stored) == {"zlib"}:
        return json.loads(zlib.decompress(base64.b64decode(stored["zlib"])))
    return stored


@dataclass
class TrackShape:
    """The levels of a track as last seen: ordinals in order, and the check ids of each level."""

    levels: list[int]
    checks: list[list[str]]


@dataclass
class States:
    """Check and level states keyed by entity key (refs compare case-insensitively)."""

    checks: dict[tuple[str, str], str] = field(default_factory=dict)  # (check id, entity key) -> state char
    levels: dict[tuple[str, str, int], str] = field(default_factory=dict)  # (track, entity key, ordinal) -> p|f
    refs: dict[str, str] = field(default_factory=dict)  # entity key -> entity ref as written
    tracks: dict[str, TrackShape] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.checks) + len(self.levels)

    def merged(self, newer: States) -> States:
        """This state updated with ``newer`` (what a partial run did not evaluate keeps its last known state)."""
        out = States(dict(self.checks), dict(self.levels), dict(self.refs), dict(self.tracks))
        out.checks.update(newer.checks)
        out.levels.update(newer.levels)
        out.refs.update(newer.refs)
        out.tracks.update(newer.tracks)
        return out

    def track_entities(self) -> dict[tuple[str, str], dict[int, str]]:
        """``{(track, entity key): {ordinal: level char}}``."""
        out: dict[tuple[str, str], dict[int, str]] = {}
        for (track, key, ordinal), char in self.levels.items():
            out.setdefault((track, key), {})[ordinal] = char
        return out


def cumulative(levels: Mapping[int, str]) -> dict[int, str]:
    """Cumulative level chars: passed while this level and every lower one passed (Soundcheck certification)."""
    out: dict[int, str] = {}
    climbing = True
    for ordinal in sorted(levels):
        climbing = climbing and levels[ordinal] == LEVEL_PASSED
        out[ordinal] = LEVEL_PASSED if climbing else LEVEL_FAILED
    return out


def highest(levels: Mapping[int, str]) -> int | None:
    """The highest ordinal reached (cumulatively), or None."""
    reached = [o for o, c in cumulative(levels).items() if c == LEVEL_PASSED]
    return max(reached) if reached else None


def encode(states: States) -> dict[str, Any]:
    # Loops inlined (no helper call per entry): this runs over every result of a run, twice per ``check``.
    index: dict[str, int] = {}
    entities: list[str] = []
    refs = states.refs
    columns: dict[str, dict[int, str]] = {}
    for (check_id, key), char in states.checks.items():
        i = index.get(key)
        if i is None:
            i = index[key] = len(entities)
            entities.append(refs.get(key, key))
        column_of = columns.get(check_id)
        if column_of is None:
            column_of = columns[check_id] = {}
        column_of[i] = char
    level_columns: dict[str, dict[int, dict[int, str]]] = {}
    for (track, key, ordinal), char in states.levels.items():
        i = index.get(key)
        if i is None:
            i = index[key] = len(entities)
            entities.append(refs.get(key, key))
        level_columns.setdefault(track, {}).setdefault(ordinal, {})[i] = char
    n = len(entities)

    def column(values: Mapping[int, str]) -> str:
        chars = [ABSENT] * n
        for i, c in values.items():
            chars[i] = c
        return "".join(chars).rstrip(ABSENT)

    tracks: dict[str, Any] = {}
    for track, by_level in level_columns.items():
        shape = states.tracks.get(track)
        ordinals = sorted(by_level)
        checks = [shape.checks[shape.levels.index(o)] if shape and o in shape.levels else [] for o in ordinals]
        tracks[track] = {"levels": ordinals, "checks": checks, "states": [column(by_level[o]) for o in ordinals]}
    return {"v": FORMAT, "entities": entities, "checks": {c: column(v) for c, v in columns.items()},
            "tracks": tracks}


def decode(doc: Mapping[str, Any] | None) -> States:
    states = States()
    if not doc:
        return states
    refs = list(doc.get("entities") or [])
    keys = [entity_key(r) for r in refs]
    states.refs = dict(zip(keys, refs))
    checks = states.checks
    for check_id, text in (doc.get("checks") or {}).items():
        for i, char in enumerate(text):
            if char != ABSENT:
                checks[(check_id, keys[i])] = char
    for track, info in (doc.get("tracks") or {}).items():
        ordinals = [int(o) for o in info.get("levels", [])]
        states.tracks[track] = TrackShape(ordinals, [list(c) for c in info.get("checks", [[] for _ in ordinals])])
        for ordinal, text in zip(ordinals, info.get("states", [])):
            for i, char in enumerate(text):
                if char != ABSENT:
                    states.levels[(track, keys[i], ordinal)] = char
    return states


def from_report(check_results: Iterable[Any], track_results: Iterable[Any], tracks: Iterable[Any]) -> States:
    """The states of one run (``RunReport.check_results``, ``.track_results``, ``.tracks``)."""
    states = States()
    refs = states.refs
    checks = states.checks
    levels_out = states.levels
    # Keyed by the enum's value, read as ``_value_`` (no descriptor call per result); entity keys memoised by ref.
    chars = {state.value: char for state, char in STATE_CHARS.items()}
    keys: dict[str, str] = {}
    for r in check_results:
        ref = r.entity_ref
        key = keys.get(ref)
        if key is None:
            key = keys[ref] = entity_key(ref)
            refs.setdefault(key, ref)
        checks[(r.check_id, key)] = chars[r.state._value_]
    for tr in track_results:
        ref = tr.entity_ref
        key = keys.get(ref)
        if key is None:
            key = keys[ref] = entity_key(ref)
            refs.setdefault(key, ref)
        for lv in tr.levels:
            levels_out[(tr.track_id, key, lv.ordinal)] = LEVEL_PASSED if lv.certified else LEVEL_FAILED
    for t in tracks:
        levels = sorted(t.levels, key=lambda lv: lv.ordinal)
        states.tracks[t.id] = TrackShape([lv.ordinal for lv in levels], [[lc.id for lc in lv.checks] for lv in levels])
    return states
