"""Deep merge of several loaded config files, the way Backstage layers ``--config`` files.

Later files win. Mappings merge key by key, recursively; lists and scalars replace whatever was there (Backstage's
``ConfigReader`` falls back to earlier configs per key, and treats arrays as values). A key that a later file wrote
but left unset (a missing ``${VAR}``) does not hide an earlier value, as in Backstage, where that key is simply
absent from the later config.

Locations follow the winning value, so an error about a merged value points at the file that supplied it.
"""

from __future__ import annotations

from typing import Any

from soundcheck_cli.config.env import ConfigDict, unset_keys
from soundcheck_cli.located.nodes import LocatedDict


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` layered on ``base``; neither input is modified (shared sub-trees are reused, not copied)."""
    if not (isinstance(base, LocatedDict) and isinstance(override, LocatedDict)):
        return override
    out = ConfigDict(loc=override.loc or base.loc)
    for key, value in base.items():
        out[key] = value
        _copy_locs(base, out, key)
    for key, record in unset_keys(base).items():
        out.unset[key] = record
    for key, value in override.items():
        if key in out and isinstance(out[key], LocatedDict) and isinstance(value, LocatedDict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
        _copy_locs(override, out, key)
        out.unset.pop(key, None)
    for key, record in unset_keys(override).items():
        if key not in out:
            out.unset[key] = record
    return out


def merge_all(trees: list[Any]) -> ConfigDict:
    """Merge ``trees`` in order (later wins); an empty list gives an empty mapping."""
    result: Any = ConfigDict()
    for tree in trees:
        result = deep_merge(result, tree)
    return result


def _copy_locs(src: LocatedDict, dst: LocatedDict, key: Any) -> None:
    if key in src.key_locs:
        dst.key_locs[key] = src.key_locs[key]
    else:
        dst.key_locs.pop(key, None)
    if key in src.value_locs:
        dst.value_locs[key] = src.value_locs[key]
    else:
        dst.value_locs.pop(key, None)
