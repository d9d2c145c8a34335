"""``run_collection``: one ``soundcheck collect`` run over the configured collectors.

For each collector (all at once; each isolated from the others):

1. **plan**: create it from ``soundcheck.collectors.<id>`` through the registry (not installed → a warning);
   take its ``collection_configs()``; select entities with each config's ``filter``/``exclude`` (an (entity, fact)
   pair belongs to the first config that selects it); cut the pairs into chunks of ``batchSize`` entities.
2. **run** the chunks: a feeder claims chunk after chunk while fewer than ``window`` facts are outstanding
   (``WINDOW_PER_SLOT`` per request slot of the collector), and each claimed chunk runs as its own task. Each
   (entity, fact) of a chunk is first **claimed** in the store (``store.claim_many``: one lease per fact, claimed
   for the whole chunk at once), so another run on the same store (cron overlap, another host, another shard
   layout) skips the facts this one is fetching and, once their claims are free, finds them fresh: the freshness
   check happens *after* the claim, never before. Due pairs (``schedule.is_due``) are collected by
   ``EntityCollector`` collectors that keep its ``collect_outcomes`` one entity at a time, so facts **stream**:
   each is settled as it completes and written in batches of half a chunk, and a fact stuck in retries holds
   neither its chunk-mates nor the next chunks (issue 18 item 23: 2,000 entities with 20 % faults took ~190x the fault-free time when each chunk
   waited for its slowest fact). Other plugins get one ``collect`` call per chunk, as ``batchSize`` promises.
3. **account**: collected / absent / fresh / not-applicable / failed (with reasons) / not done.

"Not found" answers (HTTP 404/410, ``outcomes.is_not_found``) are held back per collector block until the block
has collected a fact in this run: when at least ``MIN_NOT_FOUND`` lookups of a block ALL answered "not found",
the block is misconfigured (a ``baseUrl`` typo), not a catalog of deleted objects, so nothing is written for
them (the facts collected earlier stay), they fail (``collect`` exits 1) and one error names the block's URL.

A failure never overwrites a fact: only collected (and absent) outcomes are written. Ctrl-C or SIGTERM cancels
the run cleanly: chunks already written stay, the summary counts what was not done and ``interrupted`` is set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from soundcheck_cli.catalog.filters import selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.catalog.select import select_entities
from soundcheck_cli.collectors import applicability
from soundcheck_cli.collectors.base import CollectorContext, FactCollector
from soundcheck_cli.collectors.entity_collector import EntityCollector
from soundcheck_cli.http.client import DEFAULT_CONCURRENCY, HttpOptions
from soundcheck_cli.collectors.outcomes import (
    CollectionSummary,
    CollectorStatus,
    CollectorSummary,
    Outcome,
    OutcomeKind,
    entity_values,
    is_not_found,
)
from soundcheck_cli.collectors.progress import CollectionListener, NullListener, RedactingListener
from soundcheck_cli.collectors.schedule import Frequency, cache_duration, is_due, parse_frequency
from soundcheck_cli.collectors.shard import Shard
from soundcheck_cli.located.nodes import to_plain
from soundcheck_cli.errors import ConfigError, Problem, Problems, Severity, UsageError
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.redact import Redactor

DEFAULT_BATCH_SIZE = 50
# Built-in collectors that run without configuration, as Soundcheck's Catalog collector does (issue 2).
ALWAYS_ON = ("catalog",)
# A block whose due lookups ALL answered 404/410 is a configuration error once at least this many were made (fewer
# may well be deleted objects): nothing is written for them and they fail (docs/collectors.md).
MIN_NOT_FOUND = 5
# Facts outstanding per collector (claimed, not yet settled): this many times its concurrency, and at least 3
# chunks. A retry waiting for its backoff holds no request slot, so the window must cover such slow facts too.
WINDOW_PER_SLOT = 4
CLAIM_EXPIRE_SECONDS = 900.0  # a claim's limit (a live chunk takes far less); a killed run's go sooner (store docs)
CLAIM_POLL_SECONDS = 0.25  # how often a chunk claimed by another run is tried again
WAIT_SAY_SECONDS = 10.0  # how often a run waiting for other runs' claims says whose they are


@dataclass
class _Chunk:
    frequency: Frequency | None
    expiry: Any  # timedelta | None: how long the chunk's facts stay valid
    entities: list[Entity]
    refs: dict[str, tuple[FactRef, ...]]  # entity key -> the fact refs this chunk handles for it
    group: int = 0  # the collector block (or collection config) the chunk's facts come from (``_Lookups``)

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.refs.values())

    def claim_names(self) -> list[str]:
        """One claim per (entity, fact): what another process must not fetch while this one does."""
        return [_claim_name(key, ref) for key, refs in self.refs.items() for ref in refs]

    def split(self, claimed: set[str]) -> tuple[_Chunk, _Chunk | None]:
        """The part of this chunk whose claims were ``claimed``, and the rest (None when nothing is left)."""
        if len(claimed) >= self.size:
            return self, None
        mine: dict[str, tuple[FactRef, ...]] = {}
        rest: dict[str, tuple[FactRef, ...]] = {}
        for key, refs in self.refs.items():
            got = tuple(r for r in refs if _claim_name(key, r) in claimed)
            if got:
                mine[key] = got
            if len(got) < len(refs):
                rest[key] = tuple(r for r in refs if r not in got)

        def part(refs: dict[str, tuple[FactRef, ...]]) -> _Chunk:
            return replace(self, entities=[e for e in self.entities if e.ref.key in refs], refs=refs)

        return part(mine), (part(rest) if rest else None)


def _streams(collector: Any) -> bool:
    """True for an ``EntityCollector`` that keeps its ``collect_outcomes`` (one independent request per fact): the
    runner may then call it once per entity and stream the facts. A collector that overrides ``collect_outcomes``
    may keep state per call (the github/scm collectors share identical GETs within one call), so it gets whole
    chunks, as any other plugin does."""
    return isinstance(collector, EntityCollector) and type(collector).collect_outcomes is EntityCollector.collect_outcomes


def _claim_name(entity_key: str, fact_ref: FactRef) -> str:
    return f"fact/{entity_key}/{fact_ref}"


@dataclass
class _Plan:
    collector_id: str
    collector: FactCollector | None
    summary: CollectorSummary
    chunks: list[_Chunk] = field(default_factory=list)
    # fact ref -> entity key -> reason it is not applicable, or None once it is collected (``applicability``)
    applicability: dict[FactRef, dict[str, str | None]] = field(default_factory=dict)
    window: int = 1  # facts claimed and not yet settled, at most (``_Run._feed``)
    outstanding: int = 0
    room: asyncio.Event | None = None  # set when ``outstanding`` fell below ``window``
    failure: BaseException | None = None  # the first chunk task that raised
    held: list[Any] = field(default_factory=list)  # claim managers entered and not yet exited
    lookups: dict[int, _Lookups] = field(default_factory=dict)  # per group (block): its "not found" answers
    group_urls: dict[int, str] = field(default_factory=dict)  # group -> the block's base URL, when it has one


@dataclass
class _Lookups:
    """The "not found" (HTTP 404/410) answers of one collector block, held back until the block is known to work.

    A block whose every due lookup answered "not found" is almost surely misconfigured (a ``baseUrl``, ``server``
    or ``url`` typo), not a catalog of deleted objects: storing ``null`` for each would wipe every good fact. So
    absent facts are written only once the same block has collected a fact in this run (it reaches the right
    API), or at the end when fewer than ``MIN_NOT_FOUND`` were held; otherwise nothing is written for them and
    they fail, with one message naming the URL tried (``_Run._settle_lookups``)."""

    confirmed: bool = False
    facts: list[Fact] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def _redact_outcome(outcome: Outcome, redactor: Redactor) -> Outcome:
    if not outcome.reason:
        return outcome
    template = redactor.redact(outcome.template) if outcome.template else None
    return replace(outcome, reason=redactor.redact(outcome.reason), template=template)


def disabled_in_config(config: Any) -> bool:
    """True when every block of ``soundcheck.collectors.<id>`` says ``enabled: false``: the collector is switched
    off on purpose (not run, not a failure), unlike one that cannot run for lack of credentials."""
    blocks = config if isinstance(config, list) else [config]
    return bool(blocks) and all(isinstance(b, dict) and b.get("enabled") is False for b in blocks)


def _resolve_registry(registry: Any, problems: Problems) -> Any:
    if registry is not None:
        return registry
    from soundcheck_cli.collectors.registry import Registry

    return Registry.discover(problems)


class _Run:
    """State of one run (kept on an object so an interruption can still report what was done)."""

    def __init__(
        self,
        store: FactStore,
        listener: CollectionListener,
        redactor: Redactor,
        *,
        force: bool,
        refresh: set[FactRef],
        now: Callable[[], datetime],
        claim_poll: float,
    ) -> None:
        self.store = store
        self.listener = listener
        self.redactor = redactor
        self.force = force
        self.refresh = refresh
        self.now = now
        self.claim_poll = claim_poll
        self.wait_said = 0.0  # when a wait for other runs' claims was last reported (time.monotonic)
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="soundcheck-store")

    # -- planning -------------------------------------------------------------------------------------------------
    def plan(self, plan: _Plan, entities: list[Entity]) -> None:
        collector = plan.collector
        assert collector is not None
        configs = collector.collection_configs()
        seen: set[tuple[str, FactRef]] = set()
        concurrency = int(getattr(collector, "concurrency", DEFAULT_CONCURRENCY) or DEFAULT_CONCURRENCY)
        batch_sizes = []
        # A config's block: ``EntityCollector`` entries know theirs (several ``collects`` of one block share its
        # base URL); any other collector's configs are each their own group.
        entries = getattr(collector, "entries", None) if isinstance(collector, EntityCollector) else None
        for index, config in enumerate(configs):
            group = index
            if entries is not None and len(entries) == len(configs):
                group = entries[index].block_index
                with contextlib.suppress(Exception):  # a plugin's odd base_url must not stop the plan
                    plan.group_urls.setdefault(group, collector.base_url(entries[index].block))
            problems = Problems()
            frequency = parse_frequency(config.frequency, problems)
            expiry = cache_duration(config.cache, problems)
            if problems.errors:
                raise ConfigError([replace(p, message=f"collector {plan.collector_id}: {p.message}") for p in problems.errors])
            batch = config.batch_size or DEFAULT_BATCH_SIZE
            batch_sizes.append(batch)
            selected: list[tuple[Entity, tuple[FactRef, ...]]] = []
            for entity in entities:
                if not selects(entity, config.filter, config.exclude):
                    continue
                key = entity.ref.key
                refs = tuple(r for r in config.fact_refs if (key, r) not in seen)
                if refs:
                    seen.update((key, r) for r in refs)
                    selected.append((entity, refs))
            for start in range(0, len(selected), batch):
                part = selected[start : start + batch]
                plan.chunks.append(
                    _Chunk(frequency, expiry, [e for e, _ in part], {e.ref.key: refs for e, refs in part}, group))
        plan.summary.total = sum(c.size for c in plan.chunks)
        # Enough facts outstanding that the collector's request slots never idle (at a chunk boundary, or while
        # some facts wait for a retry's backoff), few enough that claims are held only for work under way.
        largest = max(batch_sizes or [DEFAULT_BATCH_SIZE])
        # A plain ``collect`` plugin gets whole chunks and has no slots the runner knows of: 3 chunks at least.
        # Facts that stream (``EntityCollector``) need no more than a few per slot; more would only queue requests
        # for a slot, and a retry queues again behind all of them.
        if _streams(collector):
            plan.window = WINDOW_PER_SLOT * concurrency
        else:
            plan.window = max(3 * largest, 3 * concurrency)

    # -- running --------------------------------------------------------------------------------------------------
    async def run_plan(self, plan: _Plan) -> None:
        summary = plan.summary
        started = time.monotonic()
        self.listener.on_collector_start(plan.collector_id, summary.total)
        pending: deque[_Chunk] = deque(plan.chunks)
        tasks: set[asyncio.Task[None]] = set()
        try:
            try:
                await self._feed(plan, pending, tasks)
                while tasks:
                    await asyncio.gather(*list(tasks))  # the first chunk that raised stops the collector
                if plan.failure is not None:
                    raise plan.failure
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            await self._settle_lookups(plan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken collector or store: this collector stops, the others go on
            summary.status = CollectorStatus.FAILED
            summary.reason = self.redactor.redact(f"{type(exc).__name__}: {exc}")
            self.listener.on_message("error", f"collector {plan.collector_id}: {summary.reason}")
        finally:
            # Claims of chunks whose task never started (cancelled first): released here, never left to lapse.
            for manager in list(plan.held):
                plan.held.remove(manager)
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await _finish(asyncio.get_running_loop().run_in_executor(
                        self.executor, manager.__exit__, None, None, None))
            summary.requests = int(getattr(plan.collector, "requests", 0) or 0)
            summary.seconds = time.monotonic() - started
            done = sum(summary.counts.values())
            if done < summary.total:
                summary.counts[OutcomeKind.NOT_DONE] += summary.total - done
            if plan.applicability:
                # what check needs to tell "not applicable" from "not collected"; written even when interrupted
                try:
                    await _finish(asyncio.get_running_loop().run_in_executor(
                        self.executor, applicability.record, self.store, plan.applicability))
                except (Exception, asyncio.CancelledError):  # noqa: BLE001 - a marker must not mask the outcome
                    pass
            aclose = getattr(plan.collector, "aclose", None)
            if aclose is not None:
                try:
                    await asyncio.shield(aclose())
                except (Exception, asyncio.CancelledError):  # closing must not mask the outcome
                    pass
            self.listener.on_collector_done(summary)

    async def _feed(self, plan: _Plan, pending: deque[_Chunk], tasks: set[asyncio.Task[None]]) -> None:
        """Claim chunks and start them while fewer than ``plan.window`` facts are outstanding (issue 18 item 23).

        A chunk runs as its own task: its facts stream in as they complete (``_run_chunk``), so a chunk waiting for
        one slow fact (a retry in backoff holds no request slot) holds a single unit of the window, and the next
        chunks are claimed and started meanwhile: the request slots stay busy. Claims stay per chunk and writes
        stay batched; only the outstanding facts are bounded, so claims are held only for work under way."""
        loop = asyncio.get_running_loop()
        room = asyncio.Event()
        room.set()

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None and plan.failure is None:
                plan.failure = task.exception()
            room.set()

        plan.room = room
        # Claimed chunks start together, when the window is full or nothing more can be claimed now: their
        # collect calls then overlap, as a collector sharing identical GETs between concurrent calls expects
        # (github's RepositoryDetails and BranchProtections chunks read the same repository object).
        ready: list[tuple[_Chunk, Any]] = []

        def start() -> None:
            for chunk, manager in ready:
                task = asyncio.ensure_future(self._claimed_chunk(plan, chunk, manager))
                tasks.add(task)
                task.add_done_callback(finished)
            ready.clear()

        await self._claim_all(plan, pending, ready, start, room, loop)
        start()

    async def _claim_all(self, plan: _Plan, pending: deque[_Chunk], ready: list[tuple[_Chunk, Any]],
                         start: Callable[[], None], room: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
        misses = 0
        waiting_since: float | None = None
        while pending:
            while plan.outstanding >= plan.window:
                start()
                room.clear()
                await room.wait()
                if plan.failure is not None:
                    raise plan.failure
            if plan.failure is not None:
                raise plan.failure
            # Only what is due is claimed (a warm run writes no claims); ``_run_chunk`` checks again after the
            # claim, because another run may have collected a fact between this read and the claim.
            chunk, fresh = await loop.run_in_executor(self.executor, self._due_part, pending.popleft())
            if fresh:
                self._account(plan, fresh)
            if chunk is None:
                continue
            names = chunk.claim_names()
            manager = self.store.claim_many(names, CLAIM_EXPIRE_SECONDS)
            claimed = await _finish(loop.run_in_executor(self.executor, manager.__enter__), on_cancel=manager)
            plan.held.append(manager)  # released by its chunk's task, or by ``run_plan`` if it never ran
            if claimed:
                misses, waiting_since = 0, None
                mine, rest = chunk.split(claimed)
                if rest is not None:
                    pending.append(rest)  # another run is fetching these: back to them later (fresh by then)
                plan.outstanding += mine.size
                ready.append((mine, manager))
                continue
            plan.held.remove(manager)
            await _finish(loop.run_in_executor(self.executor, manager.__exit__, None, None, None))
            # Another run is fetching this whole chunk: come back to it later (it will most likely be fresh then).
            pending.append(chunk)
            misses += 1
            if misses >= len(pending):
                start()
                waiting_since = waiting_since or time.monotonic()
                if time.monotonic() - max(waiting_since, self.wait_said) >= WAIT_SAY_SECONDS:
                    await self._say_wait(plan, pending, loop)
                await asyncio.sleep(self.claim_poll)

    async def _claimed_chunk(self, plan: _Plan, chunk: _Chunk, manager: Any) -> None:
        """Run ``chunk`` and release its claims, even when cancelled (claims taken are never left to lapse)."""
        try:
            await self._run_chunk(plan, chunk)
        finally:
            plan.held.remove(manager)
            await _finish(asyncio.get_running_loop().run_in_executor(self.executor, manager.__exit__, None, None, None))

    async def _say_wait(self, plan: _Plan, pending: deque[_Chunk], loop: asyncio.AbstractEventLoop) -> None:
        """Say whose claims this run waits for (``store.claim_holders``: host, pid, since when), at most once every
        ``WAIT_SAY_SECONDS`` for the whole run."""
        self.wait_said = time.monotonic()
        names = [name for chunk in pending for name in chunk.claim_names()]
        holders = await loop.run_in_executor(self.executor, self.store.claim_holders, names)
        if holders:
            owners = sorted(set(holders.values()))
            shown = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
            self.listener.on_message(
                "info", f"collect {plan.collector_id}: waiting for {len(holders)} facts claimed by another run ({shown})")

    def _due_part(self, chunk: _Chunk) -> tuple[_Chunk | None, list[Outcome]]:
        """The part of ``chunk`` that is due (None: nothing), and a FRESH outcome for every other pair."""
        groups, fresh = self._due(chunk)
        if not fresh:
            return chunk, fresh
        refs = {entity.ref.key: due for due, entities in groups.items() for entity in entities}
        if not refs:
            return None, fresh
        return replace(chunk, entities=[e for e in chunk.entities if e.ref.key in refs], refs=refs), fresh

    def _due(self, chunk: _Chunk) -> tuple[dict[tuple[FactRef, ...], list[Entity]], list[Outcome]]:
        """The chunk's entities grouped by the fact refs due for them, and a FRESH outcome for every other pair.
        Reads the store: run in a worker thread, off the event loop."""
        now = self.now()
        groups: dict[tuple[FactRef, ...], list[Entity]] = {}
        fresh: list[Outcome] = []
        # One read for the whole chunk (one round trip on a database store), not one per (entity, fact).
        stored_facts = {} if self.force else self.store.get_many(
            ((str(e.ref), ref) for e in chunk.entities for ref in chunk.refs[e.ref.key] if ref not in self.refresh),
            data=False,  # only their times decide what is due
        )
        for entity in chunk.entities:
            due: list[FactRef] = []
            for ref in chunk.refs[entity.ref.key]:
                refreshed = ref in self.refresh
                stored = None if (self.force or refreshed) else stored_facts.get((entity.ref.key, ref))
                if is_due(stored, chunk.frequency, now, force=self.force, refresh=refreshed):
                    due.append(ref)
                else:
                    fresh.append(Outcome(OutcomeKind.FRESH, str(entity.ref), ref))
            if due:
                groups.setdefault(tuple(due), []).append(entity)
        return groups, fresh

    async def _run_chunk(self, plan: _Plan, chunk: _Chunk) -> None:
        """Collect the due part of a claimed chunk. Facts are settled as they complete and written in batches of
        half a chunk (and the rest at the end), so a chunk waiting for a slow fact keeps no finished fact unwritten
        for long and an interruption writes what was finished. ``EntityCollector`` collectors (one request per
        fact) are called once per entity, so their facts stream in; any other collector gets the whole chunk in
        one ``collect`` call, as its ``batchSize`` promises."""
        groups, fresh = await asyncio.get_running_loop().run_in_executor(self.executor, self._due, chunk)
        if fresh:
            self._account(plan, fresh)
            self._release(plan, len(fresh))
        calls: list[tuple[tuple[FactRef, ...], list[Entity], list[FactRef]]] = []
        for refs, entities in groups.items():
            refresh = list(refs) if self.force else [r for r in refs if r in self.refresh]
            if _streams(plan.collector):
                calls.extend((refs, [entity], refresh) for entity in entities)
            else:
                calls.append((refs, entities, refresh))
        if not calls:
            return

        async def call(refs: tuple[FactRef, ...], entities: list[Entity], refresh: list[FactRef]) -> tuple[
                tuple[FactRef, ...], list[Entity], list[Outcome]]:
            return refs, entities, await self._collect(plan, entities, list(refs), refresh)

        futures = [asyncio.ensure_future(call(*c)) for c in calls]
        flush_at = max(1, chunk.size // 2)
        facts: list[Fact] = []
        settled: list[Outcome] = []
        try:
            for next_done in asyncio.as_completed(futures):
                refs, entities, outcomes = await next_done
                new_facts, new_settled = self._settle(plan, chunk, entities, refs, outcomes)
                facts.extend(new_facts)
                settled.extend(new_settled)
                self._release(plan, len(entities) * len(refs))
                if len(settled) >= flush_at:
                    batch, outcomes, facts, settled = facts, settled, [], []  # handed over: never written twice
                    await self._flush(plan, batch, outcomes)
            batch, outcomes, facts, settled = facts, settled, [], []
            await self._flush(plan, batch, outcomes)
        except BaseException as exc:
            for future in futures:
                future.cancel()
            await asyncio.gather(*futures, return_exceptions=True)
            if isinstance(exc, asyncio.CancelledError) and settled:
                await self._flush(plan, facts, settled)  # what finished before the interruption is kept
            raise

    async def _flush(self, plan: _Plan, facts: list[Fact], settled: list[Outcome]) -> None:
        """Write ``facts`` in one transaction and account ``settled``."""
        try:
            await self._write(facts)
        except asyncio.CancelledError:
            # ``_write`` let the started write finish: these facts are in the store, so they count.
            self._account(plan, settled)
            raise
        self._account(plan, settled)

    @staticmethod
    def _release(plan: _Plan, n: int) -> None:
        """``n`` facts of the window are done: room for the next chunk."""
        plan.outstanding -= n
        if plan.outstanding < plan.window and plan.room is not None:
            plan.room.set()

    def _account(self, plan: _Plan, settled: list[Outcome]) -> None:
        for outcome in settled:
            plan.summary.add(outcome)
        self.listener.on_advance(plan.collector_id, len(settled))

    async def _collect(self, plan: _Plan, entities: list[Entity], refs: list[FactRef], refresh: list[FactRef]) -> list[Outcome]:
        collector = plan.collector
        assert collector is not None
        try:
            collect_outcomes = getattr(collector, "collect_outcomes", None)
            if collect_outcomes is not None:
                return list(await collect_outcomes(entities, refs, refresh or None))
            facts = await collector.collect(entities, refs, refresh or None)
            return [Outcome.collected(f) for f in facts or []]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the whole batch failed; earlier facts stay
            reason = f"{type(exc).__name__}: {exc}"
            return [Outcome.failed(str(e.ref), r, reason) for e in entities for r in refs]

    def _settle(
        self, plan: _Plan, chunk: _Chunk, entities: list[Entity], refs: tuple[FactRef, ...], outcomes: list[Outcome]
    ) -> tuple[list[Fact], list[Outcome]]:
        """The facts to write (collected and absent, with their expiry) and one redacted outcome per requested
        (entity, fact) pair; a pair the collector said nothing about is not applicable."""
        keyed = [(entity, entity.ref.key) for entity in entities]
        wanted = {(key, r) for _, key in keyed for r in refs}
        by_pair: dict[tuple[str, FactRef], Outcome] = {}
        for outcome in outcomes:
            pair = (entity_key(outcome.entity_ref), outcome.fact_ref)
            if pair in wanted and pair not in by_pair:
                by_pair[pair] = outcome
        facts: list[Fact] = []
        settled: list[Outcome] = []
        lookups = plan.lookups.setdefault(chunk.group, _Lookups())
        for entity, key in keyed:
            for ref in refs:
                outcome = by_pair.get((key, ref))
                held = False
                if outcome is None:
                    # not recorded as not applicable: a plugin's plain ``collect`` also returns nothing on failure
                    outcome = Outcome.not_applicable(str(entity.ref), ref, f"collector {plan.collector_id} returned no fact")
                elif outcome.kind in (OutcomeKind.COLLECTED, OutcomeKind.ABSENT) and outcome.fact is not None:
                    fact = outcome.fact
                    if fact.expires_at is None and chunk.expiry:
                        fact = replace(fact, expires_at=fact.timestamp + chunk.expiry)
                    if not lookups.confirmed and is_not_found(outcome):
                        held = True  # written once the block is known to work (``_Lookups``)
                        lookups.facts.append(fact)
                    else:
                        facts.append(fact)
                        plan.applicability.setdefault(ref, {})[key] = None
                    if outcome.kind is OutcomeKind.COLLECTED and not lookups.confirmed:
                        lookups.confirmed = True
                        facts.extend(lookups.facts)
                        settled.extend(lookups.outcomes)
                        for absent in lookups.facts:
                            plan.applicability.setdefault(absent.fact_ref, {})[entity_key(absent.entity_ref)] = None
                        lookups.facts, lookups.outcomes = [], []
                elif outcome.kind is OutcomeKind.NOT_APPLICABLE:
                    plan.applicability.setdefault(ref, {})[key] = self.redactor.redact(outcome.reason or "not applicable")
                if outcome.reason and outcome.template is None:
                    # the cause without this entity's own values, which the summary groups on
                    outcome = outcome.with_template(
                        entity_values(entity.annotations, str(entity.ref), entity.ref.key, entity.name)
                    )
                if held:
                    lookups.outcomes.append(_redact_outcome(outcome, self.redactor))
                else:
                    settled.append(_redact_outcome(outcome, self.redactor))
        return facts, settled

    async def _settle_lookups(self, plan: _Plan) -> None:
        """At the end of a collector's run, the "not found" answers still held (``_Lookups``): a few are written as
        absent facts; ``MIN_NOT_FOUND`` or more from a block that collected nothing are a configuration error:
        nothing is written for them (the facts collected earlier stay), each fails with the same reason, and
        one error line names the collector, the block and the URL tried (redacted: never a token)."""
        for group, lookups in sorted(plan.lookups.items()):
            if not lookups.outcomes:
                continue
            if len(lookups.outcomes) < MIN_NOT_FOUND:
                await self._write(lookups.facts)
                for absent in lookups.facts:
                    plan.applicability.setdefault(absent.fact_ref, {})[entity_key(absent.entity_ref)] = None
                self._account(plan, lookups.outcomes)
                lookups.facts, lookups.outcomes = [], []
                continue
            n = len(lookups.outcomes)
            base = plan.group_urls.get(group)
            where = f"block {group + 1}" + (f" ({base})" if base else "")
            example = lookups.outcomes[0].reason or ""
            reason = self.redactor.redact(
                f"all {n} lookups of {where} answered 'not found' and none found anything: a configuration "
                f"error (a wrong baseUrl, server or url?); nothing was stored for them, earlier facts are kept"
            )
            self.listener.on_message(
                "error", f"collector {plan.collector_id}: {reason}; e.g. {self.redactor.redact(example)}")
            failed = [replace(o, kind=OutcomeKind.FAILED, reason=reason, template=reason, fact=None)
                      for o in lookups.outcomes]
            lookups.facts, lookups.outcomes = [], []
            self._account(plan, failed)

    async def _write(self, facts: list[Fact]) -> None:
        """One transaction per chunk, in a worker thread so the event loop keeps the requests going (SQLite
        releases the GIL while it writes). A write that has started always finishes, even on cancellation: the
        facts it carries are then in the store, and the cancellation goes on."""
        if not facts:
            return
        await _finish(asyncio.get_running_loop().run_in_executor(self.executor, self.store.put_many, facts))


async def collect_async(
    settings: Any,
    entities: Sequence[Entity],
    store: FactStore,
    *,
    collector_ids: Sequence[str] = (),
    entity_refs: Sequence[str] = (),
    force: bool = False,
    refresh: Iterable[FactRef | str] = (),
    listener: CollectionListener | None = None,
    registry: Any = None,
    verbose: bool = False,
    http: HttpOptions | None = None,
    now: Callable[[], datetime] | None = None,
    claim_poll: float = CLAIM_POLL_SECONDS,
    extra: dict[str, Any] | None = None,
    shard: Shard | None = None,
) -> CollectionSummary:
    """The async body of ``run_collection`` (use it directly inside a running event loop).

    ``shard``: collect only the entities that shard owns (``collectors/shard.py``), after ``--entity`` selection.
    """
    started = time.monotonic()
    app_config = getattr(settings, "app_config", None) or {}
    redactor = Redactor.from_config(to_plain(app_config))
    if http is not None:
        for value in http.redactor.values:
            redactor.add(value)
    out = RedactingListener(listener or NullListener(), redactor)
    problems = Problems()
    registry = _resolve_registry(registry, problems)
    summary = CollectionSummary()

    configured = {c.id: c for c in getattr(settings, "collectors", ()) or ()}
    installed = set(registry.ids()) if hasattr(registry, "ids") else set()
    if collector_ids:
        unknown = [cid for cid in collector_ids if cid not in configured and cid not in installed]
        if unknown:
            raise UsageError(
                f"unknown collector: {', '.join(unknown)} (configured: {', '.join(sorted(configured)) or 'none'}; "
                f"installed: {', '.join(sorted(installed)) or 'none'})"
            )
        ids = list(dict.fromkeys(collector_ids))
    else:
        ids = [cid for cid in ALWAYS_ON if cid in installed and cid not in configured] + list(configured)
    chosen = select_entities(entities, entity_refs)
    if shard is not None:
        chosen = shard.select(chosen, lambda e: e.ref.key)
        summary.shard = str(shard)
    try:
        refresh_refs = {FactRef.parse(r) for r in refresh}
    except ValueError as exc:
        raise UsageError(f"--refresh: {exc}") from None
    known: set[FactRef] = set()  # every fact the selected collectors collect (running or not)

    # ``http`` lets tests (and embedders) inject a transport, sleep and clocks; logging and redaction are the run's.
    options = replace(http or HttpOptions(), verbose=verbose, log=out.on_message, redactor=redactor)
    run = _Run(store, out, redactor, force=force, refresh=refresh_refs, now=now or utcnow, claim_poll=claim_poll)

    # Plan every collector before any request: config errors (exit 2) and bad --refresh refs surface first.
    plans: list[_Plan] = []
    skipped: list[Problem] = []  # collectors that cannot run (missing credentials): errors, reported with warnings
    for cid in ids:
        plan = _Plan(cid, None, CollectorSummary(cid))
        summary.collectors.append(plan.summary)
        if cid not in configured and cid not in ALWAYS_ON:
            problems.warning(f"collector {cid} is not configured (soundcheck.collectors.{cid}); it has nothing to collect")
        # ``extra``: run-wide values for collectors, e.g. ``scm_root`` from ``--scm-root`` (the scm collector);
        # ``catalog``: every entity loaded, before --entity/--shard selection (the kubernetes collector's catalog
        # cluster locator reads the cluster Resources from it).
        context = CollectorContext(store=store, app_config=app_config,
                                   extra={**(extra or {}), "http": options, "catalog": entities})
        created_problems = Problems()
        collector = registry.create(cid, configured.get(cid), created_problems, context)
        if created_problems.errors:
            raise ConfigError(created_problems.errors)
        for warning in created_problems.warnings:
            problems.warning(warning.message, warning.location)
        if collector is None:
            plan.summary.status = CollectorStatus.NOT_INSTALLED
            plan.summary.reason = created_problems.warnings[0].message if created_problems.warnings else "not installed"
            continue
        for warning in getattr(collector, "config_warnings", ()) or ():
            problems.warning(f"collector {cid}: {warning.message}", warning.location)
        try:
            redactor.add_from_config(to_plain(collector.config()) if hasattr(collector, "config") else None)
        except Exception:  # noqa: BLE001 - a plugin's odd config() must not stop the run
            pass
        plan.collector = collector
        try:
            known.update(r for config in collector.collection_configs() for r in config.fact_refs)
        except Exception:  # noqa: BLE001 - reported by ``plan`` below
            pass
        if cid in configured and disabled_in_config(to_plain(configured[cid].config)):
            plan.summary.status = CollectorStatus.DISABLED
            plan.summary.reason = "enabled: false in its configuration"
            continue
        reason = collector.disabled_reason() if hasattr(collector, "disabled_reason") else None
        if reason:
            # Missing credentials: an error and a failed run (exit 1), named per collector; ``enabled: false``
            # is how a collector is switched off on purpose.
            plan.summary.status = CollectorStatus.SKIPPED
            plan.summary.reason = reason
            skipped.append(Problem(redactor.redact(reason), configured[cid].location if cid in configured else None,
                                   Severity.ERROR))
            continue
        try:
            run.plan(plan, chosen)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin failing to plan is isolated like one failing to collect
            plan.summary.status = CollectorStatus.FAILED
            plan.summary.reason = redactor.redact(f"{type(exc).__name__}: {exc}")
            continue
        plans.append(plan)
    unproduced = sorted(str(r) for r in refresh_refs - known)
    if unproduced:
        raise UsageError(f"--refresh {', '.join(unproduced)}: no selected collector collects this fact")

    summary.warnings = [Problem(redactor.redact(p.message), p.location, Severity.WARNING) for p in problems.warnings]
    for warning in summary.warnings:
        out.on_message("warning", str(warning))
    summary.errors = skipped
    for error in skipped:
        out.on_message("error", str(error))
    for collector_summary in summary.collectors:
        if collector_summary.status is not CollectorStatus.OK:
            out.on_collector_done(collector_summary)

    tasks = [asyncio.ensure_future(run.run_plan(plan)) for plan in plans]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        summary.interrupted = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    finally:
        run.executor.shutdown(wait=True)
    summary.seconds = time.monotonic() - started
    return summary


def run_collection(
    settings: Any,
    entities: Sequence[Entity],
    store: FactStore,
    *,
    collector_ids: Sequence[str] = (),
    entity_refs: Sequence[str] = (),
    force: bool = False,
    refresh: Iterable[FactRef | str] = (),
    listener: CollectionListener | None = None,
    registry: Any = None,
    verbose: bool = False,
    http: HttpOptions | None = None,
    now: Callable[[], datetime] | None = None,
    extra: dict[str, Any] | None = None,
    shard: Shard | None = None,
) -> CollectionSummary:
    """Run the configured collectors once and store what they collect (synchronous wrapper over asyncio).

    Raises ``UsageError`` (unknown ``--collector``/``--entity``/``--refresh``) and ``ConfigError`` (a collector's
    config is invalid) before any request is made. Ctrl-C (SIGINT) and SIGTERM end the run cleanly: the returned
    summary has ``interrupted=True`` and counts what was not done; everything collected before is in the store.
    """

    async def main() -> CollectionSummary:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        handled = False
        if task is not None and threading.current_thread() is threading.main_thread():
            try:
                loop.add_signal_handler(signal.SIGTERM, task.cancel)
                handled = True
            except (NotImplementedError, RuntimeError, ValueError):  # Windows / unusual loops
                pass
        try:
            return await collect_async(
                settings,
                entities,
                store,
                collector_ids=collector_ids,
                entity_refs=entity_refs,
                force=force,
                refresh=refresh,
                listener=listener,
                registry=registry,
                verbose=verbose,
                http=http,
                now=now,
                extra=extra,
                shard=shard,
            )
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGTERM)

    # asyncio.Runner turns the first Ctrl-C into a cancellation of ``main`` (Python ≥ 3.11), which
    # ``collect_async`` absorbs into an interrupted summary.
    with asyncio.Runner() as runner:
        return runner.run(main())


async def _finish(future: asyncio.Future[Any], on_cancel: Any = None) -> Any:
    """Await a worker-thread call that must complete even if the awaiting task is cancelled; on cancellation,
    wait for it, release ``on_cancel`` (a claim manager whose ``__enter__`` the call was) and re-raise."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        if on_cancel is not None and not future.cancelled() and future.exception() is None:
            on_cancel.__exit__(None, None, None)
        raise
