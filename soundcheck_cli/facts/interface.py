"""The fact store interface: what every store does, whatever it keeps its facts in.

Implementations: ``facts.store.DiskFactStore`` (a folder: SQLite, the default) and ``facts.pg_store.PostgresFactStore``
(PostgreSQL, shared between machines); ``facts.locate`` picks one from ``--store``. Both pass
``tests/test_store_contract.py``.

Semantics every implementation keeps:
- facts are keyed by (entity ref, fact ref); entity refs compare case-insensitively (keys are lower-cased);
- a fact is written whole or not at all, and only ``put`` replaces it: a failed collection never calls ``put``,
  so an earlier fact survives any error;
- expiry is data (``Fact.expires_at``), not deletion: an expired fact stays readable so that a check can say
  "expired" rather than "never collected";
- ``meta`` is a small key/value area for the runtime (ETags, run history, locks, pending events);
- claims (``lock``, ``claim_many``) never block; a claim lapses after its ``expire_seconds``, and at once for a
  claimer on the host of a process that was killed holding it (so a rerun after ``kill -9`` does not wait).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from soundcheck_cli.facts.model import Fact, FactRef


def entity_key(entity_ref: str) -> str:
    """Normalised entity ref used as the store key (refs compare case-insensitively)."""
    return entity_ref.strip().lower()


def keyed_facts(decode: Callable[[Any], Iterable[tuple[str, Fact]]], batches: Iterable[Any]) -> dict[tuple[str, FactRef], Fact]:
    """The facts of row ``batches`` (``decode(rows)`` gives ``(entity key, Fact)`` pairs), keyed as ``load_all``
    returns them: how both stores read facts in bulk, one batch of rows decoded at a time."""
    out: dict[tuple[str, FactRef], Fact] = {}
    for rows in batches:
        for key, fact in decode(rows):
            out[(key, fact.fact_ref)] = fact
    return out


class FactStore(ABC):
    @abstractmethod
    def get(self, entity_ref: str, fact_ref: FactRef) -> Fact | None: ...

    def get_many(self, pairs: Iterable[tuple[str, FactRef]], *, data: bool = True) -> dict[tuple[str, FactRef], Fact]:
        """The stored facts of many ``(entity ref, fact ref)`` pairs, keyed by ``(entity_key(entity ref), fact ref)``;
        pairs with no fact are absent. A database store answers in one round trip (the runner's freshness check
        asks for a whole chunk at once). ``data=False``: the facts come without their data (``None``), for a reader
        of their times only (the runner's freshness check: 100,000 catalog descriptors are 130 MB of JSON); a
        store may ignore it."""
        out: dict[tuple[str, FactRef], Fact] = {}
        for entity_ref, fact_ref in pairs:
            fact = self.get(entity_ref, fact_ref)
            if fact is not None:
                out[(entity_key(entity_ref), fact_ref)] = fact
        return out

    @abstractmethod
    def put(self, fact: Fact) -> None: ...

    def put_many(self, facts: Iterable[Fact]) -> int:
        count = 0
        for fact in facts:
            self.put(fact)
            count += 1
        return count

    @abstractmethod
    def facts(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> Iterator[Fact]:
        """All stored facts, optionally only those of one entity and/or one fact ref."""

    def load_all(self) -> dict[tuple[str, FactRef], Fact]:
        """Every fact keyed by ``(entity_key(entity_ref), fact_ref)``: the evaluation's one bulk read."""
        return {(entity_key(f.entity_ref), f.fact_ref): f for f in self.facts()}

    def load_entities(self, keys: Sequence[str]) -> dict[tuple[str, FactRef], Fact]:
        """Every fact of the entities of ``keys`` (entity keys), keyed as ``load_all``: what ``check`` reads per
        entity chunk (issue 23), so that it never holds every fact at once. This default filters ``load_all``."""
        wanted = set(keys)
        return {pair: fact for pair, fact in self.load_all().items() if pair[0] in wanted}

    @abstractmethod
    def delete(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> int:
        """Delete matching facts (all with no arguments); returns how many."""

    @abstractmethod
    def get_meta(self, key: str, default: Any = None) -> Any: ...

    @abstractmethod
    def set_meta(self, key: str, value: Any) -> None: ...

    @abstractmethod
    def delete_meta(self, key: str) -> bool:
        """Remove a meta key; returns whether it existed."""

    @abstractmethod
    def meta_keys(self, prefix: str = "") -> list[str]:
        """Meta keys starting with ``prefix`` (e.g. every ``etag:`` entry), sorted."""

    @abstractmethod
    def close(self) -> None: ...

    def describe(self) -> str:
        """Where the store is, as it may be shown to people (never with a password)."""
        return repr(self)

    @contextmanager
    def lock(self, name: str, expire_seconds: float = 300.0) -> Iterator[bool]:
        """Try to claim ``name`` for this process; yields whether the claim succeeded (never blocks).

        The claim is released on exit and lapses by itself after ``expire_seconds`` (a killed process cannot
        hold it forever). This default claims nothing across processes; both real stores override it.
        """
        yield True

    @contextmanager
    def claim_many(self, names: Iterable[str], expire_seconds: float = 300.0) -> Iterator[set[str]]:
        """Claim many names at once, each as ``lock`` would; yields the set of names this process got (never
        blocks). Released on exit. The collection runner claims every (entity, fact) it is about to fetch, so a
        fact being collected by one process is not fetched again by another, however their work is chunked.
        Stores override this to claim a whole batch in one transaction / round trip."""
        with ExitStack() as stack:
            got: set[str] = set()
            for name in dict.fromkeys(names):
                if stack.enter_context(self.lock(name, expire_seconds)):
                    got.add(name)
            yield got

    def claim_holders(self, names: Iterable[str]) -> dict[str, str]:
        """Who holds the live claims among ``names``, as ``{name: "host pid N until HH:MM:SS"}``: what a run that
        waits for another's claims can say it waits for. This default knows of no holder."""
        return {}

    def __enter__(self) -> FactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
