"""``soundcheck.history``: which ``check`` runs the store keeps: the latest ``keep`` (default 20, at most 1000), and
the last run of each UTC day of the latest ``keepDaily`` days (default 92: a quarter, for ``soundcheck trend``; 0
keeps no daily runs; at most 3660).

The history is never unbounded: every recorded run the retention no longer keeps is deleted when a new one is
recorded (at most ``keep + keepDaily`` runs; about 300 KiB each at 10,000 entities x 20 checks). The
latest known state of every (check, entity) and (track, entity, level) is kept apart from the runs (it is what
change events compare against), so dropping old runs never makes an old state look new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.located.nodes import loc_of

DEFAULT_KEEP = 20
MAX_KEEP = 1000
DEFAULT_KEEP_DAILY = 92  # a quarter of daily points for trends
MAX_KEEP_DAILY = 3660
HISTORY_KEYS = frozenset({"keep", "keepDaily", "enabled"})


@dataclass(frozen=True)
class HistorySettings:
    enabled: bool = True
    keep: int = DEFAULT_KEEP
    keep_daily: int = DEFAULT_KEEP_DAILY
    location: Location | None = field(default=None, compare=False)


def parse_history(node: Any, problems: Problems, where: Location | None = None) -> HistorySettings:
    if node is None:
        return HistorySettings()
    if not isinstance(node, dict):
        problems.error(f"soundcheck.history must be a mapping {{keep, enabled}}, not {type_name(node)}",
                       loc_of(node) or where)
        return HistorySettings()
    fields = Fields(node, problems, "soundcheck.history", where)
    enabled = fields.boolean("enabled", True)
    keep = fields.raw("keep", DEFAULT_KEEP)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
        fields.error(f"'keep' must be a whole number of runs from 1 to {MAX_KEEP}, not {keep!r}", fields.value_loc("keep"))
        keep = DEFAULT_KEEP
    keep_daily = fields.raw("keepDaily", DEFAULT_KEEP_DAILY)
    if isinstance(keep_daily, bool) or not isinstance(keep_daily, int) or not 0 <= keep_daily <= MAX_KEEP_DAILY:
        fields.error(f"'keepDaily' must be a whole number of days from 0 to {MAX_KEEP_DAILY}, not {keep_daily!r}",
                     fields.value_loc("keepDaily"))
        keep_daily = DEFAULT_KEEP_DAILY
    fields.warn_unknown(HISTORY_KEYS)
    return HistorySettings(enabled=enabled, keep=keep, keep_daily=keep_daily, location=fields.loc)
