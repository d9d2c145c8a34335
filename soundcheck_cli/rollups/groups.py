"""Which groups each entity belongs to, for ``--by owner|system|domain|group|kind``, from the catalog.

- ``owner``: ``spec.owner`` as a full ref (kind defaults to ``group``, namespace to the entity's);
- ``system``: ``spec.system`` (kind ``system``); a System entity belongs to itself;
- ``domain``: the domain of the entity's system (``spec.domain`` of that System); a System's own ``spec.domain``;
  a Domain entity belongs to itself;
- ``group``: the owning Group *and every ancestor Group*: the Group hierarchy of the catalog (``spec.parent`` of a
  Group, and ``spec.children`` of its parent, as Backstage reads both) rolls up, so a parent group counts its
  subgroups' entities. An entity owned by a User counts in the Groups of the user's ``spec.memberOf``;
- ``kind``: the entity's kind, lower-cased.

An entity with no such relation is in ``(no owner)``, ``(no system)``, ...; an entity of a recorded run that is no
longer in the catalog is in ``(not in catalog)``: the run is read as recorded, the grouping is today's catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from soundcheck_cli.catalog.model import Entity, EntityRef

BY = ("owner", "system", "domain", "group", "kind")
NOT_IN_CATALOG = "(not in catalog)"


def _ref(value: Any, kind: str, namespace: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return str(EntityRef.parse(value, default_kind=kind, default_namespace=namespace))
    except ValueError:
        return None


def _refs(value: Any, kind: str, namespace: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [r for r in (_ref(v, kind, namespace) for v in values) if r]


class Catalog:
    """The catalog's entities by key, and the Group hierarchy (child key -> parent refs)."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.by_key: dict[str, Entity] = {}
        for entity in entities:
            self.by_key.setdefault(entity.ref.key, entity)
        self.parents: dict[str, list[str]] = {}
        for entity in self.by_key.values():
            if entity.kind.lower() != "group":
                continue
            spec = entity.spec
            parent = _ref(spec.get("parent"), "group", entity.namespace)
            if parent:
                self._link(entity.ref.key, parent)
            for child in _refs(spec.get("children") or [], "group", entity.namespace):
                self._link(child.lower(), str(entity.ref))

    def _link(self, child_key: str, parent: str) -> None:
        parents = self.parents.setdefault(child_key, [])
        if parent not in parents:
            parents.append(parent)

    def get(self, ref: str) -> Entity | None:
        return self.by_key.get(ref.strip().lower())

    def ancestors(self, group_ref: str) -> list[str]:
        """``group_ref`` and every Group above it (each once, nearest first; a cycle in the catalog stops)."""
        out = [group_ref]
        seen = {group_ref.lower()}
        i = 0
        while i < len(out):
            for parent in self.parents.get(out[i].lower(), []):
                if parent.lower() not in seen:
                    seen.add(parent.lower())
                    out.append(parent)
            i += 1
        return out

    def display(self, ref: str) -> str:
        """A group's title for people: ``spec.profile.displayName`` or ``metadata.title`` when the catalog has
        one, else the ref."""
        entity = self.get(ref)
        if entity is None:
            return ref
        profile = entity.spec.get("profile") if isinstance(entity.spec.get("profile"), dict) else {}
        title = profile.get("displayName") or entity.metadata.get("title")
        return str(title) if isinstance(title, str) and title.strip() else ref


def membership(catalog: Catalog, by: str) -> Callable[[str], Sequence[str]]:
    """``groups_of(entity ref) -> [group label, ...]`` for one ``--by``."""
    if by not in BY:
        raise ValueError(f"unknown grouping {by!r}; choose one of {', '.join(BY)}")

    def owner(entity: Entity) -> list[str]:
        found = _ref(entity.spec.get("owner"), "group", entity.namespace)
        return [found] if found else ["(no owner)"]

    def system_of(entity: Entity) -> str | None:
        if entity.kind.lower() == "system":
            return str(entity.ref)
        return _ref(entity.spec.get("system"), "system", entity.namespace)

    def system(entity: Entity) -> list[str]:
        found = system_of(entity)
        return [found] if found else ["(no system)"]

    def domain(entity: Entity) -> list[str]:
        kind = entity.kind.lower()
        if kind == "domain":
            return [str(entity.ref)]
        if kind == "system":
            found = _ref(entity.spec.get("domain"), "domain", entity.namespace)
        else:
            sys_ref = system_of(entity)
            sys_entity = catalog.get(sys_ref) if sys_ref else None
            found = (_ref(sys_entity.spec.get("domain"), "domain", sys_entity.namespace)
                     if sys_entity is not None else None)
        return [found] if found else ["(no domain)"]

    def group(entity: Entity) -> list[str]:
        owner_ref = _ref(entity.spec.get("owner"), "group", entity.namespace)
        if owner_ref is None:
            return ["(no group)"]
        starts = [owner_ref]
        if owner_ref.startswith("user:"):
            user = catalog.get(owner_ref)
            starts = _refs(user.spec.get("memberOf") or [], "group", user.namespace) if user is not None else []
        out: list[str] = []
        for start in starts:
            for ref in catalog.ancestors(start):
                if ref not in out:
                    out.append(ref)
        return out or ["(no group)"]

    def kind(entity: Entity) -> list[str]:
        return [entity.kind.lower()]

    pick = {"owner": owner, "system": system, "domain": domain, "group": group, "kind": kind}[by]
    memo: dict[str, Sequence[str]] = {}

    def groups_of(ref: str) -> Sequence[str]:
        key = ref.strip().lower()
        found = memo.get(key)
        if found is None:
            entity = catalog.by_key.get(key)
            found = memo[key] = tuple(pick(entity)) if entity is not None else (NOT_IN_CATALOG,)
        return found

    return groups_of
