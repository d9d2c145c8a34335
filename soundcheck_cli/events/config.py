"""``soundcheck.events``: whether change events are emitted, and where to.

```yaml
soundcheck:
  events:
    enabled: true                      # Soundcheck's own switch (core-concepts/events)
    sinks:
      - type: jsonl                    # append one {topic, eventPayload} per line
        path: events/soundcheck.jsonl  # relative to the config file that declares it
      - type: webhook                  # POST {topic, eventPayload} as JSON (a list when batchSize > 1)
        url: https://hooks.example.com/soundcheck
        headers: {Authorization: "Bearer ${WEBHOOK_TOKEN}"}
        retry: {maxAttempts: 3}        # and timeout, concurrency: the collectors' HTTP client settings
      - type: stdout                   # or stream: stderr
    subscribers: true                  # call the Python subscribers of entry-point group soundcheck.subscribers
```

Every sink may also list ``topics`` to receive only some. ``${ENV}`` in header values is substituted by the config
loader; a header left unset by a missing variable is a located warning (the webhook would be refused, and its
events are kept for the next run, as for any webhook failure).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.config.env import missing_env
from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems

SINK_TYPES = ("jsonl", "webhook", "stdout")
EVENTS_KEYS = frozenset({"enabled", "sinks", "subscribers"})
COMMON_SINK_KEYS = {"type", "id", "topics"}
SINK_KEYS = {
    "jsonl": COMMON_SINK_KEYS | {"path"},
    "webhook": COMMON_SINK_KEYS | {"url", "headers", "batchSize", "maxPending", "timeout", "retry", "concurrency"},
    "stdout": COMMON_SINK_KEYS | {"stream"},
}
DEFAULT_MAX_PENDING = 100_000
MAX_BATCH = 1000


@dataclass(frozen=True)
class SinkSettings:
    type: str
    id: str  # stable identity: names this sink's pending events in the store
    path: str | None = None  # jsonl: absolute path
    url: str | None = None  # webhook
    headers: tuple[tuple[str, str], ...] = ()
    client: Any = None  # webhook: collectors.http_client.ClientSettings
    batch_size: int = 1
    max_pending: int = DEFAULT_MAX_PENDING
    stream: str = "stdout"
    topics: tuple[str, ...] | None = None  # None: every topic
    location: Location | None = field(default=None, compare=False)

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics

    @property
    def pending_key(self) -> str:
        import hashlib  # here: loading OpenSSL costs every command a few ms, and only event delivery needs it

        return "events:pending:" + hashlib.sha256(self.id.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EventsSettings:
    enabled: bool = False
    sinks: tuple[SinkSettings, ...] = ()
    subscribers: bool = True
    location: Location | None = field(default=None, compare=False)


def _positive(fields: Fields, key: str, default: int, maximum: int) -> int:
    value = fields.raw(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        fields.error(f"'{key}' must be a whole number from 1 to {maximum}, not {value!r}", fields.value_loc(key))
        return default
    return value


def _parse_sink(item: Any, index: int, problems: Problems, where: Location | None) -> SinkSettings | None:
    from soundcheck_cli.http.client import client_settings

    if not isinstance(item, dict):
        problems.error(f"event sink must be a mapping {{type, ...}}, not {type_name(item)}", where)
        return None
    fields = Fields(item, problems, f"event sink {index + 1}", where)
    kind = fields.string("type")
    if kind not in SINK_TYPES:
        shown = "missing" if kind is None else repr(kind)
        fields.error(f"'type' is {shown}; choose one of {', '.join(SINK_TYPES)}", fields.value_loc("type"))
        return None
    fields.what = f"event sink {index + 1} ({kind})"
    topics = None
    raw_topics = fields.raw("topics")
    if raw_topics is not None:
        if not isinstance(raw_topics, list) or not all(isinstance(t, str) for t in raw_topics):
            fields.error("'topics' must be a list of topic names", fields.value_loc("topics"))
        else:
            topics = tuple(raw_topics)
    sink_id = fields.string("id")
    out: SinkSettings | None = None
    if kind == "jsonl":
        path = fields.string("path")
        if not path:
            fields.error(fields.absent("path", "'path' is required (the file to append events to)"))
            return None
        declared = fields.value_loc("path")
        base = os.path.dirname(os.path.abspath(declared.path)) if declared else os.getcwd()
        full = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
        out = SinkSettings("jsonl", sink_id or f"jsonl:{full}", path=full, topics=topics, location=fields.loc)
    elif kind == "webhook":
        url = fields.string("url")
        if not url or not url.startswith(("http://", "https://")):
            fields.error(fields.absent("url", "'url' must be an http(s) URL"), fields.value_loc("url"))
            return None
        headers: list[tuple[str, str]] = []
        raw_headers = fields.raw("headers")
        if raw_headers is not None:
            if not isinstance(raw_headers, dict):
                fields.error(f"'headers' must be a mapping, not {type_name(raw_headers)}", fields.value_loc("headers"))
            else:
                for name, value in raw_headers.items():
                    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                        headers.append((str(name), str(value)))
                    else:
                        fields.error(f"header {name!r} must be a string", loc_of(raw_headers, name))
                for name in getattr(raw_headers, "unset", {}):
                    fields.warning(f"header {name!r} is not set ({missing_env(raw_headers, name)}); "
                                   "the webhook will likely refuse the events (they are kept for the next run)",
                                   loc_of(raw_headers) or fields.value_loc("headers"))
        fields.read.update({"timeout", "retry", "concurrency"})
        client = client_settings(item, problems, default_concurrency=4)
        out = SinkSettings("webhook", sink_id or f"webhook:{url}", url=url, headers=tuple(headers), client=client,
                           batch_size=_positive(fields, "batchSize", 1, MAX_BATCH),
                           max_pending=_positive(fields, "maxPending", DEFAULT_MAX_PENDING, 10_000_000),
                           topics=topics, location=fields.loc)
    else:
        stream = fields.string("stream") or "stdout"
        if stream not in ("stdout", "stderr"):
            fields.error(f"'stream' must be stdout or stderr, not {stream!r}", fields.value_loc("stream"))
            stream = "stdout"
        out = SinkSettings("stdout", sink_id or f"stdout:{stream}", stream=stream, topics=topics, location=fields.loc)
    fields.warn_unknown(SINK_KEYS[kind])
    return out


def parse_events(node: Any, problems: Problems, where: Location | None = None) -> EventsSettings:
    if node is None:
        return EventsSettings()
    if not isinstance(node, dict):
        problems.error(f"soundcheck.events must be a mapping {{enabled, sinks}}, not {type_name(node)}",
                       loc_of(node) or where)
        return EventsSettings()
    fields = Fields(node, problems, "soundcheck.events", where)
    enabled = fields.boolean("enabled", False)
    subscribers = fields.boolean("subscribers", True)
    sinks: list[SinkSettings] = []
    raw = fields.raw("sinks")
    if raw is not None and not isinstance(raw, list):
        fields.error(f"'sinks' must be a list, not {type_name(raw)}", fields.value_loc("sinks"))
    elif raw:
        ids: dict[str, Location | None] = {}
        for index, item in enumerate(raw):
            sink = _parse_sink(item, index, problems, loc_of(raw, index) or fields.value_loc("sinks"))
            if sink is None:
                continue
            if sink.id in ids:
                problems.error(f"event sink {index + 1}: same sink as the one at {ids[sink.id]} "
                               "(give one of them an 'id')", sink.location)
                continue
            ids[sink.id] = sink.location
            sinks.append(sink)
    fields.warn_unknown(EVENTS_KEYS)
    return EventsSettings(enabled=enabled, sinks=tuple(sinks), subscribers=subscribers, location=fields.loc)
