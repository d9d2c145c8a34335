"""The ``jira`` collector: Jira issue searches and counts as facts (Soundcheck's Jira integration).

Configured as Soundcheck configures it (``soundcheck.collectors.jira``)::

    jira:
      baseUrl: https://your-domain.atlassian.net
      username: you@example.com          # basic auth: email + API token (Jira Cloud) ...
      apiToken: ${JIRA_API_TOKEN}
      # personalAccessToken: ${JIRA_PAT} # ... or a bearer personal access token (Server / Data Center)
      frequency: {hours: 6}
      collects:
        - type: IssuesSearch             # jira:default/open_bugs: the issues found
          factName: open_bugs
          jql: project = {{ entity.metadata.annotations['jira/project-key'] }} AND type = Bug AND statusCategory != Done
          fields: [summary, status, priority]
          maxResults: 50
        - type: IssuesCount              # jira:default/open_bug_count: how many
          factName: open_bug_count
          jql: project = {{ entity.metadata.annotations['jira/project-key'] }} AND type = Bug AND statusCategory != Done

``jql`` is a template: ``{{ entity.<path> }}`` takes a value from the catalog entity (the grammar of the ``http``
collector). An entity value always goes into the JQL as one quoted JQL string (``"ABC"``; ``"`` and ``\\`` escaped,
and inside quotes the template wrote it is escaped only), so an annotation cannot add a clause to the query. An
entity without the value is not applicable for that fact.

Requests (``apiVersion``, default 3 for ``*.atlassian.net`` and 2 otherwise):

- Jira Cloud, REST v3: ``GET /rest/api/3/search/jql?jql=&maxResults=&fields=`` following ``nextPageToken`` until
  ``isLast`` or ``maxResults`` issues; the count is ``POST /rest/api/3/search/approximate-count {"jql"}``
  (Jira's own approximate count: recent changes may be missing from it).
- Jira Server / Data Center, REST v2: ``GET /rest/api/2/search?jql=&startAt=&maxResults=&fields=`` paged by
  ``startAt``; the count is the ``total`` of a search with ``maxResults=0``.

A 400 (an invalid JQL) fails that fact with Jira's ``errorMessages``; a 401 stops the block's requests (the
credentials are wrong for every entity), naming the config key and variable, never the value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

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
from soundcheck_cli.http.client import HttpClient, HttpError, json_body
from soundcheck_cli.located.nodes import loc_of

DEFAULT_FACT_NAMES = {"IssuesSearch": "issues_search", "IssuesCount": "issues_count"}
DEFAULT_MAX_RESULTS = 50
PAGE_SIZE = 100  # Jira's largest page for searches with fields
NO_CREDENTIALS = (
    "collector jira: no credentials provided, facts cannot be collected "
    "(set username + apiToken, or personalAccessToken)"
)

_ISSUE = {
    "type": "object",
    "required": ["key"],
    "properties": {
        "id": {"type": "string"},
        "key": {"type": "string"},
        "self": {"type": "string"},
        "fields": {"type": "object", "description": "the fields asked for (Jira's field ids as keys)"},
    },
}
SEARCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Jira issues search",
    "description": "The issues a JQL search found (GET /rest/api/3/search/jql, or /rest/api/2/search)",
    "type": "object",
    "required": ["jql", "count", "issues", "truncated"],
    "properties": {
        "jql": {"type": "string", "description": "the JQL sent, entity values substituted"},
        "count": {"type": "integer", "minimum": 0, "description": "issues listed here"},
        "total": {"type": ["integer", "null"], "description": "matches in Jira (REST v2 only; v3 searches do not count)"},
        "truncated": {"type": "boolean", "description": "true when more issues matched than maxResults"},
        "issues": {"type": "array", "items": _ISSUE},
    },
}
COUNT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Jira issues count",
    "description": "How many issues a JQL query matches (POST /rest/api/3/search/approximate-count, or v2 total)",
    "type": "object",
    "required": ["jql", "count"],
    "properties": {
        "jql": {"type": "string"},
        "count": {"type": "integer", "minimum": 0},
        "approximate": {"type": "boolean", "description": "Jira Cloud's count is approximate"},
    },
}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "jira collector",
    block_properties={
        "baseUrl": {"type": "string"},
        "username": {"type": "string"},
        "apiToken": {"type": "string"},
        "personalAccessToken": {"type": "string"},
        "apiVersion": {"enum": [2, 3, "2", "3"]},
    },
    entry_properties={
        "type": {"enum": list(DEFAULT_FACT_NAMES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "jql": {"type": "string", "minLength": 1},
        "fields": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "maxResults": {"type": "integer", "minimum": 1, "maximum": 10000},
    },
    entry_required=("type", "jql"),
    block_required=("baseUrl",),
)


class JiraCollector(EntityCollector):
    id = "jira"
    name = "Jira"
    description = "Jira issue searches and counts (JQL templated with entity values) as facts."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = {"IssuesSearch": SEARCH_SCHEMA, "IssuesCount": COUNT_SCHEMA}

    def __init__(self) -> None:
        super().__init__()
        self._templates: dict[FactRef, Template] = {}  # fact ref -> its parsed jql
        self._rejected: dict[int, str] = {}
        self._gate = CredentialGate()
        self._seen: dict[FactRef, str] = {}

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def set_config(self, config: Any) -> None:
        self._gate = CredentialGate()
        self._templates, self._rejected, self._seen = {}, {}, {}
        super().set_config(config)

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        refs = super().entry_fact_refs(entry, block, location, problems)
        jql = entry.get("jql")
        if refs is None or not isinstance(jql, str):
            return None
        before = len(problems.errors)
        template = parse_template(jql, problems, loc_of(entry, "jql") or location, "collects: jql")
        if any(isinstance(p, Placeholder) and p.root != "entity" for p in template.parts):
            problems.error("collects: jql: only {{ entity.<path> }} placeholders are supported", loc_of(entry, "jql") or location)
        if len(problems.errors) > before:
            return None
        previous = self._seen.get(refs[0])
        if previous is not None and previous != jql:
            problems.error(f"collects: two entries produce {refs[0]} with different jql: give each a factName", location)
            return None
        self._seen[refs[0]] = jql
        self._templates[refs[0]] = template
        return refs

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        url = str(block.get("baseUrl") or "")
        if url and not url.startswith(("https://", "http://")):
            problems.error(f"baseUrl must be an http(s) URL, not {url!r}", loc_of(block, "baseUrl"))
        if block.get("apiToken") and not block.get("username"):
            problems.error("apiToken needs username (the email you log in to Jira with)", loc_of(block, "apiToken"))

    # -- credentials --------------------------------------------------------------------------------------------
    def _auth(self, block: Mapping[str, Any]) -> str | None:
        pat = block.get("personalAccessToken")
        if isinstance(pat, str) and pat.strip():
            return f"Bearer {pat.strip()}"
        user, token = block.get("username"), block.get("apiToken")
        if isinstance(user, str) and isinstance(token, str) and user.strip() and token.strip():
            return "Basic " + base64.b64encode(f"{user.strip()}:{token.strip()}".encode()).decode("ascii")
        return None

    def _no_credentials(self, block: Mapping[str, Any]) -> str:
        missing = missing_env(block, "personalAccessToken") or missing_env(block, "apiToken")
        return f"{NO_CREDENTIALS}; not set: {missing}" if missing else NO_CREDENTIALS

    def disabled_reason(self) -> str | None:
        return self.disabled_if_no_block(lambda b: None if self._auth(b) else self._no_credentials(b))

    def base_url(self, block: Mapping[str, Any]) -> str:
        return str(block.get("baseUrl") or "").rstrip("/")

    def headers(self, block: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": self._auth(block) or "", "Accept": "application/json"}

    def api_version(self, block: Mapping[str, Any]) -> int:
        """``apiVersion`` as set, else 3 for Jira Cloud (``*.atlassian.net``) and 2 for a server of one's own."""
        if block.get("apiVersion") is not None:
            return int(block["apiVersion"])
        host = urlsplit(self.base_url(block)).hostname or ""
        return 3 if host.endswith((".atlassian.net", ".jira.com")) else 2

    # -- collection ---------------------------------------------------------------------------------------------
    def render_jql(self, template: Template, entity: Entity) -> str:
        return render_query(template, entity, '"', "JQL")

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        # the block's first request goes alone: a rejected credential costs one request, not one per entity
        return await self._gate.run(entry.block_index, lambda: self._fetch(entity, fact_ref, entry))

    async def _fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig) -> Outcome:
        ref = str(entity.ref)
        block = entry.block
        if not self._auth(block):
            return Outcome.failed(ref, fact_ref, self._no_credentials(block))
        rejected = self._rejected.get(entry.block_index)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        template = self._templates.get(fact_ref)
        if template is None:
            return Outcome.not_applicable(ref, fact_ref, f"collector jira does not produce {fact_ref}")
        try:
            jql = self.render_jql(template, entity)
        except Missing as exc:
            return Outcome.not_applicable(ref, fact_ref, str(exc))
        client = self.client(entry)
        version = self.api_version(block)
        try:
            if self.fact_type(fact_ref) == "IssuesCount":
                data = await self._count(client, version, jql)
            else:
                data = await self._search(client, version, jql, entry.entry)
        except HttpError as exc:
            said = _jira_message(exc)
            if exc.status == 401:
                where = credential_source(block, "personalAccessToken" if block.get("personalAccessToken") else "apiToken")
                reason = f"Jira rejected the credentials (HTTP 401 Unauthorized): check the collector's {where}"
                self._rejected[entry.block_index] = reason
                return Outcome.failed(ref, fact_ref, reason)
            if exc.status == 400:
                return Outcome.failed(ref, fact_ref, f"Jira refused the JQL {jql!r} (HTTP 400): {said or exc}")
            if exc.status in (403, 404) and said:
                return Outcome.failed(ref, fact_ref, f"Jira answered HTTP {exc.status} to the JQL {jql!r}: {said}")
            raise
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

    async def _search(self, client: HttpClient, version: int, jql: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        wanted = int(entry.get("maxResults") or DEFAULT_MAX_RESULTS)
        fields = entry.get("fields")
        fields_text = ",".join(fields) if isinstance(fields, list) else (fields or "*navigable")
        issues: list[Any] = []
        total = None
        truncated = False
        if version >= 3:
            token = None
            while True:
                params = [("jql", jql), ("maxResults", str(min(PAGE_SIZE, wanted - len(issues)))), ("fields", fields_text)]
                if token:
                    params.append(("nextPageToken", token))
                body = await client.get_json("/rest/api/3/search/jql", params=params)
                page = _issues(body, "GET /rest/api/3/search/jql")
                issues.extend(page)
                token = body.get("nextPageToken")
                last = body.get("isLast") is True or not token or not page
                if last or len(issues) >= wanted:
                    truncated = not last
                    break
        else:
            while True:
                params = [("jql", jql), ("startAt", str(len(issues))),
                          ("maxResults", str(min(PAGE_SIZE, wanted - len(issues)))), ("fields", fields_text)]
                body = await client.get_json("/rest/api/2/search", params=params)
                page = _issues(body, "GET /rest/api/2/search")
                issues.extend(page)
                total = body.get("total") if isinstance(body.get("total"), int) else None
                more = total is not None and len(issues) < total
                if not more or not page or len(issues) >= wanted:
                    truncated = more
                    break
        trimmed = [{k: i.get(k) for k in ("id", "key", "self", "fields") if k in i} for i in issues[:wanted]]
        return {"jql": jql, "count": len(trimmed), "total": total, "truncated": truncated, "issues": trimmed}

    async def _count(self, client: HttpClient, version: int, jql: str) -> dict[str, Any]:
        if version >= 3:
            response = await client.request("POST", "/rest/api/3/search/approximate-count", json={"jql": jql})
            try:
                body = response.json()
            except ValueError:
                body = None
            count = body.get("count") if isinstance(body, Mapping) else None
            if not isinstance(count, int):
                raise HttpError("POST /rest/api/3/search/approximate-count: unexpected response (no count)")
            return {"jql": jql, "count": count, "approximate": True}
        body = await client.get_json("/rest/api/2/search", params=[("jql", jql), ("maxResults", "0"), ("fields", "key")])
        total = body.get("total") if isinstance(body, Mapping) else None
        if not isinstance(total, int):
            raise HttpError("GET /rest/api/2/search: unexpected response (no total)")
        return {"jql": jql, "count": total, "approximate": False}


def _issues(body: Any, what: str) -> list[Mapping[str, Any]]:
    page = body.get("issues") if isinstance(body, Mapping) else None
    if not isinstance(page, list):
        raise HttpError(f"{what}: unexpected response (no issues list)")
    return [i for i in page if isinstance(i, Mapping)]


def _jira_message(exc: HttpError) -> str:
    """Jira's ``ErrorCollection`` (``{"errorMessages": [...], "errors": {field: message}}``), short."""
    body = json_body(exc.response)
    if not isinstance(body, Mapping):
        return ""
    parts = [str(m) for m in body.get("errorMessages") or [] if m]
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    return "; ".join(parts)[:300]
