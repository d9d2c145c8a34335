"""The ``sonarqube`` collector: a SonarQube (or SonarCloud) project, its tags, open issues and measures as facts.

Configured like the other Soundcheck integrations (``soundcheck.collectors.sonarqube``)::

    sonarqube:
      baseUrl: https://sonarqube.example.com     # SonarCloud: https://sonarcloud.io; a context path is kept
      token: ${SONARQUBE_TOKEN}
      authScheme: bearer                          # default; 'basic' for servers older than SonarQube 10
      frequency: {hours: 12}
      collects:
        - type: projects                          # sonarqube:default/projects
        - type: project-tags                      # sonarqube:default/project-tags
        - type: issues                            # sonarqube:default/issues
          facets: [severities, types]
        - type: measures                          # sonarqube:default/measures
          metricKeys: [coverage, bugs, vulnerabilities, code_smells]

Only entities annotated ``sonarqube.org/project-key`` are collected; for the others the facts are not applicable.
Several servers, as in Soundcheck: a list of blocks, each with a ``name``; the annotation ``<name>/<project key>``
chooses the block whose server and credentials are used (project keys cannot contain ``/``, so the part after the
last ``/`` is the key). A prefix naming no configured instance fails that entity; with no named block at all, the
prefix is ignored (Backstage's form on a single server). The key is sent as a query value, percent-encoded.
Credentials: ``token``, or Soundcheck's alternative ``username`` + ``password`` (HTTP basic auth).

Requests follow SonarQube's Web API (the ``/web_api`` page of every server; next.sonarqube.com/sonarqube/web_api):

- ``projects``: ``GET /api/components/show?component={key}``; data = the ``component`` object as SonarQube sends
  it (``key, name, qualifier, visibility, analysisDate, version, tags``...) plus ``instance`` (the name chosen).
- ``project-tags``: ``GET /api/components/show?component={key}``; data = ``{key, name, qualifier, tags,
  visibility, analysisDate}`` of the ``component`` (``tags: []`` when the project has none).
- ``issues``: ``GET /api/issues/search?componentKeys={key}&resolved=false&ps=1`` (+ ``facets=`` when the entry
  lists ``facets``, + the entry's ``params``, e.g. ``{types: BUG}``). ``componentKeys`` is understood by every
  version: SonarQube 10.2 renamed it ``components`` but keeps the old name as a deprecated key, while before 10.2
  ``components`` meant "this component only, not its files". Data = ``{total, facets: {name: {value: count}}}``
  where ``total`` is ``paging.total`` (or the older top-level ``total``).
- ``measures``: ``GET /api/measures/component?component={key}&metricKeys=...`` (``metricKeys`` configurable, default
  below). Data = ``{component, measures: {metric: value}, missing: [...], raw: [...]}``: values are numbers when
  SonarQube's string parses as one (``"81.3"`` → 81.3), else strings (``alert_status: "OK"``); a ``new_*`` metric's
  value is its period value; ``missing`` lists requested metrics the project has no value for.

Authentication: ``Authorization: Bearer <token>`` (the scheme SonarQube Server 10+ and SonarCloud recommend for
user, project and global analysis tokens). Older servers take a user token as the login of HTTP basic auth with an
empty password (``<token>:``): set ``authScheme: basic``. Without ``token`` or ``baseUrl`` the collector warns
"collector sonarqube: no token provided, facts cannot be collected" (or names the missing baseUrl) and its facts
stay not-reported. A 401 stops asking (the token is wrong for every project) with a message that never contains
the token; a 403 fails only that project (SonarQube permissions are per project). HTTP 404 = the fact is absent.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import replace
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
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef

ANNOTATION = "sonarqube.org/project-key"
PROJECTS = "projects"
PROJECT_TAGS = "project-tags"
ISSUES = "issues"
MEASURES = "measures"
DEFAULT_FACT_NAMES = {PROJECTS: "projects", PROJECT_TAGS: "project-tags", ISSUES: "issues", MEASURES: "measures"}
DEFAULT_METRIC_KEYS = (
    "coverage",
    "bugs",
    "vulnerabilities",
    "code_smells",
    "duplicated_lines_density",
    "ncloc",
    "alert_status",
)
AUTH_SCHEMES = ("bearer", "basic")
# Query parameters of api/issues/search the collector sets itself (the project and the facets have their own keys).
RESERVED_ISSUE_PARAMS = frozenset({"componentKeys", "components", "componentUuids", "projects", "facets"})
NO_TOKEN = "collector sonarqube: no token provided, facts cannot be collected"
NO_BASE_URL = "collector sonarqube: no baseUrl provided (SonarCloud: https://sonarcloud.io), facts cannot be collected"
_INTEGER = re.compile(r"^-?\d+$")
_NAME = r"^[A-Za-z][A-Za-z0-9_.]*$"  # metric keys and facet names

_STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}
PROJECT_TAGS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SonarQube project tags",
    "description": "GET /api/components/show?component=<key>: the component's identity and tags",
    "type": "object",
    "required": ["key", "tags"],
    "properties": {
        "key": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "qualifier": {"type": ["string", "null"], "description": "TRK for a project"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": {"type": ["string", "null"], "enum": ["public", "private", None]},
        "analysisDate": {"type": ["string", "null"]},
    },
}
PROJECTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SonarQube project",
    "description": "GET /api/components/show?component=<key>: the project (component) as SonarQube sends it",
    "type": "object",
    "required": ["key"],
    "properties": {
        "key": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "qualifier": {"type": ["string", "null"], "description": "TRK for a project"},
        "visibility": {"type": ["string", "null"]},
        "analysisDate": {"type": ["string", "null"], "description": "the last analysis; absent when never analysed"},
        "leakPeriodDate": {"type": ["string", "null"]},
        "version": {"type": ["string", "null"]},
        "tags": _STRINGS,
        "instance": {"type": ["string", "null"], "description": "the configured instance (name) it came from"},
    },
}
ISSUES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SonarQube open issues",
    "description": "GET /api/issues/search?componentKeys=<key>&resolved=false&ps=1: the count and the facets",
    "type": "object",
    "required": ["total", "facets"],
    "properties": {
        "total": {"type": "integer", "minimum": 0},
        "facets": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        },
    },
}
MEASURES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SonarQube measures",
    "description": "GET /api/measures/component?component=<key>&metricKeys=...: {metric: value} and the raw list",
    "type": "object",
    "required": ["component", "measures", "missing", "raw"],
    "properties": {
        "component": {"type": "string"},
        "measures": {"type": "object", "additionalProperties": {"type": ["number", "string", "boolean", "null"]}},
        "missing": {"type": "array", "items": {"type": "string"}},
        "raw": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["metric"],
                "properties": {
                    "metric": {"type": "string"},
                    "value": {"type": "string"},
                    "bestValue": {"type": "boolean"},
                    "period": {"type": "object"},
                    "periods": {"type": "array"},
                },
            },
        },
    },
}
SCHEMAS = {PROJECTS: PROJECTS_SCHEMA, PROJECT_TAGS: PROJECT_TAGS_SCHEMA, ISSUES: ISSUES_SCHEMA, MEASURES: MEASURES_SCHEMA}

_NAMES = {
    "anyOf": [
        {"type": "array", "items": {"type": "string", "pattern": _NAME}, "minItems": 1},
        {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.]*(\s*,\s*[A-Za-z][A-Za-z0-9_.]*)*$"},
    ]
}
_PARAM_VALUE = {"anyOf": [{"type": ["string", "number", "boolean"]}, {"type": "array", "items": {"type": ["string", "number"]}}]}
CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "sonarqube collector",
    block_properties={
        # Soundcheck's multi-instance form: a list of blocks, each with a ``name`` that the annotation's
        # ``<name>/<project key>`` prefix chooses.
        "name": {"type": "string", "pattern": r"^[^/\s]+$"},
        "baseUrl": {"type": "string"},
        "token": {"type": "string"},
        # Soundcheck's alternative to a token: HTTP basic auth with a login and password
        "username": {"type": "string"},
        "password": {"type": "string"},
        "authScheme": {"enum": list(AUTH_SCHEMES)},
    },
    entry_properties={
        "type": {"enum": list(DEFAULT_FACT_NAMES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "metricKeys": _NAMES,
        "facets": _NAMES,
        "params": {"type": "object", "additionalProperties": _PARAM_VALUE},
    },
    entry_required=("type",),
)


def normalize_base_url(base_url: str | None) -> str:
    """``sonar.example.com`` or ``https://sonar.example.com/sonar/`` → a base URL (scheme defaults to https)."""
    text = (base_url or "").strip().rstrip("/")
    if not text:
        return ""
    return text if "://" in text else f"https://{text}"


def names(node: Any, default: tuple[str, ...] = ()) -> list[str]:
    """A list of names from ``[a, b]`` or ``"a, b"`` (duplicates dropped, order kept)."""
    if node is None:
        return list(default)
    items = node.split(",") if isinstance(node, str) else list(node)
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return out


def split_annotation(annotation: str) -> tuple[str | None, str]:
    """``(instance, project key)`` of an annotation value: ``my:project`` → ``(None, "my:project")``; the
    multi-instance form ``instance1/my:project`` → ``("instance1", "my:project")`` (project keys cannot contain
    ``/``, so everything before the last ``/`` is the instance)."""
    text = annotation.strip()
    if "/" not in text:
        return None, text
    instance, key = text.rsplit("/", 1)
    return instance.strip() or None, key.strip()


def project_key(annotation: str) -> str:
    """The project key of an annotation value (``instance1/my:project`` → ``my:project``)."""
    return split_annotation(annotation)[1]


def measure_value(measure: Mapping[str, Any]) -> Any:
    """A measure's value as a number when it parses as one. ``new_*`` metrics have no ``value`` but a ``period``
    (SonarQube >= 8.1) or ``periods`` (older) value."""
    value = measure.get("value")
    if value is None:
        period = measure.get("period")
        if not isinstance(period, Mapping):
            periods = measure.get("periods")
            period = periods[0] if isinstance(periods, list) and periods and isinstance(periods[0], Mapping) else None
        value = period.get("value") if isinstance(period, Mapping) else None
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.match(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _api_errors(exc: HttpError) -> str:
    """SonarQube's error body is ``{"errors": [{"msg": "..."}]}``."""
    body = json_body(exc.response)
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list):
        messages = [str(e.get("msg")) for e in errors if isinstance(e, Mapping) and e.get("msg")]
        return "; ".join(messages)[:200]
    return ""


class SonarQubeCollector(EntityCollector):
    id = "sonarqube"
    name = "SonarQube"
    description = "SonarQube / SonarCloud project tags, open issues and measures for entities annotated sonarqube.org/project-key."
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
        typed = self.typed_fact_ref(entry, location, problems)
        if typed is None:
            return None
        ref, kind = typed
        for option, owner in (("metricKeys", MEASURES), ("facets", ISSUES), ("params", ISSUES)):
            if entry.get(option) is not None and kind != owner:
                problems.error(f"collects: {option} applies to type {owner} only", loc_of(entry, option) or location)
                return None
        params = entry.get("params")
        if isinstance(params, Mapping):
            for key in params:
                if key in RESERVED_ISSUE_PARAMS:
                    problems.error(
                        f"collects: params.{key} is set by the collector (the project comes from the {ANNOTATION} "
                        "annotation; use 'facets' for facets)",
                        loc_of(params, key) or location,
                    )
                    return None
        return [ref]

    def set_config(self, config: Any) -> None:
        self._rejected = {}
        super().set_config(config)

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        value = block.get("baseUrl")
        if value is not None:
            url = normalize_base_url(str(value))
            if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
                problems.error(f"baseUrl must be an http(s) URL, not {value!r}", loc_of(block, "baseUrl"))

    # -- facts ----------------------------------------------------------------------------------------------------
    # -- credentials and HTTP -------------------------------------------------------------------------------------
    @staticmethod
    def _token(block: Mapping[str, Any]) -> str | None:
        token = block.get("token")
        return token.strip() if isinstance(token, str) and token.strip() else None

    def _unusable_reason(self, block: Mapping[str, Any]) -> str | None:
        """Why this block cannot collect (no token, no baseUrl, naming an unset variable), else ``None``."""
        if not normalize_base_url(block.get("baseUrl") if isinstance(block.get("baseUrl"), str) else None):
            missing = missing_env(block, "baseUrl")
            return f"{NO_BASE_URL} (baseUrl is not set: {missing})" if missing else NO_BASE_URL
        if not self._token(block) and not self._login(block):
            missing = missing_env(block, "token") or missing_env(block, "password") or missing_env(block, "username")
            return f"{NO_TOKEN} (token is not set: {missing})" if missing else NO_TOKEN
        return None

    @staticmethod
    def _login(block: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(username, password)`` when the block authenticates with them (Soundcheck's alternative to a token)."""
        user, password = block.get("username"), block.get("password")
        if isinstance(user, str) and user.strip() and isinstance(password, str) and password:
            return user.strip(), password
        return None

    def disabled_reason(self) -> str | None:
        return self.disabled_if_no_block(self._unusable_reason)

    def base_url(self, block: Mapping[str, Any]) -> str:
        return normalize_base_url(block.get("baseUrl"))

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        login = None if self._token(block) else self._login(block)
        if login is not None:
            credentials = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode("ascii")
            return {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        token = self._token(block) or ""
        if block.get("authScheme") == "basic":
            # Older servers: the token is the login of HTTP basic auth, with an empty password.
            credentials = base64.b64encode(f"{token}:".encode()).decode("ascii")
            return {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def instance_entry(self, entry: EntryConfig, instance: str | None) -> EntryConfig | str:
        """``entry`` with the block of the SonarQube instance the annotation names (``name: <instance>``), or why
        there is none. No prefix, or a prefix while no block has a name (Backstage's ``instance/key`` form on a
        single server): the entry's own block."""
        config = self.config()
        blocks = config if isinstance(config, list) else [config]
        named = {
            str(b["name"]): index
            for index, b in enumerate(blocks)
            if isinstance(b, Mapping) and isinstance(b.get("name"), str) and b.get("enabled", True) is not False
        }
        if instance is None or not any(isinstance(b, Mapping) and b.get("name") for b in blocks):
            return entry
        index = named.get(instance)
        if index is None:
            known = ", ".join(sorted(named)) or "none"
            return f"no SonarQube instance named {instance!r} (soundcheck.collectors.sonarqube[].name: {known})"
        return replace(entry, block=blocks[index], block_index=index)

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        annotation = entity.annotations.get(ANNOTATION)
        instance, key = split_annotation(annotation) if isinstance(annotation, str) else (None, "")
        if not key:
            return Outcome.not_applicable(ref, fact_ref, f"no {ANNOTATION} annotation")
        chosen = self.instance_entry(entry, instance)
        if isinstance(chosen, str):
            return Outcome.failed(ref, fact_ref, chosen)
        entry = chosen  # the instance's server and credentials; the entry's options stay
        unusable = self._unusable_reason(entry.block)
        if unusable:
            return Outcome.failed(ref, fact_ref, unusable)  # missing credentials fail (issue 17 item 2)
        rejected = self._rejected.get(entry.block_index)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        client = self.client(entry)
        kind = self.fact_type(fact_ref)
        try:
            if kind == PROJECTS:
                data = await self._project(client, key, instance)
            elif kind == PROJECT_TAGS:
                data = await self._project_tags(client, key)
            elif kind == ISSUES:
                data = await self._issues(client, key, entry)
            elif kind == MEASURES:
                data = await self._measures(client, key, entry)
            else:
                return Outcome.not_applicable(ref, fact_ref, f"collector sonarqube does not produce {fact_ref}")
        except NotFound:
            return Outcome.absent(ref, fact_ref, f"SonarQube has no project {key!r} (HTTP 404)")
        except HttpError as exc:
            if exc.status == 401:
                reason = (
                    "SonarQube rejected the token (HTTP 401 Unauthorized): check the collector's "
                    f"{credential_source(entry.block, 'token')}, and authScheme: basic for servers older than SonarQube 10"
                )
                self._rejected[entry.block_index] = reason
                return Outcome.failed(ref, fact_ref, reason)
            if exc.status == 403:
                return Outcome.failed(ref, fact_ref, f"the token may not browse SonarQube project {key!r} (HTTP 403)")
            detail = _api_errors(exc)
            if detail and exc.status is not None and 400 <= exc.status < 500:
                detail = http_options(self.context).redactor.redact(detail)  # an API may echo what it was sent
                return Outcome.failed(ref, fact_ref, f"SonarQube refused the request (HTTP {exc.status}): {detail}")
            raise
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

    async def _project(self, client: HttpClient, key: str, instance: str | None) -> Any:
        body = await client.get_json("/api/components/show", params=[("component", key)])
        component = body.get("component") if isinstance(body, Mapping) else None
        if not isinstance(component, Mapping):
            raise HttpError("GET /api/components/show: unexpected response (no 'component' object)")
        return {**component, "instance": instance}

    async def _project_tags(self, client: HttpClient, key: str) -> Any:
        body = await client.get_json("/api/components/show", params=[("component", key)])
        component = body.get("component") if isinstance(body, Mapping) else None
        if not isinstance(component, Mapping):
            raise HttpError("GET /api/components/show: unexpected response (no 'component' object)")
        tags = component.get("tags")
        return {
            "key": component.get("key", key),
            "name": component.get("name"),
            "qualifier": component.get("qualifier"),
            "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
            "visibility": component.get("visibility"),
            "analysisDate": component.get("analysisDate"),
        }

    async def _issues(self, client: HttpClient, key: str, entry: EntryConfig) -> Any:
        params: dict[str, str] = {"componentKeys": key, "resolved": "false", "ps": "1"}
        extra = entry.entry.get("params")
        if isinstance(extra, Mapping):
            for name, value in extra.items():
                if isinstance(value, list):
                    params[str(name)] = ",".join(str(v) for v in value)
                elif isinstance(value, bool):
                    params[str(name)] = "true" if value else "false"
                else:
                    params[str(name)] = str(value)
        facets = names(entry.entry.get("facets"))
        if facets:
            params["facets"] = ",".join(facets)
        body = await client.get_json("/api/issues/search", params=params)
        if not isinstance(body, Mapping):
            raise HttpError("GET /api/issues/search: unexpected response (not an object)")
        paging = body.get("paging")
        total = paging.get("total") if isinstance(paging, Mapping) else None
        if not isinstance(total, int):
            total = body.get("total")  # the older, deprecated top-level count
        if isinstance(total, bool) or not isinstance(total, int):
            raise HttpError("GET /api/issues/search: unexpected response (no 'paging.total')")
        out: dict[str, Any] = {"total": total, "facets": {}}
        for facet in body.get("facets") or []:
            if isinstance(facet, Mapping) and isinstance(facet.get("property"), str):
                values = facet.get("values") if isinstance(facet.get("values"), list) else []
                out["facets"][facet["property"]] = {
                    str(v.get("val")): int(v.get("count") or 0) for v in values if isinstance(v, Mapping)
                }
        return out

    async def _measures(self, client: HttpClient, key: str, entry: EntryConfig) -> Any:
        metrics = names(entry.entry.get("metricKeys"), DEFAULT_METRIC_KEYS)
        body = await client.get_json(
            "/api/measures/component", params=[("component", key), ("metricKeys", ",".join(metrics))]
        )
        component = body.get("component") if isinstance(body, Mapping) else None
        if not isinstance(component, Mapping) or not isinstance(component.get("measures", []), list):
            raise HttpError("GET /api/measures/component: unexpected response (no 'component.measures' list)")
        raw = [m for m in component.get("measures", []) if isinstance(m, Mapping) and isinstance(m.get("metric"), str)]
        values = {m["metric"]: measure_value(m) for m in raw}
        return {
            "component": component.get("key", key),
            "measures": values,
            "missing": [m for m in metrics if m not in values],
            "raw": raw,
        }
