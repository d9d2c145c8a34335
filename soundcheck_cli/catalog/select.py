"""``--entity`` selection: the entities a command line names, for every command (check, collect, run).

A ref is ``[kind:][namespace/]name``; the kind defaults to ``component`` and the namespace to ``default``, as
Backstage reads a short ref. Matching ignores case (``EntityRef.key``). The selected entities keep the catalog's
order, each once however often it is named. Every ref that is malformed or names no loaded entity is reported in one
``UsageError`` (exit code 2), with the closest loaded refs as a hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from soundcheck_cli.catalog.model import Entity, EntityRef
from soundcheck_cli.errors import Problems, UsageError


def select_entities(entities: Sequence[Entity], refs: Sequence[str]) -> list[Entity]:
    """The entities named by ``refs`` (all of them when ``refs`` is empty), in catalog order."""
    if not refs:
        return list(entities)
    by_key: dict[str, Entity] = {}
    for entity in entities:
        by_key.setdefault(entity.ref.key, entity)  # a duplicate ref: the first one read, as the loaders keep
    problems = Problems()
    chosen: set[str] = set()
    for text in refs:
        try:
            key = EntityRef.parse(text, default_kind="component").key
        except ValueError as exc:
            problems.error(f"--entity {text!r}: {exc}")
            continue
        if key in by_key:
            chosen.add(key)
            continue
        close = difflib.get_close_matches(key, list(by_key), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        loaded = "1 entity loaded" if len(by_key) == 1 else f"{len(by_key)} entities loaded"
        problems.error(f"unknown entity {text!r} ({loaded}; `soundcheck entities` lists them){hint}")
    if problems.errors:
        raise UsageError(problems.errors)
    return [e for e in entities if e.ref.key in chosen and by_key[e.ref.key] is e]
