"""When a fact is due, and how a collector's config becomes ``CollectionConfig`` values.

Follows Soundcheck's configuration of third-party collectors:

- ``soundcheck.collectors.<id>`` is one mapping or a list of mappings; each has top-level defaults and ``collects``
  (one mapping or a list). ``collection_configs`` reproduces Soundcheck's ``getCollectionConfigs``: a block with
  no ``collects`` schedules nothing, and each ``collects`` entry inherits ``filter``, ``exclude``, ``frequency``,
  ``initialDelay``, ``batchSize`` and ``cache`` from its block unless it sets its own (an explicit ``null`` in the
  entry inherits too, as JavaScript's ``entry.x ?? top.x`` does).
- ``frequency`` is a HumanDuration (``{minutes: 30}``, ``{hours: 1, minutes: 30}``...) or ``{cron: '0 * * * *'}``.
- ``cache`` is ``{duration: {hours: 2}}`` (at collector level, usually) or ``true``/``false`` (per entry; ``true``
  takes the collector-level duration).

In a one-shot CLI a fact is **due** when it is missing, expired, or older than its frequency (cron: when the
first cron time after it was collected has passed), and it is not still inside its cache duration. ``--force``
makes every fact due; ``--refresh FACTREF`` makes that fact due and tells the collector to bypass its caches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.collectors.base import CollectionConfig
from soundcheck_cli.located.nodes import LocatedDict, loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.located.durations import DURATION_DEF, DURATION_SCHEMA, DURATION_UNITS, parse_duration  # noqa: F401 - re-exported
from soundcheck_cli.facts.model import Fact, FactRef, utcnow

# Keys a ``collects`` entry inherits from its block (Soundcheck's getCollectionConfigs).
INHERITED_KEYS = ("filter", "exclude", "frequency", "initialDelay", "batchSize", "cache")

# JSON schema pieces for collectors' ``config_schema()`` (the registry validates configs with them). Shared
# definitions live under ``$defs`` and are referenced, which keeps schemas small (checking a schema against the
# metaschema costs time in proportion to its size).
SCHEMA_DEFS: dict[str, Any] = {
    "duration": DURATION_DEF,
    "frequency": {
        "anyOf": [
            {"type": "object", "properties": {"cron": {"type": "string"}}, "required": ["cron"], "additionalProperties": False},
            {"$ref": "#/$defs/duration"},
        ]
    },
    "cache": {
        "anyOf": [
            {"type": "boolean"},
            {"type": "object", "properties": {"duration": {"$ref": "#/$defs/duration"}}, "additionalProperties": False},
        ]
    },
    "filter": {"type": ["object", "array", "null"]},
}
COMMON_ENTRY_PROPERTIES: dict[str, Any] = {
    "filter": {"$ref": "#/$defs/filter"},
    "exclude": {"$ref": "#/$defs/filter"},
    "frequency": {"$ref": "#/$defs/frequency"},
    "initialDelay": DURATION_SCHEMA,
    "batchSize": {"type": "integer", "minimum": 1},
    "cache": {"$ref": "#/$defs/cache"},
}


def one_or_many(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or a list of it. ``if/then/else`` rather than ``anyOf``, so that a violation is reported at
    its own key (``anyOf`` would only say "not valid under any of the given schemas" about the whole block)."""
    return {"if": {"type": "array"}, "then": {"type": "array", "items": schema}, "else": schema}


def as_list(node: Any) -> list[Any]:
    """A single mapping or a list of them (both accepted for the collector block and for ``collects``)."""
    if node is None:
        return []
    if isinstance(node, list):
        return list(node)
    return [node]


@dataclass(frozen=True)
class Frequency:
    """How often a fact is collected: a fixed ``interval`` or a ``cron`` expression (evaluated in UTC)."""

    interval: timedelta | None = None
    cron: str | None = None

    def next_after(self, last: datetime) -> datetime:
        """When a fact collected at ``last`` becomes due again."""
        if self.cron is not None:
            from croniter import croniter  # imported lazily: only cron schedules need it

            return croniter(self.cron, last.astimezone(timezone.utc)).get_next(datetime)
        assert self.interval is not None
        return last + self.interval

    def is_due(self, last: datetime, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.next_after(last)

    def __str__(self) -> str:
        return f"cron '{self.cron}'" if self.cron is not None else f"every {self.interval}"


def parse_frequency(node: Any, problems: Problems | None = None, location: Location | None = None) -> Frequency | None:
    """``{cron: '...'}`` or a HumanDuration; ``None`` when absent or malformed (malformed: an error in ``problems``)."""
    if node is None:
        return None
    if isinstance(node, Frequency):
        return node
    problems = problems if problems is not None else Problems()
    location = loc_of(node) or location
    if isinstance(node, Mapping) and "cron" in node:
        expr = node.get("cron")
        extra = [k for k in node if k != "cron"]
        if extra:
            problems.error(f"frequency: 'cron' cannot be combined with {', '.join(map(str, extra))}", location)
            return None
        from croniter import croniter

        if not isinstance(expr, str) or not croniter.is_valid(expr):
            problems.error(f"frequency: invalid cron expression {expr!r}", loc_of(node, "cron") or location)
            return None
        return Frequency(cron=expr)
    interval = parse_duration(node, problems, "frequency", location)
    if interval is None:
        return None
    if interval <= timedelta():
        problems.error("frequency must be longer than zero", location)
        return None
    return Frequency(interval=interval)


def resolve_cache(entry_cache: Any, top_cache: Any) -> Any:
    """The entry's ``cache`` (``None``: inherit the block's); ``true`` takes the block's duration when it has one."""
    if entry_cache is None:
        return top_cache
    if entry_cache is True and isinstance(top_cache, Mapping):
        return top_cache
    return entry_cache


def cache_duration(cache: Any, problems: Problems | None = None) -> timedelta | None:
    """How long a collected fact stays valid: ``{duration: ...}`` → that; ``true``/``false``/absent → no expiry
    (the fact is kept until its next collection)."""
    if isinstance(cache, Mapping):
        if "duration" not in cache:
            if problems is not None:
                problems.error("cache must be true, false or {duration: {...}}", loc_of(cache))
            return None
        return parse_duration(cache.get("duration"), problems, "cache.duration", loc_of(cache, "duration"))
    if cache is None or isinstance(cache, bool):
        return None
    if problems is not None:
        problems.error("cache must be true, false or {duration: {...}}", loc_of(cache))
    return None


def expiry_for(cache: Any, collected_at: datetime) -> datetime | None:
    """``expires_at`` for a fact collected at ``collected_at`` under ``cache`` (``None``: never expires)."""
    duration = cache_duration(cache)
    return collected_at + duration if duration else None


def is_due(
    fact: Fact | None,
    frequency: Frequency | None,
    now: datetime | None = None,
    *,
    force: bool = False,
    refresh: bool = False,
) -> bool:
    """Whether the stored ``fact`` must be collected again.

    Due when forced/refreshed, missing or expired; a fact still inside its cache duration is not due (the store is
    the collector-level cache); otherwise due when its frequency has elapsed, or always when there is no frequency.
    """
    if force or refresh or fact is None:
        return True
    now = now or utcnow()
    if fact.is_expired(now):
        return True
    if fact.expires_at is not None:
        return False
    if frequency is None:
        return True
    return frequency.is_due(fact.timestamp, now)


def collector_blocks(config: Any) -> list[Any]:
    """The collector's block(s): ``soundcheck.collectors.<id>`` may be a mapping or a list of mappings."""
    return [b for b in as_list(config) if isinstance(b, Mapping)]


def merge_entry(block: Mapping[str, Any], entry: Mapping[str, Any]) -> LocatedDict:
    """``entry`` with the inherited keys it does not set taken from ``block``; ``cache: true`` takes the block's
    duration. The result keeps the entry's own keys (type-specific options)."""
    # A LocatedDict, with the locations of the entry's own keys and of the inherited ones, so that later
    # validation still names file:line:col.
    merged = LocatedDict(entry, loc=loc_of(entry))
    merged.key_locs.update(getattr(entry, "key_locs", {}))
    merged.value_locs.update(getattr(entry, "value_locs", {}))
    for key in INHERITED_KEYS:
        if merged.get(key) is None and block.get(key) is not None:
            merged[key] = block[key]
            for name in ("key_locs", "value_locs"):
                found = getattr(block, name, {}).get(key)
                if found is not None:
                    getattr(merged, name)[key] = found
    merged["cache"] = resolve_cache(entry.get("cache"), block.get("cache"))
    if merged["cache"] is None:
        del merged["cache"]
    return merged


@dataclass(frozen=True)
class EntryConfig:
    """One ``collects`` entry after inheritance: its ``CollectionConfig``, its block and the merged raw entry."""

    collection: CollectionConfig
    block: Mapping[str, Any]
    entry: dict[str, Any]
    block_index: int
    location: Location | None = None


def parse_entries(
    config: Any,
    problems: Problems,
    fact_refs_for: Callable[[Mapping[str, Any], Mapping[str, Any], Location | None], Iterable[FactRef] | None],
    what: str = "collector",
) -> list[EntryConfig]:
    """Every ``collects`` entry of every block, with inherited settings applied and validated.

    ``fact_refs_for(merged_entry, block, location)`` returns the entry's fact refs, or ``None`` after reporting why
    the entry is invalid. Malformed filters, frequencies, caches and batch sizes are located errors in ``problems``.
    """
    out: list[EntryConfig] = []
    filter_cache: dict[int, EntityFilter | None] = {}

    def parsed_filter(node: Any, key: str) -> EntityFilter | None:
        if node is None:
            return None
        if id(node) not in filter_cache:
            filter_cache[id(node)] = EntityFilter.parse(node, problems, key)
        return filter_cache[id(node)]

    for block_index, block in enumerate(as_list(config)):
        if not isinstance(block, Mapping):
            problems.error(f"{what}: each configuration must be a mapping", loc_of(block) or loc_of(config, block_index))
            continue
        entries = as_list(block.get("collects"))
        for index, entry in enumerate(entries):
            collects = block.get("collects")
            location = loc_of(entry) or loc_of(collects, index if isinstance(collects, list) else None)
            if not isinstance(entry, Mapping):
                problems.error(f"{what}: each 'collects' entry must be a mapping", location)
                continue
            merged = merge_entry(block, entry)
            refs = fact_refs_for(merged, block, location)
            before = len(problems.errors)
            frequency_node = merged.get("frequency")
            parse_frequency(frequency_node, problems, location)
            cache = merged.get("cache")
            cache_duration(cache, problems)
            batch = merged.get("batchSize")
            if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
                owner = entry if entry.get("batchSize") is not None else block
                problems.error("batchSize must be a positive integer", loc_of(owner, "batchSize") or location)
            if merged.get("initialDelay") is not None:
                # Accepted for compatibility; only meaningful for a long-running scheduler.
                parse_duration(merged["initialDelay"], problems, "initialDelay", location)
            flt = parsed_filter(merged.get("filter"), "filter")
            exc = parsed_filter(merged.get("exclude"), "exclude")
            if refs is None or len(problems.errors) > before:
                continue
            collection = CollectionConfig(
                fact_refs=tuple(refs),
                filter=flt,
                exclude=exc,
                frequency=frequency_node,
                initial_delay=merged.get("initialDelay"),
                batch_size=batch,
                cache=cache,
                options=merged,
            )
            out.append(EntryConfig(collection, block, merged, block_index, location))
    return out
