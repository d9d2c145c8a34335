"""``RunReport``: everything one ``soundcheck check`` run found, or one part of it.

A run is evaluated entity chunk by entity chunk (``evaluation.evaluate_stream``): each part is a ``RunReport``
holding that chunk's entities and results (the run's checks, tracks and time), handed to the writers of the
reports, the gate and the history, then dropped (issue 23). ``RunReport.join`` makes the whole report of a run
from its parts, for the callers that want it whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Problem
from soundcheck_cli.rules.model import Check, CheckResult
from soundcheck_cli.tracks.model import Track, TrackResult

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunReport:
    generated_at: datetime
    entities: tuple[Entity, ...]  # every entity considered
    checks: tuple[Check, ...]  # every check evaluated (in config order)
    tracks: tuple[Track, ...]  # every track evaluated (in config order)
    check_results: tuple[CheckResult, ...]  # one per (entity, check) evaluated
    track_results: tuple[TrackResult, ...]  # one per (entity, track) where the track's filter selects the entity
    problems: tuple[Problem, ...] = field(default=())  # warnings met while loading/evaluating

    @classmethod
    def join(cls, head: RunReport, parts: Sequence[RunReport], problems: Sequence[Problem] = ()) -> RunReport:
        """One report from a run's ``head`` (its entities, checks, tracks and time) and its parts
        (``evaluation.EvaluationStream``), in part order; ``problems`` are the run's."""
        if len(parts) == 1:  # one part's results as they are: no copy of a whole run's results
            check_results, track_results = parts[0].check_results, parts[0].track_results
        else:
            check_results = tuple(chain.from_iterable(p.check_results for p in parts))
            track_results = tuple(chain.from_iterable(p.track_results for p in parts))
        return cls(head.generated_at, head.entities, head.checks, head.tracks, check_results, track_results,
                   tuple(head.problems) + tuple(problems))

    def part(self) -> RunReport:
        """This report as one part of itself: without its problems (a writer gets them at its close)."""
        return RunReport(self.generated_at, self.entities, self.checks, self.tracks, self.check_results,
                         self.track_results)
