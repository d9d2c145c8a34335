"""Building ``Settings`` from the merged app-config: checks, tracks/programs, collectors, catalog locations.

``load_settings`` is the one call the application makes: load and merge the files, validate, and either return
the settings with the warnings, or raise one ``ConfigError`` that lists every error with ``file:line:col``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from soundcheck_cli.config.checks import parse_checks
from soundcheck_cli.config.env import ConfigDict
from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.config.loader import load_config_files
from soundcheck_cli.config.model import CollectorSettings, Settings
from soundcheck_cli.located.nodes import LocatedDict, loc_of
from soundcheck_cli.config.tracks import parse_tracks
from soundcheck_cli.errors import ConfigError, Location, Problem, Problems
from soundcheck_cli.tracks.model import Track

# Keys of the ``soundcheck:`` section. Besides the ones parsed here, other parts of the tool read their own
# sub-sections (events, exemptions, store, history, catalog, scm); add a key here when a feature starts reading it,
# so that it stops being reported as unknown.
SOUNDCHECK_KEYS = frozenset(
    {"checks", "tracks", "programs", "collectors", "events", "exemptions", "store", "history", "catalog", "scm",
     "serve", "campaigns"}
)


def load_settings(
    paths: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[Settings, list[Problem]]:
    """Load, merge and validate ``paths``; return the settings and the warnings.

    Raises ``ConfigError`` carrying every error. Errors that stop a file from loading (malformed YAML, missing
    includes) are raised before validation, because validating a tree with a file missing would add misleading
    follow-up errors (e.g. "check is not defined" for every check of the file that failed).
    """
    problems = Problems()
    tree = load_config_files(paths, environ, problems)
    problems.raise_if_errors(ConfigError)
    settings = build_settings(tree, list(paths), problems)
    problems.raise_if_errors(ConfigError)
    return settings, problems.warnings


def build_settings(tree: LocatedDict, files: Sequence[str], problems: Problems) -> Settings:
    """Validate the merged ``tree`` into ``Settings``; every problem goes to ``problems`` (nothing is raised)."""
    root_loc = loc_of(tree) or (Location(files[0]) if files else None)
    section: Any = tree.get("soundcheck")
    if section is None:
        section = ConfigDict(loc=root_loc)
    elif not isinstance(section, dict):
        problems.error(f"'soundcheck' must be a mapping, not {type_name(section)}", loc_of(tree, "soundcheck"))
        section = ConfigDict(loc=root_loc)
    fields = Fields(section, problems, "soundcheck", root_loc)

    checks, check_ids = parse_checks(fields.raw("checks"), problems, fields.value_loc("checks"))
    seen: dict[str, Location | None] = {}
    tracks: list[Track] = parse_tracks(
        fields.raw("tracks"), "track", problems, check_ids, seen, fields.value_loc("tracks")
    )
    tracks += parse_tracks(fields.raw("programs"), "program", problems, check_ids, seen, fields.value_loc("programs"))
    collectors = parse_collectors(fields.raw("collectors"), problems, fields.value_loc("collectors"))
    catalog_files = parse_catalog_locations(tree.get("catalog"), problems, loc_of(tree, "catalog") or root_loc)
    # issue 6: exemptions, history and events parse their own sub-sections.
    from soundcheck_cli.events.config import parse_events
    from soundcheck_cli.exemptions import parse_exemptions
    from soundcheck_cli.history.config import parse_history

    exemptions = parse_exemptions(fields.raw("exemptions"), problems, fields.value_loc("exemptions"),
                                  [c.id for c in checks])
    history = parse_history(fields.raw("history"), problems, fields.value_loc("history"))
    from soundcheck_cli.config.campaigns import parse_campaigns

    campaigns = parse_campaigns(fields.raw("campaigns"), problems, fields.value_loc("campaigns"), checks, tracks)
    events = parse_events(fields.raw("events"), problems, fields.value_loc("events"))
    from soundcheck_cli.facts.locate import parse_store_settings

    store = parse_store_settings(fields.raw("store"), problems, fields.value_loc("store"))
    from soundcheck_cli.catalog.source import parse_catalog_source

    catalog_source = parse_catalog_source(fields.raw("catalog"), problems, fields.value_loc("catalog"))
    fields.warn_unknown(SOUNDCHECK_KEYS)

    return Settings(
        files=tuple(files),
        checks=tuple(checks),
        tracks=tuple(tracks),
        collectors=tuple(collectors),
        catalog_files=tuple(catalog_files),
        app_config=tree,
        soundcheck=section,
        exemptions=exemptions,
        campaigns=campaigns,
        history=history,
        events=events,
        store=store,
        catalog_source=catalog_source,
    )


def parse_collectors(node: Any, problems: Problems, where: Location | None = None) -> list[CollectorSettings]:
    """``soundcheck.collectors``: id -> a mapping or a list of mappings (its internals are the registry's job).

    ``id:`` with no value is taken as an empty mapping (the collector with its defaults).
    """
    if node is None:
        return []
    if not isinstance(node, dict):
        problems.error(
            f"soundcheck.collectors must be a mapping of collector id to config, not {type_name(node)}",
            loc_of(node) or where,
        )
        return []
    out: list[CollectorSettings] = []
    key_locs = getattr(node, "key_locs", {})
    for collector_id, config in node.items():
        key_loc = key_locs.get(collector_id) or loc_of(node)
        value_loc = loc_of(node, collector_id)
        if config is None:
            config = ConfigDict(loc=value_loc)
        elif isinstance(config, list):
            bad = [i for i, item in enumerate(config) if not isinstance(item, dict)]
            if bad:
                problems.error(
                    f"collector '{collector_id}': each entry must be a mapping, not {type_name(config[bad[0]])}",
                    loc_of(config, bad[0]) or value_loc,
                )
                continue
        elif not isinstance(config, dict):
            problems.error(
                f"collector '{collector_id}': config must be a mapping or a list of mappings, not {type_name(config)}",
                value_loc,
            )
            continue
        out.append(CollectorSettings(str(collector_id), config, key_loc))
    return out


def parse_catalog_locations(node: Any, problems: Problems, where: Location | None = None) -> list[str]:
    """Absolute paths of the ``file`` targets of Backstage's ``catalog.locations``.

    A target is relative to the config file that declared it (the node's location), as Backstage resolves it.
    Other location types (``url``...) need a running Backstage and are skipped with a warning. Only
    ``locations`` is read; the rest of the ``catalog`` section is Backstage's business and is not validated.
    """
    if node is None:
        return []
    if not isinstance(node, dict):
        problems.error(f"'catalog' must be a mapping, not {type_name(node)}", where)
        return []
    locations = node.get("locations")
    if locations is None:
        return []
    if not isinstance(locations, list):
        problems.error(f"catalog.locations must be a list, not {type_name(locations)}", loc_of(node, "locations"))
        return []
    out: list[str] = []
    for index, entry in enumerate(locations):
        entry_loc = loc_of(locations, index) or where
        if not isinstance(entry, dict):
            problems.error(f"catalog location must be a mapping {{type, target}}, not {type_name(entry)}", entry_loc)
            continue
        kind = entry.get("type")
        target = entry.get("target")
        if not isinstance(kind, str):
            problems.error("catalog location without a 'type' string", loc_of(entry) or entry_loc)
            continue
        if not isinstance(target, str) or not target.strip():
            problems.error("catalog location without a 'target' string", loc_of(entry) or entry_loc)
            continue
        if kind != "file":
            problems.warning(
                f"catalog location of type '{kind}' is skipped (only 'file' locations are read)",
                loc_of(entry, "type") or entry_loc,
            )
            continue
        declared = loc_of(entry, "target") or entry_loc
        base = os.path.dirname(os.path.abspath(declared.path)) if declared else os.getcwd()
        out.append(os.path.normpath(os.path.join(base, os.path.expanduser(target.strip()))))
    return out
