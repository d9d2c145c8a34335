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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, gt, is_not, itemgetter
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.located.nodes import LocatedDict, loc_of
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


def _descend(obj: Any, parts: tuple[str, ...], layout: Any) -> tuple[Any, tuple[str, ...]] | None:
    """``resolve_path``'s walk while it goes through plain mappings (the usual case, no list to fan out): the value
    reached and the parts left (from the first value that is not a plain mapping on); None when a mapping has
    none of the keys ``parts`` may start with. ``layout``: ``LoweredViews.layout``."""
    rest = parts
    while rest and obj.__class__ is dict:
        folded = layout(obj)
        for key, tail in _candidates(rest):
            original = folded.get(key, _MISSING)
            if original is not _MISSING:
                obj = obj[original]
                rest = tail
                break
        else:
            return None
    return obj, rest


def _clause_matches(data: dict[str, Any], clause: Clause, views: LoweredViews | None = None) -> bool:
    parts, accepted = clause
    if views is None:
        norm = _norm
        found_values = resolve_path(data, parts)
    else:
        norm = views.norm
        # ``resolve_path`` step by step while the path goes through plain mappings (the usual case, no list
        # to fan out); from the first other value on, ``resolve_path`` itself.
        walked = _descend(data, parts, views.layout)
        if walked is None:
            return False
        obj, rest = walked
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


_NO_VALUE = object()  # a path's column entry that no clause accepts (nothing there, ``None``, a mapping)
_class_of = attrgetter("__class__")
_DICT_ONLY = frozenset({dict})
_STR_ONLY = frozenset({str})


class SelectionColumns:
    """``selects(entity, filter, exclude, views)`` for every entity of a fixed list at once (same answers).

    Worked out a column at a time: each distinct path is walked once per entity (to the normalised value it
    reaches), each distinct clause ``(path, accepted values)`` tested once per entity (a set lookup run by
    ``map``), and a filter's alternatives and clauses combined column by column. Filters other than
    ``EntityFilter`` itself are asked entity by entity, as ``selects`` does. The entities must not change
    while the object is in use (it remembers what it saw).
    """

    __slots__ = ("entities", "views", "_datas", "_paths", "_clauses", "_top")

    LIMIT = 4096  # distinct paths (and clauses) remembered

    def __init__(self, entities: Sequence[Entity | dict[str, Any]], views: LoweredViews | None = None) -> None:
        self.entities = entities
        self.views = views if views is not None else LoweredViews()
        self._datas = [e.data if isinstance(e, Entity) else e for e in entities]
        self._paths: dict[Any, tuple[list[Any], dict[int, list[str]]]] = {}
        self._clauses: dict[Any, list[bool]] = {}
        self._top: list[tuple[Any, ...]] | bool | None = None  # the entities' key layouts (False: not all dicts)

    def selects(self, filter: EntityFilter | None, exclude: EntityFilter | None = None) -> list[bool]:
        """``[selects(e, filter, exclude, views) for e in entities]``."""
        if not (filter is None or filter.__class__ is EntityFilter) or not (
                exclude is None or exclude.__class__ is EntityFilter):
            views = self.views
            return [selects(e, filter, exclude, views) for e in self.entities]  # type: ignore[arg-type]
        keep = [True] * len(self._datas) if filter is None else self.matches(filter)
        if exclude is None:
            return keep
        return list(map(gt, keep, self.matches(exclude)))  # keep and not dropped (bools: True > False only)

    def matches(self, filter: EntityFilter) -> list[bool]:
        """``[filter.matches(e, views) for e in entities]`` for an ``EntityFilter``."""
        n = len(self._datas)
        alternatives: list[list[bool]] = []
        for clauses in filter.alternatives:
            columns = [self._clause(clause) for clause in clauses]
            if not columns:
                return [True] * n  # an empty alternative matches everything
            alternatives.append(columns[0] if len(columns) == 1 else list(map(all, zip(*columns))))
        if not alternatives:
            return [False] * n
        if len(alternatives) == 1:
            return list(alternatives[0])  # a copy: clause columns are shared
        return list(map(any, zip(*alternatives)))

    def _clause(self, clause: Clause) -> list[bool]:
        try:
            column = self._clauses.get(clause)  # type: ignore[arg-type]
            hashable = True
        except TypeError:  # a clause built by hand with unhashable parts: not remembered
            column, hashable = None, False
        if column is not None:
            return column
        parts, accepted = clause
        values, spread = self._path(parts, hashable)
        if accepted.__class__ is frozenset or accepted.__class__ is set:
            column = list(map(accepted.__contains__, values))  # the marker is in no set of strings
        else:
            column = [v is not _NO_VALUE and v in accepted for v in values]
        for i, found in spread.items():
            column[i] = any(text in accepted for text in found)
        if hashable and len(self._clauses) < self.LIMIT:
            self._clauses[clause] = column
        return column

    def _path(self, parts: tuple[str, ...], hashable: bool) -> tuple[list[Any], dict[int, list[str]]]:
        """Per entity, the normalised value at ``parts`` as ``_clause_matches`` reaches it through plain
        mappings (``_NO_VALUE`` when nothing there can match); entities where the path fans out (a list, or a
        value other than a plain mapping before the path's end) are in ``spread`` instead: ``{index: the
        normalised values resolve_path finds}``."""
        cached = self._paths.get(parts) if hashable else None
        if cached is not None:
            return cached
        walked = self._walk_columns(parts)
        if walked is None:
            walked = self._walk_each(parts)
        values, spread = walked
        if hashable and len(self._paths) < self.LIMIT:
            self._paths[parts] = (values, spread)
        return values, spread

    def _walk_each(self, parts: tuple[str, ...]) -> tuple[list[Any], dict[int, list[str]]]:
        """``_path``, one entity at a time (any data)."""
        views = self.views
        layout, norm = views.layout, views.norm
        values: list[Any] = []
        append = values.append
        spread: dict[int, list[str]] = {}
        for i, data in enumerate(self._datas):
            walked = _descend(data, parts, layout)
            if walked is None:
                append(_NO_VALUE)
                continue
            obj, rest = walked
            if not rest and obj.__class__ is not list:
                append(_NO_VALUE if obj is None or isinstance(obj, dict) else norm(obj))
            else:
                append(_NO_VALUE)
                spread[i] = [norm(v) for v in resolve_path(obj, rest, views) if not (v is None or isinstance(v, dict))]
        return values, spread

    def _walk_columns(self, parts: tuple[str, ...]) -> tuple[list[Any], dict[int, list[str]]] | None:
        """``_path`` a step at a time for all entities together, in the usual case: every value on the way a
        plain mapping of ``str`` keys, all of whose key layouts pick the same key at each step (or none: that
        entity has nothing there), and the values reached plain strings. None otherwise (``_walk_each``).

        Each step folds every distinct key layout once; the per-entity work runs inside ``map``."""
        views = self.views
        n = len(self._datas)
        objs: list[Any] = self._datas
        index: list[int] | None = None  # the entities still walking (None: all of them)
        rest = parts
        while rest:
            if objs is self._datas:  # the entities themselves: their layouts are worked out once for all paths
                if self._top is None:
                    self._top = list(map(tuple, objs)) if set(map(_class_of, objs)) <= _DICT_ONLY else False
                if self._top is False:
                    return None
                layouts = self._top
            elif set(map(_class_of, objs)) <= _DICT_ONLY:
                layouts = list(map(tuple, objs))
            else:
                return None
            choices: dict[tuple[Any, ...], Any] = dict.fromkeys(layouts)
            for keys in choices:
                if not all(k.__class__ is str for k in keys):
                    return None
                folded = views.layout(keys)  # type: ignore[arg-type]  # folds the keys it iterates
                for key, tail in _candidates(rest):
                    original = folded.get(key, _MISSING)
                    if original is not _MISSING:
                        choices[keys] = (original, tail)
                        break
            picks = set(choices.values())
            picks.discard(None)
            if len(picks) > 1:
                return None
            if not picks:
                return [_NO_VALUE] * n, {}
            if None in choices.values():  # some entities have nothing at this path
                keep = list(map(is_not, map(choices.__getitem__, layouts), repeat(None)))
                objs = list(compress(objs, keep))
                index = list(compress(range(n) if index is None else index, keep))
            original, rest = picks.pop()
            objs = list(map(itemgetter(original), objs))
        if not set(map(_class_of, objs)) <= _STR_ONLY:
            return None
        norms = dict.fromkeys(objs)  # plain strings: equal values normalise alike
        norm = views.norm
        for text in norms:
            norms[text] = norm(text)
        leaves = list(map(norms.__getitem__, objs))
        if index is None:
            return leaves, {}
        values: list[Any] = [_NO_VALUE] * n
        for i, leaf in zip(index, leaves):
            values[i] = leaf
        return values, {}


def select(entities: Iterable[Entity], filter: EntityFilter | None, exclude: EntityFilter | None = None) -> list[Entity]:
    return [e for e in entities if selects(e, filter, exclude)]
