"""ExamplePagerDutyFactCollector: the Soundcheck tutorial's custom integration, as a soundcheck plugin.

It collects ``example-pagerduty:default/service``, the PagerDuty service of each catalog entity annotated
``pagerduty.com/service-id`` (PagerDuty REST API v2: ``GET /services/{id}``, ``Authorization: Token token=...``).
Configuration (``soundcheck.collectors.example-pagerduty``), checked against ``config_schema()`` before use::

    token: ${PAGERDUTY_TOKEN}          # required
    baseUrl: https://api.pagerduty.com # optional (EU accounts: https://api.eu.pagerduty.com)
    frequency: {hours: 1}              # filter, exclude, frequency, initialDelay, batchSize, cache:
    collects:                          #   inherited by each entry unless it sets its own
      - type: Service
        filter: {kind: Component}

As in the tutorial's ``getCollectionConfigs``, a config without ``collects`` schedules nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soundcheck_cli.collectors import (
    Entity,
    EntityCollector,
    EntryConfig,
    FactRef,
    HttpError,
    Location,
    Outcome,
    Problems,
    collector_config_schema,
    parse_fact_ref,
    path_segment,
    stringify_entity_ref,
)

COLLECTOR_ID = "example-pagerduty"
ANNOTATION = "pagerduty.com/service-id"
SERVICE_FACT = FactRef(COLLECTOR_ID, "default", "service")
DEFAULT_BASE_URL = "https://api.pagerduty.com"
# The tutorial's request: the service with its escalation policies, teams, integrations and auto-pause settings.
INCLUDES = ("escalation_policies", "teams", "auto_pause_notifications_parameters", "integrations")

# The fact's data: PagerDuty's Service object (REST API v2 OpenAPI, components/schemas/Service), abridged.
SERVICE_DETAILS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Service Details",
    "type": "object",
    "required": ["id", "name", "status"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "status": {"enum": ["active", "warning", "critical", "maintenance", "disabled"]},
        "html_url": {"type": "string"},
        "escalation_policy": {"type": "object"},
        "teams": {"type": "array"},
        "integrations": {"type": "array"},
        "acknowledgement_timeout": {"type": ["integer", "null"]},
        "auto_resolve_timeout": {"type": ["integer", "null"]},
        "auto_pause_notifications_parameters": {"type": "object"},
    },
}

# One block (or a list of blocks), with the common collection settings, HTTP client settings and ``collects``.
CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "example-pagerduty collector",
    block_properties={
        "token": {"type": "string", "minLength": 1, "description": "PagerDuty REST API key"},
        "baseUrl": {"type": "string", "pattern": "^https?://"},
    },
    entry_properties={"type": {"enum": ["Service"]}},
    block_required=("token",),
)


class ExamplePagerDutyFactCollector(EntityCollector):
    """PagerDuty service details for entities annotated ``pagerduty.com/service-id``."""

    id = COLLECTOR_ID
    name = "Example PagerDuty"
    description = "Service details from PagerDuty for entities annotated pagerduty.com/service-id (tutorial)."

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        return [SERVICE_FACT]  # every ``collects`` entry collects the one fact; its settings say when and for whom

    def data_schema(self, fact_ref: FactRef | str) -> dict[str, Any] | None:
        return SERVICE_DETAILS_SCHEMA if parse_fact_ref(fact_ref) == SERVICE_FACT else None

    def base_url(self, block: Mapping[str, Any]) -> str:
        return str(block.get("baseUrl") or DEFAULT_BASE_URL).rstrip("/")

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Token token={block['token']}", "Accept": "application/vnd.pagerduty+json;version=2"}

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        entity_ref = stringify_entity_ref(entity)
        service_id = entity.annotations.get(ANNOTATION)
        if not isinstance(service_id, str) or not service_id.strip():
            return Outcome.not_applicable(entity_ref, fact_ref, f"no {ANNOTATION} annotation")
        self.logger.debug("fetching PagerDuty service %s for %s", service_id, entity_ref)
        # path_segment: the id is percent-encoded, so an annotation cannot change the endpoint called. A 404
        # raises NotFound (the fact is stored as absent); other failures raise HttpError (the old fact is kept).
        body = await self.client(entry).get_json(
            f"/services/{path_segment(service_id.strip())}", params=[("include[]", name) for name in INCLUDES]
        )
        service = body.get("service") if isinstance(body, Mapping) else None
        if not isinstance(service, Mapping):
            raise HttpError(f"GET /services/{service_id}: unexpected response (no 'service' object)")
        return Outcome.collected(self.make_fact(entity, fact_ref, dict(service)))
