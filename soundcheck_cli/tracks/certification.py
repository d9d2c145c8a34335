"""Track certification (pure): which levels an entity reached, and the ``soundcheck`` fact that says so.

Rules (issue 2, "Tracks"; Soundcheck's tracks documentation):

- A level is *certified* for an entity when every applicable check in it is ``passed``. ``warning``,
  ``not-applicable`` and ``exempt`` (``soundcheck.exemptions``: "considered to be passing") do not block;
  ``failed``, ``not-reported`` and ``error`` do. A check the run did not
  evaluate counts as ``not-reported`` (it blocks, and says so).
- A level check with its own ``filter``/``exclude`` that does not select the entity is ``not-applicable`` at
  that level, whatever the check's own result.
- A level whose checks are all not-applicable is certified: it does not apply to this entity, and must not
  stop it from reaching the levels above.
- Certification is cumulative: the highest level L such that every level with ordinal <= L is certified
  (a certified level 3 above a failed level 2 does not count).

``track_fact`` turns a ``TrackResult`` into the built-in fact ``soundcheck:default/track/<id>``
(``soundcheck:default/program/<id>`` for legacy programs), so other checks can test it, as Soundcheck's own
Soundcheck collector allows (its documented example reads ``$.highestLevel.ordinal``). Data shape::

    {"trackId": "...",
     "levels": [{"ordinal": 1, "name": "Bronze", "state": "certified"|"not-certified"|"not-applicable"}, ...],
     "highestLevel": {"ordinal": 1, "name": "Bronze"} | null}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from operator import and_, attrgetter
from typing import Any

from soundcheck_cli.catalog.filters import selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.fastinit import build_columns
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.model import LevelResult, Track, TrackResult

SOUNDCHECK_SOURCE = "soundcheck"
SOUNDCHECK_SCOPE = "default"

# States that let a level be certified (issue 2: warning and not-applicable do not block; issue 6: nor exempt).
NON_BLOCKING = frozenset({CheckState.PASSED, CheckState.WARNING, CheckState.NOT_APPLICABLE, CheckState.EXEMPT})


def track_fact_ref(track_id: str, kind: str = "track") -> FactRef:
    """``soundcheck:default/track/<id>``, or ``soundcheck:default/program/<id>`` for kind ``program``."""
    prefix = "program" if kind == "program" else "track"
    return FactRef(SOUNDCHECK_SOURCE, SOUNDCHECK_SCOPE, f"{prefix}/{track_id}")


def parse_track_fact_ref(ref: FactRef) -> tuple[str, str] | None:
    """``(kind, track id)`` when ``ref`` names a built-in track/program fact, else None."""
    if ref.source != SOUNDCHECK_SOURCE or ref.scope != SOUNDCHECK_SCOPE:
        return None
    kind, _, track_id = ref.name.partition("/")
    if kind in ("track", "program") and track_id:
        return kind, track_id
    return None


_PASSED, _WARNING, _NOT_APPLICABLE, _NOT_REPORTED = (CheckState.PASSED, CheckState.WARNING,
                                                      CheckState.NOT_APPLICABLE, CheckState.NOT_REPORTED)
_EXEMPT = CheckState.EXEMPT
Selects = Callable[[Any, Any], Sequence[bool]]  # (filter, exclude) -> selected, aligned with the entities


# A 10,000-entity run builds ~40,000 level and track results: a column at a time (``fastinit.build_columns``).
_state_of = attrgetter("state")
_CHECK_STATE_ONLY = {CheckState}


def _passing(column: Sequence[CheckResult]) -> list[bool]:
    """Per result: whether its state lets a level be certified (one of the ``NON_BLOCKING`` members)."""
    states = list(map(_state_of, column))
    if set(map(type, states)) <= _CHECK_STATE_ONLY:
        # Every state is a member (an Enum has no other instances), and members of one Enum have distinct
        # values: the set lookup (by value, hashed as a str in C) says the same as testing identity.
        return list(map(NON_BLOCKING.__contains__, states))
    return [s is _PASSED or s is _WARNING or s is _NOT_APPLICABLE or s is _EXEMPT for s in states]


def _not_selected(check_id: str, ref: str, ordinal: int) -> CheckResult:
    return CheckResult(check_id, ref, _NOT_APPLICABLE,
                       f"not applicable: the filter of level {ordinal} does not select this entity")


def _not_evaluated(check_id: str, ref: str) -> CheckResult:
    return CheckResult(check_id, ref, _NOT_REPORTED, f"not reported: check {check_id!r} was not evaluated")


def certify(track: Track, entity: Entity, results: Mapping[str, CheckResult]) -> TrackResult:
    """Certification of ``entity`` in ``track`` from its check results (keyed by check id)."""
    columns = {cid: [result] for cid, result in results.items()}
    return certify_many(track, [entity], columns, lambda f, x: [selects(entity, f, x)])[0]


def certify_many(track: Track, entities: Sequence[Entity], columns: Mapping[str, Sequence[CheckResult]],
                 selected: Selects, refs: Sequence[str] | None = None) -> list[TrackResult]:
    """``certify`` for many entities at once: ``columns[check_id][i]`` is the result for ``entities[i]``;
    ``selected(filter, exclude)`` gives the level-check filters' answers for every entity (computed once per
    distinct filter by the caller); ``refs``, when given, is ``str(entity.ref)`` of each entity.

    Worked out column by column (a level's checks, its ``certified`` flags, its results, the highest level):
    the per-entity steps run inside ``map``/``zip``; the results are those of ``certify`` on each entity."""
    n = len(entities)
    if refs is None:
        refs = [str(entity.ref) for entity in entities]
    plan = []
    for level in sorted(track.levels, key=lambda lv: lv.ordinal):
        items = []
        for lc in level.checks:
            mask = selected(lc.filter, lc.exclude) if lc.filter is not None or lc.exclude is not None else None
            items.append((lc.id, columns.get(lc.id), mask))
        plan.append((level.ordinal, level.name, items))
    level_columns: list[list[LevelResult]] = []
    highest: list[LevelResult | None] = [None] * n
    climbing: list[bool] | None = None  # per entity: every level so far certified (None: no level yet)
    for ordinal, name, items in plan:
        resolved: list[Sequence[CheckResult]] = []
        for check_id, column, mask in items:
            if column is None:
                if mask is None:
                    column = [_not_evaluated(check_id, ref) for ref in refs]
                else:
                    column = [_not_evaluated(check_id, ref) if keep else _not_selected(check_id, ref, ordinal)
                              for ref, keep in zip(refs, mask)]
            elif mask is not None:
                column = [result if keep else _not_selected(check_id, ref, ordinal)
                          for result, ref, keep in zip(column, refs, mask)]
            resolved.append(column)
        if resolved:
            certified = list(map(all, zip(*map(_passing, resolved))))
            checks: Sequence[tuple[CheckResult, ...]] = list(zip(*resolved))
        else:
            certified = [True] * n
            checks = [()] * n
        level_results = build_columns(LevelResult, n, repeat(ordinal, n), repeat(name, n), certified, checks)
        level_columns.append(level_results)
        climbing = certified if climbing is None else list(map(and_, climbing, certified))
        highest = [lr if up else h for lr, up, h in zip(level_results, climbing, highest)]
    levels: Sequence[tuple[LevelResult, ...]] = list(zip(*level_columns)) if level_columns else [()] * n
    return build_columns(TrackResult, n, repeat(track.id, n), refs, levels, highest)


def level_state(level: LevelResult) -> str:
    """``certified``, ``not-certified``, or ``not-applicable`` (certified because no check applies)."""
    if not level.certified:
        return "not-certified"
    if level.checks and all(r.state is CheckState.NOT_APPLICABLE for r in level.checks):
        return "not-applicable"
    return "certified"


def track_fact_data(result: TrackResult) -> dict[str, Any]:
    """The data of the built-in track fact (see the module docstring for the shape)."""
    highest = result.highest_level
    return {
        "trackId": result.track_id,
        "levels": [{"ordinal": lv.ordinal, "name": lv.name, "state": level_state(lv)} for lv in result.levels],
        "highestLevel": None if highest is None else {"ordinal": highest.ordinal, "name": highest.name},
    }


def track_fact(track_result: TrackResult, kind: str = "track", now: datetime | None = None) -> Fact:
    """The ``soundcheck:default/track/<id>`` (or ``program/<id>``) fact for one entity's certification."""
    return Fact(track_fact_ref(track_result.track_id, kind), track_result.entity_ref, track_fact_data(track_result),
                timestamp=now or utcnow())
