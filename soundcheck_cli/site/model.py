"""What the site is made of: ``SiteInput`` (what ``app.site`` reads: the kept runs as recorded, the config's
checks and tracks, the catalog's entities) and ``SiteModel`` (the latest run by entity, track and check, the
changes over the kept runs and the trends), computed here without evaluating anything.

The runs are read in their stored form (``history.codec``: one string per check over an entity table, one per
track level) and compared string by string: a column equal to the previous run's is skipped whole, so the history
of 20 runs of 10,000 entities x 20 checks costs little more than reading it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soundcheck_cli.history.codec import ABSENT, CHAR_STATES, LEVEL_PASSED

FAILING_CHARS = frozenset("fre")  # failed, not-reported, error: what a gate fails on
PASSING_CHARS = frozenset("px")  # passed, exempt
STATE_ORDER = ("failed", "error", "not-reported", "warning", "exempt", "passed", "not-applicable")
UNOWNED = "(no owner)"


@dataclass(frozen=True)
class RecordedRun:
    """One kept run: its index entry (``history.store.RunInfo``) and its stored document (decompressed)."""

    info: Any
    doc: Mapping[str, Any]


@dataclass(frozen=True)
class SiteInput:
    runs: Sequence[RecordedRun]  # oldest first; the last one is the run the site shows
    checks: Sequence[Any]  # rules.model.Check from the config (titles, descriptions)
    tracks: Sequence[Any]  # tracks.model.Track from the config (titles, level names)
    entities: Mapping[str, Any]  # entity key -> catalog.model.Entity as loaded now (owner, title, description)
    generated_at: datetime
    title: str = "Soundcheck"
    redact: Any = None  # str -> str: known secrets masked in every message shown


@dataclass
class EntityInfo:
    slot: int
    ref: str
    key: str
    name: str
    title: str
    description: str
    owner: str  # owner entity ref (group:default/team-a) or UNOWNED
    in_catalog: bool


@dataclass
class LevelInfo:
    ordinal: int
    title: str
    checks: list[str]


@dataclass
class TrackInfo:
    id: str
    title: str
    description: str
    levels: list[LevelInfo]
    highest: dict[int, int]  # entity slot -> highest ordinal reached (0: none), for the entities in the track

    @property
    def top(self) -> int:
        return self.levels[-1].ordinal if self.levels else 0

    def level_title(self, ordinal: int) -> str:
        for level in self.levels:
            if level.ordinal == ordinal:
                return level.title
        return "none" if ordinal == 0 else f"Level {ordinal}"


@dataclass
class CheckInfo:
    id: str
    title: str
    description: str
    column: str  # one state char per entity slot (``.``: no result)
    messages: dict[int, str]  # entity slot -> message

    def state_of(self, slot: int) -> str | None:
        char = self.column[slot] if slot < len(self.column) else ABSENT
        return None if char == ABSENT else CHAR_STATES[char]


@dataclass(frozen=True)
class Change:
    """One change between two consecutive runs, for one entity."""

    run_index: int  # index in SiteModel.runs of the run that saw it
    kind: str  # "check" or "level"
    subject: str  # check id or track id
    slot: int  # entity slot in the latest run's table (-1: the entity is not in the latest run)
    ref: str
    previous: str | None  # state (check) or level title (track); None: first seen
    current: str
    group: str  # new-failure | fixed | changed | level-up | level-down


@dataclass
class RunSummary:
    id: str
    timestamp: datetime
    counts: dict[str, int]
    partial: bool
    distribution: dict[str, dict[int, int]]  # track id -> {highest ordinal: entities}

    @property
    def pass_rate(self) -> float | None:
        applicable = sum(v for k, v in self.counts.items() if k != "not-applicable")
        if not applicable:
            return None
        return (self.counts.get("passed", 0) + self.counts.get("exempt", 0)) / applicable


@dataclass
class SiteModel:
    title: str
    generated_at: datetime
    run: RunSummary
    selection: dict[str, list[str]]
    entities: list[EntityInfo]
    checks: list[CheckInfo]
    tracks: list[TrackInfo]
    runs: list[RunSummary]
    changes: list[Change]  # every change over the kept runs, oldest first
    owners: dict[str, list[int]] = field(default_factory=dict)  # owner ref -> entity slots
    check_trends: dict[str, dict[str, float | None]] = field(default_factory=dict)  # check -> run id -> pass rate

    def latest_changes(self) -> list[Change]:
        last = len(self.runs) - 1
        return [c for c in self.changes if c.run_index == last] if last > 0 else []


def owner_of(entity: Any) -> str:
    """The owner of a catalog entity as a full ref (``spec.owner`` defaults to kind group, the entity's
    namespace, as Backstage reads it); ``UNOWNED`` when it has none."""
    if entity is None:
        return UNOWNED
    spec = entity.data.get("spec") if isinstance(entity.data, Mapping) else None
    owner = spec.get("owner") if isinstance(spec, Mapping) else None
    if not isinstance(owner, str) or not owner.strip():
        return UNOWNED
    owner = owner.strip()
    kind, sep, rest = owner.partition(":")
    if not sep:
        kind, rest = "group", owner
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = entity.namespace, rest
    return f"{kind}:{namespace}/{name}".lower()


class _Redactor:
    """``SiteInput.redact`` memoised by text: many results share one message."""

    def __init__(self, redact: Any) -> None:
        self.redact = redact
        self.memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if self.redact is None or not text:
            return text
        out = self.memo.get(text)
        if out is None:
            out = self.memo[text] = self.redact(text)
        return out


def _highest(states: Sequence[str], ordinals: Sequence[int], n: int) -> list[int | None]:
    """Highest ordinal cumulatively passed per slot (0: none; None: the entity has no level in this track)."""
    out: list[int | None] = [None] * n
    padded = [s.ljust(n, ABSENT) for s in states]
    for i in range(n):
        best = 0
        seen = False
        climbing = True
        for ordinal, column in zip(ordinals, padded):
            char = column[i]
            if char == ABSENT:
                continue
            seen = True
            if climbing and char == LEVEL_PASSED:
                best = ordinal
            else:
                climbing = False
        if seen:
            out[i] = best
    return out


def _run_highest(doc: Mapping[str, Any]) -> dict[str, list[int | None]]:
    n = len(doc.get("entities") or [])
    out = {}
    for track_id, info in (doc.get("tracks") or {}).items():
        ordinals = [int(o) for o in info.get("levels", [])]
        out[track_id] = _highest(info.get("states", []), ordinals, n)
    return out


def build_model(inp: SiteInput) -> SiteModel:
    from soundcheck_cli.facts.interface import entity_key

    if not inp.runs:
        raise ValueError("no recorded run")
    latest = inp.runs[-1]
    doc = latest.doc
    refs: list[str] = list(doc.get("entities") or [])
    keys = [entity_key(r) for r in refs]

    redact = _Redactor(inp.redact)
    entities: list[EntityInfo] = []
    owners: dict[str, list[int]] = {}
    for slot, (ref, key) in enumerate(zip(refs, keys)):
        entity = inp.entities.get(key)
        meta = entity.metadata if entity is not None else {}
        name = ref.rpartition("/")[2]
        title = meta.get("title") if isinstance(meta.get("title"), str) else ""
        description = meta.get("description") if isinstance(meta.get("description"), str) else ""
        owner = owner_of(entity)
        entities.append(EntityInfo(slot, ref, key, name, redact(title or ""), redact(description or ""), owner,
                                   entity is not None))
        owners.setdefault(owner, []).append(slot)

    configured = {c.id: c for c in inp.checks}
    stored_messages = doc.get("messages") or {}
    checks: list[CheckInfo] = []
    order = [c.id for c in inp.checks if c.id in (doc.get("checks") or {})]
    order += [cid for cid in (doc.get("checks") or {}) if cid not in configured]
    for cid in order:
        check = configured.get(cid)
        messages = {int(i): redact(text) for i, text in (stored_messages.get(cid) or {}).items()}
        checks.append(CheckInfo(cid, (check.title if check else cid) or cid,
                                (check.description if check else "") or "", doc["checks"][cid], messages))

    configured_tracks = {t.id: t for t in inp.tracks}
    highest_now = _run_highest(doc)
    tracks: list[TrackInfo] = []
    track_order = [t.id for t in inp.tracks if t.id in (doc.get("tracks") or {})]
    track_order += [tid for tid in (doc.get("tracks") or {}) if tid not in configured_tracks]
    for tid in track_order:
        info = doc["tracks"][tid]
        track = configured_tracks.get(tid)
        titles = {lv.ordinal: lv.title for lv in track.levels} if track else {}
        ordinals = [int(o) for o in info.get("levels", [])]
        level_checks = info.get("checks") or [[] for _ in ordinals]
        levels = [LevelInfo(o, titles.get(o, f"Level {o}"), list(cs)) for o, cs in zip(ordinals, level_checks)]
        highest = {i: h for i, h in enumerate(highest_now[tid]) if h is not None}
        tracks.append(TrackInfo(tid, (track.title if track else tid) or tid, (track.description if track else "")
                                or "", levels, highest))

    runs, changes = _history(inp, keys, tracks)
    selection = dict(latest.info.selection or {})
    trends: dict[str, dict[str, float | None]] = {}
    for run in inp.runs:
        for cid, column in (run.doc.get("checks") or {}).items():
            trends.setdefault(cid, {})[run.info.id] = check_rate(column)
    return SiteModel(inp.title, inp.generated_at, runs[-1], selection, entities, checks, tracks, runs, changes,
                     owners, trends)


def check_rate(column: str) -> float | None:
    """Passed or exempt results over applicable ones (not ``not-applicable``, not absent) of one check column."""
    applicable = len(column) - column.count(ABSENT) - column.count("n")
    return (column.count("p") + column.count("x")) / applicable if applicable else None


def _history(inp: SiteInput, latest_keys: list[str], tracks: list[TrackInfo]) -> tuple[list[RunSummary], list[Change]]:
    """Summaries of every kept run and the changes between consecutive runs (check states, highest levels)."""
    from soundcheck_cli.facts.interface import entity_key

    slot_of = {k: i for i, k in enumerate(latest_keys)}
    titles = {t.id: t for t in tracks}
    summaries: list[RunSummary] = []
    changes: list[Change] = []
    prev_doc: Mapping[str, Any] | None = None
    prev_highest: dict[str, list[int | None]] = {}
    prev_keys: list[str] = []
    for index, run in enumerate(inp.runs):
        doc = run.doc
        refs = list(doc.get("entities") or [])
        same_table = prev_doc is not None and refs == list(prev_doc.get("entities") or [])
        keys = prev_keys if same_table else [entity_key(r) for r in refs]
        # Highest levels: a track whose level strings equal the previous run's (same entity table) is reused.
        highest: dict[str, list[int | None]] = {}
        for tid, info in (doc.get("tracks") or {}).items():
            if same_table and prev_doc is not None and (prev_doc.get("tracks") or {}).get(tid) == info:
                highest[tid] = prev_highest[tid]
            else:
                highest[tid] = _highest(info.get("states", []), [int(o) for o in info.get("levels", [])], len(refs))
        distribution = {tid: level_counts(values) for tid, values in highest.items()}
        summaries.append(RunSummary(run.info.id, run.info.timestamp, dict(run.info.counts or {}),
                                    bool(run.info.selection), distribution))
        if prev_doc is not None:
            changes.extend(_check_changes(index, prev_doc, doc, prev_keys, keys, refs, same_table, slot_of))
            changes.extend(_level_changes(index, prev_highest, highest, prev_keys, keys, refs, same_table, slot_of,
                                          titles))
        prev_doc, prev_highest, prev_keys = doc, highest, keys
    return summaries, changes


def level_counts(values: Iterable[int | None]) -> dict[int, int]:
    """How many times each level ordinal occurs in ``values`` (``None``, no level, is not counted)."""
    out: dict[int, int] = {}
    for v in values:
        if v is not None:
            out[v] = out.get(v, 0) + 1
    return out


def _group(previous: str | None, current: str) -> str:
    failing = {"failed", "not-reported", "error"}
    if current in failing and previous not in failing:
        return "new-failure"
    if previous in failing and current not in failing:
        return "fixed"
    return "changed"


def _check_changes(index: int, prev_doc: Mapping[str, Any], doc: Mapping[str, Any], prev_keys: list[str],
                   keys: list[str], refs: list[str], same_table: bool, slot_of: dict[str, int]) -> list[Change]:
    out: list[Change] = []
    old_checks = prev_doc.get("checks") or {}
    prev_index = None if same_table else {k: i for i, k in enumerate(prev_keys)}
    for cid, column in (doc.get("checks") or {}).items():
        old = old_checks.get(cid, "")
        if same_table and old == column:
            continue
        for i, char in enumerate(column):
            if char == ABSENT:
                continue
            if prev_index is None:
                before = old[i] if i < len(old) else ABSENT
            else:
                j = prev_index.get(keys[i])
                before = old[j] if j is not None and j < len(old) else ABSENT
            if before != char:
                previous = CHAR_STATES[before] if before != ABSENT else None
                current = CHAR_STATES[char]
                out.append(Change(index, "check", cid, slot_of.get(keys[i], -1), refs[i], previous, current,
                                  _group(previous, current)))
    return out


def _level_changes(index: int, prev_highest: dict[str, list[int | None]], highest: dict[str, list[int | None]],
                   prev_keys: list[str], keys: list[str], refs: list[str], same_table: bool, slot_of: dict[str, int],
                   titles: Mapping[str, TrackInfo]) -> list[Change]:
    out: list[Change] = []
    prev_index = None if same_table else {k: i for i, k in enumerate(prev_keys)}
    for tid, values in highest.items():
        old = prev_highest.get(tid)
        if same_table and old is values:
            continue
        track = titles.get(tid)
        for i, now in enumerate(values):
            if now is None:
                continue
            if old is None:
                before = None
            elif prev_index is None:
                before = old[i] if i < len(old) else None
            else:
                j = prev_index.get(keys[i])
                before = old[j] if j is not None else None
            if before is None or before == now:
                continue  # first seen in this track: not a level change
            name = (lambda o: track.level_title(o)) if track else (lambda o: "none" if o == 0 else f"Level {o}")
            out.append(Change(index, "level", tid, slot_of.get(keys[i], -1), refs[i], name(before), name(now),
                              "level-up" if now > before else "level-down"))
    return out
