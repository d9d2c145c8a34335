"""What several reporters need to read from a ``RunReport``: secrets masked (``redacted``), entity lookup, owners,
track membership, level distributions, source paths, and text cleaning. Pure functions; no reporter-specific
formatting.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from soundcheck_cli import redact
from soundcheck_cli.catalog.model import Entity, EntityRef
from soundcheck_cli.errors import Location, Problem
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckResult, CheckState
from soundcheck_cli.tracks.model import Level, LevelResult, Track, TrackResult

# The states that fail the default gate (``gate.FAILING_STATES``) and those shown as "did not pass".
FAILING = (CheckState.FAILED, CheckState.ERROR, CheckState.NOT_REPORTED)
NOT_PASSING = (CheckState.FAILED, CheckState.ERROR, CheckState.NOT_REPORTED, CheckState.WARNING)
# not-applicable and exempt are "skipped" in every format (JUnit <skipped>, no SARIF failure, ...).
SKIPPED = (CheckState.NOT_APPLICABLE, CheckState.EXEMPT)

NO_OWNER = "(no owner)"
NO_LEVEL = "none"

# XML 1.0 forbids most C0 controls even as character references; HTML treats them as parse errors.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean_text(text: object) -> str:
    """``text`` as a string without the control characters XML 1.0 cannot carry (tab, LF and CR kept)."""
    return _CONTROL.sub("\ufffd", "" if text is None else str(text))


def redacted(report: RunReport, redactor: redact.Redactor | None = None) -> RunReport:
    """``report`` with every known secret masked in the text reporters print, before any format escapes it.

    Masking the rendered text afterwards misses a secret that the format escaped (``&`` -> ``&amp;``, ``"`` ->
    ``\\"``, a newline -> ``<br>``) or that the table folded; masked here, every format shows ``***``. Every
    reporter calls this first; ``redactor`` defaults to the process-wide one (``redact.GLOBAL``: the secrets of
    the loaded config). The report comes back unchanged, at the cost of one scan, when it holds no known secret.
    """
    redactor = redact.GLOBAL if redactor is None else redactor
    if not redactor.values or not redactor.found_in("\0".join(map(str, _printed_texts(report)))):
        return report
    memo: dict[str, str] = {}

    def mask(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        out = memo.get(text)
        if out is None:
            out = memo[text] = redactor.redact_known(text)
        return out

    return _masked_report(report, mask, redactor)


def _printed_texts(report: RunReport) -> Iterator[str]:
    """Every text of the report that some reporter prints (each distinct message once)."""
    results = report.check_results
    yield from {r.message for r in results}
    yield from {r.entity_ref for r in results}
    yield from {r.check_id for r in results}
    yield from {m for r in results for m in r.missing_facts}
    for tr in report.track_results:
        yield tr.track_id
        yield tr.entity_ref
        for lv in tr.levels:
            yield lv.name or ""
    for c in report.checks:
        yield from (c.id, c.name or "", c.description or "", c.owner_entity_ref or "")
    for t in report.tracks:
        yield from (t.id, t.name or "", t.description or "", t.owner_entity_ref or "", t.kind)
        for lv in t.levels:
            yield from (lv.name or "", lv.description or "")
            for lc in lv.checks:
                yield from (lc.id, lc.name or "", lc.description or "")
    for e in report.entities:
        yield str(e.ref)
        yield str(e.spec.get("owner") or "")
        if e.source is not None:
            yield e.source.path
    for p in report.problems:
        yield str(p)


def _masked_report(report: RunReport, mask: Callable[[Any], Any], redactor: redact.Redactor) -> RunReport:
    new_results: dict[int, CheckResult] = {}

    def result(r: CheckResult) -> CheckResult:
        out = new_results.get(id(r))
        if out is None:
            out = new_results[id(r)] = CheckResult(mask(r.check_id), mask(r.entity_ref), r.state, mask(r.message),
                                                   tuple(map(mask, r.missing_facts)))
        return out

    def level_result(lv: LevelResult) -> LevelResult:
        return LevelResult(lv.ordinal, mask(lv.name), lv.certified, tuple(map(result, lv.checks)))

    def track_result(tr: TrackResult) -> TrackResult:
        levels = tuple(map(level_result, tr.levels))
        highest = None
        if tr.highest_level is not None:
            highest = next((lv for lv, old in zip(levels, tr.levels) if old is tr.highest_level),
                           level_result(tr.highest_level))
        return TrackResult(mask(tr.track_id), mask(tr.entity_ref), levels, highest)

    def location(loc: Location | None) -> Location | None:
        return None if loc is None else replace(loc, path=mask(loc.path))

    def entity(e: Entity) -> Entity:
        ref = EntityRef(mask(e.ref.kind), mask(e.ref.namespace), mask(e.ref.name))
        return Entity(redactor.redact_data(e.data), ref, location(e.source))

    def check(c: Check) -> Check:
        return replace(c, id=mask(c.id), name=mask(c.name), description=mask(c.description),
                       owner_entity_ref=mask(c.owner_entity_ref), passed_message=mask(c.passed_message),
                       failed_message=mask(c.failed_message), not_applicable_message=mask(c.not_applicable_message))

    def level(lv: Level) -> Level:
        checks = tuple(replace(lc, id=mask(lc.id), name=mask(lc.name), description=mask(lc.description))
                       for lc in lv.checks)
        return replace(lv, checks=checks, name=mask(lv.name), description=mask(lv.description))

    def track(t: Track) -> Track:
        return replace(t, id=mask(t.id), levels=tuple(map(level, t.levels)), name=mask(t.name),
                       description=mask(t.description), owner_entity_ref=mask(t.owner_entity_ref))

    return RunReport(
        generated_at=report.generated_at,
        entities=tuple(map(entity, report.entities)),
        checks=tuple(map(check, report.checks)),
        tracks=tuple(map(track, report.tracks)),
        check_results=tuple(map(result, report.check_results)),
        track_results=tuple(map(track_result, report.track_results)),
        problems=tuple(Problem(mask(p.message), location(p.location), p.severity) for p in report.problems),
    )


def level_label(ordinal: int, name: str | None) -> str:
    return f"{ordinal}. {name}" if name else f"Level {ordinal}"


@dataclass(frozen=True)
class Index:
    """Lookups built once per render."""

    entities: dict[str, Entity]  # by entity ref as written in results, and by its lower-case key
    checks: dict[str, Check]
    tracks_of_check: dict[str, tuple[str, ...]]  # check id -> ids of the reported tracks that contain it

    def entity(self, ref: str) -> Entity | None:
        return self.entities.get(ref) or self.entities.get(ref.lower())

    def check(self, check_id: str) -> Check | None:
        return self.checks.get(check_id)


def build_index(report: RunReport) -> Index:
    entities: dict[str, Entity] = {}
    for e in report.entities:
        entities.setdefault(str(e.ref), e)
        entities.setdefault(e.ref.key, e)
    tracks_of: dict[str, list[str]] = defaultdict(list)
    for track in report.tracks:
        for level in track.levels:
            for lc in level.checks:
                if track.id not in tracks_of[lc.id]:
                    tracks_of[lc.id].append(track.id)
    return Index(entities, {c.id: c for c in report.checks}, {k: tuple(v) for k, v in tracks_of.items()})


def standalone_checks(report: RunReport, index: Index) -> list[Check]:
    """Checks evaluated in this run that belong to none of the reported tracks."""
    return [c for c in report.checks if c.id not in index.tracks_of_check]


def owner_of(check: Check | None, entity: Entity | None) -> str:
    """Who should fix a failing check: the check's ``ownerEntityRef``, else the entity's ``spec.owner``
    (a bare name is a Group, as Backstage reads ``spec.owner``), else ``(no owner)``."""
    if check is not None and check.owner_entity_ref:
        return check.owner_entity_ref
    owner = entity.spec.get("owner") if entity is not None else None
    if isinstance(owner, str) and owner.strip():
        try:
            return str(EntityRef.parse(owner, default_kind="group"))
        except ValueError:
            return owner.strip()
    return NO_OWNER


def results_by_entity(report: RunReport) -> dict[str, list[CheckResult]]:
    out: dict[str, list[CheckResult]] = defaultdict(list)
    for r in report.check_results:
        out[r.entity_ref].append(r)
    return out


def track_rows(report: RunReport, track: Track) -> list[TrackResult]:
    return [tr for tr in report.track_results if tr.track_id == track.id]


def level_distribution(track: Track, rows: Iterable[TrackResult]) -> list[tuple[str, int]]:
    """``[("none", n0), ("1. Bronze", n1), ...]``: how many entities reached each level as their highest."""
    counts = {NO_LEVEL: 0}
    for lv in track.levels:
        counts[level_label(lv.ordinal, lv.name)] = 0
    labels = {lv.ordinal: level_label(lv.ordinal, lv.name) for lv in track.levels}
    for tr in rows:
        reached = tr.highest_level
        label = NO_LEVEL if reached is None else labels.get(reached.ordinal, level_label(reached.ordinal, reached.name))
        counts[label] = counts.get(label, 0) + 1
    return list(counts.items())


def reached_label(tr: TrackResult) -> str:
    return NO_LEVEL if tr.highest_level is None else level_label(tr.highest_level.ordinal, tr.highest_level.name)


def state_counts(results: Iterable[CheckResult]) -> dict[CheckState, int]:
    counts = {s: 0 for s in CheckState}
    for r in results:
        counts[r.state] += 1
    return counts


def plural(count: int, singular: str, plural_form: str | None = None, *, grouped: bool = False) -> str:
    """``1 entity``, ``2 entities``, ``0 checks`` (``grouped``: ``10,000 results``)."""
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {singular if count == 1 else (plural_form or singular + 's')}"


def summary_line(report: RunReport) -> str:
    """``63 results for 9 entities: 42 passed, 9 failed, ...`` (the table format's closing line)."""
    return summary_text(len(report.check_results), len({r.entity_ref for r in report.check_results}),
                        state_counts(report.check_results))


def summary_text(results: int, entities: int, counts: dict[CheckState, int]) -> str:
    """``summary_line`` from its counts (a run written part by part counts as it goes)."""
    parts = [f"{n} {s.value}" for s, n in counts.items() if n]
    return (f"{plural(results, 'result')} for {plural(entities, 'entity', 'entities')}: " + (
        ", ".join(parts) if parts else "nothing evaluated"))


def message_of(result: CheckResult, check: Check | None) -> str:
    """The result's message, or a sentence naming the check and state when the message is empty."""
    if result.message:
        return result.message
    title = check.title if check is not None else result.check_id
    return f"{title}: {result.state.value}"


@dataclass(frozen=True)
class SourcePath:
    path: str  # relative to ``root`` with forward slashes when under it, else absolute as loaded
    relative: bool
    line: int | None
    column: int | None


def source_of(entity: Entity | None, root: str | None = None) -> SourcePath | None:
    """Where an entity was read (its catalog file, line and column), relative to ``root`` when it lies
    under it: GitHub annotations and SARIF want paths relative to the repository root."""
    if entity is None or entity.source is None or not entity.source.path:
        return None
    loc = entity.source
    path = loc.path
    relative = not os.path.isabs(path)
    if root and os.path.isabs(path):
        try:
            rel = os.path.relpath(path, root)
        except ValueError:  # another drive on Windows
            rel = None
        if rel is not None and rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            path, relative = rel, True
    if relative:
        path = path.replace(os.sep, "/")
        while path.startswith("./"):
            path = path[2:]
    return SourcePath(path, relative, loc.line, loc.column)


def first_per_state(results: Any, room: int, kept: Mapping[Any, int]) -> list[Any]:
    """``results`` in order, each while its state has fewer than ``room`` listed, counting from ``kept`` (what a
    writer already holds per state): the capped lists of the GitHub annotations and of SARIF."""
    per_state = dict(kept)
    listed = []
    for r in results:
        if per_state[r.state] < room:
            per_state[r.state] += 1
            listed.append(r)
    return listed
