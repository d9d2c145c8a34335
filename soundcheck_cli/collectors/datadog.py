"""The ``datadog`` collector: a service's Datadog Service Catalog definition and its SLOs as facts.

Configured like the other Soundcheck integrations (``soundcheck.collectors.datadog``)::

    datadog:
      apiKey: ${DD_API_KEY}
      appKey: ${DD_APP_KEY}
      site: datadoghq.eu               # or baseUrl: https://api.datadoghq.eu (default: https://api.datadoghq.com)
      frequency: {hours: 6}
      cache: {duration: {days: 1}}
      collects:
        - type: service-definition     # datadog:default/service-definition
        - type: service-level-objective
          factName: slos               # -> datadog:default/slos

Only entities annotated ``datadoghq.com/service-id`` (the Datadog service name, as in Soundcheck's demo catalog)
are collected; for the others the facts are not applicable. Requests follow Datadog's API reference
(docs.datadoghq.com/api/latest): every request carries the ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` headers, and
the host depends on the account's site (``api.datadoghq.com``, ``api.datadoghq.eu``, ``api.us3.datadoghq.com``,
``api.us5.datadoghq.com``, ``api.ap1.datadoghq.com``, ``api.ddog-gov.com``...).

Fact data is the API's answer as Datadog sends it -- what Soundcheck stores -- so a Soundcheck check's JSONPath
(``$.data.attributes.schema.type``, ``$.data.type``...) reads the same here:

- ``service-definition``: ``GET /api/v2/services/definitions/{service_name}`` (Service Definition API, "Get a
  single service definition"; needs the ``apm_service_catalog_read`` permission), the service name percent-encoded
  into the path. Entry option ``schemaVersion`` (``v1``, ``v2``, ``v2.1``, ``v2.2``) adds ``schema_version=``.
  Data = the whole response, ``{data: {id, type, attributes: {schema, meta}}}``. HTTP 404 (no definition) = the
  fact is absent.
- ``service-level-objective``: ``GET /api/v1/slo/search?query=service:{name}&page[size]=100&page[number]=N``
  ("Search for SLOs"; needs ``slos_read``). Data = the response, ``{data: {type:
  "service_level_objective_search_results", attributes: {slos: [{data: {id, type, attributes: {name, slo_type,
  thresholds, all_tags, ...}}}], facets}}, links, meta: {pagination: {total, ...}}}``; when the service has more
  SLOs than one page, the later pages' ``slos`` are appended to the first page's list (up to 1000). Entry option
  ``tagKey`` (default ``service``) names the SLO tag carrying the service name; the service name must be a valid
  Datadog tag value, so no search syntax can come from an annotation. A service without SLOs is collected with an
  empty ``slos`` list (not absent).

Without ``apiKey`` or ``appKey`` the collector warns "collector datadog: no apiKey/appKey provided, facts cannot
be collected" and its facts stay not-reported. A 401/403 stops asking (the keys are wrong, or lack the permission,
for every entity) with a message that never contains a key; ``appKey`` is masked like every other secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.api import credential_source
from soundcheck_cli.collectors.entity_collector import (
    EntityCollector,
    collector_config_schema,
)
from soundcheck_cli.http.client import (
    HttpClient,
    HttpError,
    NotFound,
    http_options,
    json_body,
    path_segment,
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef

ANNOTATION = "datadoghq.com/service-id"
DEFAULT_BASE_URL = "https://api.datadoghq.com"
SERVICE_DEFINITION = "service-definition"
SLOS = "service-level-objective"
DEFAULT_FACT_NAMES = {SERVICE_DEFINITION: "service-definition", SLOS: "service-level-objective"}
SCHEMA_VERSIONS = ("v1", "v2", "v2.1", "v2.2")
DEFAULT_TAG_KEY = "service"
PAGE_SIZE = 100
MAX_SLOS = 1000  # a service with more SLOs than this keeps the first 1000 in its fact
NO_KEYS = "collector datadog: no apiKey/appKey provided, facts cannot be collected"
# Datadog tags start with a letter and contain alphanumerics, ``_ - : . /`` (docs.datadoghq.com/getting_started/
# tagging "Define tags"); a service name outside that cannot be any SLO's tag, and must not reach the search query.
_TAG_VALUE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-:./]*$")

_SERVICE_SCHEMA_OBJECT: dict[str, Any] = {
    "type": "object",
    "description": "the service definition itself (schema v1 to v2.2)",
    "properties": {
        "schema-version": {"type": "string"},
        "dd-service": {"type": "string"},
        "type": {"type": ["string", "null"], "description": "v2.2: web, db, cache, function, browser, mobile, custom"},
        "team": {"type": ["string", "null"]},
        "tier": {"type": ["string", "null"]},
        "lifecycle": {"type": ["string", "null"]},
        "application": {"type": ["string", "null"]},
        "contacts": {"type": ["array", "null"]},
        "links": {"type": ["array", "null"]},
        "docs": {"type": ["array", "null"]},
        "repos": {"type": ["array", "null"]},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "languages": {"type": ["array", "null"]},
        "integrations": {"type": ["object", "null"]},
        "extensions": {"type": ["object", "null"]},
    },
}

# "Get a single service definition" (ServiceDefinitionGetResponse in Datadog's v2 OpenAPI description), as sent.
SERVICE_DEFINITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Datadog service definition",
    "description": "GET /api/v2/services/definitions/{service_name}: the response as Datadog sends it",
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "object",
            "required": ["attributes"],
            "properties": {
                "id": {"type": ["string", "null"]},
                "type": {"type": ["string", "null"], "description": "service-definition"},
                "attributes": {
                    "type": "object",
                    "required": ["schema"],
                    "properties": {
                        "schema": _SERVICE_SCHEMA_OBJECT,
                        "meta": {
                            "type": ["object", "null"],
                            "properties": {
                                "github-html-url": {"type": ["string", "null"]},
                                "ingested-schema-version": {"type": ["string", "null"]},
                                "ingestion-source": {"type": ["string", "null"]},
                                "last-modified-time": {"type": ["string", "null"]},
                                "origin": {"type": ["string", "null"]},
                                "origin-detail": {"type": ["string", "null"]},
                                "warnings": {"type": ["array", "null"]},
                            },
                        },
                    },
                },
            },
        },
    },
}

# "Search for SLOs" (SearchSLOResponse in Datadog's v1 OpenAPI description), as sent; later pages' slos appended.
SLOS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Datadog SLOs of a service",
    "description": "GET /api/v1/slo/search?query=<tagKey>:<service>: the response as Datadog sends it",
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "description": "service_level_objective_search_results"},
                "attributes": {
                    "type": "object",
                    "properties": {
                        "facets": {"type": ["object", "null"]},
                        "slos": {
                            "type": ["array", "null"],
                            "items": {
                                "type": "object",
                                "properties": {
                                    "data": {
                                        "type": "object",
                                        "properties": {
                                            "id": {"type": "string"},
                                            "type": {"type": "string", "description": "slo"},
                                            "attributes": {
                                                "type": "object",
                                                "properties": {
                                                    "name": {"type": "string"},
                                                    "slo_type": {"type": "string", "description": "metric, monitor or time_slice"},
                                                    "description": {"type": ["string", "null"]},
                                                    "thresholds": {"type": ["array", "null"]},
                                                    "all_tags": {"type": ["array", "null"], "items": {"type": "string"}},
                                                    "service_tags": {"type": ["array", "null"], "items": {"type": "string"}},
                                                    "team_tags": {"type": ["array", "null"], "items": {"type": "string"}},
                                                    "env_tags": {"type": ["array", "null"], "items": {"type": "string"}},
                                                    "monitor_ids": {"type": ["array", "null"]},
                                                    "overall_status": {"type": ["array", "null"]},
                                                    "created_at": {"type": ["integer", "null"]},
                                                    "modified_at": {"type": ["integer", "null"]},
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "links": {"type": ["object", "null"]},
        "meta": {
            "type": ["object", "null"],
            "properties": {
                "pagination": {
                    "type": ["object", "null"],
                    "properties": {"total": {"type": "integer", "minimum": 0}, "size": {"type": "integer"},
                                   "number": {"type": "integer"}},
                },
            },
        },
    },
}

SCHEMAS = {SERVICE_DEFINITION: SERVICE_DEFINITION_SCHEMA, SLOS: SLOS_SCHEMA}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "datadog collector",
    block_properties={
        "apiKey": {"type": "string"},
        "appKey": {"type": "string"},
        "baseUrl": {"type": "string"},
        "site": {"type": "string"},
    },
    entry_properties={
        "type": {"enum": list(DEFAULT_FACT_NAMES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "schemaVersion": {"enum": list(SCHEMA_VERSIONS)},
        "tagKey": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_\-./]*$"},
    },
    entry_required=("type",),
)


def site_base_url(site: str) -> str:
    """The API base URL of a Datadog site: ``datadoghq.eu`` → ``https://api.datadoghq.eu``; ``us3.datadoghq.com``
    → ``https://api.us3.datadoghq.com``; the web UI's ``app.`` host works too (``app.datadoghq.com`` → ``api.``),
    as does an ``api.`` host. The API host is ``api.`` + the site (docs.datadoghq.com "Getting Started with Datadog
    Sites", and every endpoint table of the API reference)."""
    host = site.strip().split("://", 1)[-1].strip("/").lower()
    if host.startswith("api."):
        return f"https://{host}"
    host = host.removeprefix("app.")
    return f"https://api.{host}"


def normalize_base_url(base_url: str | None = None, site: str | None = None) -> str:
    """``baseUrl`` (scheme optional) or else ``site``; the US1 API by default."""
    text = (base_url or "").strip().rstrip("/")
    if text:
        return text if "://" in text else f"https://{text}"
    if site and site.strip():
        return site_base_url(site)
    return DEFAULT_BASE_URL


def _errors_detail(exc: HttpError) -> str:
    """Datadog's error body is ``{"errors": ["Forbidden"]}`` (the API reference's "API error response")."""
    body = json_body(exc.response)
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)[:200]
    return ""


class DatadogCollector(EntityCollector):
    id = "datadog"
    name = "Datadog"
    description = "Datadog service definitions and SLOs for entities annotated datadoghq.com/service-id."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = SCHEMAS

    def __init__(self) -> None:
        super().__init__()
        # (block index, type or None for every type) -> why the keys were rejected (stop asking)
        self._rejected: dict[tuple[int, str | None], str] = {}

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def set_config(self, config: Any) -> None:
        self._rejected = {}
        super().set_config(config)

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        if block.get("baseUrl") and block.get("site"):
            problems.error("set either baseUrl or site, not both", loc_of(block, "site"))
            return
        key = "baseUrl" if block.get("baseUrl") else "site"
        value = block.get(key)
        if value is None:
            return
        url = normalize_base_url(str(value)) if key == "baseUrl" else site_base_url(str(value))
        host = url.split("://", 1)[-1]
        if not url.startswith(("https://", "http://")) or not host or any(c.isspace() for c in host):
            problems.error(f"{key} must be a Datadog site or an http(s) URL, not {value!r}", loc_of(block, key))

    # -- facts ----------------------------------------------------------------------------------------------------
    # -- credentials and HTTP -------------------------------------------------------------------------------------
    @staticmethod
    def _key(block: Mapping[str, Any], name: str) -> str | None:
        value = block.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def _missing_keys_reason(self, block: Mapping[str, Any]) -> str | None:
        """Why this block cannot authenticate (which key is missing, and the unset variable), else ``None``."""
        missing = []
        for name in ("apiKey", "appKey"):
            if not self._key(block, name):
                variable = missing_env(block, name)
                missing.append(f"{name} is not set: {variable}" if variable else f"no {name}")
        return f"{NO_KEYS} ({'; '.join(missing)})" if missing else None

    def disabled_reason(self) -> str | None:
        return self.disabled_if_no_block(self._missing_keys_reason)

    def base_url(self, block: Mapping[str, Any]) -> str:
        return normalize_base_url(block.get("baseUrl"), block.get("site"))

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        # docs.datadoghq.com/api/latest "Authentication": both keys as headers, never in the URL.
        return {
            "DD-API-KEY": self._key(block, "apiKey") or "",
            "DD-APPLICATION-KEY": self._key(block, "appKey") or "",
            "Accept": "application/json",
        }

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        service = entity.annotations.get(ANNOTATION)
        if not isinstance(service, str) or not service.strip():
            return Outcome.not_applicable(ref, fact_ref, f"no {ANNOTATION} annotation")
        service = service.strip()
        missing = self._missing_keys_reason(entry.block)
        if missing:
            return Outcome.failed(ref, fact_ref, missing)  # missing credentials fail (issue 17 item 2)
        kind = self.fact_type(fact_ref)
        rejected = self._rejected.get((entry.block_index, None)) or self._rejected.get((entry.block_index, kind))
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        client = self.client(entry)
        try:
            if kind == SERVICE_DEFINITION:
                data = await self._service_definition(client, service, entry)
            elif kind == SLOS:
                tag_key = str(entry.entry.get("tagKey") or DEFAULT_TAG_KEY)
                if not _TAG_VALUE.match(service):
                    return Outcome.failed(
                        ref, fact_ref, f"{ANNOTATION} {service!r} is not a valid Datadog tag value, so no SLO can be tagged with it"
                    )
                data = await self._slos(client, service, tag_key)
            else:
                return Outcome.not_applicable(ref, fact_ref, f"collector datadog does not produce {fact_ref}")
        except NotFound:
            what = "service definition" if kind == SERVICE_DEFINITION else "SLO list"
            return Outcome.absent(ref, fact_ref, f"Datadog has no {what} for service {service!r} (HTTP 404)")
        except HttpError as exc:
            if exc.status == 401:
                reason = (
                    "Datadog rejected the API key (HTTP 401 Unauthorized): check the collector's "
                    f"{credential_source(entry.block, 'apiKey')} and its site/baseUrl (keys belong to one site)"
                )
                self._rejected[(entry.block_index, None)] = reason
                return Outcome.failed(ref, fact_ref, reason)
            if exc.status == 403:
                permission = "apm_service_catalog_read" if kind == SERVICE_DEFINITION else "slos_read"
                detail = _errors_detail(exc)
                reason = (
                    f"Datadog refused the request (HTTP 403{': ' + detail if detail else ''}): check the apiKey/appKey "
                    f"and that the application key has the {permission} permission"
                )
                self._rejected[(entry.block_index, kind)] = reason
                return Outcome.failed(ref, fact_ref, reason)
            detail = _errors_detail(exc)
            if detail and exc.status is not None and 400 <= exc.status < 500:
                detail = http_options(self.context).redactor.redact(detail)  # an API may echo what it was sent
                return Outcome.failed(ref, fact_ref, f"{exc}: {detail}")
            raise
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

    async def _service_definition(self, client: HttpClient, service: str, entry: EntryConfig) -> Any:
        url = f"/api/v2/services/definitions/{path_segment(service)}"
        version = entry.entry.get("schemaVersion")
        body = await client.get_json(url, params=[("schema_version", str(version))] if version else None)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("attributes"), Mapping):
            raise HttpError(f"GET {url}: unexpected response (no 'data.attributes' object)")
        if not isinstance(data["attributes"].get("schema"), Mapping):
            raise HttpError(f"GET {url}: unexpected response (no 'data.attributes.schema' object)")
        return body  # as Datadog sends it (what Soundcheck stores): checks read $.data.attributes.schema...

    async def _slos(self, client: HttpClient, service: str, tag_key: str) -> Any:
        query = f"{tag_key}:{service}"
        first: Any = None
        slos: list[Any] = []
        number = 0
        while True:
            body = await client.get_json(
                "/api/v1/slo/search",
                params=[("query", query), ("page[size]", str(PAGE_SIZE)), ("page[number]", str(number))],
            )
            data = body.get("data") if isinstance(body, Mapping) else None
            attributes = data.get("attributes") if isinstance(data, Mapping) else None
            page = attributes.get("slos") if isinstance(attributes, Mapping) else None
            if page is None and isinstance(attributes, Mapping):
                page = []  # "slos": null when nothing matches
            if not isinstance(page, list):
                raise HttpError("GET /api/v1/slo/search: unexpected response (no 'data.attributes.slos' list)")
            if first is None:
                first = body
            slos.extend(page)
            pagination = (body.get("meta") or {}).get("pagination") if isinstance(body.get("meta"), Mapping) else None
            total = pagination.get("total") if isinstance(pagination, Mapping) else None
            number += 1
            # more pages only while the total says so (``next_number`` is set even on the last page)
            if not page or not isinstance(total, int) or len(slos) >= total:
                break
            if len(slos) >= MAX_SLOS:
                break
        if number > 1:
            first["data"]["attributes"]["slos"] = slos[:MAX_SLOS]
        return first
