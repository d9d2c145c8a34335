"""Catalog values: ``EntityRef`` and ``Entity``.

Entity refs follow Backstage (``kind:namespace/name``; ``stringifyEntityRef`` lower-cases the kind, and refs
compare case-insensitively). ``EntityRef.key`` is the normalised form used for lookups and as the fact store key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.errors import Location

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class EntityRef:
    kind: str
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str, default_kind: str | None = None, default_namespace: str = DEFAULT_NAMESPACE) -> EntityRef:
        """Parse ``[kind:][namespace/]name``. Raises ``ValueError`` with a readable message."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"invalid entity ref {text!r}: expected kind:namespace/name")
        rest = text.strip()
        kind = default_kind
        if ":" in rest:
            kind, rest = rest.split(":", 1)
        namespace = default_namespace
        if "/" in rest:
            namespace, rest = rest.split("/", 1)
        if not kind or not namespace or not rest:
            raise ValueError(f"invalid entity ref {text!r}: expected kind:namespace/name")
        return cls(kind, namespace, rest)

    @property
    def key(self) -> str:
        """Case-insensitive identity: ``component:default/my-service``."""
        return f"{self.kind}:{self.namespace}/{self.name}".lower()

    def __str__(self) -> str:
        # Backstage's stringifyEntityRef: kind lower-cased, namespace and name as written.
        return f"{self.kind.lower()}:{self.namespace}/{self.name}"


def stringify_entity_ref(entity: Entity | EntityRef | dict[str, Any]) -> str:
    """``kind:namespace/name`` for an entity, a ref, or a raw entity mapping (the seed's ``stringifyEntityRef``)."""
    if isinstance(entity, Entity):
        return str(entity.ref)
    if isinstance(entity, EntityRef):
        return str(entity)
    meta = entity.get("metadata") or {}
    return str(EntityRef(str(entity.get("kind", "")), str(meta.get("namespace") or DEFAULT_NAMESPACE), str(meta.get("name", ""))))


@dataclass(frozen=True, slots=True)
class Entity:
    """One catalog entity as loaded (``data`` is the plain JSON-like document) and where it came from."""

    data: dict[str, Any]
    ref: EntityRef
    source: Location | None = field(default=None, compare=False)

    @classmethod
    def from_data(cls, data: dict[str, Any], source: Location | None = None) -> Entity:
        """Build from an already-validated entity document (namespace defaults to ``default``)."""
        meta = data.setdefault("metadata", {})
        meta.setdefault("namespace", DEFAULT_NAMESPACE)
        return cls(data, EntityRef(str(data["kind"]), str(meta["namespace"]), str(meta["name"])), source)

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def namespace(self) -> str:
        return self.ref.namespace

    @property
    def metadata(self) -> dict[str, Any]:
        return self.data.get("metadata", {})

    @property
    def annotations(self) -> dict[str, Any]:
        return self.metadata.get("annotations") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.data.get("spec") or {}
