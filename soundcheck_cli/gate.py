"""The CI gate: the one function (``judge``) that turns a ``RunReport`` and the gate options into a ``check`` exit
code, with the reasons of a failure (which results, which entities below which level) for the user.

Options (issue 6, "CI gate"), as the CLI's ``--fail-on``, ``--min-level``, ``--exit-zero`` and ``--allow-empty``
give them:

- ``fail_on``: ``failed`` (default) fails the run on a ``failed``, ``not-reported`` or ``error`` result, and when
  an entity did not reach its track's top level (unless ``--min-level`` names a lower bar for that track);
  ``warning`` fails on ``warning`` results too; ``never`` fails on no check result and no implicit top level.
  ``passed``, ``not-applicable`` and ``exempt`` never fail. ``overdue`` (with ``check --campaign ID``, issue 21):
  the run reports but passes until the campaign's deadline (``deadline``), then gates as ``failed`` does, saying
  the campaign is overdue.
- ``min_levels``: ``TRACK=ORDINAL`` pairs; the run fails when an entity selected by that track is certified below
  ORDINAL (also with ``fail_on=never``: an explicit bar is always enforced). A track this run did not evaluate, or
  an ORDINAL above the track's top level, is a usage error (exit code 2).
- ``allow_empty``: a run that evaluated nothing (no entity selected, no check or track, filters that select no
  entity) passes; without it such a run fails (exit code 1): a gate never passes on nothing.
- ``exit_zero``: report everything, exit 0 anyway (errors of usage or configuration still exit 2: they are raised,
  not decided here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from operator import attrgetter
from typing import Any

from soundcheck_cli.errors import ExitCode, UsageError
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState

FAILING_STATES = frozenset({CheckState.FAILED, CheckState.NOT_REPORTED, CheckState.ERROR})


class FailOn(str, Enum):
    FAILED = "failed"
    WARNING = "warning"
    NEVER = "never"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class GateOptions:
    fail_on: FailOn = FailOn.FAILED
    min_levels: tuple[tuple[str, int], ...] = ()  # (track id, ordinal)
    exit_zero: bool = False
    allow_empty: bool = False  # a run that evaluated nothing passes (else it fails: a gate never passes on nothing)
    campaign: str | None = None  # --campaign ID (``fail_on=overdue`` needs it)
    deadline: datetime | None = None  # that campaign's deadline (first instant past it)
    # With a campaign, the gate looks at its checks only, and its track levels are the bars (not the top levels).
    campaign_checks: frozenset[str] | None = None
    campaign_levels: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The exit code of a run and why it is not 0, one line per reason, for the user: ``empty`` (nothing was
    evaluated), ``results`` (the failing results, counted), ``below_min_level`` (per ``--min-level`` track, the
    entities below that level) and ``below_top`` (per track, the entities below its top level)."""

    code: ExitCode
    empty: str | None = None
    results: str | None = None
    below_min_level: tuple[str, ...] = ()
    below_top: tuple[str, ...] = ()
    overdue: str | None = None  # --fail-on overdue: the campaign is past its deadline

    @property
    def reasons(self) -> tuple[str, ...]:
        return (tuple(r for r in (self.overdue, self.empty, self.results) if r) + self.below_min_level
                + self.below_top)


def parse_fail_on(text: str) -> FailOn:
    try:
        return FailOn(text.strip().lower())
    except ValueError:
        raise UsageError(f"--fail-on {text!r}: choose failed, warning, never or overdue (with --campaign)") from None


def parse_min_level(text: str) -> tuple[str, int]:
    """``TRACK=ORDINAL`` (e.g. ``basic_hygiene=2``) -> ``("basic_hygiene", 2)``."""
    track, sep, ordinal = text.partition("=")
    track, ordinal = track.strip(), ordinal.strip()
    if not sep or not track or not ordinal.lstrip("-").isdigit():
        raise UsageError(f"--min-level {text!r}: expected TRACK=ORDINAL (a level number), e.g. basic_hygiene=2")
    return track, int(ordinal)


def gate_options(fail_on: str | FailOn = FailOn.FAILED, min_levels: Iterable[str | tuple[str, int]] = (),
                 exit_zero: bool = False, *, allow_empty: bool = False) -> GateOptions:
    """``GateOptions`` from the CLI's option strings (``UsageError`` on a malformed value)."""
    parsed = tuple(parse_min_level(m) if isinstance(m, str) else (m[0], int(m[1])) for m in min_levels)
    mode = fail_on if isinstance(fail_on, FailOn) else parse_fail_on(fail_on)
    return GateOptions(fail_on=mode, min_levels=parsed, exit_zero=exit_zero, allow_empty=allow_empty)


def check_min_levels(report: RunReport, options: GateOptions) -> None:
    """``UsageError`` when ``--min-level`` names a track this run did not evaluate (a typo must not pass a gate), or
    a level above the track's top one (no entity could ever pass)."""
    known = {t.id: t for t in report.tracks}
    unknown = [track for track, _ in options.min_levels if track not in known]
    if unknown:
        valid = ", ".join(t.id for t in report.tracks) or "none"
        raise UsageError(f"--min-level: track {', '.join(map(repr, unknown))} was not evaluated in this run "
                         f"(evaluated tracks: {valid})")
    for track_id, ordinal in options.min_levels:
        levels = sorted(lv.ordinal for lv in known[track_id].levels)
        top = levels[-1] if levels else 0
        if ordinal > top:
            have = f"its levels are {', '.join(map(str, levels))}" if levels else "it has no levels"
            raise UsageError(f"--min-level {track_id}={ordinal}: track {track_id!r} has no level {ordinal} ({have}); "
                             "no entity could reach it")


_STATE = attrgetter("state")
MAX_NAMED = 10  # entities named per failing track; the others are counted


def judge(report: RunReport, options: GateOptions | None = None) -> Verdict:
    """The gate's verdict: 0 when it passes, 1 (with the reasons) when it does not. The only place that decides a
    ``check`` run's exit code. ``UsageError`` for a ``--min-level`` that names no evaluated track or level."""
    tally = Tally(report, options)
    tally.add(report)
    return tally.verdict()


class Tally:
    """``judge`` for a run given in parts (``evaluation.evaluate_stream``): made with the run's head (``UsageError``
    for a bad ``--min-level`` then, before any output), ``add`` per part, ``verdict`` at the end. Holds the counts
    of the failing states and, per track, the entities below its bar (``MAX_NAMED`` named, the others counted)."""

    def __init__(self, head: RunReport, options: GateOptions | None = None) -> None:
        options = options or GateOptions()
        check_min_levels(head, options)
        self.head = head
        self.options = options
        self.any_result = False
        mode = options.fail_on
        self.overdue = ""
        if mode is FailOn.OVERDUE:
            if options.campaign is None:
                raise UsageError("--fail-on overdue gates a campaign: give --campaign ID")
            if options.deadline is not None and head.generated_at >= options.deadline:
                mode = FailOn.FAILED
                self.overdue = f"campaign {options.campaign} is past its deadline: its results gate this run"
            else:
                mode = FailOn.NEVER  # before the deadline the campaign's results are reported, not enforced
        self.mode = mode
        self.failing: frozenset[CheckState] = frozenset()
        if mode is FailOn.FAILED:
            self.failing = FAILING_STATES
        elif mode is FailOn.WARNING:
            self.failing = FAILING_STATES | {CheckState.WARNING}
        self.states: Counter[CheckState] = Counter()
        # Bars per track: the explicit --min-level, else (fail_on != never) the track's top level.
        bars: dict[str, tuple[int, str]] = {}
        if mode is not FailOn.NEVER and options.campaign is not None:
            for track_id, ordinal in options.campaign_levels:
                bars[track_id] = (ordinal, f"level {ordinal} (campaign {options.campaign})")
        elif mode is not FailOn.NEVER:
            for track in head.tracks:
                if track.levels:
                    top = max(lv.ordinal for lv in track.levels)
                    bars[track.id] = (top, f"its top level {top}")
        for track_id, ordinal in options.min_levels:
            bars[track_id] = (ordinal, f"level {ordinal} (--min-level {track_id}={ordinal})")
        self.bars = bars
        self.below: dict[str, list[tuple[str, int | None]]] = {}
        self.below_count: Counter[str] = Counter()

    PIECES = True  # ``piece``/``take``: a part's counts, made where the part is (``app.fanout``)

    def piece(self, part: RunReport) -> tuple[bool, Counter[CheckState], dict[str, tuple[int, list[Any]]]]:
        """Whether the part has results, the counts of its states and, per track with a bar, how many of its
        entities are below the bar with the first ``MAX_NAMED`` of them. Changes nothing."""
        any_result = bool(part.check_results or part.track_results)
        states: Counter[CheckState] = Counter()
        below: dict[str, tuple[int, list[Any]]] = {}
        if self.options.exit_zero:
            return any_result, states, below
        if self.failing:
            only = self.options.campaign_checks
            # Counted in C over all results (200,000 at 10k entities x 20 checks); narrowed at the verdict.
            states.update(map(_STATE, part.check_results) if only is None
                          else (r.state for r in part.check_results if r.check_id in only))
        bars = self.bars
        for tr in part.track_results:
            bar = bars.get(tr.track_id)
            if bar is None:
                continue
            reached = tr.highest_level.ordinal if tr.highest_level is not None else None
            # A bar of 0 (or less) is met by everyone: "no level reached" counts as level 0.
            if bar[0] > 0 and (reached is None or reached < bar[0]):
                count, named = below.setdefault(tr.track_id, (0, []))
                if len(named) < MAX_NAMED:
                    named.append((tr.entity_ref, reached))
                below[tr.track_id] = (count + 1, named)
        return any_result, states, below

    def take(self, piece: tuple[bool, Counter[CheckState], dict[str, tuple[int, list[Any]]]]) -> None:
        any_result, states, below = piece
        self.any_result = self.any_result or any_result
        self.states.update(states)
        for track_id, (count, entities) in below.items():
            self.below_count[track_id] += count
            named = self.below.setdefault(track_id, [])
            named.extend(entities[:MAX_NAMED - len(named)])

    def add(self, part: RunReport) -> None:
        self.take(self.piece(part))

    def verdict(self) -> Verdict:
        options = self.options
        if not self.any_result:
            empty = _empty_reason(self.head) + ("" if options.allow_empty else
                                                " (pass --allow-empty to accept a run that evaluates nothing)")
            if options.allow_empty or options.exit_zero:
                return Verdict(ExitCode.OK, empty=empty)
            return Verdict(ExitCode.CHECKS_FAILED, empty=empty)
        if options.exit_zero:
            return Verdict(ExitCode.OK)
        results = None
        counts = {state.value: n for state, n in self.states.items() if state in self.failing}
        if counts:
            found = ", ".join(f"{n} {state}" for state, n in counts.items())
            results = (f"gate failed (--fail-on {options.fail_on.value}): {found} "
                       f"{'result' if sum(counts.values()) == 1 else 'results'}")
        explicit = {track_id for track_id, _ in options.min_levels}
        below_min: list[str] = []
        below_top: list[str] = []
        for track_id, entities in self.below.items():
            total = self.below_count[track_id]
            named = ", ".join(f"{ref} ({'no level' if reached is None else f'level {reached}'})"
                              for ref, reached in entities[:MAX_NAMED])
            more = f" and {total - MAX_NAMED} more" if total > MAX_NAMED else ""
            count = "1 entity" if total == 1 else f"{total} entities"
            line = f"track {track_id}: {count} below {self.bars[track_id][1]}: {named}{more}"
            (below_min if track_id in explicit else below_top).append(line)
        failed = bool(results or below_min or below_top)
        return Verdict(ExitCode.CHECKS_FAILED if failed else ExitCode.OK, None, results, tuple(below_min),
                       tuple(below_top), self.overdue if failed and self.overdue else None)


def _empty_reason(report: RunReport) -> str:
    if not report.entities:
        why = "no entity was selected"
    elif not report.checks and not report.tracks:
        why = "no check or track is defined (soundcheck.checks, soundcheck.tracks in the config)"
    else:
        why = "the filters of the checks and tracks selected none of the entities"
    return f"nothing was evaluated: {why}"


def exit_code(report: RunReport, options: GateOptions | None = None) -> ExitCode:
    """0 when the gate passes, 1 when it does not (``judge``'s code)."""
    return judge(report, options).code
