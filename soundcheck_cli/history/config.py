"""``soundcheck.history``: how many ``check`` runs the store keeps (``keep``, default 20, at most 1000).

The history is never unbounded: every recorded run beyond ``keep`` is deleted when a new one is recorded. The
latest known state of every (check, entity) and (track, entity, level) is kept apart from the runs (it is what
change events compare against), so dropping old runs never makes an old state look new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems

DEFAULT_KEEP = 20
MAX_KEEP = 1000
HISTORY_KEYS = frozenset({"keep", "enabled"})


@dataclass(frozen=True)
class HistorySettings:
    enabled: bool = True
    keep: int = DEFAULT_KEEP
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
    fields.warn_unknown(HISTORY_KEYS)
    return HistorySettings(enabled=enabled, keep=keep, location=fields.loc)
