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
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import Any

from soundcheck_cli.facts.interface import FactStore, entity_key
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


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
encode_str = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring  # type: ignore[attr-defined]


def _dumps_text_maps(mapping: Any) -> str | None:
    """``json.dumps(mapping, separators=(",", ":"), ensure_ascii=False)`` for a ``{str: {str: str}}`` mapping
    (a run's failure messages), each distinct text encoded once (many results share a message); None for any
    other shape, which the caller then encodes as usual."""
    if mapping.__class__ is not dict:
        return None
    memo: dict[str, str] = {}
    outer: list[str] = []
    for key, inner in mapping.items():
        if key.__class__ is not str or inner.__class__ is not dict:
            return None
        items: list[str] = []
        for name, text in inner.items():
            if name.__class__ is not str or text.__class__ is not str:
                return None
            encoded = memo.get(text)
            if encoded is None:
                encoded = memo[text] = encode_str(text)
            items.append(encode_str(name) + ":" + encoded)
        outer.append(encode_str(key) + ":{" + ",".join(items) + "}")
    return "{" + ",".join(outer) + "}"


class EncodedMessages(str):
    """A run's ``messages`` mapping (``{check id: {entity slot: text}}``) already encoded as compact JSON, as
    ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` writes it: the recorder encodes the messages
    as it collects them. Only ``dumps_compact`` (``pack``) knows it; ``to_mapping`` reads it back."""

    __slots__ = ()

    def to_mapping(self) -> dict[str, dict[str, str]]:
        return json.loads(self)  # type: ignore[no-any-return]


class MessageSpool:
    """A run's ``messages`` mapping (``{check id: {entity slot: text}}``) as a one-shot iterable of text pieces
    whose concatenation is its compact JSON (``EncodedMessages``' text): the recorder adds each part's messages
    check by check (``add``), they wait in a temporary file, and ``pack`` compresses them as they come back, check
    by check, so the messages of 2,000,000 results (100 MB of text at 100,000 entities) are never held whole. A
    check's messages added apart (one part, then another) come back as one object."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.blocks: dict[str, list[tuple[int, int]]] = {}  # check id -> (offset, length) of its pieces

    def add(self, check_id: str, pieces: list[str]) -> None:
        """Messages of one check, as ``"<slot>":<JSON text>`` pieces (``encode_str``), each slot once per run."""
        for start in range(0, len(pieces), SPOOL_BLOCK):
            data = ",".join(pieces[start:start + SPOOL_BLOCK]).encode("utf-8")
            offset = self.file.seek(0, 2)
            self.file.write(data)
            self.blocks.setdefault(check_id, []).append((offset, len(data)))

    def __iter__(self) -> Iterator[str]:
        yield "{"
        for i, (check_id, pieces) in enumerate(self.blocks.items()):
            yield ("," if i else "") + encode_str(check_id) + ":{"
            for j, (offset, length) in enumerate(pieces):
                self.file.seek(offset)
                yield ("," if j else "") + self.file.read(length).decode("utf-8")
            yield "}"
        yield "}"

    def close(self) -> None:
        self.file.close()


SPOOL_BLOCK = 1000  # messages per piece: ~100 kB of text, small enough for the allocator to reuse


def dumps_compact(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``; a run document's ``messages`` (its last
    key, tens of thousands of texts) is encoded by ``_dumps_text_maps`` (or was, as ``EncodedMessages``), with the
    same text."""
    if value.__class__ is dict and value and next(reversed(value)) == "messages":
        messages = value["messages"]
        messages = messages if messages.__class__ is EncodedMessages else _dumps_text_maps(messages)
        if messages is not None:
            rest = {k: v for k, v in value.items() if k != "messages"}
            head = _COMPACT.encode(rest)
            return ("{" if head == "{}" else head[:-1] + ",") + '"messages":' + messages + "}"
    if value.__class__ is dict and any(v.__class__ is EncodedMessages for v in value.values()):
        # encoded messages anywhere else: read back, so the text is the one json.dumps gives for the mapping
        value = {k: (v.to_mapping() if v.__class__ is EncodedMessages else v) for k, v in value.items()}
    return _COMPACT.encode(value)


def pack(value: Any) -> dict[str, str]:
    if value.__class__ is dict and value and next(reversed(value)) == "messages" \
            and value["messages"].__class__ is MessageSpool:
        # Compressed piece by piece: the document's text is never held whole (``MessagePieces``).
        compressor = zlib.compressobj(1)
        head = _COMPACT.encode({k: v for k, v in value.items() if k != "messages"})
        parts = [compressor.compress((("{" if head == "{}" else head[:-1] + ",") + '"messages":').encode())]
        for piece in value["messages"]:
            parts.append(compressor.compress(piece.encode()))
        parts.append(compressor.compress(b"}"))
        parts.append(compressor.flush())
        return {"zlib": base64.b64encode(b"".join(parts)).decode("ascii")}
    text = dumps_compact(value).encode()
    return {"zlib": base64.b64encode(zlib.compress(text, 1)).decode("ascii")}


def store_packed(store: FactStore, key: str, values: Sequence[Any]) -> None:
    """``pack(values)`` as the store's meta ``key``; no values remove the key (a store without ``delete_meta``
    gets it overwritten with nothing), so an emptied queue leaves no row behind."""
    if values:
        store.set_meta(key, pack(list(values)))
    else:
        delete = getattr(store, "delete_meta", None)
        if delete is not None:
            delete(key)
        else:
            store.set_meta(key, None)


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


def track_shape(track: Any) -> TrackShape:
    """The shape of a configured track (``tracks.model.Track``): its level ordinals in order, each level's checks."""
    levels = sorted(track.levels, key=lambda lv: lv.ordinal)
    return TrackShape([lv.ordinal for lv in levels], [[lc.id for lc in lv.checks] for lv in levels])


def level_checks(shape: TrackShape | None, ordinals: Sequence[int]) -> list[list[str]]:
    """The check ids of each of ``ordinals`` by ``shape`` (none for a level the shape does not know)."""
    return [shape.checks[shape.levels.index(o)] if shape and o in shape.levels else [] for o in ordinals]


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
        ordinals = sorted(by_level)
        checks = level_checks(states.tracks.get(track), ordinals)
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
        states.tracks[t.id] = track_shape(t)
    return states


# --- one pass over a run's results (the recorder's fast path) -----------------------------------------------
_CHECK_ID = attrgetter("check_id")
_ENTITY_REF = attrgetter("entity_ref")
_STATE_VALUE = attrgetter("state._value_")  # the enum's value without a descriptor call per result
_MESSAGE = attrgetter("message")
_CHARS_BY_VALUE = {state.value: char for state, char in STATE_CHARS.items()}


@dataclass
class EncodedRun:
    """One run encoded straight from its results: ``doc`` is what ``encode(from_report(...))`` gives, ``values``
    the state value of each result (in result order), for counting and message selection."""

    doc: dict[str, Any]
    values: list[str]
    slot_of: list[int]  # entity slot (index into doc["entities"]) of each result


def encode_run(check_results: Sequence[Any], track_results: Iterable[Any], tracks: Iterable[Any]) -> EncodedRun | None:
    """``encode(from_report(check_results, track_results, tracks))`` without building a key per result: the
    results are read column-wise with C-level ``map``s. Returns None when the results are not check-major with each
    check's entities in one increasing order (as ``evaluation`` makes them); the caller then takes the general path,
    which keeps the same order of change events in every case."""
    track_results = list(track_results)
    ids = list(map(_CHECK_ID, check_results))
    refs = list(map(_ENTITY_REF, check_results))
    values = list(map(_STATE_VALUE, check_results))
    chars = list(map(_CHARS_BY_VALUE.__getitem__, values))
    unique = dict.fromkeys(refs)
    unique.update(dict.fromkeys(map(_ENTITY_REF, track_results)))
    index: dict[str, int] = {}
    entities: list[str] = []
    ref_slot: dict[str, int] = {}
    for ref in unique:  # once per entity
        key = entity_key(ref)
        i = index.get(key)
        if i is None:
            i = index[key] = len(entities)
            entities.append(ref)
        ref_slot[ref] = i
    slot_of = list(map(ref_slot.__getitem__, refs))
    n = len(entities)
    columns: dict[str, str] = {}
    pos = 0
    for check_id, group in groupby(ids):  # one group per check when results are check-major
        size = len(list(group))
        if check_id in columns:
            return None
        slots = slot_of[pos:pos + size]
        column_chars = chars[pos:pos + size]
        pos += size
        if slots == list(range(size)):  # the usual case: every entity, in table order
            columns[check_id] = "".join(column_chars)
            continue
        if slots != sorted(set(slots)):  # a repeated or out-of-order entity: the general path decides
            return None
        out = [ABSENT] * n
        for i, c in zip(slots, column_chars):
            out[i] = c
        columns[check_id] = "".join(out).rstrip(ABSENT)
    level_columns: dict[str, dict[int, dict[int, str]]] = {}
    for tr in track_results:
        i = ref_slot[tr.entity_ref]
        by_level = level_columns.get(tr.track_id)
        if by_level is None:
            by_level = level_columns[tr.track_id] = {}
        for lv in tr.levels:
            column_of = by_level.get(lv.ordinal)
            if column_of is None:
                column_of = by_level[lv.ordinal] = {}
            column_of[i] = LEVEL_PASSED if lv.certified else LEVEL_FAILED
    shapes = {t.id: track_shape(t) for t in tracks}

    def column(values_at: Mapping[int, str]) -> str:
        out = [ABSENT] * n
        for i, c in values_at.items():
            out[i] = c
        return "".join(out).rstrip(ABSENT)

    out_tracks: dict[str, Any] = {}
    for track, by_level in level_columns.items():
        ordinals = sorted(by_level)
        checks = level_checks(shapes.get(track), ordinals)
        out_tracks[track] = {"levels": ordinals, "checks": checks,
                             "states": [column(by_level[o]) for o in ordinals]}
    doc = {"v": FORMAT, "entities": entities, "checks": columns, "tracks": out_tracks}
    return EncodedRun(doc, values, slot_of)


def covers(doc: Mapping[str, Any], older: Mapping[str, Any] | None) -> bool | None:
    """True when every check and level result of ``older`` (an encoded state) has a result in ``doc`` for the same
    entity (so ``older`` merged with ``doc`` is ``doc``), False when not; None when the entity tables differ (the
    caller then compares decoded states)."""
    if not older:
        return True
    old_entities = older.get("entities") or []
    if doc["entities"][:len(old_entities)] != old_entities:
        return None

    def covered(new: str | None, old: str) -> bool:
        if new is None:
            return not old.strip(ABSENT)
        if len(new) >= len(old) and ABSENT not in new:
            return True
        new = new.ljust(len(old), ABSENT)
        return all(n != ABSENT for n, o in zip(new, old) if o != ABSENT)

    checks = doc["checks"]
    for check_id, old in (older.get("checks") or {}).items():
        if not covered(checks.get(check_id), old):
            return False
    tracks = doc["tracks"]
    for track, info in (older.get("tracks") or {}).items():
        now = tracks.get(track)
        if now is None:
            return False
        for ordinal, old in zip(info.get("levels", []), info.get("states", [])):
            new = None
            if ordinal in now["levels"]:
                new = now["states"][now["levels"].index(ordinal)]
            if not covered(new, old):
                return False
    return True
