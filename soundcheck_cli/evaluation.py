"""One evaluation run: select checks, tracks and entities, evaluate in dependency order, build a ``RunReport``.

``evaluate(settings, entities, facts, ...)`` is pure (no store, no clock unless ``now`` is omitted):

- **Selection.** No ids: every track and every check. ``track_ids``: those tracks and the checks of their
  levels. ``check_ids``: those checks. Both may be combined. Unknown ids (and unknown ``entity_refs``) raise
  ``UsageError`` naming the valid ones. ``entity_refs`` limits the entities considered (a ref without a kind is
  read as a Component, as Backstage does).
- **Dependencies.** A check whose rule reads ``soundcheck:default/track/<X>`` (``program/<X>`` for legacy
  programs) depends on track X, which depends on the checks of its levels. Nodes run in topological order; after
  a track is certified its facts are put into the run's fact tables (in memory, replacing any stored copy), so a
  dependent check sees this run's certification. A cycle is a ``ConfigError`` located at the condition that
  reads the track. Dependencies are evaluated even when not selected, but only selected checks and tracks are
  reported.
- **Cost.** Each (check, entity) pair is evaluated once. Facts are re-indexed once per run into per-fact-ref
  tables; each distinct ``filter``/``exclude`` is applied once per entity, whatever the number of checks
  sharing it.
- **Manual checks** (``type: manual``, issue 21) are not evaluated: each entity's result is the one pushed for it
  (``pushed``: ``soundcheck results push``, or ``serve``'s ``POST /results``), with who pushed it and when in the
  message; ``not-reported`` without one; ``not-applicable`` where the check's filter does not select the entity.
  Exemptions and certification then treat them like any other result.
- Tracks whose ``filter``/``exclude`` does not select an entity give no ``TrackResult`` for it; a check whose
  ``schedule.filter`` does not select an entity gives no ``CheckResult`` for it (a track sees not-applicable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from soundcheck_cli.catalog.filters import LoweredViews, SelectionColumns
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.catalog.select import select_entities
from soundcheck_cli.config.model import Settings
from soundcheck_cli.errors import ConfigError, Location, Problems, UsageError
from soundcheck_cli.exemptions import apply_exemptions, index_by_check
from soundcheck_cli.facts.interface import entity_key
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.results import RunReport
from soundcheck_cli.gcpause import paused
from soundcheck_cli.rules.engine import build_tables, compile_check
from soundcheck_cli.rules.model import Check, CheckResult, CheckState, Condition, Not, Rule
from soundcheck_cli.rules.plan import ABSENT
from soundcheck_cli.tracks.certification import certify_many, parse_track_fact_ref, track_fact_data, track_fact_ref
from soundcheck_cli.tracks.model import Track, TrackResult

EntityInfo = tuple[Entity, str, str]  # (entity, entity ref as written in results, store key)


# --- selection ---------------------------------------------------------------------------------------------
def _valid_list(kind: str, ids: Iterable[str]) -> str:
    ids = list(ids)
    if not ids:
        return f"no {kind}s are defined"
    return f"valid {kind}s: " + ", ".join(ids)


def _select(settings: Settings, track_ids: Sequence[str], check_ids: Sequence[str],
            problems: Problems) -> tuple[list[Track], list[Check]]:
    known_tracks = [t.id for t in settings.tracks]
    known_checks = [c.id for c in settings.checks]
    for tid in dict.fromkeys(track_ids):
        if tid not in known_tracks:
            problems.error(f"unknown track {tid!r}; {_valid_list('track', known_tracks)}")
    for cid in dict.fromkeys(check_ids):
        if cid not in known_checks:
            problems.error(f"unknown check {cid!r}; {_valid_list('check', known_checks)}")
    if not track_ids and not check_ids:
        return list(settings.tracks), list(settings.checks)
    wanted_tracks = set(track_ids)
    tracks = [t for t in settings.tracks if t.id in wanted_tracks]
    wanted_checks = set(check_ids)
    for track in tracks:
        for level in track.levels:
            wanted_checks.update(lc.id for lc in level.checks)
    checks = [c for c in settings.checks if c.id in wanted_checks]
    return tracks, checks


# --- dependencies ------------------------------------------------------------------------------------------
Node = tuple[str, Any]  # ("check", Check) or ("track", Track)


def _condition_reading(rule: Rule | None, ref: FactRef) -> Condition | None:
    if rule is None:
        return None
    if isinstance(rule, Condition):
        return rule if rule.fact_ref == ref else None
    if isinstance(rule, Not):
        return _condition_reading(rule.rule, ref)
    for child in rule.rules:
        found = _condition_reading(child, ref)
        if found is not None:
            return found
    return None


def _reading_location(check: Check, ref: FactRef) -> Location | None:
    condition = _condition_reading(check.rule, ref) or _condition_reading(check.applicable, ref)
    if condition is not None and condition.location is not None:
        return condition.location
    return check.location


class _Graph:
    """Checks and tracks with their edges; ``order`` is a dependency-first order of what ``roots`` need."""

    def __init__(self, settings: Settings, warnings: Problems) -> None:
        self.checks = {c.id: c for c in settings.checks}
        self.tracks = {(t.kind, t.id): t for t in settings.tracks}
        self.warnings = warnings
        self._check_deps: dict[str, list[tuple[FactRef, Track]]] = {}

    def check_deps(self, check: Check) -> list[tuple[FactRef, Track]]:
        deps = self._check_deps.get(check.id)
        if deps is None:
            deps = []
            for ref in sorted(check.fact_refs(), key=str):
                parsed = parse_track_fact_ref(ref)
                if parsed is None:
                    continue
                track = self.tracks.get(parsed)
                if track is None:
                    self.warnings.warning(
                        f"check {check.id!r} reads {ref} but no {parsed[0]} {parsed[1]!r} is defined; "
                        "only a stored fact can answer it", _reading_location(check, ref))
                    continue
                deps.append((ref, track))
            self._check_deps[check.id] = deps
        return deps

    def track_deps(self, track: Track) -> list[Check]:
        out: list[Check] = []
        for level in track.levels:
            for lc in level.checks:
                check = self.checks.get(lc.id)
                if check is not None and check not in out:
                    out.append(check)
        return out

    def order(self, roots: Iterable[Node]) -> list[Node]:
        done: set[tuple[str, str]] = set()
        order: list[Node] = []
        stack: list[tuple[Node, FactRef | None]] = []  # the DFS path, with the fact ref that led to each track
        on_stack: set[tuple[str, str]] = set()

        def key(node: Node) -> tuple[str, str]:
            kind, value = node
            return (kind, value.id) if kind == "check" else ("track:" + value.kind, value.id)

        def visit(node: Node, via: FactRef | None) -> None:
            k = key(node)
            if k in done:
                return
            if k in on_stack:
                raise self._cycle(stack, node, via)
            on_stack.add(k)
            stack.append((node, via))
            kind, value = node
            if kind == "check":
                for ref, track in self.check_deps(value):
                    visit(("track", track), ref)
            else:
                for check in self.track_deps(value):
                    visit(("check", check), None)
            stack.pop()
            on_stack.discard(k)
            done.add(k)
            order.append(node)

        for root in roots:
            visit(root, None)
        return order

    @staticmethod
    def _cycle(stack: list[tuple[Node, FactRef | None]], node: Node, via: FactRef | None) -> ConfigError:
        start = next(i for i, (n, _) in enumerate(stack) if n[0] == node[0] and n[1] is node[1])
        path = stack[start:] + [(node, via)]
        names = " -> ".join(f"{n[0]} {n[1].id!r}" for n, _ in path)
        # Locate the error at the condition where a check reads a track of the cycle.
        for i in range(len(path) - 1):
            (kind, value), _ = path[i]
            next_node, next_via = path[i + 1]
            if kind == "check" and next_via is not None:
                track = next_node[1]
                message = (f"check {value.id!r} reads {next_via}, but track {track.id!r} depends on it: "
                           f"dependency cycle {names}")
                return ConfigError(message, _reading_location(value, next_via))
        return ConfigError(f"dependency cycle {names}")  # pragma: no cover - every cycle goes through a check


# --- the run -----------------------------------------------------------------------------------------------
def _filter_key(filter: Any, exclude: Any) -> Any:
    try:
        hash((filter, exclude))
        return (filter, exclude)
    except TypeError:  # an unhashable filter object: share nothing
        return (id(filter), id(exclude))


class _Masks:
    """``selects(entity, filter, exclude)`` for every entity, computed once per distinct filter pair."""

    def __init__(self, entities: Sequence[Entity]) -> None:
        self.entities = entities
        self.all = [True] * len(entities)
        self._memo: dict[Any, list[bool]] = {}
        self._columns = SelectionColumns(entities, LoweredViews())  # each distinct path walked once per run

    def scheduled(self, check: Check, mask: list[bool]) -> list[bool]:
        """``mask`` limited to the entities the check's ``schedule.filter`` selects (the others are evaluated as
        not selected, so that a track sees not-applicable, and left out of the report: ``_population``)."""
        schedule = check.schedule
        if schedule is None or schedule.filter is None:
            return mask
        runs_for = self.get(schedule.filter, None)
        return runs_for if mask is self.all else [a and b for a, b in zip(mask, runs_for)]

    def get(self, filter: Any, exclude: Any) -> list[bool]:
        if filter is None and exclude is None:
            return self.all
        key = _filter_key(filter, exclude)
        mask = self._memo.get(key)
        if mask is None:
            mask = self._columns.selects(filter, exclude)
            self._memo[key] = mask
        return mask


# Entities evaluated, reported and dropped together (``evaluate_stream``). A chunk's facts, results and report text
# are what a process holds beyond the catalog, once per process when the run is fanned out (``app.fanout``): at
# 100,000 entities x 20 checks, 2,500 kept two processes within 600 MB where 5,000 took ~680 MB.
CHUNK = 2500


def evaluate(
    settings: Settings,
    entities: list[Entity],
    facts: Mapping[tuple[str, FactRef], Fact],
    *,
    track_ids: Sequence[str] = (),
    check_ids: Sequence[str] = (),
    entity_refs: Sequence[str] = (),
    now: datetime | None = None,
    not_applicable: Mapping[FactRef, Mapping[str, str]] | None = None,
    pushed: Mapping[str, Mapping[str, Any]] | None = None,
    exemption_notice_days: int = 14,
    release_facts: bool = False,
    chunk: int | None = None,
) -> RunReport:
    """Evaluate the selected checks and tracks over ``entities`` with ``facts`` (keyed by
    ``(entity_key(entity ref), FactRef)``, as ``FactStore.load_all()`` returns them): the whole report, the parts of
    ``evaluate_stream`` joined (``RunReport.join``). Results are in part order, and check-major within a part.

    ``not_applicable`` holds, per fact ref, the entities (by entity key) that the fact's collector found it does
    not apply to, with the collector's reason (``collectors.applicability``): a check that is not reported only
    because such facts were never collected is ``not-applicable`` for that entity, with the reason.

    ``release_facts``: the caller gives ``facts`` (a dict) up; it is emptied once indexed into the run's fact
    tables, so its ``Fact`` objects are freed before the results are built (at 100,000 entities, ~100 MB less
    at the run's peak)."""
    stream = evaluate_stream(settings, entities, facts, track_ids=track_ids, check_ids=check_ids,
                             entity_refs=entity_refs, now=now, not_applicable=not_applicable, pushed=pushed,
                             exemption_notice_days=exemption_notice_days, release_facts=release_facts, chunk=chunk)
    with paused():
        parts = list(stream.parts())
    return RunReport.join(stream.head, parts, tuple(stream.problems))


class EvaluationStream:
    """One run's evaluation, entity chunk by entity chunk (issue 23): ``head`` is the run without results (every
    considered entity, the selected checks and tracks, the time); ``parts()`` yields, once, a ``RunReport`` per
    chunk of ``chunk`` entities (its entities, their check results check-major, their track results track-major,
    no problems); ``problems`` is complete once ``parts()`` is exhausted. A chunk's results depend on that
    chunk's entities only (a check that reads a track reads the same entity's certification), so a caller that
    hands each part to its writers and drops it holds one chunk of results at a time, never the run's.

    For the same reason the chunks can be evaluated in any order and in other processes (``app.fanout``):
    ``count`` is the number of chunks, ``part(i)`` evaluates chunk ``i``, and ``in_worker()`` is called once in a
    forked worker process before its first ``part``, to open there what must not be shared with the parent (the
    fact store's connection: ``app.check_stream`` sets it)."""

    def __init__(self, head: RunReport, count: int, part: Callable[[int], RunReport], problems: list[Any]) -> None:
        self.head = head
        self.count = count
        self.part = part
        self.problems = problems
        self.on_close: Callable[[], None] | None = None  # e.g. close the store the facts are read from
        self.in_worker: Callable[[], None] | None = None

    def parts(self) -> Iterator[RunReport]:
        try:
            for i in range(self.count):
                yield self.part(i)
        finally:
            self.close()

    def close(self) -> None:
        """Release what the parts read from (idempotent); ``parts()`` does it when it ends."""
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


def evaluate_stream(
    settings: Settings,
    entities: list[Entity],
    facts: Mapping[tuple[str, FactRef], Fact] | Callable[[list[Entity], list[str]], Mapping[tuple[str, FactRef], Fact]],
    *,
    track_ids: Sequence[str] = (),
    check_ids: Sequence[str] = (),
    entity_refs: Sequence[str] = (),
    now: datetime | None = None,
    not_applicable: Mapping[FactRef, Mapping[str, str]] | None = None,
    pushed: Mapping[str, Mapping[str, Any]] | None = None,
    exemption_notice_days: int = 14,
    release_facts: bool = False,
    chunk: int | None = None,
) -> EvaluationStream:
    """``evaluate``'s run as an ``EvaluationStream``. Selection errors (``UsageError``) and dependency cycles
    (``ConfigError``) are raised here, before any part.

    ``facts`` is the run's facts (a mapping: the fact tables are built here, once), or ``facts(entities, keys)``,
    a function giving the facts of a chunk's entities (with their entity keys, as ``FactStore.load_entities``
    takes them): then each chunk's facts are
    read, indexed, evaluated and dropped in turn, and the run never holds every fact (issue 23: 270,000 facts took
    ~350 MB at 100,000 entities)."""
    now = now or utcnow()
    not_applicable = not_applicable or {}
    pushed = pushed or {}
    problems = Problems()
    tracks, checks = _select(settings, track_ids, check_ids, problems)
    if problems.errors:
        raise UsageError(problems.errors)
    considered = select_entities(entities, entity_refs)

    warnings = Problems()
    graph = _Graph(settings, warnings)
    roots: list[Node] = [("check", c) for c in checks] + [("track", t) for t in tracks]
    order = graph.order(roots)

    # Fact tables: stored facts for what the checks read; in-memory tables for the tracks this run certifies.
    needed: set[FactRef] = set()
    for kind, value in order:
        if kind == "check":
            needed.update(compile_check(value).refs)
    computed: dict[FactRef, Track] = {}
    for kind, value in order:
        if kind == "track":
            ref = track_fact_ref(value.id, value.kind)
            if ref in needed:
                computed[ref] = value
    stored = needed - computed.keys()
    per_chunk = callable(facts)
    if per_chunk:
        tables: dict[FactRef, dict[str, Any]] = {ref: {} for ref in stored}
    else:
        with paused():
            tables = build_tables(facts, stored, now)  # type: ignore[arg-type]
        if release_facts:
            facts.clear()  # type: ignore[union-attr]  # the tables hold what the checks read
    absent_reasons: dict[FactRef, str] = {}
    for ref, track in computed.items():
        tables[ref] = {}
        absent_reasons[ref] = f"{track.kind} {track.id!r} does not apply to this entity"
    exempted = index_by_check(getattr(settings, "exemptions", ()))
    head = RunReport(generated_at=now, entities=tuple(considered), checks=tuple(checks), tracks=tuple(tracks),
                     check_results=(), track_results=())
    size = max(1, CHUNK if chunk is None else chunk)

    bound: dict[str, Any] = {}

    def part(index: int) -> RunReport:
        if not bound:
            bound.update((value.id, compile_check(value).bind(tables, absent_reasons))
                         for kind, value in order if kind == "check" and not value.manual)
        infos: list[EntityInfo] = []
        for entity in considered[index * size:(index + 1) * size]:
            ref_text = str(entity.ref)
            infos.append((entity, ref_text, entity_key(ref_text)))
        if per_chunk:  # the chunk's facts, into the same tables (the bound checks hold their ``get``s)
            with paused():
                chunk_tables = build_tables(facts([e for e, _r, _k in infos], [key for _e, _r, key in infos]),  # type: ignore[operator]
                                            stored, now)
            for ref in stored:
                table = tables[ref]
                table.clear()
                table.update(chunk_tables[ref])
            del chunk_tables
        try:
            return _evaluate_part(settings, infos, order, checks, tracks, tables, bound, computed, now,
                                  not_applicable, pushed, exempted, warnings, exemption_notice_days)
        finally:
            for ref in computed:  # a certification is read by the same entity's checks only: done with
                tables[ref].clear()

    return EvaluationStream(head, -(-len(considered) // size), part, warnings.items)


def _evaluate_part(settings: Settings, infos: list[EntityInfo], order: list[Node], checks: list[Check],
                   tracks: list[Track], tables: dict[FactRef, dict[str, Any]], bound: Mapping[str, Any],
                   computed: Mapping[FactRef, Track], now: datetime,
                   not_applicable: Mapping[FactRef, Mapping[str, str]], pushed: Mapping[str, Mapping[str, Any]],
                   exempted: Mapping[str, Any], warnings: Problems, notice_days: int) -> RunReport:
    considered = [entity for entity, _r, _k in infos]
    masks = _Masks(considered)

    check_results: dict[str, list[CheckResult]] = {}
    track_results: dict[tuple[str, str], list[TrackResult]] = {}
    for kind, value in order:
        if kind == "check" and value.manual:
            mask = masks.scheduled(value, masks.get(value.filter, value.exclude))
            check_results[value.id] = manual_results(value, infos, mask, pushed.get(value.id, {}))
            if value.id in exempted:
                check_results[value.id] = apply_exemptions(check_results[value.id], exempted[value.id], now, warnings,
                                                           notice_days)
        elif kind == "check":
            mask = masks.scheduled(value, masks.get(value.filter, value.exclude))
            check_results[value.id] = bound[value.id].run(infos, None if mask is masks.all else mask)
            na_refs = [ref for ref in compile_check(value).rule_refs if not_applicable.get(ref)]
            if na_refs:
                check_results[value.id] = _not_applicable_pass(check_results[value.id], na_refs, tables,
                                                                not_applicable)
            if value.id in exempted:  # before any track certifies with these results (soundcheck.exemptions)
                check_results[value.id] = apply_exemptions(check_results[value.id], exempted[value.id], now, warnings,
                                                           notice_days)
        else:
            track_results[(value.kind, value.id)] = _certify_all(
                value, infos, masks.get(value.filter, value.exclude), masks, check_results,
                tables.get(track_fact_ref(value.id, value.kind)))

    return RunReport(
        generated_at=now,
        entities=tuple(considered),
        checks=tuple(checks),
        tracks=tuple(tracks),
        check_results=tuple(chain.from_iterable(
            _in_population(check_results[c.id], _population(settings, c, masks)) for c in checks)),
        track_results=tuple(chain.from_iterable(track_results[(t.kind, t.id)] for t in tracks)),
    )


MANUAL_NOT_REPORTED = "not reported: no result was pushed for this manual check (soundcheck results push)"


def manual_results(check: Check, infos: Sequence[EntityInfo], mask: Sequence[bool],
                   pushed: Mapping[str, Any]) -> list[CheckResult]:
    """A ``type: manual`` check's results: the pushed result of each entity (``results_store.PushedResult``, by
    entity key), ``not-reported`` without one, ``not-applicable`` where its filter does not select the entity."""
    from soundcheck_cli.rules.plan import NOT_SELECTED_MESSAGE

    out: list[CheckResult] = []
    for (_entity, ref, ekey), selected in zip(infos, mask):
        if not selected:
            out.append(CheckResult(check.id, ref, CheckState.NOT_APPLICABLE, NOT_SELECTED_MESSAGE))
            continue
        result = pushed.get(ekey)
        if result is None:
            out.append(CheckResult(check.id, ref, CheckState.NOT_REPORTED, MANUAL_NOT_REPORTED))
            continue
        state = CheckState(result.state)
        if state is CheckState.FAILED and check.warning:
            state = CheckState.WARNING
        out.append(CheckResult(check.id, ref, state, pushed_message(result)))
    return out


def pushed_message(result: Any) -> str:
    """``<details.message>`` (when the push gave one), then who pushed the result and when."""
    details = result.details if isinstance(result.details, dict) else {}
    text = details.get("message") or details.get("reason") or ""
    who = f" by {result.submitted_by}" if result.submitted_by else ""
    when = f" at {result.last_checked}" if result.last_checked else ""
    stamp = f"(pushed{who}{when})"
    return f"{text} {stamp}" if isinstance(text, str) and text else stamp


def _not_applicable_pass(results: list[CheckResult], refs: Sequence[FactRef],
                         tables: Mapping[FactRef, Mapping[str, Any]],
                         not_applicable: Mapping[FactRef, Mapping[str, str]]) -> list[CheckResult]:
    """``results`` with each ``not-reported`` result whose missing facts were all never collected *and* found
    not applicable to that entity by their collectors turned into ``not-applicable`` (the collectors' reasons as
    the message). Only not-reported results are looked at: the engine's loops stay as they are."""
    out = results
    for i, result in enumerate(results):
        if result.state is not CheckState.NOT_REPORTED:
            continue
        ekey = entity_key(result.entity_ref)
        reasons = []
        for ref in refs:
            if tables.get(ref, {}).get(ekey, ABSENT) is not ABSENT:
                continue  # collected (or expired): not this pass's business
            reason = not_applicable[ref].get(ekey)
            if reason is None:
                break
            reasons.append(f"{ref}: {reason}")
        else:
            if reasons and len(reasons) == len(result.missing_facts):
                if out is results:
                    out = list(results)
                out[i] = result._replace(state=CheckState.NOT_APPLICABLE, message="; ".join(reasons),
                                         missing_facts=())
    return out


def _population(settings: Settings, check: Check, masks: _Masks) -> list[bool] | None:
    """Which entities a check is reported for, as in Soundcheck: a check that belongs to tracks is run for the
    entities those tracks select (whichever tracks this run reports); a check in no track, for every entity; and,
    with a ``schedule.filter``, only for the entities it selects. Inside that population, the check's own
    filter/exclude decides not-applicable. ``None`` means everyone."""
    scheduled = masks.scheduled(check, masks.all)  # ``schedule.filter``: the entities the check runs for
    containing = [t for t in settings.tracks if any(lc.id == check.id for lv in t.levels for lc in lv.checks)]
    if not containing:
        return None if scheduled is masks.all else scheduled
    track_masks = [masks.get(t.filter, t.exclude) for t in containing]
    if any(m is masks.all for m in track_masks):
        return None if scheduled is masks.all else scheduled
    return [any(column) and runs for *column, runs in zip(*track_masks, scheduled)]


def _in_population(results: list[CheckResult], population: list[bool] | None) -> list[CheckResult]:
    if population is None:
        return results
    return [r for r, keep in zip(results, population) if keep]


def _certify_all(track: Track, infos: Sequence[EntityInfo], mask: Sequence[bool], masks: _Masks,
                 check_results: Mapping[str, list[CheckResult]], table: dict[str, Any] | None) -> list[TrackResult]:
    chosen = [i for i, selected in enumerate(mask) if selected]
    if len(chosen) == len(infos):
        entities = [e for e, _r, _k in infos]
        refs = [r for _e, r, _k in infos]
        columns: Mapping[str, Sequence[CheckResult]] = check_results
        selected = masks.get
    else:  # only the entities the track's filter selects
        entities = [infos[i][0] for i in chosen]
        refs = [infos[i][1] for i in chosen]
        wanted = {lc.id for level in track.levels for lc in level.checks}
        columns = {cid: [column[i] for i in chosen] for cid, column in check_results.items() if cid in wanted}

        def selected(filter: Any, exclude: Any) -> list[bool]:
            full = masks.get(filter, exclude)
            return [full[i] for i in chosen]

    results = certify_many(track, entities, columns, selected, refs)
    if table is not None:
        for result, i in zip(results, chosen):
            table[infos[i][2]] = track_fact_data(result)
    return results
