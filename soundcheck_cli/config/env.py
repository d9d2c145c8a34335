"""``${VAR}`` substitution in config strings, and the record of keys left unset by a missing variable.

Follows Backstage's config-loader (``packages/config-loader/src/sources/transform/substitution.ts``):

- every ``${NAME}`` in a string is replaced by the environment variable ``NAME`` (the name is trimmed, and so is
  the value, as Backstage's default ``process.env[name]?.trim()``);
- ``$${...}`` is an escape and yields the literal ``${...}``;
- if any variable of a string is unset, the *whole* string is undefined, so the key that held it is left unset
  (not an empty string). Backstage then simply lacks the key; we also remember which variable was missing so a
  consumer that needs the value can say e.g. ``collector pagerduty: token is not set (PAGERDUTY_TOKEN)``.

The record lives on ``ConfigDict`` (a ``LocatedDict`` with one more slot), read through ``missing_env`` /
``unset_keys``; a plain ``LocatedDict`` or ``dict`` simply has no record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.located.nodes import LocatedDict
from soundcheck_cli.errors import Location

# Backstage's split pattern: an optional extra ``$`` (the escape), then ``${`` ... ``}`` without nested braces.
_TOKEN = re.compile(r"(\$?\$\{[^{}]*\})")


@dataclass(frozen=True, slots=True)
class UnsetValue:
    """A key the config wrote but that is unset because environment variable(s) were missing."""

    variables: tuple[str, ...]
    location: Location | None = field(default=None, compare=False)

    @property
    def names(self) -> str:
        return ", ".join(self.variables)


class ConfigDict(LocatedDict):
    """A ``LocatedDict`` that also records keys left unset by missing environment variables (``unset``)."""

    __slots__ = ("unset",)

    def __init__(self, *args: Any, loc: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, loc=loc, **kwargs)
        self.unset: dict[Any, UnsetValue] = {}


def substitute(text: str, environ: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """Apply ``${VAR}`` substitution to ``text``.

    Returns ``(value, missing)``: ``value`` is ``None`` when any variable is unset (``missing`` names them, in order
    of appearance, without duplicates); otherwise ``missing`` is empty.
    """
    if "${" not in text:  # fast path: the vast majority of config strings
        return text, ()
    parts = _TOKEN.split(text)
    missing: list[str] = []
    for i in range(1, len(parts), 2):
        token = parts[i]
        if token.startswith("$$"):
            parts[i] = token[1:]
            continue
        name = token[2:-1].strip()
        value = environ.get(name)
        if value is None:
            if name not in missing:
                missing.append(name)
            continue
        parts[i] = value.strip()
    if missing:
        return None, tuple(missing)
    return "".join(parts), ()


def env_value(name: str, environ: Mapping[str, str]) -> str | None:
    """The value of ``$env: NAME`` (trimmed, as Backstage does), or ``None`` when unset."""
    value = environ.get(name.strip())
    return None if value is None else value.strip()


def unset_keys(node: Any) -> Mapping[Any, UnsetValue]:
    """Keys of ``node`` left unset by missing environment variables (empty for anything but a ``ConfigDict``)."""
    return getattr(node, "unset", None) or {}


def missing_env(node: Any, key: Any) -> str | None:
    """The missing variable name(s) that left ``node[key]`` unset (``"A, B"`` for several), else ``None``.

    ``None`` also when the key is present, or absent because the config never wrote it.
    """
    record = unset_keys(node).get(key)
    return record.names if record is not None else None
