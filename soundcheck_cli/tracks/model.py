"""Values for tracks and their certification results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.errors import Location
from soundcheck_cli.rules.model import CheckResult


@dataclass(frozen=True, slots=True)
class LevelCheck:
    """A check a level requires, optionally narrowed to some entities by its own filter/exclude."""

    id: str
    name: str | None = None
    description: str | None = None
    filter: Any = None  # catalog.filters.EntityFilter | None
    exclude: Any = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a track: its ordinal and the checks it requires."""

    ordinal: int
    checks: tuple[LevelCheck, ...]
    name: str | None = None
    description: str | None = None
    location: Location | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        return self.name or f"Level {self.ordinal}"


@dataclass(frozen=True, slots=True)
class Track:
    """A track (or legacy program): levels of checks that certify an entity."""

    id: str
    levels: tuple[Level, ...]  # sorted by ordinal
    name: str | None = None
    description: str | None = None
    owner_entity_ref: str | None = None
    filter: Any = None
    exclude: Any = None
    kind: str = "track"  # "track", or "program" for the legacy ``soundcheck.programs`` section
    location: Location | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class LevelResult:
    """One level's outcome for one entity."""

    ordinal: int
    name: str | None
    certified: bool  # every applicable check of this level passed (warning/not-applicable do not block)
    checks: tuple[CheckResult, ...]


@dataclass(frozen=True, slots=True)
class TrackResult:
    """One track's outcome for one entity: each level, and the highest certified one."""

    track_id: str
    entity_ref: str
    levels: tuple[LevelResult, ...]
    highest_level: LevelResult | None  # cumulative: highest L with every level <= L certified
