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
      - type: slack                    # a digest per owning team of regressions and level drops (events.notify)
        url: ${SLACK_WEBHOOK_URL}      # incoming webhook (a secret: masked everywhere)
        owners: {team-a: ${SLACK_TEAM_A_WEBHOOK}}
        maxMessages: 10
      - type: teams                    # same, as an Adaptive Card (card: messagecard for O365 connectors)
        url: ${TEAMS_WEBHOOK_URL}
      - type: email                    # same, by SMTP to the owner Group's spec.profile.email
        host: smtp.example.com
        security: starttls             # or ssl, none
        username: soundcheck
        password: ${SMTP_PASSWORD}
        from: soundcheck@example.com
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

SINK_TYPES = ("jsonl", "webhook", "stdout", "slack", "teams", "email")
NOTIFY_TYPES = frozenset({"slack", "teams", "email"})  # digests per owner (``events.notify``), not raw events
EVENTS_KEYS = frozenset({"enabled", "sinks", "subscribers"})
COMMON_SINK_KEYS = {"type", "id", "topics"}
SINK_KEYS = {
    "jsonl": COMMON_SINK_KEYS | {"path"},
    "webhook": COMMON_SINK_KEYS | {"url", "headers", "batchSize", "maxPending", "timeout", "retry", "concurrency"},
    "stdout": COMMON_SINK_KEYS | {"stream"},
    "slack": COMMON_SINK_KEYS | {"url", "owners", "maxMessages", "timeout", "retry"},
    "teams": COMMON_SINK_KEYS | {"url", "owners", "maxMessages", "card", "timeout", "retry"},
    "email": COMMON_SINK_KEYS | {"host", "port", "security", "username", "password", "from", "to", "owners",
                                 "maxMessages", "timeout", "caFile", "subjectPrefix"},
}
DEFAULT_MAX_MESSAGES = 10  # notification messages a sink sends per run; the rest wait for the next run
MAX_MESSAGES = 1000
SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
CARDS = ("adaptive", "messagecard")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # starttls, ssl or none
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: str | None = None
    subject_prefix: str = "[soundcheck]"
DEFAULT_MAX_PENDING = 100_000
MAX_BATCH = 1000


@dataclass(frozen=True)
class SinkSettings:
    type: str
    id: str  # stable identity: names this sink's pending events in the store
    path: str | None = None  # jsonl: absolute path
    url: str | None = field(default=None, repr=False)  # webhook, slack, teams (a Slack/Teams URL is a secret)
    headers: tuple[tuple[str, str], ...] = ()
    client: Any = None  # webhook: http.client.ClientSettings
    batch_size: int = 1
    max_pending: int = DEFAULT_MAX_PENDING
    stream: str = "stdout"
    topics: tuple[str, ...] | None = None  # None: every topic
    location: Location | None = field(default=None, compare=False)
    # slack, teams, email (``events.notify``):
    owners: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # owner ref key -> webhook URL / address
    max_messages: int = DEFAULT_MAX_MESSAGES
    card: str = "adaptive"  # teams: adaptive (Workflows webhooks) or messagecard (Office 365 connectors)
    to: str | None = None  # email: the address of owners with none of their own
    smtp: SmtpSettings | None = None

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
    elif kind in NOTIFY_TYPES:
        out = _parse_notify(kind, item, fields, sink_id, topics, problems)
        if out is None:
            return None
    else:
        stream = fields.string("stream") or "stdout"
        if stream not in ("stdout", "stderr"):
            fields.error(f"'stream' must be stdout or stderr, not {stream!r}", fields.value_loc("stream"))
            stream = "stdout"
        out = SinkSettings("stdout", sink_id or f"stdout:{stream}", stream=stream, topics=topics, location=fields.loc)
    fields.warn_unknown(SINK_KEYS[kind])
    return out


def owner_key(name: str) -> str:
    """An owner as written in ``owners`` (``team-a``, ``group:default/team-a``, ``user:jdoe``) as a ref key."""
    from soundcheck_cli.catalog.model import EntityRef

    try:
        return EntityRef.parse(name, default_kind="group").key
    except ValueError:
        return name.strip().lower()


def _parse_notify(kind: str, item: Any, fields: Fields, sink_id: str | None, topics: tuple[str, ...] | None,
                  problems: Problems) -> SinkSettings | None:
    """slack / teams / email. Webhook URLs and the SMTP password are secrets: each is registered with the process
    redactor (``redact.GLOBAL``) as it is read, so no message, log or export shows one."""
    import hashlib

    from soundcheck_cli.http.client import client_settings
    from soundcheck_cli.redact import GLOBAL

    owners: list[tuple[str, str]] = []
    raw_owners = fields.raw("owners")
    if raw_owners is not None:
        if not isinstance(raw_owners, dict):
            fields.error(f"'owners' must be a mapping of owner to {'address' if kind == 'email' else 'webhook URL'}, "
                         f"not {type_name(raw_owners)}", fields.value_loc("owners"))
        else:
            for name, value in raw_owners.items():
                if not isinstance(value, str) or not value.strip():
                    fields.error(f"owners: {name!r} must be a string", loc_of(raw_owners, name))
                    continue
                if kind != "email" and not value.startswith(("http://", "https://")):
                    fields.error(f"owners: {name!r} must be an http(s) webhook URL", loc_of(raw_owners, name))
                    continue
                if kind != "email":
                    GLOBAL.add(value)
                owners.append((owner_key(str(name)), value.strip()))
            for name in getattr(raw_owners, "unset", {}):
                fields.warning(f"owners: {name!r} is not set ({missing_env(raw_owners, name)}); its digests go to the "
                               "default destination, if any", loc_of(raw_owners) or fields.value_loc("owners"))
    max_messages = _positive(fields, "maxMessages", DEFAULT_MAX_MESSAGES, MAX_MESSAGES)
    digest = hashlib.sha256(repr(sorted(owners)).encode()).hexdigest()[:8]
    if kind in ("slack", "teams"):
        url = fields.string("url")
        if url is not None and not url.startswith(("http://", "https://")):
            fields.error("'url' must be an http(s) webhook URL", fields.value_loc("url"))
            return None
        if not url and not owners:
            fields.error(fields.absent("url", "'url' (the incoming webhook) or 'owners' (one per owner) is required"))
            return None
        if url:
            GLOBAL.add(url)
        card = "adaptive"
        if kind == "teams":
            card = fields.string("card") or "adaptive"
            if card not in CARDS:
                fields.error(f"'card' must be one of {', '.join(CARDS)}, not {card!r}", fields.value_loc("card"))
                card = "adaptive"
        fields.read.update({"timeout", "retry"})
        client = client_settings(item, problems, default_concurrency=2)
        # The default id names no URL (it is a secret) but still tells two sinks apart.
        ident = hashlib.sha256((url or "").encode()).hexdigest()[:8] + digest
        return SinkSettings(kind, sink_id or f"{kind}:{ident}", url=url, client=client, topics=topics,
                            location=fields.loc, owners=tuple(owners), max_messages=max_messages, card=card)
    host = fields.string("host")
    sender = fields.string("from")
    if not host or not sender:
        missing = "host" if not host else "from"
        fields.error(fields.absent(missing, f"'{missing}' is required (the SMTP server and the sender address)"))
        return None
    security = fields.string("security") or "starttls"
    if security not in SMTP_PORTS:
        fields.error(f"'security' must be one of {', '.join(SMTP_PORTS)}, not {security!r}", fields.value_loc("security"))
        return None
    port = fields.raw("port", SMTP_PORTS[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        fields.error(f"'port' must be a port number, not {port!r}", fields.value_loc("port"))
        return None
    timeout = fields.raw("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        fields.error(f"'timeout' must be a number of seconds from 0 to 600, not {timeout!r}", fields.value_loc("timeout"))
        timeout = 30
    password = fields.string("password")
    if password:
        GLOBAL.add(password)
    ca_file = fields.string("caFile")
    if ca_file:
        declared = fields.value_loc("caFile")
        base = os.path.dirname(os.path.abspath(declared.path)) if declared else os.getcwd()
        ca_file = os.path.normpath(os.path.join(base, os.path.expanduser(ca_file)))
    smtp = SmtpSettings(host, port, security, sender, fields.string("username"), password, float(timeout), ca_file,
                        fields.string("subjectPrefix") or "[soundcheck]")
    return SinkSettings("email", sink_id or f"email:{host}:{port}:{digest}", topics=topics, location=fields.loc,
                        owners=tuple(owners), max_messages=max_messages, to=fields.string("to"), smtp=smtp)


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
