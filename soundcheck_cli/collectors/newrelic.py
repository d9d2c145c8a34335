"""The ``newrelic`` collector: New Relic entities, entity searches and alert policies as facts, through NerdGraph.

Configured as Soundcheck's NewRelic integration (``soundcheck.collectors.newrelic``: ``apiKey``, optional
``baseUrl``)::

    newrelic:
      apiKey: ${NEW_RELIC_API_KEY}       # a User key (NRAK-...)
      # baseUrl: https://api.eu.newrelic.com   # EU accounts; default https://api.newrelic.com
      frequency: {hours: 6}
      collects:
        - type: Entity                   # newrelic:default/entity
          guid: "{{ entity.metadata.annotations['newrelic.com/entity-guid'] }}"   # the default
        - type: EntitySearch             # newrelic:default/apm_applications
          factName: apm_applications
          query: "name = {{ entity.metadata.name }} AND domain = 'APM'"
        - type: PoliciesSearch           # newrelic:default/alert_policies
          factName: alert_policies
          accountId: 1234567
          name: "{{ entity.metadata.name }}"                                     # optional: nameLike filter

Every request is ``POST <baseUrl>/graphql`` with the ``API-Key`` header and a GraphQL document whose inputs are
GraphQL *variables*, never text pasted into the document. In an entity-search ``query`` (New Relic's search
syntax, ``name = 'x' AND domain = 'APM'``) an entity value becomes one quoted string (``'`` and ``\\`` escaped;
inside quotes the template wrote, escaped only), so an annotation cannot widen the search.

- ``Entity``: ``actor { entity(guid: $guid) { guid name accountId domain type entityType reporting permalink
  tags { key values } ... on AlertableEntity { alertSeverity } } }``; ``null`` (no such entity) is recorded absent.
- ``EntitySearch``: ``actor { entitySearch(query: $query) { count results(cursor: $cursor) { nextCursor
  entities { ... } } } }``, following ``nextCursor``.
- ``PoliciesSearch``: ``actor { account(id: $accountId) { alerts { policiesSearch(cursor: $cursor,
  searchCriteria: {nameLike: $name}) { nextCursor totalCount policies { id name incidentPreference accountId } } } } }``.

NerdGraph answers errors with HTTP 200 and ``{"errors": [{"message"}]}``: they fail the fact with New Relic's
message. These shapes follow New Relic's NerdGraph documentation (the entities and alert-policies tutorials); no
recorded responses were available, so the tests' server constructs its answers from those documented shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.api import credential_source
from soundcheck_cli.collectors.credential_gate import CredentialGate
from soundcheck_cli.collectors.entity_collector import EntityCollector, collector_config_schema
from soundcheck_cli.collectors.http_collector import Missing, Placeholder, Template, parse_template
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.query_text import render_query
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpClient, HttpError
from soundcheck_cli.located.nodes import loc_of

DEFAULT_BASE_URL = "https://api.newrelic.com"
DEFAULT_FACT_NAMES = {"Entity": "entity", "EntitySearch": "entity_search", "PoliciesSearch": "policies_search"}
GUID_ANNOTATION = "newrelic.com/entity-guid"
DEFAULT_GUID = "{{ entity.metadata.annotations['" + GUID_ANNOTATION + "'] }}"
MAX_PAGES = 20  # NerdGraph pages hold 200 entities / policies: 4,000 is far beyond what one component owns
NO_KEY = "collector newrelic: no apiKey provided, facts cannot be collected"

_FIELDS = "guid name accountId domain type entityType reporting permalink tags { key values }"
# ``entity(guid)`` returns an ``Entity``; ``entitySearch`` returns ``EntityOutline``s: alertSeverity is on the
# alertable interface of each.
ENTITY_QUERY = (
    "query($guid: EntityGuid!) { actor { entity(guid: $guid) { " + _FIELDS + " ... on AlertableEntity { alertSeverity } } } }"
)
SEARCH_QUERY = (
    "query($query: String!, $cursor: String) { actor { entitySearch(query: $query) { count "
    "results(cursor: $cursor) { nextCursor entities { " + _FIELDS + " ... on AlertableEntityOutline { alertSeverity } } } } } }"
)
POLICIES_QUERY = (
    "query($accountId: Int!, $cursor: String, $name: String) { actor { account(id: $accountId) { alerts { "
    "policiesSearch(cursor: $cursor, searchCriteria: {nameLike: $name}) { nextCursor totalCount "
    "policies { id name incidentPreference accountId } } } } } }"
)

_TAGS = {"type": "array", "items": {"type": "object", "properties": {"key": {"type": "string"}, "values": {"type": "array", "items": {"type": "string"}}}}}
_ENTITY = {
    "type": "object",
    "required": ["guid", "name"],
    "properties": {
        "guid": {"type": "string"},
        "name": {"type": "string"},
        "accountId": {"type": ["integer", "null"]},
        "domain": {"type": ["string", "null"], "description": "APM, BROWSER, INFRA, SYNTH, EXT..."},
        "type": {"type": ["string", "null"], "description": "APPLICATION, HOST, MONITOR..."},
        "entityType": {"type": ["string", "null"]},
        "reporting": {"type": ["boolean", "null"], "description": "reported data recently"},
        "permalink": {"type": ["string", "null"]},
        "alertSeverity": {"type": ["string", "null"], "enum": ["CRITICAL", "NOT_ALERTING", "NOT_CONFIGURED", "WARNING", None]},
        "tags": _TAGS,
    },
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Entity": {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "New Relic entity",
               "description": "actor.entity(guid) from NerdGraph", **_ENTITY},
    "EntitySearch": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "New Relic entity search",
        "description": "actor.entitySearch(query) from NerdGraph",
        "type": "object",
        "required": ["query", "count", "entities"],
        "properties": {
            "query": {"type": "string", "description": "the search sent, entity values substituted"},
            "count": {"type": "integer", "minimum": 0, "description": "entities matching (New Relic's count)"},
            "truncated": {"type": "boolean"},
            "entities": {"type": "array", "items": _ENTITY},
        },
    },
    "PoliciesSearch": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "New Relic alert policies",
        "description": "actor.account(id).alerts.policiesSearch from NerdGraph",
        "type": "object",
        "required": ["accountId", "totalCount", "policies"],
        "properties": {
            "accountId": {"type": "integer"},
            "name": {"type": ["string", "null"], "description": "the nameLike filter, when one was given"},
            "totalCount": {"type": "integer", "minimum": 0},
            "truncated": {"type": "boolean"},
            "policies": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "incidentPreference": {"enum": ["PER_CONDITION", "PER_CONDITION_AND_TARGET", "PER_POLICY", None]},
                        "accountId": {"type": ["integer", "null"]},
                    },
                },
            },
        },
    },
}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "newrelic collector",
    block_properties={"apiKey": {"type": "string"}, "baseUrl": {"type": "string"}, "retryAfter": {"type": "number"}},
    entry_properties={
        "type": {"enum": list(DEFAULT_FACT_NAMES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "guid": {"type": "string", "minLength": 1},
        "query": {"type": "string", "minLength": 1},
        "accountId": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\d+$"}]},
        "name": {"type": "string"},
    },
    entry_required=("type",),
)


class NerdGraphError(HttpError):
    """NerdGraph answered 200 with ``errors``."""


class NewRelicCollector(EntityCollector):
    id = "newrelic"
    name = "New Relic"
    description = "New Relic entities, entity searches and alert policies (NerdGraph) as facts."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = SCHEMAS

    def __init__(self) -> None:
        super().__init__()
        self._templates: dict[tuple[FactRef, str], Template] = {}
        self._rejected: dict[int, str] = {}
        self._gate = CredentialGate()

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def set_config(self, config: Any) -> None:
        self._gate = CredentialGate()
        self._templates, self._rejected = {}, {}
        super().set_config(config)

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        refs = super().entry_fact_refs(entry, block, location, problems)
        if refs is None:
            return None
        kind = entry.get("type")
        needs = {"Entity": (), "EntitySearch": ("query",), "PoliciesSearch": ("accountId",)}[kind]
        before = len(problems.errors)
        for key in needs:
            if entry.get(key) in (None, ""):
                problems.error(f"collects: type {kind} needs {key}", location)
        for key in ("guid", "query", "name"):
            text = entry.get(key, DEFAULT_GUID if key == "guid" and kind == "Entity" else None)
            if not isinstance(text, str):
                continue
            template = parse_template(text, problems, loc_of(entry, key) or location, f"collects: {key}")
            if any(isinstance(p, Placeholder) and p.root != "entity" for p in template.parts):
                problems.error(f"collects: {key}: only {{{{ entity.<path> }}}} placeholders are supported", loc_of(entry, key) or location)
            self._templates[(refs[0], key)] = template
        return None if len(problems.errors) > before else refs

    # -- credentials / HTTP --------------------------------------------------------------------------------------
    def _key(self, block: Mapping[str, Any]) -> str | None:
        key = block.get("apiKey")
        return key.strip() if isinstance(key, str) and key.strip() else None

    def _no_key(self, block: Mapping[str, Any]) -> str:
        missing = missing_env(block, "apiKey")
        return f"{NO_KEY} (apiKey is not set: {missing})" if missing else NO_KEY

    def disabled_reason(self) -> str | None:
        return self.disabled_if_no_block(lambda b: None if self._key(b) else self._no_key(b))

    def base_url(self, block: Mapping[str, Any]) -> str:
        text = str(block.get("baseUrl") or DEFAULT_BASE_URL).strip().rstrip("/")
        return text if "://" in text else f"https://{text}"

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {"API-Key": self._key(block) or "", "Content-Type": "application/json", "Accept": "application/json"}

    async def graphql(self, client: HttpClient, query: str, variables: Mapping[str, Any]) -> Any:
        response = await client.request("POST", "/graphql", json={"query": query, "variables": dict(variables)})
        try:
            body = response.json()
        except ValueError:
            raise HttpError("POST /graphql: the response is not JSON") from None
        if not isinstance(body, Mapping):
            raise HttpError("POST /graphql: unexpected response")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            messages = "; ".join(str(e.get("message") if isinstance(e, Mapping) else e) for e in errors)[:300]
            raise NerdGraphError(f"NerdGraph answered with errors: {messages}")
        return body.get("data")

    # -- collection ---------------------------------------------------------------------------------------------
    def render(self, fact_ref: FactRef, key: str, entity: Entity, quote: bool) -> str | None:
        template = self._templates.get((fact_ref, key))
        if template is None:
            return None
        return render_query(template, entity, "'" if quote else None, "a search")

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        # the block's first request goes alone: a rejected credential costs one request, not one per entity
        return await self._gate.run(entry.block_index, lambda: self._fetch(entity, fact_ref, entry))

    async def _fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig) -> Outcome:
        ref = str(entity.ref)
        if not self._key(entry.block):
            return Outcome.failed(ref, fact_ref, self._no_key(entry.block))
        rejected = self._rejected.get(entry.block_index)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        kind = self.fact_type(fact_ref)
        client = self.client(entry)
        try:
            if kind == "Entity":
                guid = self.render(fact_ref, "guid", entity, quote=False)
                data = await self.graphql(client, ENTITY_QUERY, {"guid": guid})
                found = ((data or {}).get("actor") or {}).get("entity")
                if found is None:
                    return Outcome.absent(ref, fact_ref, f"New Relic has no entity with guid {guid!r}")
                return Outcome.collected(self.make_fact(entity, fact_ref, found))
            if kind == "EntitySearch":
                query = self.render(fact_ref, "query", entity, quote=True) or ""
                return Outcome.collected(self.make_fact(entity, fact_ref, await self._search(client, query)))
            if kind == "PoliciesSearch":
                name = self.render(fact_ref, "name", entity, quote=False)
                account = int(entry.entry["accountId"])
                return Outcome.collected(self.make_fact(entity, fact_ref, await self._policies(client, account, name)))
        except Missing as exc:
            return Outcome.not_applicable(ref, fact_ref, str(exc))
        except NerdGraphError as exc:
            return Outcome.failed(ref, fact_ref, str(exc))
        except HttpError as exc:
            if exc.status in (401, 403):
                reason = (f"New Relic rejected the API key (HTTP {exc.status}): check the collector's "
                          f"{credential_source(entry.block, 'apiKey')} (a User key, NRAK-...)")
                self._rejected[entry.block_index] = reason
                return Outcome.failed(ref, fact_ref, reason)
            raise
        return Outcome.not_applicable(ref, fact_ref, f"collector newrelic does not produce {fact_ref}")

    async def _search(self, client: HttpClient, query: str) -> dict[str, Any]:
        entities: list[Any] = []
        cursor = None
        count = 0
        for _ in range(MAX_PAGES):
            data = await self.graphql(client, SEARCH_QUERY, {"query": query, "cursor": cursor})
            search = ((data or {}).get("actor") or {}).get("entitySearch") or {}
            count = search.get("count") if isinstance(search.get("count"), int) else count
            results = search.get("results") or {}
            entities.extend(e for e in results.get("entities") or [] if isinstance(e, Mapping))
            cursor = results.get("nextCursor")
            if not cursor:
                break
        return {"query": query, "count": count, "truncated": bool(cursor), "entities": entities}

    async def _policies(self, client: HttpClient, account: int, name: str | None) -> dict[str, Any]:
        policies: list[Any] = []
        cursor = None
        total = 0
        for _ in range(MAX_PAGES):
            data = await self.graphql(client, POLICIES_QUERY, {"accountId": account, "cursor": cursor, "name": name})
            account_node = ((data or {}).get("actor") or {}).get("account")
            if account_node is None:
                raise NerdGraphError(f"New Relic has no account {account} for this API key")
            search = ((account_node.get("alerts") or {}).get("policiesSearch")) or {}
            total = search.get("totalCount") if isinstance(search.get("totalCount"), int) else total
            policies.extend(p for p in search.get("policies") or [] if isinstance(p, Mapping))
            cursor = search.get("nextCursor")
            if not cursor:
                break
        return {"accountId": account, "name": name, "totalCount": total, "truncated": bool(cursor), "policies": policies}
