"""``EntityCollector``: the base of collectors that fetch one fact per (entity, fact ref), e.g. over HTTP.

It implements the parts every such collector shares, so that a collector (built-in or plugin) writes only
``entry_fact_refs`` (which facts a ``collects`` entry produces) and ``fetch`` (one fact for one entity):

- ``set_config`` parses the block(s) with ``schedule.parse_entries`` (Soundcheck's getCollectionConfigs) and
  raises ``ConfigError`` with every located problem;
- ``collection_configs()`` / ``fact_names()`` follow from the entries;
- ``collect_outcomes`` fetches each requested (entity, fact ref) concurrently (the HTTP client bounds the requests
  in flight) and turns every exception into a failed ``Outcome`` with a redacted reason, so one entity's failure
  never stops the others; ``collect`` (the plain interface) returns the facts of those outcomes;
- one ``HttpClient`` per block, created on first use inside the running event loop, closed by ``aclose``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from soundcheck_cli.catalog.filters import selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectionConfig, ConfigurableFactCollector
from soundcheck_cli.http.client import (
    CLIENT_SCHEMA_PROPERTIES,
    DEFAULT_CONCURRENCY,
    HttpClient,
    HttpError,
    NotFound,
    client_settings,
    http_options,
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import (
    COMMON_ENTRY_PROPERTIES,
    SCHEMA_DEFS,
    EntryConfig,
    one_or_many,
    parse_entries,
)
from soundcheck_cli.located.nodes import loc_of, to_plain
from soundcheck_cli.errors import ConfigError, Location, Problem, Problems
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.fastinit import fast_constructor

_new_fact = fast_constructor(Fact)


def collector_config_schema(
    title: str,
    block_properties: Mapping[str, Any],
    entry_properties: Mapping[str, Any],
    entry_required: tuple[str, ...] = (),
    defs: Mapping[str, Any] | None = None,
    block_required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The JSON schema of a Soundcheck-style collector config: one block or a list of blocks, each with its own
    keys, the common collection settings, the HTTP client settings and ``collects`` (one entry or a list).
    Unknown keys are errors (``additionalProperties: false``), reported by the registry at their location."""
    entry = {
        "type": "object",
        "properties": {**entry_properties, **COMMON_ENTRY_PROPERTIES},
        "required": list(entry_required),
        "additionalProperties": False,
    }
    block = {
        "type": "object",
        "properties": {
            **block_properties,
            # ``enabled: false`` switches a block (or, on every block, the collector) off on purpose: not run and
            # not a failure, unlike a block that cannot run for lack of credentials.
            "enabled": {"type": "boolean"},
            "collects": one_or_many({"$ref": "#/$defs/entry"}),
            **COMMON_ENTRY_PROPERTIES,
            **CLIENT_SCHEMA_PROPERTIES,
        },
        "required": list(block_required),  # e.g. ("token",): "token is required" at the block's location
        "additionalProperties": False,
    }
    return {
        # Draft 7 (if/then/else, $ref): checking a schema against the draft 2020-12 metaschema costs ~0.2 s on
        # every registry.create, against draft 7 well under 1 ms.
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        "$defs": {**SCHEMA_DEFS, **(defs or {}), "entry": entry, "block": block},
        **one_or_many({"$ref": "#/$defs/block"}),
    }


class EntityCollector(ConfigurableFactCollector):
    """Base for per-entity collectors. Subclasses set ``id``/``name``/``description`` and implement
    ``entry_fact_refs`` and ``fetch``; they may override ``base_url``/``headers``/``disabled_reason``."""

    default_concurrency = DEFAULT_CONCURRENCY
    #: For collectors whose ``collects`` entries have a ``type``: type -> default fact name, and type -> the JSON
    #: schema of that fact's data (``fact_type``/``data_schema`` below answer from these).
    default_fact_names: Mapping[str, str] = {}
    fact_schemas: Mapping[str, dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[EntryConfig] = []
        self.config_warnings: list[Problem] = []
        self._clients: dict[int, HttpClient] = {}
        self._types: dict[FactRef, str] = {}  # fact ref -> the ``type`` that produces it (typed_fact_ref)

    # --- configuration -------------------------------------------------------------------------------------
    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        """The fact refs one (merged) ``collects`` entry produces; ``None`` after reporting why it is invalid.

        By default an entry of the usual shape (``typed_fact_ref``) for collectors with ``default_fact_names``;
        override it to check type-specific options (then call this) or for another shape of entry."""
        if not self.default_fact_names:
            raise NotImplementedError
        typed = self.typed_fact_ref(entry, location, problems)
        return None if typed is None else [typed[0]]

    def fact_type(self, fact_ref: FactRef | str) -> str | None:
        """The ``type`` that produces ``fact_ref`` (as configured, else by its default fact name), or ``None``."""
        try:
            ref = FactRef.parse(fact_ref)
        except ValueError:
            return None
        if ref in self._types:
            return self._types[ref]
        for kind, name in self.default_fact_names.items():
            if ref == FactRef(self.id, "default", name):
                return kind
        return None

    def data_schema(self, fact_ref: FactRef) -> dict[str, Any] | None:
        kind = self.fact_type(fact_ref)
        return self.fact_schemas.get(kind) if kind else None

    def typed_fact_ref(
        self,
        entry: Mapping[str, Any],
        location: Location | None,
        problems: Problems,
    ) -> tuple[FactRef, str] | None:
        """The fact ref of a ``collects`` entry of the usual shape: ``type`` one of ``default_fact_names``,
        ``factName`` overriding the name; recorded for ``fact_type``. ``None`` after a located error: unknown
        type, invalid factName, or one fact produced by two types."""
        default_names, types = self.default_fact_names, self._types
        kind = entry.get("type")
        if kind not in default_names:
            problems.error(
                f"collects: type must be one of {', '.join(default_names)} (got {kind!r})",
                loc_of(entry, "type") or location,
            )
            return None
        name = entry.get("factName") or default_names[kind]
        try:
            ref = FactRef.parse(f"{self.id}:default/{name}")
        except ValueError as exc:
            problems.error(f"collects: factName: {exc}", loc_of(entry, "factName") or location)
            return None
        if types.get(ref, kind) != kind:
            problems.error(f"collects: fact {ref} is produced by both {types[ref]} and {kind}", location)
            return None
        types[ref] = kind
        return ref, kind

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        """Check block-level settings (token, server...). The default validates the HTTP client settings."""
        client_settings(block, problems, default_concurrency=self.default_concurrency)

    def located_config(self, config: Any) -> Any:
        """``config`` as written in the app-config, with locations (and the record of keys left unset by a missing
        ``${VAR}``), when the runtime's context has it; else ``config`` itself. The registry hands ``set_config``
        plain data; the located node lets errors name ``file:line:col``."""
        node: Any = self.context.app_config
        for key in ("soundcheck", "collectors", self.id):
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None and to_plain(node) == to_plain(config):
            return node
        return config

    def set_config(self, config: Any) -> None:
        config = self.located_config(config)
        self._types = {}
        super().set_config(config)
        problems = Problems()
        self.entries = parse_entries(
            config,
            problems,
            lambda entry, block, location: self.entry_fact_refs(entry, block, location, problems),
            f"collector {self.id}",
        )
        # A block switched off (``enabled: false``) collects nothing; it is still validated, so a typo in it is
        # found before it is switched on.
        self.entries = [e for e in self.entries if e.block.get("enabled", True) is not False]
        for index, block in enumerate(config if isinstance(config, list) else [config]):
            if isinstance(block, Mapping):
                self.validate_block(block, index, problems)
        self.config_warnings = problems.warnings
        problems.raise_if_errors(ConfigError)

    def blocks(self) -> list[Mapping[str, Any]]:
        """The config's blocks that are switched on (``enabled`` is not ``false``)."""
        config = self.config()
        items = config if isinstance(config, list) else [config]
        blocks = [b if isinstance(b, Mapping) else {} for b in items]
        return [b for b in blocks if b.get("enabled", True) is not False]

    def collection_configs(self) -> list[CollectionConfig]:
        return [e.collection for e in self.entries]

    def fact_names(self) -> list[str]:
        names: list[str] = []
        for entry in self.entries:
            for ref in entry.collection.fact_refs:
                if str(ref) not in names:
                    names.append(str(ref))
        return names

    def disabled_reason(self) -> str | None:
        """Why the collector cannot run at all (e.g. no token), as a warning text; ``None`` when it can."""
        return None

    def disabled_if_no_block(self, unusable: Callable[[Mapping[str, Any]], str | None]) -> str | None:
        """A ``disabled_reason`` for collectors whose blocks each carry their own credentials: the first block's
        ``unusable`` reason when entries are configured and no block is usable; ``None`` while one block is."""
        blocks = self.blocks()
        if self.entries and blocks and all(unusable(b) for b in blocks):
            return unusable(blocks[0])
        return None

    @property
    def concurrency(self) -> int:
        """The largest ``concurrency`` of the blocks (the runner sizes its batch pipeline with it)."""
        values = [client_settings(b, Problems(), default_concurrency=self.default_concurrency).concurrency for b in self.blocks()]
        return max(values or [self.default_concurrency])

    def entry_for(self, entity: Entity, fact_ref: FactRef) -> EntryConfig | None:
        """The first entry producing ``fact_ref`` whose filter selects ``entity`` (as the runner decides)."""
        fallback = None
        for entry in self.entries:
            config = entry.collection
            if fact_ref in config.fact_refs:
                if selects(entity, config.filter, config.exclude):
                    return entry
                fallback = fallback or entry
        return fallback

    # --- HTTP ---------------------------------------------------------------------------------------------
    def base_url(self, block: Mapping[str, Any]) -> str:
        return ""

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def limiter_fallback(self) -> Any:
        """Soundcheck puts a collector's rate limit at ``soundcheck.job.workers.<id>.limiter``; used when the
        block has no ``limiter`` of its own."""
        node: Any = self.context.app_config or {}
        for key in ("soundcheck", "job", "workers", self.id, "limiter"):
            node = node.get(key) if isinstance(node, Mapping) else None
        return node

    def client_settings(self, entry: EntryConfig) -> Any:
        """The HTTP settings of ``entry``'s block (concurrency, retries, limiter; ``limiter_fallback`` else)."""
        return client_settings(
            entry.block, Problems(), default_concurrency=self.default_concurrency, limiter_fallback=self.limiter_fallback()
        )

    def client(self, entry: EntryConfig) -> HttpClient:
        """The HTTP client of ``entry``'s block (one per block, so one per token/server)."""
        client = self._clients.get(entry.block_index)
        if client is None:
            settings = self.client_settings(entry)
            client = HttpClient(
                settings,
                http_options(self.context),
                base_url=self.base_url(entry.block),
                headers=self.headers(entry.block),
                name=self.id,
            )
            self._clients[entry.block_index] = client
        return client

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self._clients.values())

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # --- collection ---------------------------------------------------------------------------------------
    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        """Collect one fact. Raise ``NotFound`` for "no such object", ``HttpError`` (or anything) to fail."""
        raise NotImplementedError

    def make_fact(self, entity: Entity, fact_ref: FactRef, data: Any) -> Fact:
        # One per request: the frozen dataclass's ``__init__`` skipped (``fastinit``), same object.
        return _new_fact(fact_ref, str(entity.ref), data, utcnow(), None)

    async def _fetch_safely(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig | None, refresh: bool) -> Outcome:
        if entry is None:
            return Outcome.not_applicable(
                str(entity.ref), fact_ref, f"no 'collects' entry of collector {self.id} produces {fact_ref}"
            )
        try:
            return await self.fetch(entity, fact_ref, entry, refresh)
        except NotFound as exc:
            return Outcome.absent(str(entity.ref), fact_ref, self._redact(exc))
        except HttpError as exc:
            return Outcome.failed(str(entity.ref), fact_ref, self._redact(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a collector bug must not stop the other entities
            return Outcome.failed(str(entity.ref), fact_ref, self._redact(f"{type(exc).__name__}: {exc}"))

    def _redact(self, reason: Any) -> str:
        return http_options(self.context).redactor.redact(reason)

    async def collect_outcomes(
        self,
        entities: list[Entity],
        fact_refs: list[FactRef] | None = None,
        refresh: list[FactRef] | None = None,
    ) -> list[Outcome]:
        """One outcome per (entity, fact ref) requested (all the collector's facts when ``fact_refs`` is None)."""
        refs = list(fact_refs) if fact_refs is not None else [FactRef.parse(n) for n in self.fact_names()]
        refreshed = set(refresh or ())
        reason = self.disabled_reason()
        if reason:
            return [Outcome.not_applicable(str(e.ref), r, reason) for e in entities for r in refs]
        jobs = [
            self._fetch_safely(entity, ref, self.entry_for(entity, ref), ref in refreshed)
            for entity in entities
            for ref in refs
        ]
        return list(await asyncio.gather(*jobs))

    async def collect(
        self,
        entities: list[Entity],
        fact_refs: list[FactRef] | None = None,
        refresh: list[FactRef] | None = None,
    ) -> list[Fact]:
        outcomes = await self.collect_outcomes(entities, fact_refs, refresh)
        return [o.fact for o in outcomes if o.fact is not None]
