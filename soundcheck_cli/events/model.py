"""Soundcheck's change events, with the exact topics and payload fields of its documentation.

Source: backstage.spotify.com/docs/plugins/soundcheck/core-concepts/events ("Event Types"):

- ``CheckStatusChangeEvent``, topic ``soundcheck-check-status-change``:
  ``{checkId, entityRef, state, timestampMs, previousState, scope}``; ``state``/``previousState`` are check result
  states (``passed``, ``failed``, ``warning``, ``not-applicable``, ``not-reported``, ``error``, and here ``exempt``).
- ``CertificationChangeEvent``, topic ``soundcheck-certification-change``:
  ``{trackId, entityRef, state, cumulativeState, levelOrdinal, timestampMs, previousState, scope}``: one event per
  level whose certification changed; ``state`` is the level's own state and ``cumulativeState`` whether it and
  every lower level are certified, both ``passed`` or ``failed`` (as the documented example); ``previousState`` is
  the level's previous own state. An event is emitted when either state changes.
- ``previousState`` is absent (the docs: "undefined") when there was no prior state.
- ``scope`` is ``default`` (the documented example's value; this tool has no other scope).
- ``timestampMs``: the run's time in milliseconds since the epoch, as the field name says (the documented example
  ``1743777961`` looks like seconds; we follow the name).

The wire form of an event, in every sink, is ``{"topic": ..., "eventPayload": {...}}`` (the seed's subscriber
``onEvent`` receives the same object).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

CHECK_STATUS_CHANGE_TOPIC = "soundcheck-check-status-change"
CERTIFICATION_CHANGE_TOPIC = "soundcheck-certification-change"
TOPICS = (CHECK_STATUS_CHANGE_TOPIC, CERTIFICATION_CHANGE_TOPIC)
DEFAULT_SCOPE = "default"


@dataclass(frozen=True)
class Event:
    topic: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "eventPayload": self.payload}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Event:
        return cls(doc["topic"], doc["eventPayload"])


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def timestamp_ms(when: datetime) -> int:
    """Whole milliseconds since the epoch (exact integer arithmetic: no float rounding)."""
    return (when - EPOCH) // timedelta(milliseconds=1)


def check_status_change(check_id: str, entity_ref: str, state: str, ms: int, previous_state: str | None = None,
                        scope: str = DEFAULT_SCOPE) -> Event:
    payload: dict[str, Any] = {"checkId": check_id, "entityRef": entity_ref, "state": state, "timestampMs": ms}
    if previous_state is not None:
        payload["previousState"] = previous_state
    payload["scope"] = scope
    return Event(CHECK_STATUS_CHANGE_TOPIC, payload)


def certification_change(track_id: str, entity_ref: str, state: str, cumulative_state: str, level_ordinal: int,
                         ms: int, previous_state: str | None = None, scope: str = DEFAULT_SCOPE) -> Event:
    payload: dict[str, Any] = {"trackId": track_id, "entityRef": entity_ref, "state": state,
                               "cumulativeState": cumulative_state, "levelOrdinal": level_ordinal, "timestampMs": ms}
    if previous_state is not None:
        payload["previousState"] = previous_state
    payload["scope"] = scope
    return Event(CERTIFICATION_CHANGE_TOPIC, payload)


def events_for(changes: Any, when: datetime) -> list[Event]:
    """The events of one run's ``history.changes.Changes`` (check events first, then certification events)."""
    ms = timestamp_ms(when)
    out = [check_status_change(c.check_id, c.entity_ref, c.current, ms, c.previous) for c in changes.checks]
    out += [certification_change(c.track_id, c.entity_ref, c.current, c.current_cumulative, c.ordinal, ms, c.previous)
            for c in changes.levels]
    return out
