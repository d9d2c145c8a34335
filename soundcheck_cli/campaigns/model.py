"""A campaign, as ``soundcheck.campaigns`` writes it (the shape of the campaign object of Soundcheck's Campaigns
API): ``id``, ``name``, ``description``, ``ownerEntityRef``, the ``checks`` it drives and/or the track ``levels``
it drives (``{trackId, level}``: reach that level of that track), an entity ``filter``/``exclude``, ``startDate``
and ``endDate`` (the deadline: a date holds through that day, UTC) and ``archived``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soundcheck_cli.errors import Location


@dataclass(frozen=True)
class TrackTarget:
    track_id: str
    level: int  # the ordinal an entity must reach


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str | None = None
    description: str | None = None
    owner_entity_ref: str | None = None
    checks: tuple[str, ...] = ()
    levels: tuple[TrackTarget, ...] = ()
    filter: Any = None  # catalog.filters.EntityFilter | None
    exclude: Any = None
    start: datetime | None = None  # the first instant of startDate
    deadline: datetime | None = None  # the first instant after endDate (a date holds through that day)
    start_text: str | None = None  # as written, for reports
    end_text: str | None = None
    archived: bool = False
    location: Location | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        return self.name or self.id

    @property
    def track_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.track_id for t in self.levels))

    def is_overdue_at(self, now: datetime) -> bool:
        """Past its deadline (whether or not it is complete: ``progress`` says that)."""
        return self.deadline is not None and now >= self.deadline
