"""A campaign's progress from one run's ``RunReport`` (pure): entities done / total, overall and per owner, what
each entity still fails, days to the deadline, overdue.

- An entity is **in** a campaign when the campaign's ``filter``/``exclude`` selects it and at least one of its
  checks applies to it (a result other than ``not-applicable``) or one of its tracks certifies it.
- It is **done** when none of the campaign's checks is ``failed``, ``not-reported`` or ``error`` for it (``passed``,
  ``warning``, ``exempt`` and ``not-applicable`` do not hold it back, as in the CI gate) and it reached each target
  track level.
- **Owner**: the entity's ``spec.owner`` (``(no owner)`` without one).
- **Overdue**: past the deadline with an entity not done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soundcheck_cli.campaigns.model import Campaign
from soundcheck_cli.catalog.filters import selects
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState

HOLDING = frozenset({CheckState.FAILED, CheckState.NOT_REPORTED, CheckState.ERROR})
NO_OWNER = "(no owner)"


@dataclass
class Tally:
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 1)


@dataclass
class EntityProgress:
    entity_ref: str
    owner: str
    failing: list[str] = field(default_factory=list)  # "check_id: state" and "track X: level N not reached (M)"

    @property
    def done(self) -> bool:
        return not self.failing


@dataclass
class CampaignProgress:
    campaign: Campaign
    now: datetime
    overall: Tally
    owners: dict[str, Tally]
    entities: list[EntityProgress]

    @property
    def days_left(self) -> int | None:
        """Whole days to the deadline (negative once past it); None without a deadline."""
        if self.campaign.deadline is None:
            return None
        return math.floor((self.campaign.deadline - self.now).total_seconds() / 86400)

    @property
    def overdue(self) -> bool:
        return self.campaign.is_overdue_at(self.now) and self.overall.done < self.overall.total

    @property
    def status(self) -> str:
        c = self.campaign
        if c.archived:
            return "archived"
        if self.overall.total and self.overall.done == self.overall.total:
            return "complete"
        if self.overdue:
            return "overdue"
        if c.start is not None and self.now < c.start:
            return "upcoming"
        return "active"

    def to_json(self) -> dict[str, Any]:
        c = self.campaign
        return {
            "id": c.id, "name": c.name, "description": c.description, "ownerEntityRef": c.owner_entity_ref,
            "checks": list(c.checks), "levels": [{"trackId": t.track_id, "level": t.level} for t in c.levels],
            "startDate": c.start_text, "endDate": c.end_text, "archived": c.archived,
            "status": self.status, "overdue": self.overdue, "daysLeft": self.days_left,
            "progress": {"done": self.overall.done, "total": self.overall.total, "percent": self.overall.percent},
            "owners": [{"owner": o, "done": t.done, "total": t.total, "percent": t.percent}
                       for o, t in sorted(self.owners.items())],
            "remaining": [{"entityRef": e.entity_ref, "owner": e.owner, "failing": e.failing}
                          for e in self.entities if not e.done],
        }


def owner_of(entity: Any) -> str:
    owner = entity.spec.get("owner") if isinstance(entity.spec, dict) else None
    return str(owner) if owner else NO_OWNER


def progress(campaign: Campaign, report: RunReport, now: datetime | None = None) -> CampaignProgress:
    """The campaign's progress over ``report`` (which evaluated at least the campaign's checks and tracks)."""
    now = now or report.generated_at
    wanted = set(campaign.checks)
    targets = {t.track_id: t.level for t in campaign.levels}
    by_entity: dict[str, list[Any]] = {}
    for r in report.check_results:
        if r.check_id in wanted:
            by_entity.setdefault(r.entity_ref, []).append(r)
    certified: dict[str, list[Any]] = {}
    for tr in report.track_results:
        if tr.track_id in targets:
            certified.setdefault(tr.entity_ref, []).append(tr)
    overall = Tally()
    owners: dict[str, Tally] = {}
    entities: list[EntityProgress] = []
    for entity in report.entities:
        if not selects(entity, campaign.filter, campaign.exclude):
            continue
        ref = str(entity.ref)
        results = by_entity.get(ref, [])
        tracks = certified.get(ref, [])
        if not tracks and all(r.state is CheckState.NOT_APPLICABLE for r in results):
            continue  # the campaign does not apply to this entity
        item = EntityProgress(ref, owner_of(entity))
        order = {cid: i for i, cid in enumerate(campaign.checks)}
        for r in sorted(results, key=lambda r: order.get(r.check_id, 0)):
            if r.state in HOLDING:
                item.failing.append(f"{r.check_id}: {r.state.value}")
        for tr in tracks:
            reached = tr.highest_level.ordinal if tr.highest_level is not None else 0
            if reached < targets[tr.track_id]:
                item.failing.append(f"track {tr.track_id}: level {targets[tr.track_id]} not reached "
                                    f"({'no level' if not reached else f'level {reached}'})")
        tally = owners.setdefault(item.owner, Tally())
        for t in (overall, tally):
            t.total += 1
            t.done += item.done
        entities.append(item)
    return CampaignProgress(campaign, now, overall, owners, entities)
