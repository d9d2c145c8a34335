"""``--shard I/N``: a stable, balanced share of the collection work, with no coordinator.

An entity belongs to shard ``1 + (h mod N)`` where ``h`` is the first 8 bytes of the SHA-1 of its normalised ref
(``kind:namespace/name``, lower-cased). The hash does not depend on the process, the machine, the catalog's order
or the other entities, so N cron hosts or CI matrix jobs given ``1/N`` … ``N/N`` split the entities into N disjoint
sets whose union is the whole catalog; SHA-1 spreads refs evenly, so the shares are balanced (within ±5 % at 10,000
entities for N ≤ 4). All of an entity's facts, from every collector, are collected by the same shard.

Shards are numbered from 1, as Jest's and Playwright's ``--shard`` are; a Kubernetes indexed Job passes
``$((JOB_COMPLETION_INDEX + 1))/N``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from soundcheck_cli.errors import UsageError

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 10_000

T = TypeVar("T")


def shard_of(entity_key: str, count: int) -> int:
    """The shard (1..count) that owns the entity with normalised ref ``entity_key``."""
    digest = hashlib.sha1(entity_key.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` → ``Shard(2, 4)``; ``UsageError`` with the reason otherwise."""
        match = _SHARD_RE.match(text or "")
        if not match:
            raise UsageError(f"--shard {text!r}: expected I/N, e.g. --shard 1/4 (shard I of N, numbered from 1)")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or count > MAX_SHARDS:
            raise UsageError(f"--shard {text}: N must be between 1 and {MAX_SHARDS}")
        if not 1 <= index <= count:
            hint = " (shards are numbered from 1; a Kubernetes indexed Job passes $((JOB_COMPLETION_INDEX + 1)))" if index == 0 else ""
            raise UsageError(f"--shard {text}: I must be between 1 and {count}{hint}")
        return cls(index, count)

    def owns(self, entity_key: str) -> bool:
        return self.count == 1 or shard_of(entity_key, self.count) == self.index

    def select(self, entities: Iterable[T], key: "callable[[T], str]") -> list[T]:  # type: ignore[valid-type]
        """The entities of ``entities`` this shard owns, in their order."""
        return [e for e in entities if self.owns(key(e))]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
