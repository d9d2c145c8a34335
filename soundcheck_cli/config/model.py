"""``Settings``: the validated ``soundcheck:`` section (and the bits of the app-config around it we read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.errors import Location
from soundcheck_cli.rules.model import Check
from soundcheck_cli.tracks.model import Track


@dataclass(frozen=True)
class CollectorSettings:
    """``soundcheck.collectors.<id>``: ``config`` is the raw located node (a mapping, or a list of mappings)."""

    id: str
    config: Any
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Settings:
    files: tuple[str, ...]  # the config files, in merge order
    checks: tuple[Check, ...] = ()
    tracks: tuple[Track, ...] = ()  # tracks and legacy programs (Track.kind tells which)
    collectors: tuple[CollectorSettings, ...] = ()
    catalog_files: tuple[str, ...] = ()  # absolute paths of file targets of ``catalog.locations``
    app_config: dict[str, Any] = field(default_factory=dict)  # the whole merged config (LocatedDict)
    soundcheck: dict[str, Any] = field(default_factory=dict)  # the ``soundcheck:`` node (LocatedDict)
    exemptions: tuple[Any, ...] = ()  # exemptions.Exemption values (``soundcheck.exemptions``)
    history: Any = None  # history.config.HistorySettings (None: the defaults)
    events: Any = None  # events.config.EventsSettings (None: events disabled)
    store: Any = None  # facts.locate.StoreSettings (``soundcheck.store``; None: the defaults)
    catalog_source: Any = None  # catalog.source.CatalogSourceSettings (``soundcheck.catalog``; None: not configured)
    campaigns: tuple[Any, ...] = ()  # campaigns.model.Campaign values (``soundcheck.campaigns``)

    def check(self, check_id: str) -> Check | None:
        for c in self.checks:
            if c.id == check_id:
                return c
        return None

    def campaign(self, campaign_id: str) -> Any:
        for c in self.campaigns:
            if c.id == campaign_id:
                return c
        return None

    def track(self, track_id: str) -> Track | None:
        for t in self.tracks:
            if t.id == track_id:
                return t
        return None
