"""Parsing ``soundcheck.tracks`` (and the legacy ``soundcheck.programs``) into ``tracks.model.Track`` values.

Shape, as in Soundcheck's track API (``POST /tracks``): ``{id, name, description, ownerEntityRef, filter, exclude,
levels: [{ordinal, name, description, checks: [{id, name, description, filter, exclude}]}]}``. Levels are sorted
by ordinal. Keys that Soundcheck documents for its UI only (badges, drafts, dates...) are accepted silently;
anything else is a located warning.
"""

from __future__ import annotations

from typing import Any

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import EntityRef
from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.tracks.model import Level, LevelCheck, Track

TRACK_KEYS = frozenset({"id", "name", "description", "ownerEntityRef", "filter", "exclude", "levels"})
LEVEL_KEYS = frozenset({"ordinal", "name", "description", "checks"})
LEVEL_CHECK_KEYS = frozenset({"id", "name", "description", "filter", "exclude"})

# Documented fields of Soundcheck's track API that only its UI uses (backstage.spotify.com/docs/plugins/soundcheck/
# api-reference/tracks/create-tracks); users' exported configs carry them, and they mean nothing to a CLI run.
TRACK_UI_KEYS = frozenset(
    {
        "group",
        "type",
        "badge",
        "badgeType",
        "documentationURL",
        "draft",
        "isEditable",
        "createdAt",
        "updatedAt",
        "archived",
        "supportChannel",
        "startDate",
        "targetCompletionDate",
        "milestones",
    }
)
LEVEL_UI_KEYS = frozenset({"badge"})


def parse_tracks(
    node: Any,
    kind: str,
    problems: Problems,
    check_ids: dict[str, Location | None],
    seen: dict[str, Location | None],
    where: Location | None = None,
) -> list[Track]:
    """The valid tracks of one section (``kind`` is ``"track"`` or ``"program"``).

    ``seen`` maps track ids already defined (in either section) to their location, and is updated; ``check_ids``
    are the ids declared in ``soundcheck.checks``.
    """
    tracks: list[Track] = []
    if node is None:
        return tracks
    section = "tracks" if kind == "track" else "programs"
    if not isinstance(node, list):
        problems.error(f"soundcheck.{section} must be a list of {kind}s, not {type_name(node)}", loc_of(node) or where)
        return tracks
    for index, item in enumerate(node):
        track = _parse_track(item, index, kind, loc_of(node, index) or where, problems, check_ids, seen)
        if track is not None:
            tracks.append(track)
    return tracks


def _parse_track(
    item: Any,
    index: int,
    kind: str,
    item_loc: Location | None,
    problems: Problems,
    check_ids: dict[str, Location | None],
    seen: dict[str, Location | None],
) -> Track | None:
    if not isinstance(item, dict):
        problems.error(f"{kind} must be a mapping, not {type_name(item)}", item_loc)
        return None
    errors_before = len(problems.errors)
    fields = Fields(item, problems, f"{kind} #{index + 1}", item_loc)
    track_id: str | None = None
    if not fields.has("id"):
        problems.error(fields.absent("id", f"{kind} without 'id'"), fields.loc)
    else:
        raw_id = fields.raw("id")
        if not isinstance(raw_id, str) or not raw_id.strip():
            problems.error(f"{kind} 'id' must be a non-empty string, not {type_name(raw_id)}", fields.value_loc("id"))
        else:
            track_id = raw_id
            fields.what = f"{kind} '{track_id}'"
            if track_id in seen:
                first = seen[track_id]
                at = f" (first defined at {first})" if first else ""
                problems.error(f"duplicate {kind} id '{track_id}'{at}", fields.value_loc("id"))
                return None
            seen[track_id] = fields.value_loc("id")

    name = fields.string("name")
    description = fields.string("description")
    owner = fields.string("ownerEntityRef")
    if owner is not None:
        try:
            EntityRef.parse(owner)
        except ValueError as exc:
            fields.warning(f"'ownerEntityRef': {exc}", fields.value_loc("ownerEntityRef"))
    entity_filter = EntityFilter.parse(fields.raw("filter"), problems, "filter")
    exclude = EntityFilter.parse(fields.raw("exclude"), problems, "exclude")
    levels = _parse_levels(fields, problems, check_ids)
    fields.warn_unknown(TRACK_KEYS, TRACK_UI_KEYS)

    if track_id is None or len(problems.errors) > errors_before:
        return None
    return Track(
        id=track_id,
        levels=tuple(sorted(levels, key=lambda level: level.ordinal)),
        name=name,
        description=description,
        owner_entity_ref=owner,
        filter=entity_filter,
        exclude=exclude,
        kind=kind,
        location=fields.loc,
    )


def _parse_levels(track: Fields, problems: Problems, check_ids: dict[str, Location | None]) -> list[Level]:
    node = track.raw("levels")
    if node is None:
        track.warning("no levels", track.loc)
        return []
    if not isinstance(node, list):
        track.error(f"'levels' must be a list, not {type_name(node)}", track.value_loc("levels"))
        return []
    if not node:
        track.warning("no levels", track.value_loc("levels"))
    levels: list[Level] = []
    ordinals: dict[int, Location | None] = {}
    for index, item in enumerate(node):
        item_loc = loc_of(node, index) or track.loc
        if not isinstance(item, dict):
            track.error(f"level must be a mapping, not {type_name(item)}", item_loc)
            continue
        fields = Fields(item, problems, track.what, item_loc)
        ordinal: int | None = None
        raw = fields.raw("ordinal")
        if raw is None:
            fields.error(fields.absent("ordinal", "level without 'ordinal'"), fields.loc)
        elif isinstance(raw, bool) or not isinstance(raw, int):
            fields.error(f"level 'ordinal' must be an integer, not {type_name(raw)}", fields.value_loc("ordinal"))
        elif raw in ordinals:
            first = ordinals[raw]
            at = f" (first defined at {first})" if first else ""
            fields.error(f"duplicate level ordinal {raw}{at}", fields.value_loc("ordinal"))
        else:
            ordinal = raw
            ordinals[raw] = fields.value_loc("ordinal")
        if ordinal is not None:
            fields.what = f"{track.what}, level {ordinal}"
        name = fields.string("name")
        description = fields.string("description")
        checks = _parse_level_checks(fields, problems, check_ids)
        fields.warn_unknown(LEVEL_KEYS, LEVEL_UI_KEYS)
        if ordinal is not None:
            levels.append(Level(ordinal, tuple(checks), name=name, description=description, location=fields.loc))
    return levels


def _parse_level_checks(level: Fields, problems: Problems, check_ids: dict[str, Location | None]) -> list[LevelCheck]:
    node = level.raw("checks")
    if node is None or (isinstance(node, list) and not node):
        level.warning("no checks", level.value_loc("checks") if node is not None else level.loc)
        return []
    if not isinstance(node, list):
        level.error(f"'checks' must be a list, not {type_name(node)}", level.value_loc("checks"))
        return []
    out: list[LevelCheck] = []
    for index, item in enumerate(node):
        item_loc = loc_of(node, index) or level.loc
        if isinstance(item, str):  # shorthand: a bare check id
            item = {"id": item}
        if not isinstance(item, dict):
            level.error(f"level check must be a mapping with an 'id', not {type_name(item)}", item_loc)
            continue
        fields = Fields(item, problems, level.what, item_loc)
        check_id = fields.raw("id")
        if check_id is None:
            fields.error(fields.absent("id", "level check without 'id'"), fields.loc)
            continue
        if not isinstance(check_id, str) or not check_id.strip():
            fields.error(
                f"level check 'id' must be a non-empty string, not {type_name(check_id)}", fields.value_loc("id")
            )
            continue
        if check_id not in check_ids:
            fields.error(f"check '{check_id}' is not defined in soundcheck.checks", fields.value_loc("id"))
        name = fields.string("name")
        description = fields.string("description")
        entity_filter = EntityFilter.parse(fields.raw("filter"), problems, "filter")
        exclude = EntityFilter.parse(fields.raw("exclude"), problems, "exclude")
        fields.warn_unknown(LEVEL_CHECK_KEYS)
        out.append(LevelCheck(check_id, name, description, entity_filter, exclude, location=fields.loc))
    return out
