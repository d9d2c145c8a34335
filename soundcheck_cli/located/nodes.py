"""Plain Python containers that remember where each key and item came from.

The loader turns ruamel.yaml nodes (and ``$include``d files) into ``LocatedDict`` / ``LocatedList``: ordinary
``dict``/``list`` subclasses (JSON-serialisable, cheap) that also carry the ``Location`` of the container and of
each key/item, so any later validation can say ``file:line:col``.
"""

from __future__ import annotations

from typing import Any

from soundcheck_cli.errors import Location


class LocatedDict(dict):
    """A mapping with the location of itself (``loc``), of each key (``key_locs``) and each value (``value_locs``)."""

    __slots__ = ("loc", "key_locs", "value_locs")

    def __init__(self, *args: Any, loc: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc = loc
        self.key_locs: dict[Any, Location] = {}
        self.value_locs: dict[Any, Location] = {}

    def key_loc(self, key: Any) -> Location | None:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key: Any) -> Location | None:
        return self.value_locs.get(key) or self.key_locs.get(key, self.loc)


class LocatedList(list):
    """A list with the location of itself (``loc``) and of each item (``item_locs``, same length when known)."""

    __slots__ = ("loc", "item_locs")

    def __init__(self, *args: Any, loc: Location | None = None) -> None:
        super().__init__(*args)
        self.loc = loc
        self.item_locs: list[Location | None] = []

    def item_loc(self, index: int) -> Location | None:
        if 0 <= index < len(self.item_locs) and self.item_locs[index] is not None:
            return self.item_locs[index]
        return self.loc


def loc_of(node: Any, key: Any = None) -> Location | None:
    """Best known location of ``node`` (or of ``node[key]`` when a key/index is given)."""
    if key is not None:
        if isinstance(node, LocatedDict):
            return node.value_loc(key)
        if isinstance(node, LocatedList) and isinstance(key, int):
            return node.item_loc(key)
    return getattr(node, "loc", None)


def to_plain(node: Any) -> Any:
    """A deep copy made of plain ``dict``/``list`` (for facts, JSON output, hashing)."""
    if isinstance(node, dict):
        return {k: to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node
