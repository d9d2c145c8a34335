"""A run's history document built part by part (issue 23): ``RunEncoder`` takes each part of a run (the
``RunReport`` of an entity chunk, ``evaluation.evaluate_stream``) and keeps only what the stored run needs -- one
state character per (check, entity) and per (track level, entity), the counts by state, and the messages, which
go to a temporary file (``MessageSpool``) -- so recording 2,000,000 results never holds them.

``RunEncoder.doc()`` is what ``codec.encode(codec.from_report(...))`` gives for the whole run, and its
``messages`` (a ``codec.MessageSpool``) iterate as the text of ``{check id: {entity slot: text}}``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from itertools import compress, groupby
from operator import attrgetter
from typing import Any

from soundcheck_cli.facts.interface import entity_key
from soundcheck_cli.history.codec import (
    ABSENT,
    FORMAT,
    MessageSpool,
    encode,
    encode_run,
    encode_str,
    from_report,
    level_checks,
    track_shape,
)

_MESSAGE = attrgetter("message")
_CHECK_ID = attrgetter("check_id")
_PAD = ABSENT.encode("ascii")


class RunEncoder:
    """The stored form of a run (``codec.encode`` of its states), its counts by state (first-seen order) and its
    messages, built from its parts. ``keep``: the state values whose messages are kept; ``limit``: characters kept
    of a message."""

    def __init__(self, tracks: Any, keep: frozenset[str], limit: int) -> None:
        self.tracks = tuple(tracks)
        self.keep = keep
        self.limit = limit
        self.entities: list[str] = []
        self.slot_of_key: dict[str, int] = {}
        self.columns: dict[str, bytearray] = {}
        self.levels: dict[str, dict[int, bytearray]] = {}
        self.counts: dict[str, int] = {}
        self.messages = MessageSpool()
        self._names: list[str] = []  # '"<slot>":' of each entity slot, the JSON key of its messages

    def piece(self, part: Any) -> tuple[dict[str, Any], list[tuple[str, int]], list[tuple[str, list[int], list[str]]]]:
        """What ``take`` needs of a part, as plain data (``app.fanout``): its ``codec.encode`` document (entity
        refs, a state text per check and per track level), its counts by state (first-seen order) and, per check,
        the part's entity index and JSON text of each message kept. Changes nothing."""
        results = part.check_results
        run = encode_run(results, part.track_results, self.tracks)
        if run is None:  # an entity twice in the part: its states as the general path has them (the last wins)
            doc = encode(from_report(results, part.track_results, self.tracks))
            values = [r.state._value_ for r in results]
            local = {entity_key(ref): i for i, ref in enumerate(doc["entities"])}
            slot_of = [local[entity_key(r.entity_ref)] for r in results]
        else:
            doc, values, slot_of = run.doc, run.values, run.slot_of
        counts = list(Counter(values).items())  # counted in C; first-seen order kept
        # Messages: each check's of this part together (check-major), each distinct text encoded once.
        messages = list(map(_MESSAGE, results))
        keep = self.keep
        wanted = list(compress(range(len(values)), messages))  # the results that have a message
        if not keep.issuperset(values):
            wanted = [i for i in wanted if values[i] in keep]
        texts = _Texts(self.limit)
        kept: list[tuple[str, list[int], list[str]]] = []
        start = 0
        for check_id, group in groupby(map(_CHECK_ID, results)):  # one group per check (check-major)
            end = start + len(list(group))
            lo, hi = bisect_left(wanted, start), bisect_left(wanted, end)
            if hi > lo:
                chosen = wanted[lo:hi]
                kept.append((check_id, [slot_of[i] for i in chosen], [texts[messages[i]] for i in chosen]))
            start = end
        return doc, counts, kept

    def take(self, piece: tuple[dict[str, Any], list[tuple[str, int]], list[tuple[str, list[int], list[str]]]]) -> None:
        doc, counts, kept = piece
        slots = self._slots(doc["entities"])
        n = len(self.entities)
        for column in self.columns.values():
            column.extend(_PAD * (n - len(column)))
        for check_id, text in doc["checks"].items():
            column = self.columns.get(check_id)
            if column is None:
                column = self.columns[check_id] = bytearray(_PAD * n)
            _place(column, slots, text)
        for track, info in doc["tracks"].items():
            by_level = self.levels.setdefault(track, {})
            for ordinal, text in zip(info["levels"], info["states"]):
                column = by_level.get(ordinal)
                if column is None:
                    column = by_level[ordinal] = bytearray(_PAD * n)
                column.extend(_PAD * (n - len(column)))
                _place(column, slots, text)
        run_counts = self.counts
        for value, count in counts:
            run_counts[value] = run_counts.get(value, 0) + count
        names = [self._names[slot] for slot in slots]  # '"<run slot>":' of each of the part's entities
        for check_id, local, texts in kept:
            self.messages.add(check_id, list(map(str.__add__, [names[i] for i in local], texts)))

    def add(self, part: Any) -> None:
        self.take(self.piece(part))

    def _slots(self, refs: list[str]) -> Slots:
        """The run's entity slot of each of a part's entities (new entities get the next slots)."""
        out = Slots()
        known = self.slot_of_key
        names = self._names
        start = len(self.entities)
        for ref in refs:
            key = entity_key(ref)
            slot = known.get(key)
            if slot is None:
                slot = known[key] = len(self.entities)
                self.entities.append(ref)
                names.append(f'"{slot}":')
            out.append(slot)
        out.appended = len(out) == len(self.entities) - start  # all new: the run's last slots, in order
        return out

    def doc(self) -> dict[str, Any]:
        n = len(self.entities)
        shapes = {t.id: track_shape(t) for t in self.tracks}
        tracks: dict[str, Any] = {}
        for track, by_level in self.levels.items():
            ordinals = sorted(by_level)
            tracks[track] = {"levels": ordinals, "checks": level_checks(shapes.get(track), ordinals),
                             "states": [_text(by_level[o], n) for o in ordinals]}
        return {"v": FORMAT, "entities": list(self.entities),
                "checks": {c: _text(column, n) for c, column in self.columns.items()}, "tracks": tracks}


class Slots(list):
    """A part's entity slots; ``appended``: they are the run's last slots, in order (the usual case)."""

    appended = False


class _Texts(dict):
    """JSON text of a message (cut to ``limit`` characters), encoded once per distinct message."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, text: str) -> str:
        out = self[text] = encode_str(text if len(text) <= self.limit else text[:self.limit])
        return out


def _place(column: bytearray, slots: Slots, text: str) -> None:
    """``text``'s characters (one per entity of a part, ``.`` for none) at the part's slots of ``column``."""
    data = text.encode("ascii")
    if slots.appended and slots and slots[0] == len(column) - len(slots):
        start = slots[0]  # the usual case: the part's entities are the run's last slots, in order
        column[start:start + len(data)] = data
        return
    for slot, char in zip(slots, data):
        if char != _PAD[0]:
            column[slot] = char


def _text(column: bytearray, n: int) -> str:
    return column[:n].decode("ascii").rstrip(ABSENT)
