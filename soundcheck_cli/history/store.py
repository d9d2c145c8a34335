"""The run history in the fact store's meta area (``FactStore.get_meta/set_meta``).

Keys:

- ``history:index``: the recorded runs, oldest first: ``[{id, ts, selection, counts, entities}]`` (small);
- ``history:run:<id>``: one run's states and failure messages (``codec.encode`` + ``messages``, zlib-packed);
- ``history:state``: the latest known state of every check/level result ever recorded (packed). Change events
  compare against it, so it outlives the runs that ``keep`` drops.

Run ids sort by time: ``<UTC yyyymmddThhmmss.fffZ>-<n>`` (``n`` separates runs recorded in the same millisecond).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import format_timestamp, parse_timestamp
from soundcheck_cli.history.codec import (
    EncodedMessages,
    MessageSpool,
    States,
    decode,
    encode,
    pack,
    unpack,
)

INDEX_KEY = "history:index"
RUN_PREFIX = "history:run:"
STATE_KEY = "history:state"
MESSAGE_LIMIT = 300  # characters of a failure message kept in the history


@dataclass(frozen=True)
class RunInfo:
    id: str
    timestamp: datetime
    selection: dict[str, list[str]] = field(default_factory=dict)  # tracks/checks/entities the run was limited to
    counts: dict[str, int] = field(default_factory=dict)  # results by state
    entities: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ts": format_timestamp(self.timestamp), "selection": self.selection,
                "counts": self.counts, "entities": self.entities}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunInfo:
        return cls(doc["id"], parse_timestamp(doc["ts"]), doc.get("selection") or {}, doc.get("counts") or {},
                   int(doc.get("entities") or 0))


@dataclass
class RunRecord:
    info: RunInfo
    states: States
    messages: dict[tuple[str, str], str]  # (check id, entity key) -> message of a result (passed ones since the site: when configured)


def run_id(timestamp: datetime, taken: set[str]) -> str:
    base = format_timestamp(timestamp).replace("-", "").replace(":", "")
    n = 0
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def retained(runs: list[RunInfo], keep: int, keep_daily: int = 0) -> set[str]:
    """The ids the retention keeps of ``runs`` (oldest first): the latest ``keep`` runs, and the last run of each
    UTC day of the ``keep_daily`` days up to the newest run's day (``soundcheck.history.keepDaily``), so a trend
    over a quarter costs one run per day however often CI runs ``check``."""
    kept = {r.id for r in runs[max(0, len(runs) - keep):]}
    if keep_daily > 0 and runs:
        newest = runs[-1].timestamp.astimezone(timezone.utc).date()
        first_day = newest - timedelta(days=keep_daily - 1)
        last_of_day: dict[Any, str] = {}
        for r in runs:  # oldest first: the last one seen of a day is that day's last run
            day = r.timestamp.astimezone(timezone.utc).date()
            if day >= first_day:
                last_of_day[day] = r.id
        kept.update(last_of_day.values())
    return kept


class History:
    """Read and write the history of one store."""

    def __init__(self, store: FactStore) -> None:
        self.store = store

    def runs(self) -> list[RunInfo]:
        return [RunInfo.from_json(d) for d in self.store.get_meta(INDEX_KEY, []) or []]

    def state(self) -> States:
        return decode(self.state_doc())

    def state_doc(self) -> dict[str, Any] | None:
        """The latest-state snapshot as stored (``codec.encode`` form), not decoded."""
        return unpack(self.store.get_meta(STATE_KEY))

    def save_state(self, states: States, *, encoded: dict[str, Any] | None = None) -> None:
        """``encoded``: ``encode(states)`` when the caller already has it (saves a pass over every result)."""
        self.store.set_meta(STATE_KEY, pack(encoded if encoded is not None else encode(states)))

    def run_doc(self, info: RunInfo) -> dict[str, Any]:
        """One run as stored (``codec.encode`` form plus ``messages``), not decoded: rollups read its columns."""
        return unpack(self.store.get_meta(RUN_PREFIX + info.id)) or {}

    def load(self, info: RunInfo) -> RunRecord:
        doc = unpack(self.store.get_meta(RUN_PREFIX + info.id)) or {}
        states = decode(doc)
        refs = doc.get("entities") or []
        messages = {(check_id, entity_key(refs[int(i)])): text
                    for check_id, by_entity in (doc.get("messages") or {}).items() for i, text in by_entity.items()}
        return RunRecord(info, states, messages)

    def add(self, info: RunInfo, states: States, messages: dict[tuple[str, str], str], keep: int, *,
            encoded: dict[str, Any] | None = None,
            packed_messages: dict[str, dict[str, str]] | EncodedMessages | MessageSpool | None = None,
            keep_daily: int = 0) -> list[str]:
        """Record a run, then drop what the retention no longer keeps (``retained``); returns the dropped run ids.
        ``encoded``: ``encode(states)`` when the caller already has it (it is not modified).
        ``packed_messages``: the messages already in stored form (``{check id: {entity slot: text}}``, cut to
        ``MESSAGE_LIMIT``; or that mapping as ``codec.EncodedMessages`` or ``codec.MessageSpool``), used instead of ``messages``."""
        doc = dict(encoded) if encoded is not None else encode(states)
        if packed_messages is not None:
            doc["messages"] = packed_messages
            return self._write(info, doc, keep, keep_daily)
        slots = {states.refs.get(k, k): i for i, k in enumerate(doc["entities"])}
        index_of = {entity_key(ref): i for ref, i in slots.items()}
        packed_messages = {}
        names = [str(i) for i in range(len(doc["entities"]))]  # the slot numbers as JSON object keys, made once
        for (check_id, key), text in messages.items():
            i = index_of.get(key)
            if i is not None and text:
                by_entity = packed_messages.get(check_id)
                if by_entity is None:
                    by_entity = packed_messages[check_id] = {}
                by_entity[names[i]] = text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT]
        doc["messages"] = packed_messages
        return self._write(info, doc, keep, keep_daily)

    def _write(self, info: RunInfo, doc: dict[str, Any], keep: int, keep_daily: int = 0) -> list[str]:
        self.store.set_meta(RUN_PREFIX + info.id, pack(doc))
        runs = self.runs() + [info]
        kept = retained(runs, keep, keep_daily)
        dropped = [r.id for r in runs if r.id not in kept]
        index = [r.to_json() for r in runs if r.id in kept]
        self.store.set_meta(INDEX_KEY, index)
        delete = getattr(self.store, "delete_meta", None)
        for old in dropped:
            if delete is not None:
                delete(RUN_PREFIX + old)
            else:  # a store without delete_meta: overwrite with nothing
                self.store.set_meta(RUN_PREFIX + old, None)
        return dropped

    def replay(self) -> Iterator[tuple[RunRecord, States]]:
        """Each recorded run (oldest first) with the state known just before it (from the kept runs only)."""
        known = States()
        for info in self.runs():
            record = self.load(info)
            yield record, known
            known = known.merged(record.states)
