"""Delivering one run's events to every sink and subscriber, keeping what a sink could not take.

Each sink has an outbox in the store's meta area (``SinkSettings.pending_key``): events it has not acknowledged,
oldest first. Every run first retries the outbox, then sends the new events, in order; whatever is still not
delivered goes back to the outbox, so a failing webhook neither fails the run nor loses events. A webhook's
outbox is written *before* sending, so a run killed mid-delivery re-sends rather than loses (at-least-once).
Outboxes are bounded by the sink's ``maxPending`` (default 100,000): beyond it the oldest events are dropped, with
a warning that says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.errors import Problems
from soundcheck_cli.events.config import NOTIFY_TYPES, EventsSettings
from soundcheck_cli.events.model import Event
from soundcheck_cli.events.sinks import Writer, create_sink
from soundcheck_cli.events.subscribers import EventBus, load_subscribers
from soundcheck_cli.facts.interface import FactStore
from soundcheck_cli.history.codec import store_packed, unpack


@dataclass
class PublishSummary:
    events: int = 0  # new events of this run
    delivered: dict[str, int] = field(default_factory=dict)  # sink id -> events delivered (retried ones included)
    pending: dict[str, int] = field(default_factory=dict)  # sink id -> events kept for the next run
    subscriber_calls: int = 0


def load_pending(store: FactStore, key: str) -> list[Event]:
    return [Event(t, p) for t, p in (unpack(store.get_meta(key)) or [])]


def save_pending(store: FactStore, key: str, events: Sequence[Event]) -> None:
    store_packed(store, key, [[e.topic, e.payload] for e in events])


def publish(store: FactStore, settings: EventsSettings, events: Sequence[Event], problems: Problems, *,
            out: Writer | None = None, http_options: Any = None, bus: EventBus | None = None) -> PublishSummary:
    summary = PublishSummary(events=len(events))
    for sink_settings in settings.sinks:
        if sink_settings.type in NOTIFY_TYPES:  # digests per owner, sent by events.notify
            continue
        sink = create_sink(sink_settings, out, http_options)
        key = sink_settings.pending_key
        pending = load_pending(store, key)
        new = [e for e in events if sink_settings.wants(e.topic)]
        batch = pending + new
        if not batch:
            continue
        if sink_settings.type == "webhook" and new:
            save_pending(store, key, batch[-sink_settings.max_pending:])  # trimmed (and reported) below if undelivered
        delivery = sink.deliver(batch)
        left = _bounded(delivery.undelivered, sink_settings.max_pending, sink.name, problems)
        summary.delivered[sink.name] = delivery.delivered
        summary.pending[sink.name] = len(left)
        if left:
            problems.warning(f"event sink {sink.name}: {delivery.error or 'delivery failed'}; {len(left)} event(s) "
                             "kept in the store, retried on the next run", sink_settings.location)
        if left or pending or sink_settings.type == "webhook":
            save_pending(store, key, left)
    if settings.subscribers or bus is not None:
        bus = bus or EventBus()
        if settings.subscribers:
            load_subscribers(bus, problems)
        summary.subscriber_calls = bus.publish(events, problems)
    return summary


def _bounded(events: list[Event], limit: int, name: str, problems: Problems) -> list[Event]:
    if len(events) <= limit:
        return events
    dropped = len(events) - limit
    problems.warning(f"event sink {name}: {dropped} undelivered event(s) dropped, oldest first "
                     f"(maxPending: {limit})")
    return events[dropped:]
