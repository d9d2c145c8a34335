"""Campaigns for the CLI and Python (issue 21): ``campaign_progress`` (``soundcheck campaigns``) and
``for_campaign`` (``soundcheck check --campaign ID``).

Progress is computed from a **fresh evaluation** of the store's facts (and pushed results) over the catalog as
loaded now -- not from the latest recorded run, which may have evaluated other checks or another catalog: one
``app.check`` of every selected campaign's checks and tracks, then ``campaigns.progress`` per campaign. Nothing is
recorded in the history (a campaign report is a read, not a run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from soundcheck_cli.errors import UsageError


def find(settings: Any, campaign_id: str) -> Any:
    """The campaign ``campaign_id``; ``UsageError`` naming the valid ones otherwise."""
    campaign = settings.campaign(campaign_id)
    if campaign is None:
        valid = ", ".join(c.id for c in settings.campaigns) or "no campaigns are defined (soundcheck.campaigns)"
        raise UsageError(f"unknown campaign {campaign_id!r}; valid campaigns: {valid}")
    return campaign


def for_campaign(workspace: Any, campaign_id: str, options: Any) -> tuple[Any, Any, Any]:
    """``(workspace, options, campaign)`` narrowed to one campaign: its entities (filter/exclude), its checks and
    the tracks of its levels added to ``options`` (an ``app.CheckOptions``)."""
    from soundcheck_cli.catalog.filters import selects

    campaign = find(workspace.settings, campaign_id)
    entities = [e for e in workspace.entities if selects(e, campaign.filter, campaign.exclude)]
    narrowed = replace(workspace, entities=entities)
    options = replace(options, check_ids=tuple(dict.fromkeys(options.check_ids + campaign.checks)),
                      track_ids=tuple(dict.fromkeys(options.track_ids + campaign.track_ids)))
    return narrowed, options, campaign


def campaign_progress(workspace: Any, campaign_ids: Sequence[str] = (), *, include_archived: bool = False,
                      now: datetime | None = None) -> list[Any]:
    """The progress of the named campaigns (none named: every campaign, archived ones only with
    ``include_archived``), from one fresh evaluation."""
    from soundcheck_cli import app as core
    from soundcheck_cli.campaigns.progress import progress
    from soundcheck_cli.facts.model import utcnow

    settings = workspace.settings
    if campaign_ids:
        campaigns = [find(settings, cid) for cid in dict.fromkeys(campaign_ids)]
    else:
        campaigns = [c for c in settings.campaigns if include_archived or not c.archived]
    if not campaigns:
        return []
    now = now or utcnow()
    check_ids = tuple(dict.fromkeys(cid for c in campaigns for cid in c.checks))
    track_ids = tuple(dict.fromkeys(tid for c in campaigns for tid in c.track_ids))
    report = core.check(workspace, core.CheckOptions(track_ids=track_ids, check_ids=check_ids), now=now)
    return [progress(c, report, now) for c in campaigns]
