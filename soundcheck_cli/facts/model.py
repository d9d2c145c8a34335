"""``FactRef`` and ``Fact``: the values collectors produce and checks read.

A fact ref is ``source:scope/name`` as in Soundcheck (``github:default/repo_details``); the name may itself
contain ``/`` (``soundcheck:default/track/pagerduty_track``) and the scope defaults to ``default``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DEFAULT_SCOPE = "default"


@dataclass(frozen=True, slots=True, order=True)
class FactRef:
    source: str
    scope: str
    name: str

    @classmethod
    def parse(cls, value: str | dict[str, Any] | FactRef, default_source: str | None = None) -> FactRef:
        """Parse ``source:scope/name``, ``source:name`` (scope ``default``) or ``{source, scope, name}``.

        Raises ``ValueError`` with a readable message on anything else.
        """
        if isinstance(value, FactRef):
            return value
        if isinstance(value, dict):
            source = value.get("source") or default_source
            name = value.get("name")
            scope = value.get("scope") or DEFAULT_SCOPE
            if not isinstance(source, str) or not isinstance(name, str) or not source or not name:
                raise ValueError(f"invalid fact ref {value!r}: expected {{source, scope, name}}")
            return cls(source, str(scope), name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"invalid fact ref {value!r}: expected source:scope/name")
        text = value.strip()
        if ":" in text:
            source, rest = text.split(":", 1)
        elif default_source:
            source, rest = default_source, text
        else:
            raise ValueError(f"invalid fact ref {value!r}: expected source:scope/name")
        scope = DEFAULT_SCOPE
        if "/" in rest:
            scope, rest = rest.split("/", 1)
        if not source or not scope or not rest or any(c.isspace() for c in text):
            raise ValueError(f"invalid fact ref {value!r}: expected source:scope/name")
        return cls(source, scope, rest)

    def __str__(self) -> str:
        return f"{self.source}:{self.scope}/{self.name}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(value: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` (``2026-11-25T18:20:29.123Z``)."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Fact:
    """One collected fact about one entity. ``entity_ref`` is the stringified ref (``component:default/x``)."""

    fact_ref: FactRef
    entity_ref: str
    data: Any
    timestamp: datetime = field(default_factory=utcnow)
    expires_at: datetime | None = None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "factRef": str(self.fact_ref),
            "entityRef": self.entity_ref,
            "data": self.data,
            "timestamp": format_timestamp(self.timestamp),
        }
        if self.expires_at is not None:
            out["expiresAt"] = format_timestamp(self.expires_at)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Fact:
        """Inverse of ``to_json``; ``factRef`` may be a string or ``{source, scope, name}``.

        Raises ``ValueError``/``KeyError``/``TypeError`` on malformed input (callers turn them into located errors).
        """
        ts = obj.get("timestamp")
        exp = obj.get("expiresAt")
        return cls(
            fact_ref=FactRef.parse(obj["factRef"]),
            entity_ref=str(obj["entityRef"]),
            data=obj.get("data"),
            timestamp=parse_timestamp(ts) if ts else utcnow(),
            expires_at=parse_timestamp(exp) if exp else None,
        )
