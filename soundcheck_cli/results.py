"""``RunReport``: everything one ``soundcheck check`` run found, the single input of every reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
