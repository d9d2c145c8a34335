"""Event sinks: where change events go. One interface, one small class per ``type`` of ``soundcheck.events.sinks``.

``deliver(events)`` never raises for a delivery failure: it returns a ``Delivery`` naming the events it could not
deliver and why, so the dispatcher keeps them in the store for the next run (a failing sink never fails the run).
"""

from __future__ import annotations

import asyncio
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from soundcheck_cli.events.config import SinkSettings
from soundcheck_cli.events.model import Event

Writer = Callable[[str, str], None]  # (stream name "stdout"|"stderr", text)


# One encoder for every line (``json.dumps`` with options builds a new encoder per call: half its cost here).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def _line(event: Event) -> str:
    return _encode({"topic": event.topic, "eventPayload": event.payload}) + "\n"


@dataclass
class Delivery:
    delivered: int = 0
    undelivered: list[Event] = field(default_factory=list)
    error: str | None = None


class EventSink(ABC):
    def __init__(self, settings: SinkSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.id

    @abstractmethod
    def deliver(self, events: Sequence[Event]) -> Delivery: ...


class JsonlSink(EventSink):
    """Appends one ``{topic, eventPayload}`` JSON object per line (one write: a reader never sees half a run)."""

    def deliver(self, events: Sequence[Event]) -> Delivery:
        path = self.settings.path or ""
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("".join(_line(e) for e in events))
        except OSError as exc:
            return Delivery(0, list(events), f"cannot append to {path}: {exc.strerror or exc}")
        return Delivery(len(events))


class StdoutSink(EventSink):
    """Writes JSON lines through the caller's writer (the core never touches the terminal itself)."""

    def __init__(self, settings: SinkSettings, out: Writer | None) -> None:
        super().__init__(settings)
        self.out = out

    def deliver(self, events: Sequence[Event]) -> Delivery:
        if self.out is None:
            return Delivery(len(events))  # no terminal (library use): nothing to print to, nothing to retry
        self.out(self.settings.stream, "".join(_line(e) for e in events))
        return Delivery(len(events))


class WebhookSink(EventSink):
    """POSTs events as JSON with the collectors' ``HttpClient`` (retries with backoff on 5xx, timeouts and
    connection errors; ``Retry-After`` on 429; secrets redacted from messages) and so its per-host circuit
    breaker: once ``BREAKER_THRESHOLD`` requests in a row failed (5xx, connection errors, timeouts), every request
    still queued or waiting for a retry fails at once with ``HostUnavailable``, unsent.

    ``batchSize: 1`` (default) posts each ``{topic, eventPayload}`` alone; more posts JSON lists. The first batch
    is posted alone, the others (concurrently) only once it was acknowledged; after a request fails for good, no
    further batch starts. Every event not acknowledged with a 2xx is returned as undelivered, in order."""

    def __init__(self, settings: SinkSettings, http_options: object = None) -> None:
        super().__init__(settings)
        self.http_options = http_options

    def deliver(self, events: Sequence[Event]) -> Delivery:
        if not events:
            return Delivery()
        return asyncio.run(self._deliver(list(events)))

    async def _deliver(self, events: list[Event]) -> Delivery:
        from soundcheck_cli.http.client import HttpClient, HttpError, HttpOptions
        from soundcheck_cli.redact import GLOBAL

        options = self.http_options if isinstance(self.http_options, HttpOptions) else HttpOptions(redactor=GLOBAL)
        size = self.settings.batch_size
        batches = [events[i : i + size] for i in range(0, len(events), size)]
        done = [False] * len(batches)
        failure: list[str] = []
        headers = {"Content-Type": "application/json", **dict(self.settings.headers)}
        async with HttpClient(self.settings.client, options, headers=headers, name=self.name) as client:

            async def send(i: int) -> None:
                if failure:
                    return
                batch = batches[i]
                body = batch[0].to_json() if size == 1 else [e.to_json() for e in batch]
                try:
                    await client.request("POST", self.settings.url or "", json=body)
                except HttpError as exc:  # HostUnavailable included: the breaker opened
                    if not failure:
                        failure.append(str(exc))
                    return
                done[i] = True

            # The first batch alone, then the rest concurrently: an endpoint that refuses us (a 401 for a wrong
            # token: no retry, no breaker) costs one request, not one per pending batch.
            await send(0)
            await asyncio.gather(*(send(i) for i in range(1, len(batches))))
        undelivered = [e for i, batch in enumerate(batches) if not done[i] for e in batch]
        error = (failure[0] if failure else "not sent") if undelivered else None  # HttpError names the redacted URL
        return Delivery(len(events) - len(undelivered), undelivered, error)


def create_sink(settings: SinkSettings, out: Writer | None = None, http_options: object = None) -> EventSink:
    if settings.type == "jsonl":
        return JsonlSink(settings)
    if settings.type == "webhook":
        return WebhookSink(settings, http_options)
    return StdoutSink(settings, out)
