"""Typed, located reads of one config mapping, with a warning for each key nobody read.

Every settings parser (checks, tracks, levels, the ``soundcheck`` section) reads its mapping through ``Fields`` so
that wrong types become located errors with one wording, and unknown keys become located *warnings*: users'
Soundcheck configs carry keys that only the Backstage UI reads, and those must not stop a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from soundcheck_cli.config.env import missing_env
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems

_MISSING = object()


def type_name(value: Any) -> str:
    """How a value's type is named in messages (YAML/JSON words, not Python ones)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Fields:
    """Reads keys of ``node`` (a mapping); ``what`` prefixes messages (``"check 'x'"``); ``fallback`` locates
    problems when the node has no location of its own."""

    def __init__(self, node: dict[str, Any], problems: Problems, what: str, fallback: Location | None = None) -> None:
        self.node = node
        self.problems = problems
        self.what = what
        self.fallback = fallback
        self.read: set[str] = set()

    @property
    def loc(self) -> Location | None:
        return loc_of(self.node) or self.fallback

    def key_loc(self, key: str) -> Location | None:
        key_locs = getattr(self.node, "key_locs", {})
        return key_locs.get(key) or self.loc

    def value_loc(self, key: str) -> Location | None:
        return loc_of(self.node, key) or self.loc

    def error(self, message: str, location: Location | None = None) -> None:
        self.problems.error(f"{self.what}: {message}" if self.what else message, location or self.loc)

    def warning(self, message: str, location: Location | None = None) -> None:
        self.problems.warning(f"{self.what}: {message}" if self.what else message, location or self.loc)

    def has(self, key: str) -> bool:
        self.read.add(key)
        return key in self.node

    def absent(self, key: str, message: str) -> str:
        """``message`` for a required key that is absent, or why it is unset (a missing environment variable)."""
        variables = missing_env(self.node, key)
        if variables:
            return f"'{key}' is not set ({variables})"
        return message

    def raw(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.node.get(key, default)

    def string(self, key: str) -> str | None:
        """An optional string (``None`` when absent or null; a wrong type is an error)."""
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(f"'{key}' must be a string, not {type_name(value)}", self.value_loc(key))
            return None
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.error(f"'{key}' must be true or false, not {type_name(value)}", self.value_loc(key))
            return default
        return value

    def warn_unknown(self, known: Iterable[str], ignored: Iterable[str] = ()) -> None:
        """Warn about each key that is neither read, ``known``, nor a documented key we ``ignored`` on purpose."""
        accepted = self.read | set(known) | set(ignored)
        for key in self.node:
            if key not in accepted:
                self.warning(f"unknown key '{key}'", self.key_loc(key))
