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


_CANDIDATES: dict[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]] = {}


def _candidates(parts: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The keys ``resolve_path`` tries at one level, longest first, each with the parts left after it:
    ``("a.b.c", ()), ("a.b", ("c",)), ("a", ("b", "c"))`` (lower-cased; worked out once per path)."""
    found = _CANDIDATES.get(parts)
    if found is None:
        found = tuple((".".join(parts[:j]).lower(), parts[j:]) for j in range(len(parts), 0, -1))
        if len(_CANDIDATES) < 4096:
            _CANDIDATES[parts] = found
    return found


class LoweredViews:
    """A cache of how mappings fold their keys (``str(key).lower()``), shared by many filter calls in one run.

    Entities of one catalog share a few key layouts (``apiVersion, kind, metadata, spec``...): the fold of each
    distinct layout (the tuple of its keys) is worked out once, as ``{folded key: original key}`` with the last
    key winning as in ``{str(k).lower(): v}``. Only layouts of plain ``str`` keys are kept (a tuple of such keys
    equals no tuple holding another kind of key); any other mapping is folded on every call, as without a cache.
    ``norm`` memoises the normalised text of string values. Same answers as no cache, for any entity.
    """

    __slots__ = ("_layouts", "_norms")

    LIMIT = 4096  # distinct key layouts (and distinct string values) remembered

    def __init__(self) -> None:
        self._layouts: dict[tuple[str, ...], dict[str, str]] = {}
        self._norms: dict[str, str] = {}

    def layout(self, obj: dict[Any, Any]) -> dict[Any, Any]:
        """``{folded key: original key}`` of ``obj``'s keys (a fresh mapping when the layout is not cached)."""
        layout = tuple(obj)
        folded = self._layouts.get(layout)
        if folded is None:
            if any(k.__class__ is not str for k in layout) or len(self._layouts) >= self.LIMIT:
                return {str(k).lower(): k for k in layout}
            folded = self._layouts[layout] = {k.lower(): k for k in layout}
        return folded

    def norm(self, value: Any) -> str:
        if value.__class__ is not str:
            return _norm(value)
        text = self._norms.get(value)
        if text is None:
            text = value.strip().lower()
            if len(self._norms) < self.LIMIT:
                self._norms[value] = text
        return text


_MISSING = object()


def resolve_path(obj: Any, parts: tuple[str, ...], views: LoweredViews | None = None) -> list[Any]:
    """Every value at the dot path ``parts`` in ``obj`` (lists fan out; keys compared case-insensitively).

    ``views``: a ``LoweredViews`` cache, to fold each key layout once across many calls (same answers)."""
    if not parts:
        if isinstance(obj, list):
            out: list[Any] = []
            for item in obj:
                out.extend(resolve_path(item, parts, views))
            return out
        return [obj]
    if isinstance(obj, list):
        out = []
        for item in obj:
            out.extend(resolve_path(item, parts, views))
        return out
    if not isinstance(obj, dict):
        return []
    if views is None:
        lowered = {str(k).lower(): v for k, v in obj.items()}
        for key, rest in _candidates(parts):
            if key in lowered:
                return resolve_path(lowered[key], rest, views)
        return []
    folded = views.layout(obj)
    for key, rest in _candidates(parts):
        original = folded.get(key, _MISSING)
        if original is not _MISSING:
            return resolve_path(obj[original], rest, views)
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

    def matches(self, entity: Entity | dict[str, Any], views: LoweredViews | None = None) -> bool:
        """Whether ``entity`` matches; ``views`` (a per-run ``LoweredViews``) only makes it faster."""
        data = entity.data if isinstance(entity, Entity) else entity
        for clauses in self.alternatives:
            if all(_clause_matches(data, clause, views) for clause in clauses):
                return True
        return False


def _clause_matches(data: dict[str, Any], clause: Clause, views: LoweredViews | None = None) -> bool:
    parts, accepted = clause
    if views is None:
        norm = _norm
        found_values = resolve_path(data, parts)
    else:
        norm = views.norm
        # ``resolve_path`` step by step while the path goes through plain mappings (the usual case, no list
        # to fan out); from the first other value on, ``resolve_path`` itself.
        obj: Any = data
        rest = parts
        while rest and obj.__class__ is dict:
            folded = views.layout(obj)
            for key, tail in _candidates(rest):
                original = folded.get(key, _MISSING)
                if original is not _MISSING:
                    obj = obj[original]
                    rest = tail
                    break
            else:
                return False
        if not rest and obj.__class__ is not list:
            if obj is None or isinstance(obj, dict):
                return False
            return norm(obj) in accepted
        found_values = resolve_path(obj, rest, views)
    for found in found_values:
        if found is None or isinstance(found, dict):
            continue
        if norm(found) in accepted:
            return True
    return False


def selects(entity: Entity, filter: EntityFilter | None, exclude: EntityFilter | None = None,
            views: LoweredViews | None = None) -> bool:
    """True when ``entity`` passes ``filter`` (absent: everything) and is not matched by ``exclude``.

    ``views``: a ``LoweredViews`` shared by many calls over the same (unmodified) entities; same answers, faster."""
    if filter is not None and not filter.matches(entity, views):
        return False
    if exclude is not None and exclude.matches(entity, views):
        return False
    return True


def select(entities: Iterable[Entity], filter: EntityFilter | None, exclude: EntityFilter | None = None) -> list[Entity]:
    return [e for e in entities if selects(e, filter, exclude)]
