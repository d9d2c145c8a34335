"""Entity filters with Backstage/Soundcheck semantics (``filter`` and ``exclude`` on collectors, checks, tracks).

- A filter is a mapping ``{dot.path: value}``; every key must match (all-of).
- A list of values for one key matches if any value matches (any-of).
- A list of mappings matches if any mapping matches (any-of).
- Keys are dot paths into the entity; a segment may itself contain dots, as annotation keys do
  (``metadata.annotations.backstage.io/techdocs-ref``): the longest key present wins.
- Matching is case-insensitive for keys and values; an array field (``metadata.tags``) matches when any element does.
- The legacy form ``filter: {catalog: {...}}`` is accepted, with a deprecation warning.
- ``exclude`` uses the same syntax and removes what it matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.config.nodes import LocatedDict, loc_of
from soundcheck_cli.errors import Location, Problems

# One alternative: a tuple of (path parts, accepted values lower-cased).
Clause = tuple[tuple[str, ...], frozenset[str]]


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def resolve_path(obj: Any, parts: tuple[str, ...]) -> list[Any]:
    """Every value at the dot path ``parts`` in ``obj`` (lists fan out; keys compared case-insensitively)."""
    if not parts:
        if isinstance(obj, list):
            out: list[Any] = []
            for item in obj:
                out.extend(resolve_path(item, parts))
            return out
        return [obj]
    if isinstance(obj, list):
        out = []
        for item in obj:
            out.extend(resolve_path(item, parts))
        return out
    if not isinstance(obj, dict):
        return []
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for j in range(len(parts), 0, -1):
        key = ".".join(parts[:j]).lower()
        if key in lowered:
            return resolve_path(lowered[key], parts[j:])
    return []


@dataclass(frozen=True)
class EntityFilter:
    """Any-of ``alternatives``; each alternative is all-of its clauses."""

    alternatives: tuple[tuple[Clause, ...], ...]
    location: Location | None = field(default=None, compare=False)

    @classmethod
    def parse(
        cls, node: Any, problems: Problems, what: str = "filter", location: Location | None = None
    ) -> EntityFilter | None:
        """Parse a ``filter``/``exclude`` node; report malformed ones to ``problems`` (with location).

        ``location`` is where the node sits (e.g. ``loc_of(check, "filter")``); it is used when the node cannot
        carry one itself, as a scalar (``filter: Component``) cannot.
        """
        if node is None:
            return None
        location = loc_of(node) or location
        if isinstance(node, dict) and set(node.keys()) == {"catalog"} and isinstance(node["catalog"], (dict, list)):
            problems.warning(
                f"'{what}: {{catalog: ...}}' is deprecated; write the entity filter directly under '{what}'", location
            )
            node = node["catalog"]
        items = node if isinstance(node, list) else [node]
        alternatives: list[tuple[Clause, ...]] = []
        for index, item in enumerate(items):
            item_loc = loc_of(node, index) if isinstance(node, list) else location
            if not isinstance(item, dict):
                problems.error(f"{what} must be a mapping of entity fields to values, or a list of such mappings", item_loc)
                continue
            clauses: list[Clause] = []
            for key, value in item.items():
                if not isinstance(key, str) or not key.strip():
                    key_loc = item.key_locs.get(key) if isinstance(item, LocatedDict) else None
                    problems.error(f"{what} key must be a dot path such as 'spec.lifecycle'", key_loc or loc_of(item) or item_loc)
                    continue
                values = value if isinstance(value, list) else [value]
                bad = [v for v in values if isinstance(v, (dict, list)) or v is None]
                if bad:
                    problems.error(f"{what} value for '{key}' must be a string or a list of strings", loc_of(item, key) or item_loc)
                    continue
                clauses.append((tuple(key.split(".")), frozenset(_norm(v) for v in values)))
            alternatives.append(tuple(clauses))
        return cls(tuple(alternatives), location)

    def matches(self, entity: Entity | dict[str, Any]) -> bool:
        data = entity.data if isinstance(entity, Entity) else entity
        for clauses in self.alternatives:
            if all(_clause_matches(data, clause) for clause in clauses):
                return True
        return False


def _clause_matches(data: dict[str, Any], clause: Clause) -> bool:
    parts, accepted = clause
    for found in resolve_path(data, parts):
        if found is None or isinstance(found, dict):
            continue
        if _norm(found) in accepted:
            return True
    return False


def selects(entity: Entity, filter: EntityFilter | None, exclude: EntityFilter | None = None) -> bool:
    """True when ``entity`` passes ``filter`` (absent: everything) and is not matched by ``exclude``."""
    if filter is not None and not filter.matches(entity):
        return False
    if exclude is not None and exclude.matches(entity):
        return False
    return True


def select(entities: Iterable[Entity], filter: EntityFilter | None, exclude: EntityFilter | None = None) -> list[Entity]:
    return [e for e in entities if selects(e, filter, exclude)]
