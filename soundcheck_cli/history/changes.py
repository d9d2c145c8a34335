"""What changed between a recorded state and a run: check state changes, level changes, highest-level changes.

Only what the run evaluated is compared (a run with ``--track`` or ``--entity`` says nothing about the rest). A key
with no earlier state is a change with ``previous=None`` (the first time it is seen), as Soundcheck's events leave
``previousState`` undefined "if there was no prior check status".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.history.codec import (
    ABSENT,
    CHAR_STATES,
    LEVEL_STATES,
    States,
    cumulative,
    highest,
)

FAILING = frozenset({"failed", "not-reported", "error"})


@dataclass(frozen=True)
class CheckChange:
    check_id: str
    entity_ref: str
    previous: str | None  # a CheckState value, None when there was no prior state
    current: str

    @property
    def kind(self) -> str:
        """``new-failure``, ``fixed`` or ``changed`` (the groups ``soundcheck diff`` shows)."""
        was_failing = self.previous in FAILING
        if self.current in FAILING and not was_failing:
            return "new-failure"
        if was_failing and self.current not in FAILING:
            return "fixed"
        return "changed"


@dataclass(frozen=True)
class LevelChange:
    """One level of one track for one entity: its own state and its cumulative state (``passed``/``failed``)."""

    track_id: str
    entity_ref: str
    ordinal: int
    previous: str | None
    current: str
    previous_cumulative: str | None
    current_cumulative: str


@dataclass(frozen=True)
class HighestChange:
    track_id: str
    entity_ref: str
    previous: int | None  # highest ordinal reached before (None: none)
    current: int | None
    first: bool = False  # no earlier certification of this entity in this track


@dataclass
class Changes:
    checks: list[CheckChange] = field(default_factory=list)
    levels: list[LevelChange] = field(default_factory=list)
    highest: list[HighestChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.checks or self.levels or self.highest)


def compare(before: States, run: States) -> Changes:
    out = Changes()
    old_checks = before.checks
    refs = run.refs
    # The usual run changes nothing: two C-level comparisons skip the per-result loops (200,000 results).
    same_checks = run.checks.items() <= old_checks.items()
    same_levels = run.levels == before.levels
    for (check_id, key), char in () if same_checks else run.checks.items():
        prev = old_checks.get((check_id, key))
        if prev != char:
            out.checks.append(CheckChange(check_id, refs.get(key, key), CHAR_STATES.get(prev) if prev else None,
                                          CHAR_STATES[char]))
    if same_levels:
        return out
    old_tracks = before.track_entities()
    for (track, key), levels in run.track_entities().items():
        ref = refs.get(key, key)
        prev_levels = old_tracks.get((track, key))
        cum = cumulative(levels)
        prev_cum = cumulative(prev_levels) if prev_levels else {}
        for ordinal in sorted(levels):
            state, cstate = LEVEL_STATES[levels[ordinal]], LEVEL_STATES[cum[ordinal]]
            p = prev_levels.get(ordinal) if prev_levels else None
            pstate = LEVEL_STATES[p] if p else None
            pcum = LEVEL_STATES[prev_cum[ordinal]] if p else None
            if (pstate, pcum) != (state, cstate):
                out.levels.append(LevelChange(track, ref, ordinal, pstate, state, pcum, cstate))
        now_high = highest(levels)
        if prev_levels is None:
            out.highest.append(HighestChange(track, ref, None, now_high, first=True))
        else:
            was = highest(prev_levels)
            if was != now_high:
                out.highest.append(HighestChange(track, ref, was, now_high))
    return out


def compare_encoded(before: Mapping[str, Any] | None, run: Mapping[str, Any],
                    before_states: Callable[[], States], run_states: Callable[[], States]) -> Changes:
    """``compare(decode(before), <the run's States>)`` on encoded states (``codec.encode`` documents): a column that
    is the same string in both is skipped whole, so a run that changed little costs a string comparison per check.
    ``before_states``/``run_states`` give the decoded forms, used only when the entity tables differ or levels
    changed (the general comparison then decides, with the same results and order)."""
    entities = run["entities"]
    old_entities = (before or {}).get("entities") or []
    if entities[:len(old_entities)] != old_entities:
        return compare(before_states(), run_states())
    out = Changes()
    old_checks = (before or {}).get("checks") or {}
    for check_id, column in run["checks"].items():
        old = old_checks.get(check_id, "")
        if old == column:
            continue
        width = len(old)
        for i, char in enumerate(column):
            if char == ABSENT:
                continue
            prev = old[i] if i < width else ABSENT
            if prev != char:
                out.checks.append(CheckChange(check_id, entities[i], CHAR_STATES[prev] if prev != ABSENT else None,
                                              CHAR_STATES[char]))
    old_tracks = (before or {}).get("tracks") or {}
    if run["tracks"] == old_tracks:  # same levels, same entity table prefix: no level changed
        return out
    # Levels changed (or the tracks differ): the general comparison, on levels only (checks already compared).
    level_changes = compare(_levels_only(before_states()), _levels_only(run_states()))
    out.levels = level_changes.levels
    out.highest = level_changes.highest
    return out


def _levels_only(states: States) -> States:
    return States({}, states.levels, states.refs, states.tracks)
