"""In-process subscribers: the seed's ``events.subscribe({id, topics, onEvent})``, in Python.

A package registers a subscriber under the entry-point group ``soundcheck.subscribers``; the entry point names
either

- a *register function* ``register(events)`` that calls ``events.subscribe({"id": ..., "topics": [...],
  "onEvent": handler})`` as the seed's backend module does (``subscribe`` also takes keyword arguments
  ``id=, topics=, on_event=``), or
- a subscription directly: a mapping ``{id?, topics, onEvent}`` or an object with ``topics`` and ``on_event``
  (or ``onEvent``) attributes.

``handler(params)`` receives ``{"topic": ..., "eventPayload": {...}}``. A subscriber that fails to load or raises
is reported as a warning naming it; it never fails the run, and other subscribers still get every event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from soundcheck_cli.errors import Problems
from soundcheck_cli.events.model import Event

GROUP = "soundcheck.subscribers"


@dataclass(frozen=True)
class Subscription:
    id: str
    topics: tuple[str, ...]
    on_event: Callable[[dict[str, Any]], Any]


class EventBus:
    """Subscriptions, and the delivery of events to them."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def subscribe(self, subscription: Any = None, /, *, id: str | None = None, topics: Iterable[str] | None = None,
                  on_event: Callable[[dict[str, Any]], Any] | None = None) -> Subscription:
        if subscription is not None:
            get = subscription.get if isinstance(subscription, Mapping) else (lambda k, d=None: getattr(subscription, k, d))
            id = id or get("id")
            topics = topics if topics is not None else get("topics")
            on_event = on_event or get("onEvent") or get("on_event")
        if isinstance(topics, str):
            topics = [topics]
        if not topics or not callable(on_event):
            raise ValueError("a subscription needs 'topics' (a list of topic names) and a callable 'onEvent'")
        sub = Subscription(str(id or getattr(on_event, "__qualname__", "subscriber")), tuple(topics), on_event)
        self.subscriptions.append(sub)
        return sub

    def publish(self, events: Iterable[Event], problems: Problems) -> int:
        """Call every subscription for each event of its topics; returns how many calls succeeded."""
        calls = 0
        broken: set[str] = set()
        for event in events:
            for sub in self.subscriptions:
                if event.topic not in sub.topics or sub.id in broken:
                    continue
                try:
                    sub.on_event(event.to_json())
                    calls += 1
                except Exception as exc:  # a plugin's bug must not stop the run nor the other subscribers
                    broken.add(sub.id)
                    problems.warning(f"event subscriber {sub.id!r} failed: {type(exc).__name__}: {exc} "
                                     "(it gets no further events in this run)")
        return calls


def _entry_points() -> Iterable[Any]:
    return metadata.entry_points(group=GROUP)


def load_subscribers(bus: EventBus, problems: Problems, entry_points: Iterable[Any] | None = None) -> int:
    """Register every installed subscriber with ``bus``; returns how many entry points loaded."""
    loaded = 0
    for ep in entry_points if entry_points is not None else _entry_points():
        where = f"{ep.name} = {ep.value}"
        dist = getattr(getattr(ep, "dist", None), "name", None)
        if dist:
            where += f" (package {dist})"
        try:
            target = ep.load()
            if isinstance(target, Mapping) or (hasattr(target, "topics") and not isinstance(target, type)):
                own_id = target.get("id") if isinstance(target, Mapping) else getattr(target, "id", None)
                bus.subscribe(target, id=own_id or ep.name)
            elif callable(target):
                target(bus)
            else:
                raise TypeError(f"{type(target).__name__} is neither a subscription nor a register function")
            loaded += 1
        except Exception as exc:  # a broken plugin is a warning, never a crash
            problems.warning(f"event subscriber {where} could not be loaded: {type(exc).__name__}: {exc}")
    return loaded
