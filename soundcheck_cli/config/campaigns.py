"""Parsing ``soundcheck.campaigns`` into ``campaigns.model.Campaign`` values, every problem located.

```yaml
soundcheck:
  campaigns:
    - id: spring-boot-3
      name: Upgrade to Spring Boot 3
      ownerEntityRef: group:default/platform
      checks: [uses_spring_boot_3]            # ids, or {id: ...}
      levels: [{trackId: basics, level: 2}]   # and/or track levels to reach
      filter: {spec.lifecycle: production}
      startDate: 2026-10-01
      endDate: 2026-12-31                     # the deadline (through that day, UTC)
```

A campaign naming an undefined check, track or level, or without any check or level, is an error at its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from soundcheck_cli.campaigns.model import Campaign, TrackTarget
from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.located.nodes import loc_of

CAMPAIGN_KEYS = frozenset({"id", "name", "description", "ownerEntityRef", "checks", "levels", "filter", "exclude",
                           "startDate", "endDate", "archived"})


def parse_campaigns(node: Any, problems: Problems, where: Location | None, checks: Sequence[Any],
                    tracks: Sequence[Any]) -> tuple[Campaign, ...]:
    """The valid campaigns of ``soundcheck.campaigns`` (``checks``/``tracks``: the defined ones, to validate ids)."""
    if node is None:
        return ()
    if not isinstance(node, list):
        problems.error(f"soundcheck.campaigns must be a list of campaigns, not {type_name(node)}",
                       loc_of(node) or where)
        return ()
    check_ids = {c.id for c in checks}
    track_levels = {t.id: {lv.ordinal for lv in t.levels} for t in tracks}
    out: list[Campaign] = []
    seen: dict[str, Location | None] = {}
    for index, item in enumerate(node):
        item_loc = loc_of(node, index) or where
        if not isinstance(item, dict):
            problems.error(f"campaign must be a mapping, not {type_name(item)}", item_loc)
            continue
        campaign = _campaign(item, index, item_loc, problems, check_ids, track_levels, seen)
        if campaign is not None:
            out.append(campaign)
    return tuple(out)


def _campaign(item: dict[str, Any], index: int, item_loc: Location | None, problems: Problems, check_ids: set[str],
              track_levels: dict[str, set[int]], seen: dict[str, Location | None]) -> Campaign | None:
    from soundcheck_cli.exemptions import parse_when

    before = len(problems.errors)
    fields = Fields(item, problems, f"campaign #{index + 1}", item_loc)
    cid = fields.string("id")
    if not cid:
        if "id" not in item:
            fields.error(fields.absent("id", "campaign without 'id'"), fields.loc)
        return None
    fields.what = f"campaign '{cid}'"
    if cid in seen:
        where = f" (first defined at {seen[cid]})" if seen[cid] else ""
        fields.error(f"duplicate campaign id '{cid}'{where}", fields.value_loc("id"))
        return None
    seen[cid] = fields.value_loc("id")

    checks: list[str] = []
    raw_checks = fields.raw("checks")
    if raw_checks is not None:
        if not isinstance(raw_checks, list):
            fields.error(f"'checks' must be a list of check ids, not {type_name(raw_checks)}",
                         fields.value_loc("checks"))
        else:
            for i, entry in enumerate(raw_checks):
                at = loc_of(raw_checks, i) or fields.value_loc("checks")
                check_id = entry.get("id") if isinstance(entry, dict) else entry
                if not isinstance(check_id, str) or not check_id:
                    fields.error("a campaign check is a check id or {id: ...}", at)
                elif check_id not in check_ids:
                    valid = ", ".join(sorted(check_ids)) or "none are defined"
                    fields.error(f"undefined check '{check_id}' (valid checks: {valid})", at)
                else:
                    checks.append(check_id)
    levels: list[TrackTarget] = []
    raw_levels = fields.raw("levels")
    if raw_levels is not None:
        if not isinstance(raw_levels, list):
            fields.error(f"'levels' must be a list of {{trackId, level}}, not {type_name(raw_levels)}",
                         fields.value_loc("levels"))
        else:
            for i, entry in enumerate(raw_levels):
                at = loc_of(raw_levels, i) or fields.value_loc("levels")
                track_id = entry.get("trackId") if isinstance(entry, dict) else None
                level = entry.get("level") if isinstance(entry, dict) else None
                if not isinstance(track_id, str) or isinstance(level, bool) or not isinstance(level, int):
                    fields.error("a campaign level is {trackId: <track id>, level: <ordinal>}", at)
                elif track_id not in track_levels:
                    valid = ", ".join(sorted(track_levels)) or "none are defined"
                    fields.error(f"undefined track '{track_id}' (valid tracks: {valid})", at)
                elif level not in track_levels[track_id]:
                    have = ", ".join(map(str, sorted(track_levels[track_id]))) or "none"
                    fields.error(f"track '{track_id}' has no level {level} (its levels: {have})", at)
                else:
                    levels.append(TrackTarget(track_id, level))
    if raw_checks is None and raw_levels is None:
        fields.error("a campaign drives 'checks' and/or track 'levels': give at least one", fields.loc)

    dates: dict[str, Any] = {}
    for key in ("startDate", "endDate"):
        raw = fields.raw(key)
        if raw is None:
            dates[key] = None
            continue
        try:
            dates[key] = parse_when(raw)
        except (ValueError, TypeError):
            fields.error(f"'{key}' must be a date (2026-12-31) or a timestamp (2026-12-31T17:00:00Z), not {raw!r}",
                         fields.value_loc(key))
    entity_filter = EntityFilter.parse(fields.raw("filter"), problems, "filter", fields.value_loc("filter"))
    exclude = EntityFilter.parse(fields.raw("exclude"), problems, "exclude", fields.value_loc("exclude"))
    name = fields.string("name")
    description = fields.string("description")
    owner = fields.string("ownerEntityRef")
    archived = fields.boolean("archived")
    fields.warn_unknown(CAMPAIGN_KEYS)
    if len(problems.errors) > before:
        return None
    start, deadline = dates.get("startDate"), dates.get("endDate")
    if start is not None and deadline is not None and deadline <= start:
        fields.error("'endDate' is before 'startDate'", fields.value_loc("endDate"))
        return None
    return Campaign(cid, name, description, owner, tuple(dict.fromkeys(checks)), tuple(levels), entity_filter,
                    exclude, start, deadline, _text(fields.raw("startDate")), _text(fields.raw("endDate")),
                    archived, item_loc)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
