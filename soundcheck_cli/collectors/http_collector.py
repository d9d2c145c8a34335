"""The ``http`` collector: facts from plain HTTP endpoints, configured without code (Soundcheck's HTTP integration).

::

    http:
      secrets:                          # a list of {key, value}, or a mapping name -> value
        - key: grafanaApiToken
          value: ${GRAFANA_TOKEN}
      config:
        grafanaUrl: https://grafana.example.com
      frequency: {hours: 6}
      collects:
        - factName: dashboard           # -> http:default/dashboard
          url: "{{ config.grafanaUrl }}/api/dashboards/uid/{{ entity.metadata.annotations['grafana/dashboard-uid'] }}"
          method: GET                   # default
          headers:
            Authorization: "Bearer {{ secrets.grafanaApiToken }}"
          body: ...                     # optional: a string, or a mapping/list sent as JSON
          path: $.dashboard.panels      # optional JSONPath extracted from a JSON response
          filter: {kind: Component}

Placeholders ``{{ entity.<path> }}``, ``{{ secrets.<key> }}`` and ``{{ config.<path> }}`` (path segments ``.name``,
``['key']``, ``["key"]``, ``[0]``, the grammar of ``rules.messages``) are substituted in one pass over the template
only: nothing is evaluated, and a value that itself looks like ``{{ ... }}`` stays literal text. Values from the
catalog entity are percent-encoded in the URL and refused in headers when they contain a line break (or a
non-ASCII character, which HTTP headers cannot carry), so an annotation cannot change the host, the query or add a
header. In the URL's path an entity value keeps its ``/`` as Soundcheck does (its templates are substituted as
written), so ``{{ entity.metadata.annotations['github.com/project-slug'] }}`` gives ``/repos/org/repo``: each
``/``-separated part is percent-encoded (``?``, ``#``, ``%``... cannot end the path) and a value with an empty,
``.`` or ``..`` part is refused (not applicable, with the reason), so it can never climb out of the path the
template wrote. Entry option ``encodeSlashes: true`` encodes the whole value as one path segment instead
(``org%2Frepo``). In the query, a value is always one encoded query value. A placeholder
with no value for an entity makes that entity not-applicable for the fact, with the reason.

Responses: a JSON body becomes the fact's data (after ``path``, when given; no match → ``null``); any other body
is stored as ``{status, body}`` (text, at most 64 KiB, with ``truncated``). 404/410 record the fact as absent;
other 4xx fail without retry; 5xx, timeouts and connection errors are retried (``soundcheck_cli.http.client``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.entity_collector import EntityCollector, collector_config_schema
from soundcheck_cli.http.client import path_segment
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.config.env import missing_env
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.jsonpath import MISSING, compile_path, path_problem
from soundcheck_cli.rules.messages import parse_placeholder, walk

SOURCE = "http"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_TEXT = 64 * 1024

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_ROOT = re.compile(r"\s*(entity|secrets|config)(?=[.\[\s]|$)")

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "http collector",
    block_properties={
        # Soundcheck's list of {key, value}; a mapping name -> value is accepted too. ``value`` may be left unset
        # by a missing ${VAR}: the facts that need it are then not applicable.
        "secrets": {
            "anyOf": [
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"key": {"type": "string"}, "value": {}},
                        "required": ["key"],
                        "additionalProperties": False,
                    },
                },
                {"type": "object"},
            ]
        },
        "config": {"type": "object"},
    },
    entry_properties={
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "url": {"type": "string", "minLength": 1},
        "method": {"type": "string", "enum": [*METHODS, *(m.lower() for m in METHODS)]},
        "headers": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "body": {},
        "path": {"type": "string"},
        "encodeSlashes": {"type": "boolean"},
    },
    entry_required=("factName", "url"),
)


@dataclass(frozen=True, slots=True)
class Placeholder:
    root: str  # entity | secrets | config
    steps: tuple[str | int, ...]
    text: str  # as written, for messages


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[str | Placeholder, ...]


class Missing(Exception):
    """A placeholder has no value for this entity (→ not applicable, with ``str(self)`` as the reason)."""


def path_value(value: str, placeholder: str) -> str:
    """An entity value in a URL path, Soundcheck's way: its ``/`` kept, each part percent-encoded (so ``?``, ``#``,
    ``%``, spaces... stay inside the path). Raises ``Missing`` for an empty, ``.`` or ``..`` part, which a URL
    parser or server would resolve out of the path the template wrote (RFC 3986 §5.2.4)."""
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise Missing(
            f"{placeholder} ({value!r}) has an empty, '.' or '..' path part; it cannot go into the URL path"
        )
    return "/".join(path_segment(p) for p in parts)


def parse_template(text: str, problems: Problems, location: Location | None, what: str) -> Template:
    """Split ``text`` into literal text and placeholders; an unknown or malformed placeholder is a located error."""
    parts: list[str | Placeholder] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        inner = m.group(1)
        root = _ROOT.match(inner)
        # Reuse the messages grammar for the path: parse "entity<rest>" and keep its steps.
        lookup = parse_placeholder("entity" + inner[root.end():]) if root else None
        if root is None or lookup is None:
            problems.error(
                f"{what}: unsupported placeholder {m.group(0)!r}; use {{{{ entity.<path> }}}}, "
                f"{{{{ secrets.<key> }}}} or {{{{ config.<key> }}}}",
                location,
            )
            continue
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append(Placeholder(root.group(1), lookup.steps, m.group(0)))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def secrets_of(block: Mapping[str, Any]) -> dict[str, Any]:
    """``secrets`` as a mapping key -> value (``None`` when the value is unset, e.g. a missing ``${VAR}``)."""
    node = block.get("secrets")
    out: dict[str, Any] = {}
    if isinstance(node, list):
        for item in node:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                out[item["key"]] = item.get("value")
    elif isinstance(node, Mapping):
        out.update({str(k): v for k, v in node.items()})
    return out


def _secret_missing_reason(block: Mapping[str, Any], key: str) -> str:
    """Why secret ``key`` has no value, naming the unset environment variable when that is the cause."""
    node = block.get("secrets")
    if isinstance(node, list):  # [{key, value}]: the ``value`` of the item with that key was left unset
        holders = [(item, "value") for item in node if isinstance(item, Mapping) and item.get("key") == key]
    else:
        holders = [(node, key)]
    for holder, name in holders:
        missing = missing_env(holder, name)
        if missing:
            return f"secret '{key}' has no value ({missing} is not set)"
    return f"secret '{key}' has no value"


class HttpCollector(EntityCollector):
    id = "http"
    name = "HTTP"
    description = "Facts from HTTP endpoints, configured with URL templates (Soundcheck's HTTP integration)."

    def __init__(self) -> None:
        super().__init__()
        self._templates: dict[int, dict[str, Any]] = {}  # id(entry dict) -> parsed templates

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def set_config(self, config: Any) -> None:
        self._templates = {}
        super().set_config(config)

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        name = entry.get("factName")
        url = entry.get("url")
        before = len(problems.errors)
        if not isinstance(name, str) or not name.strip():
            problems.error("collects: factName is required", location)
        if not isinstance(url, str) or not url.strip():
            problems.error("collects: url is required", location)
        if len(problems.errors) > before:
            return None
        try:
            ref = FactRef.parse(f"{SOURCE}:default/{name.strip()}")
        except ValueError as exc:
            problems.error(f"collects: factName: {exc}", loc_of(entry, "factName") or location)
            return None
        method = str(entry.get("method") or "GET").upper()
        if method not in METHODS:
            problems.error(f"collects: method must be one of {', '.join(METHODS)}", loc_of(entry, "method") or location)
        url_loc = loc_of(entry, "url") or location
        templates: dict[str, Any] = {"url": parse_template(url, problems, url_loc, "url"), "headers": {}}
        self._check_references(templates["url"], block, problems, url_loc)
        headers = entry.get("headers") or {}
        if not isinstance(headers, Mapping):
            problems.error("collects: headers must be a mapping of header names to values", loc_of(entry, "headers") or location)
        else:
            for header, value in headers.items():
                header_loc = loc_of(headers, header) or location
                template = parse_template(_text(value), problems, header_loc, f"header {header}")
                self._check_references(template, block, problems, header_loc)
                templates["headers"][str(header)] = template
        body_loc = loc_of(entry, "body") or location
        templates["body"] = self._parse_body(entry.get("body"), problems, body_loc)
        self._check_references(templates["body"], block, problems, body_loc)
        path = entry.get("path")
        if path is not None:
            problem = path_problem(path) if isinstance(path, str) else "path must be a JSONPath string such as $.status"
            if problem:
                problems.error(f"collects: path: {problem}", loc_of(entry, "path") or location)
        self._templates[id(entry)] = templates
        return [ref]

    def _parse_body(self, body: Any, problems: Problems, location: Location | None) -> Any:
        if isinstance(body, str):
            return parse_template(body, problems, location, "body")
        if isinstance(body, Mapping):
            return {k: self._parse_body(v, problems, location) for k, v in body.items()}
        if isinstance(body, list):
            return [self._parse_body(v, problems, location) for v in body]
        return body

    def _check_references(self, node: Any, block: Mapping[str, Any], problems: Problems, location: Location | None) -> None:
        """``{{ secrets.x }}`` / ``{{ config.x }}`` must name something the block defines (a typo is a config error)."""
        if isinstance(node, Template):
            for part in node.parts:
                if not isinstance(part, Placeholder) or part.root == "entity":
                    continue
                if not part.steps:
                    problems.error(f"placeholder {part.text} must name a key", location)
                elif part.root == "secrets" and str(part.steps[0]) not in secrets_of(block):
                    problems.error(f"placeholder {part.text}: no secret '{part.steps[0]}' in secrets", location)
                elif part.root == "config" and walk(block.get("config") or {}, part.steps) is MISSING:
                    problems.error(f"placeholder {part.text}: no such value in config", location)
        elif isinstance(node, Mapping):
            for value in node.values():
                self._check_references(value, block, problems, location)
        elif isinstance(node, list):
            for value in node:
                self._check_references(value, block, problems, location)

    # -- rendering ------------------------------------------------------------------------------------------------
    def _value(self, part: Placeholder, entity: Entity, block: Mapping[str, Any]) -> Any:
        if part.root == "entity":
            value = walk(entity.data, part.steps)
            if value is MISSING or value is None:
                raise Missing(f"{part.text} has no value for this entity")
            return value
        if part.root == "secrets":
            secrets = secrets_of(block)
            value = walk(secrets, part.steps)
            if value is MISSING or value is None:
                raise Missing(_secret_missing_reason(block, str(part.steps[0])))
            return value
        value = walk(block.get("config") or {}, part.steps)
        if value is MISSING or value is None:
            raise Missing(f"{part.text} has no value in config")
        return value

    def render(
        self, template: Template, entity: Entity, block: Mapping[str, Any], where: str, *, encode_slashes: bool = False
    ) -> str:
        """Substitute ``template`` for ``entity`` (``where``: url, header or body decides how entity values go in;
        ``encode_slashes``: an entity value in the URL's path is one segment, its ``/`` encoded)."""
        out: list[str] = []
        in_path = where == "url"  # until the template's own text starts the query or fragment
        for part in template.parts:
            if isinstance(part, str):
                out.append(part)
                if in_path and ("?" in part or "#" in part):
                    in_path = False
                continue
            text = _text(self._value(part, entity, block))
            if part.root == "entity":
                if where == "url":
                    text = path_value(text, part.text) if in_path and not encode_slashes else path_segment(text)
                elif where == "header" and ("\r" in text or "\n" in text):
                    raise Missing(f"{part.text} contains a line break; it cannot go into a header")
                elif where == "header" and not text.isascii():
                    # httpx sends header values as ASCII (RFC 9110 §5.5: other octets are obsolete); refusing here
                    # makes the fact not applicable with a reason, as for a line break, not a failure every run.
                    raise Missing(f"{part.text} contains non-ASCII characters; it cannot go into a header")
            elif in_path and ("?" in text or "#" in text):
                in_path = False  # a config value (e.g. a base URL with a query) ended the path
            out.append(text)
        return "".join(out)

    def _render_body(self, node: Any, entity: Entity, block: Mapping[str, Any]) -> Any:
        if isinstance(node, Template):
            return self.render(node, entity, block, "body")
        if isinstance(node, Mapping):
            return {k: self._render_body(v, entity, block) for k, v in node.items()}
        if isinstance(node, list):
            return [self._render_body(v, entity, block) for v in node]
        return node

    # -- collection -----------------------------------------------------------------------------------------------
    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        templates = self._templates[id(entry.entry)]
        try:
            url = self.render(templates["url"], entity, entry.block, "url",
                              encode_slashes=entry.entry.get("encodeSlashes") is True)
            headers = {name: self.render(t, entity, entry.block, "header") for name, t in templates["headers"].items()}
            body = self._render_body(templates["body"], entity, entry.block)
        except Missing as exc:
            return Outcome.not_applicable(ref, fact_ref, str(exc))
        method = str(entry.entry.get("method") or "GET").upper()
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, (Mapping, list)):
            kwargs["json"] = body
        elif body is not None:
            kwargs["content"] = _text(body)
        response = await self.client(entry).request(method, url, **kwargs)
        data = self._data(response, entry.entry.get("path"))
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

    def _data(self, response: Any, path: str | None) -> Any:
        content_type = response.headers.get("content-type", "").lower()
        if "json" in content_type or path:
            try:
                document = json.loads(response.content) if response.content else None
            except (ValueError, UnicodeDecodeError):
                document = MISSING
            if document is not MISSING:
                if path:
                    value = compile_path(path)(document)
                    return None if value is MISSING else value
                return document
        text = response.text
        out: dict[str, Any] = {"status": response.status_code, "body": text[:MAX_TEXT]}
        if len(text) > MAX_TEXT:
            out["truncated"] = True
        return out
