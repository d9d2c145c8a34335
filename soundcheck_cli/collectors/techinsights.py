"""The ``techinsights`` collector: facts of a running Backstage Tech Insights backend, as Soundcheck reads them.

Soundcheck's Tech Insights integration exposes each fact retriever's latest facts as
``techinsights:default/<fact retriever id>``; this collector reads them from the backend's REST API::

    techinsights:
      baseUrl: https://backstage.example.com      # the Backstage backend (the API is under /api/tech-insights)
      token: ${BACKSTAGE_TOKEN}                   # a static external-access token, sent as a bearer token
      frequency: {hours: 1}
      collects:
        - factRetrievers: [entityOwnershipFactRetriever, techdocsFactRetriever]
        - factRetriever: entityMetadataFactRetriever
          filter: {kind: Component}

For each entity, one ``GET /api/tech-insights/facts/latest?entity=<ref>&ids[]=<id>&ids[]=...`` asks for every
retriever id the entity's due facts need (Backstage's router, ``getLatestFactsByIds``: a mapping of retriever id
to ``{id, entity, timestamp, version, facts}``). The fact's data is that ``facts`` object (``$.hasOwner``...); a
retriever with no fact for the entity is recorded absent. ``basePath`` overrides ``/api/tech-insights``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.api import credential_source
from soundcheck_cli.collectors.credential_gate import CredentialGate
from soundcheck_cli.collectors.entity_collector import EntityCollector, collector_config_schema
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.collectors.shared_requests import SharedRequests
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpError
from soundcheck_cli.located.nodes import loc_of

SOURCE = "techinsights"
DEFAULT_BASE_PATH = "/api/tech-insights"
_ID = {"type": "string", "pattern": r"^[^\s:/]+$"}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "techinsights collector",
    block_properties={"baseUrl": {"type": "string"}, "basePath": {"type": "string"}, "token": {"type": "string"}},
    entry_properties={"factRetriever": _ID, "factRetrievers": {"type": "array", "items": _ID, "minItems": 1}},
    block_required=("baseUrl",),
)

FACTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Tech Insights facts",
    "description": "the 'facts' object of the retriever's latest fact for the entity (GET /api/tech-insights/facts/latest); "
    "its keys are the retriever's schema (GET /api/tech-insights/fact-schemas)",
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean", "array", "object", "null"]},
}


class TechInsightsCollector(EntityCollector):
    id = SOURCE
    name = "Tech Insights"
    description = "The latest facts of a Backstage Tech Insights backend, as techinsights:default/<fact retriever id>."

    def __init__(self) -> None:
        super().__init__()
        self._retrievers: dict[FactRef, str] = {}
        self._pending = SharedRequests()  # one facts/latest request per (block, entity), shared by its facts
        self._rejected: dict[int, str] = {}
        self._gate = CredentialGate()

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def set_config(self, config: Any) -> None:
        self._gate = CredentialGate()
        self._retrievers, self._pending, self._rejected = {}, SharedRequests(), {}
        super().set_config(config)

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        ids = list(entry.get("factRetrievers") or []) + ([entry["factRetriever"]] if entry.get("factRetriever") else [])
        if not ids:
            problems.error("collects: give factRetriever (one id) or factRetrievers (a list of ids)", location)
            return None
        refs = []
        for retriever in ids:
            try:
                ref = FactRef.parse(f"{SOURCE}:default/{retriever}")
            except ValueError as exc:
                problems.error(f"collects: fact retriever {retriever!r}: {exc}", loc_of(entry, "factRetrievers") or location)
                return None
            self._retrievers[ref] = str(retriever)
            refs.append(ref)
        return refs

    def data_schema(self, fact_ref: FactRef | str) -> dict[str, Any] | None:
        try:
            ref = FactRef.parse(fact_ref)
        except ValueError:
            return None
        return FACTS_SCHEMA if ref.source == SOURCE else None

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        url = str(block.get("baseUrl") or "")
        if url and not url.startswith(("https://", "http://")):
            problems.error(f"baseUrl must be an http(s) URL, not {url!r}", loc_of(block, "baseUrl"))

    def base_url(self, block: Mapping[str, Any]) -> str:
        path = str(block.get("basePath") or DEFAULT_BASE_PATH).strip("/")
        return f"{str(block.get('baseUrl') or '').rstrip('/')}/{path}"

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        token = block.get("token")
        out = {"Accept": "application/json"}
        if isinstance(token, str) and token.strip():
            out["Authorization"] = f"Bearer {token.strip()}"
        return out

    def _ids_for(self, entity: Entity, block_index: int) -> list[str]:
        """Every retriever id of the block's entries that select ``entity`` (asked in one request)."""
        from soundcheck_cli.catalog.filters import selects

        ids: list[str] = []
        for entry in self.entries:
            if entry.block_index != block_index:
                continue
            config = entry.collection
            if not selects(entity, config.filter, config.exclude):
                continue
            for ref in config.fact_refs:
                retriever = self._retrievers.get(ref)
                if retriever and retriever not in ids:
                    ids.append(retriever)
        return ids

    async def _latest(self, entity: Entity, entry: EntryConfig, wanted: str) -> Any:
        """The ``facts/latest`` answer for the entity: one request shared by all its facts of this block."""
        def request() -> Any:
            ids = self._ids_for(entity, entry.block_index) or [wanted]
            if wanted not in ids:
                ids.append(wanted)
            params = [("entity", str(entity.ref)), *(("ids[]", i) for i in ids)]
            return self.client(entry).get_json("/facts/latest", params=params)

        return await self._pending.share((entry.block_index, str(entity.ref)), request)

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        # the block's first request goes alone: a rejected credential costs one request, not one per entity
        return await self._gate.run(entry.block_index, lambda: self._fetch(entity, fact_ref, entry))

    async def _fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig) -> Outcome:
        ref = str(entity.ref)
        retriever = self._retrievers.get(fact_ref)
        if retriever is None:
            return Outcome.not_applicable(ref, fact_ref, f"collector techinsights does not produce {fact_ref}")
        rejected = self._rejected.get(entry.block_index)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        try:
            body = await self._latest(entity, entry, retriever)
        except HttpError as exc:
            if exc.status in (401, 403):
                reason = (f"the Tech Insights backend refused the request (HTTP {exc.status}): check the collector's "
                          f"{credential_source(entry.block, 'token')}")
                self._rejected[entry.block_index] = reason
                return Outcome.failed(ref, fact_ref, reason)
            raise
        if not isinstance(body, Mapping):
            return Outcome.failed(ref, fact_ref, "GET /facts/latest: unexpected response (not an object)")
        found = body.get(retriever)
        if not isinstance(found, Mapping):
            return Outcome.absent(ref, fact_ref, f"Tech Insights has no {retriever!r} fact for this entity")
        facts = found.get("facts")
        if not isinstance(facts, Mapping):
            return Outcome.failed(ref, fact_ref, f"GET /facts/latest: the {retriever!r} fact has no facts object")
        return Outcome.collected(self.make_fact(entity, fact_ref, dict(facts)))

    async def aclose(self) -> None:
        self._pending.cancel()
        await super().aclose()
