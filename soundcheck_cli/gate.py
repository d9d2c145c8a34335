"""The CI gate: the one function that turns a ``RunReport`` and the gate options into a ``check`` exit code.

Options (issue 6, "CI gate"), as the CLI's ``--fail-on``, ``--min-level`` and ``--exit-zero`` give them:

- ``fail_on``: ``failed`` (default) fails the run on a ``failed``, ``not-reported`` or ``error`` result, and when
  an entity did not reach its track's top level (unless ``--min-level`` names a lower bar for that track);
  ``warning`` fails on ``warning`` results too; ``never`` fails on no check result and no implicit top level.
  ``passed``, ``not-applicable`` and ``exempt`` never fail.
- ``min_levels``: ``TRACK=ORDINAL`` pairs; the run fails when an entity selected by that track is certified below
  ORDINAL (also with ``fail_on=never``: an explicit bar is always enforced).
- ``exit_zero``: report everything, exit 0 anyway (errors of usage or configuration still exit 2: they are raised,
  not decided here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from soundcheck_cli.errors import ExitCode, UsageError
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState

FAILING_STATES = frozenset({CheckState.FAILED, CheckState.NOT_REPORTED, CheckState.ERROR})


class FailOn(str, Enum):
    FAILED = "failed"
    WARNING = "warning"
    NEVER = "never"


@dataclass(frozen=True)
class GateOptions:
    fail_on: FailOn = FailOn.FAILED
    min_levels: tuple[tuple[str, int], ...] = ()  # (track id, ordinal)
    exit_zero: bool = False


def parse_fail_on(text: str) -> FailOn:
    try:
        return FailOn(text.strip().lower())
    except ValueError:
        raise UsageError(f"--fail-on {text!r}: choose failed, warning or never") from None


def parse_min_level(text: str) -> tuple[str, int]:
    """``TRACK=ORDINAL`` (e.g. ``basic_hygiene=2``) -> ``("basic_hygiene", 2)``."""
    track, sep, ordinal = text.partition("=")
    track, ordinal = track.strip(), ordinal.strip()
    if not sep or not track or not ordinal.lstrip("-").isdigit():
        raise UsageError(f"--min-level {text!r}: expected TRACK=ORDINAL, e.g. basic_hygiene=2")
    return track, int(ordinal)


def gate_options(fail_on: str | FailOn = FailOn.FAILED, min_levels: Iterable[str | tuple[str, int]] = (),
                 exit_zero: bool = False) -> GateOptions:
    """``GateOptions`` from the CLI's option strings (``UsageError`` on a malformed value)."""
    parsed = tuple(parse_min_level(m) if isinstance(m, str) else (m[0], int(m[1])) for m in min_levels)
    mode = fail_on if isinstance(fail_on, FailOn) else parse_fail_on(fail_on)
    return GateOptions(fail_on=mode, min_levels=parsed, exit_zero=exit_zero)


def check_min_levels(report: RunReport, options: GateOptions) -> None:
    """``UsageError`` when ``--min-level`` names a track this run did not evaluate (a typo must not pass a gate)."""
    known = {t.id for t in report.tracks}
    unknown = [track for track, _ in options.min_levels if track not in known]
    if unknown:
        valid = ", ".join(t.id for t in report.tracks) or "none"
        raise UsageError(f"--min-level: track {', '.join(map(repr, unknown))} was not evaluated in this run "
                         f"(evaluated tracks: {valid})")


def exit_code(report: RunReport, options: GateOptions | None = None) -> ExitCode:
    """0 when the gate passes, 1 when it does not. The only place that decides a ``check`` run's exit code."""
    options = options or GateOptions()
    check_min_levels(report, options)
    if options.exit_zero:
        return ExitCode.OK
    failing: frozenset[CheckState] = frozenset()
    if options.fail_on is FailOn.FAILED:
        failing = FAILING_STATES
    elif options.fail_on is FailOn.WARNING:
        failing = FAILING_STATES | {CheckState.WARNING}
    if failing and any(r.state in failing for r in report.check_results):
        return ExitCode.CHECKS_FAILED

    # Bars per track: the explicit --min-level, else (fail_on != never) the track's top level.
    bars: dict[str, int] = {}
    if options.fail_on is not FailOn.NEVER:
        for track in report.tracks:
            if track.levels:
                bars[track.id] = max(lv.ordinal for lv in track.levels)
    for track_id, ordinal in options.min_levels:
        bars[track_id] = ordinal
    for tr in report.track_results:
        wanted = bars.get(tr.track_id)
        if wanted is None:
            continue
        reached = tr.highest_level.ordinal if tr.highest_level is not None else None
        # A bar of 0 (or less) is met by everyone: "no level reached" counts as level 0.
        if wanted > 0 and (reached is None or reached < wanted):
            return ExitCode.CHECKS_FAILED
    return ExitCode.OK
