"""The ``pagerduty`` collector: PagerDuty service details, incidents and standards scores as facts.

Configured like Soundcheck's PagerDuty integration (``soundcheck.collectors.pagerduty``)::

    pagerduty:
      token: ${PAGERDUTY_TOKEN}
      server: api.pagerduty.com        # or baseUrl: https://api.eu.pagerduty.com (scheme optional)
      frequency: {hours: 1}
      filter: {kind: Component, spec.lifecycle: production}
      cache: {duration: {hours: 2}}
      collects:
        - type: Service                # pagerduty:default/service
        - type: Incidents              # pagerduty:default/incidents
          window: {days: 30}
        - type: Standards              # pagerduty:default/standards
          factName: pd_standards       # -> pagerduty:default/pd_standards

Only entities annotated ``pagerduty.com/service-id`` are collected; for the others the facts are not applicable.
Requests follow PagerDuty's REST API v2 (developer.pagerduty.com/api-reference): ``Authorization: Token
token=<token>``, ``Accept: application/vnd.pagerduty+json;version=2``; the service id goes into the URL path
percent-encoded, so an annotation such as ``../../admin`` cannot change the endpoint called.

- ``Service``: ``GET /services/{id}?include[]=escalation_policies&include[]=teams&include[]=
  auto_pause_notifications_parameters&include[]=integrations`` (the seed's request); data = the ``service`` object.
- ``Incidents``: ``GET /incidents?service_ids[]={id}&since=...&until=...`` over ``window`` (default 30 days),
  following ``offset``/``more`` pagination; data = counts by status and urgency, and the incidents (trimmed).
- ``Standards``: ``GET /standards/scores/technical_services/{id}``; data = the scores object.

Without a token the collector warns "collector pagerduty: no token provided, facts cannot be collected" and its
facts stay not-reported. A 401 stops the collector's requests (the token is wrong for every entity) with a
message that never contains the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.api import credential_source
from soundcheck_cli.collectors.entity_collector import EntityCollector, collector_config_schema
from soundcheck_cli.http.client import (
    HttpClient,
    HttpError,
    NotFound,
    json_body,
    path_segment,
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import DURATION_SCHEMA, EntryConfig, parse_duration
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef, format_timestamp, utcnow

ANNOTATION = "pagerduty.com/service-id"
DEFAULT_BASE_URL = "https://api.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
SERVICE_INCLUDES = ("escalation_policies", "teams", "auto_pause_notifications_parameters", "integrations")
SERVICE_QUERY = urlencode([("include[]", name) for name in SERVICE_INCLUDES])  # encoded once, not per request
DEFAULT_FACT_NAMES = {"Service": "service", "Incidents": "incidents", "Standards": "standards"}
DEFAULT_WINDOW = timedelta(days=30)
PAGE_LIMIT = 100
MAX_INCIDENTS = 10_000  # PagerDuty's classic pagination stops at offset + limit = 10,000
NO_TOKEN = "collector pagerduty: no token provided, facts cannot be collected"

_REF = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "summary": {"type": ["string", "null"]},
        "self": {"type": ["string", "null"]},
        "html_url": {"type": ["string", "null"]},
    },
    "required": ["id"],
}

# PagerDuty's ``Service`` (REST API v2 OpenAPI, components/schemas/Service) as returned with the includes above:
# the seed's "Service Details" fact.
SERVICE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Service Details",
    "description": "A PagerDuty service (GET /services/{id} with escalation policies, teams, integrations and "
    "auto-pause parameters included)",
    "type": "object",
    "required": ["id", "name", "status"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "const": "service"},
        "summary": {"type": "string"},
        "self": {"type": "string", "format": "uri"},
        "html_url": {"type": "string", "format": "uri"},
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "status": {
            "type": "string",
            "enum": ["active", "warning", "critical", "maintenance", "disabled"],
            "description": "active, warning and critical are operational states; disabled and maintenance are not",
        },
        "auto_resolve_timeout": {"type": ["integer", "null"], "description": "seconds; null: never auto-resolve"},
        "acknowledgement_timeout": {"type": ["integer", "null"], "description": "seconds; null: disabled"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "last_incident_timestamp": {"type": ["string", "null"], "format": "date-time"},
        "alert_creation": {"type": "string", "enum": ["create_incidents", "create_alerts_and_incidents"]},
        "alert_grouping_parameters": {"type": "object"},
        "escalation_policy": {
            "type": "object",
            "description": "a reference, or the full escalation policy when included",
            "properties": {**_REF["properties"], "name": {"type": "string"}, "escalation_rules": {"type": "array"}},
            "required": ["id"],
        },
        "teams": {"type": "array", "items": {**_REF, "properties": {**_REF["properties"], "name": {"type": "string"}}}},
        "integrations": {
            "type": "array",
            "items": {**_REF, "properties": {**_REF["properties"], "name": {"type": "string"}, "vendor": {}}},
        },
        "incident_urgency_rule": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["constant", "use_support_hours"]},
                "urgency": {"type": "string"},
                "during_support_hours": {"type": "object"},
                "outside_support_hours": {"type": "object"},
            },
        },
        "support_hours": {"type": ["object", "null"]},
        "scheduled_actions": {"type": "array"},
        "auto_pause_notifications_parameters": {
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}, "timeout": {"type": ["integer", "null"]}},
        },
        "addons": {"type": "array"},
        "response_play": {"type": ["object", "null"]},
    },
}

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
INCIDENTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Incidents",
    "description": "The service's incidents created in [since, until) (GET /incidents?service_ids[]=...)",
    "type": "object",
    "required": ["since", "until", "total", "open", "byStatus", "byUrgency", "incidents", "truncated"],
    "properties": {
        "since": {"type": "string", "format": "date-time"},
        "until": {"type": "string", "format": "date-time"},
        "total": {"type": "integer", "minimum": 0},
        "open": {"type": "integer", "minimum": 0, "description": "triggered + acknowledged"},
        "byStatus": {
            **_COUNTS,
            "properties": {s: {"type": "integer"} for s in ("triggered", "acknowledged", "resolved")},
            "required": ["triggered", "acknowledged", "resolved"],
        },
        "byUrgency": {**_COUNTS, "properties": {u: {"type": "integer"} for u in ("high", "low")}, "required": ["high", "low"]},
        "truncated": {"type": "boolean", "description": "true when more incidents exist than were listed"},
        "incidents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "incident_number": {"type": ["integer", "null"]},
                    "title": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": ["triggered", "acknowledged", "resolved"]},
                    "urgency": {"type": ["string", "null"], "enum": ["high", "low", None]},
                    "priority": {"type": ["string", "null"]},
                    "created_at": {"type": ["string", "null"], "format": "date-time"},
                    "resolved_at": {"type": ["string", "null"], "format": "date-time"},
                    "html_url": {"type": ["string", "null"]},
                },
            },
        },
    },
}

STANDARDS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Standards scores",
    "description": "The service's scores against the account's standards (GET /standards/scores/technical_services/{id})",
    "type": "object",
    "required": ["resource_id", "score", "standards"],
    "properties": {
        "resource_id": {"type": "string"},
        "resource_type": {"type": "string"},
        "score": {
            "type": "object",
            "properties": {"passing": {"type": "integer", "minimum": 0}, "total": {"type": "integer", "minimum": 0}},
            "required": ["passing", "total"],
        },
        "standards": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "pass"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "type": {"type": "string"},
                    "active": {"type": "boolean"},
                    "pass": {"type": "boolean"},
                },
            },
        },
    },
}

SCHEMAS = {"Service": SERVICE_SCHEMA, "Incidents": INCIDENTS_SCHEMA, "Standards": STANDARDS_SCHEMA}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "pagerduty collector",
    block_properties={"token": {"type": "string"}, "server": {"type": "string"}, "baseUrl": {"type": "string"}},
    entry_properties={
        "type": {"enum": list(DEFAULT_FACT_NAMES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "window": DURATION_SCHEMA,
    },
    entry_required=("type",),
)


def normalize_base_url(server: str | None) -> str:
    """``api.pagerduty.com`` (Soundcheck writes the host alone), ``https://api.eu.pagerduty.com/`` → a base URL."""
    text = (server or "").strip().rstrip("/")
    if not text:
        return DEFAULT_BASE_URL
    return text if "://" in text else f"https://{text}"


def _trim_incident(incident: Mapping[str, Any]) -> dict[str, Any]:
    priority = incident.get("priority")
    return {
        "id": incident.get("id"),
        "incident_number": incident.get("incident_number"),
        "title": incident.get("title"),
        "status": incident.get("status"),
        "urgency": incident.get("urgency"),
        "priority": priority.get("summary") if isinstance(priority, Mapping) else None,
        "created_at": incident.get("created_at"),
        "resolved_at": incident.get("resolved_at"),
        "html_url": incident.get("html_url"),
    }


def summarize_incidents(incidents: list[Mapping[str, Any]], since: str, until: str, truncated: bool) -> dict[str, Any]:
    """The ``Incidents`` fact: counts by status and urgency plus the (trimmed) incidents, newest last as listed."""
    by_status = {"triggered": 0, "acknowledged": 0, "resolved": 0}
    by_urgency = {"high": 0, "low": 0}
    for incident in incidents:
        status = incident.get("status")
        if isinstance(status, str):
            by_status[status] = by_status.get(status, 0) + 1
        urgency = incident.get("urgency")
        if isinstance(urgency, str):
            by_urgency[urgency] = by_urgency.get(urgency, 0) + 1
    return {
        "since": since,
        "until": until,
        "total": len(incidents),
        "open": by_status["triggered"] + by_status["acknowledged"],
        "byStatus": by_status,
        "byUrgency": by_urgency,
        "truncated": truncated,
        "incidents": [_trim_incident(i) for i in incidents],
    }


def _error_message(exc: HttpError) -> str:
    """PagerDuty's own words from an error body ``{"error": {"message", "errors": [...]}}`` (API reference,
    "Errors"), short; empty when the body says nothing."""
    body = json_body(exc.response)
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return ""
    parts = [str(error.get("message") or "")]
    details = error.get("errors")
    if isinstance(details, list):
        parts += [str(d) for d in details]
    return "; ".join(p for p in parts if p)[:200]


def _not_found_reason(kind: str | None, service_id: str, exc: HttpError) -> str:
    """What PagerDuty did not find. Only the Service fact's 404 means "no such service": for Incidents and
    Standards the service may well exist (it was just collected), so the endpoint that answered 404 is named."""
    said = _error_message(exc)
    said = f": {said}" if said and said.lower() != "not found" else ""  # "HTTP 404: Not Found" says it twice
    if kind == "Service":
        return f"PagerDuty has no service {service_id!r} (HTTP 404{said})"
    if kind == "Standards":
        return (
            f"PagerDuty has no standards scores for service {service_id!r} (HTTP 404 from "
            f"/standards/scores/technical_services/{{id}}{said}; Service Standards may not be available on the account)"
        )
    return f"PagerDuty answered HTTP 404 to the incident list of service {service_id!r} (GET /incidents{said})"


class PagerDutyCollector(EntityCollector):
    id = "pagerduty"
    name = "PagerDuty"
    description = "PagerDuty service details, incidents and standards scores for entities annotated pagerduty.com/service-id."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = SCHEMAS

    def __init__(self) -> None:
        super().__init__()
        self._rejected: dict[int, str] = {}  # block index -> why its token was rejected (stop asking)

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        refs = super().entry_fact_refs(entry, block, location, problems)
        if refs is not None and entry.get("window") is not None:
            parse_duration(entry["window"], problems, "window", loc_of(entry, "window") or location)
        return refs

    def set_config(self, config: Any) -> None:
        self._rejected = {}
        super().set_config(config)

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        key = "baseUrl" if block.get("baseUrl") else "server"
        server = block.get(key)
        if server is not None and not normalize_base_url(str(server)).startswith(("https://", "http://")):
            problems.error(f"{key} must be a host name or an http(s) URL, not {server!r}", loc_of(block, key))

    # -- facts ----------------------------------------------------------------------------------------------------
    # -- HTTP -----------------------------------------------------------------------------------------------------
    def _token(self, block: Mapping[str, Any]) -> str | None:
        token = block.get("token")
        return token.strip() if isinstance(token, str) and token.strip() else None

    def _no_token_reason(self, block: Mapping[str, Any]) -> str:
        missing = missing_env(block, "token")
        return f"{NO_TOKEN} (token is not set: {missing})" if missing else NO_TOKEN

    def disabled_reason(self) -> str | None:
        return self.disabled_if_no_block(lambda b: None if self._token(b) else self._no_token_reason(b))

    def base_url(self, block: Mapping[str, Any]) -> str:
        return normalize_base_url(block.get("baseUrl") or block.get("server"))

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Token token={self._token(block) or ''}", "Accept": ACCEPT}

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        service_id = entity.annotations.get(ANNOTATION)
        if not isinstance(service_id, str) or not service_id.strip():
            return Outcome.not_applicable(ref, fact_ref, f"no {ANNOTATION} annotation")
        service_id = service_id.strip()
        if not self._token(entry.block):
            # missing credentials are a failure, never "not applicable" (issue 17 item 2)
            return Outcome.failed(ref, fact_ref, self._no_token_reason(entry.block))
        rejected = self._rejected.get(entry.block_index)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        client = self.client(entry)
        kind = self.fact_type(fact_ref)
        try:
            if kind == "Service":
                data = await self._service(client, service_id)
            elif kind == "Incidents":
                data = await self._incidents(client, service_id, entry)
            elif kind == "Standards":
                data = await self._standards(client, service_id)
            else:
                return Outcome.not_applicable(ref, fact_ref, f"collector pagerduty does not produce {fact_ref}")
        except NotFound as exc:
            return Outcome.absent(ref, fact_ref, _not_found_reason(kind, service_id, exc))
        except HttpError as exc:
            if exc.status == 401:
                # name the config key and the variable this block really uses (never the value)
                reason = (
                    "PagerDuty rejected the token (HTTP 401 Unauthorized): check the collector's "
                    f"{credential_source(entry.block, 'token')}"
                )
                self._rejected[entry.block_index] = reason
                return Outcome.failed(ref, fact_ref, reason)
            if exc.status == 403:
                return Outcome.failed(ref, fact_ref, f"the token may not read PagerDuty service {service_id!r}: {exc}")
            raise
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

    async def _service(self, client: HttpClient, service_id: str) -> Any:
        body = await client.get_json(f"/services/{path_segment(service_id)}?{SERVICE_QUERY}")
        if not isinstance(body, Mapping) or not isinstance(body.get("service"), Mapping):
            raise HttpError(f"GET /services/{path_segment(service_id)}: unexpected response (no 'service' object)")
        return body["service"]

    async def _standards(self, client: HttpClient, service_id: str) -> Any:
        url = f"/standards/scores/technical_services/{path_segment(service_id)}"
        body = await client.get_json(url)
        if not isinstance(body, Mapping):
            raise HttpError(f"GET {url}: unexpected response (not an object)")
        return body

    async def _incidents(self, client: HttpClient, service_id: str, entry: EntryConfig) -> Any:
        window = parse_duration(entry.entry["window"], Problems()) if entry.entry.get("window") is not None else None
        until_time = utcnow()
        since = format_timestamp(until_time - (window or DEFAULT_WINDOW))
        until = format_timestamp(until_time)
        incidents: list[Mapping[str, Any]] = []
        offset = 0
        truncated = False
        while True:
            body = await client.get_json(
                "/incidents",
                params=[
                    ("service_ids[]", service_id),  # httpx encodes query values
                    ("since", since),
                    ("until", until),
                    ("time_zone", "UTC"),
                    ("limit", str(PAGE_LIMIT)),
                    ("offset", str(offset)),
                ],
            )
            page = body.get("incidents") if isinstance(body, Mapping) else None
            if not isinstance(page, list):
                raise HttpError("GET /incidents: unexpected response (no 'incidents' list)")
            incidents.extend(i for i in page if isinstance(i, Mapping))
            offset += len(page)
            if not body.get("more") or not page:
                break
            if offset + PAGE_LIMIT > MAX_INCIDENTS:
                truncated = True
                break
        return summarize_incidents(incidents, since, until, truncated)
