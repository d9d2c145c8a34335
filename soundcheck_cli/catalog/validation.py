"""Entity validation the Backstage way: the catalog-model entity envelope schema plus ``FieldFormatEntityPolicy``.

Followed (``@backstage/catalog-model``):

- ``Entity.schema.json`` / ``EntityEnvelope``: ``apiVersion`` and ``kind`` are required strings, ``metadata`` a
  required mapping with a required ``name``; ``metadata.title``/``description`` strings, ``labels``/``annotations``
  mappings of strings, ``tags`` a list of strings, ``spec`` a mapping.
- ``FieldFormatEntityPolicy`` with ``KubernetesValidatorFunctions``: ``metadata.name`` (and ``namespace``) is 1..63
  characters matching ``^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$``; ``kind`` is ``^[a-zA-Z][a-z0-9A-Z]*$``, at most
  63 characters; ``apiVersion`` is ``group/version`` (we only require the two non-empty parts, not Kubernetes'
  DNS grammar, because ``backstage.io/v1alpha1``-style values are all that matters for refs and filters).
- ``DefaultNamespaceEntityPolicy``: a missing namespace becomes ``default`` (done by ``Entity.from_data``).

Deliberately not enforced (Backstage does, but the project brief keeps them lenient so hand-written catalogs
load): the tag format (``^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$``), label key/value formats and annotation key formats.

``validate_entity`` never raises: it returns every issue with the location of the offending field, so a user
fixes a broken entity in one pass. The loader turns each issue into a warning and skips the entity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location

NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
KIND_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
API_VERSION_RE = re.compile(r"^[^/\s]+/[^/\s]+$")
MAX_NAME_LENGTH = 63

_NAME_EXPECTATION = '1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'
_KIND_EXPECTATION = 'letters and digits starting with a letter, at most 63 characters, such as "Component"'
_API_VERSION_EXPECTATION = 'group/version such as "backstage.io/v1alpha1"'


@dataclass(frozen=True, slots=True)
class EntityIssue:
    """One reason an entity document is rejected, and where (the offending field, else its mapping)."""

    message: str
    location: Location | None = None


def type_name(value: Any) -> str:
    """JSON-flavoured type names, the words a YAML author recognises."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def show(value: Any, limit: int = 60) -> str:
    """A short rendering of a value for messages: strings quoted, long ones cut."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return '"' + text.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "a " + type_name(value)
    return str(value)


def _found(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return f"found {show(value)}"
    return f"found {show(value)} ({type_name(value)})"


def _kind_of(value: Any) -> str:
    """``a list``, ``a string``, ``null``: what a value is, without its content."""
    name = type_name(value)
    return name if name == "null" else ("an " if name[0] in "aeiou" else "a ") + name


def entity_label(doc: Any) -> str:
    """``Component "my-service"``, ``Component entity``, ``entity "my-service"`` or ``entity``."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    kind_text = kind if isinstance(kind, str) and kind.strip() else None
    name_text = show(name) if isinstance(name, str) and name.strip() else None
    if kind_text and name_text:
        return f"{kind_text} {name_text}"
    if kind_text:
        return f"{kind_text} entity"
    if name_text:
        return f"entity {name_text}"
    return "entity"


def validate_entity(doc: Any, doc_loc: Location | None = None) -> list[EntityIssue]:
    """Every schema/format issue of one entity document (empty when it is a valid entity)."""
    if not isinstance(doc, dict):
        return [
            EntityIssue(
                # The kind only, never the text: a Location target such as /etc/passwd reads as one long string.
                f"document is not a mapping (found {_kind_of(doc)}); a catalog entity needs apiVersion, kind and metadata",
                loc_of(doc) or doc_loc,
            )
        ]
    issues: list[EntityIssue] = []
    here = loc_of(doc) or doc_loc

    def at(node: Any, key: Any) -> Location | None:
        return loc_of(node, key) or loc_of(node) or here

    # apiVersion: required string, group/version.
    if "apiVersion" not in doc:
        issues.append(EntityIssue("apiVersion is missing", here))
    else:
        api_version = doc["apiVersion"]
        if not isinstance(api_version, str):
            issues.append(EntityIssue(f"apiVersion must be a string, {_found(api_version)}", at(doc, "apiVersion")))
        elif not API_VERSION_RE.match(api_version):
            issues.append(
                EntityIssue(
                    f"apiVersion {show(api_version)} is not valid; expected {_API_VERSION_EXPECTATION}",
                    at(doc, "apiVersion"),
                )
            )

    # kind: required string, Backstage's kind format (it ends up in entity refs, so ':' or '/' would break them).
    if "kind" not in doc:
        issues.append(EntityIssue("kind is missing", here))
    else:
        kind = doc["kind"]
        if not isinstance(kind, str):
            issues.append(EntityIssue(f"kind must be a string, {_found(kind)}", at(doc, "kind")))
        elif len(kind) > MAX_NAME_LENGTH or not KIND_RE.match(kind):
            issues.append(EntityIssue(f"kind {show(kind)} is not valid; expected {_KIND_EXPECTATION}", at(doc, "kind")))

    # metadata: required mapping.
    if "metadata" not in doc:
        issues.append(EntityIssue("metadata is missing (it needs at least a name)", here))
    elif not isinstance(doc["metadata"], dict):
        issues.append(EntityIssue(f"metadata must be a mapping, {_found(doc['metadata'])}", at(doc, "metadata")))
    else:
        issues.extend(_validate_metadata(doc["metadata"], at(doc, "metadata")))

    if "spec" in doc and not isinstance(doc["spec"], dict):
        issues.append(EntityIssue(f"spec must be a mapping, {_found(doc['spec'])}", at(doc, "spec")))
    return issues


def _validate_metadata(meta: dict[str, Any], meta_loc: Location | None) -> list[EntityIssue]:
    issues: list[EntityIssue] = []

    def at(node: Any, key: Any) -> Location | None:
        return loc_of(node, key) or loc_of(node) or meta_loc

    if "name" not in meta:
        issues.append(EntityIssue("metadata.name is missing", loc_of(meta) or meta_loc))
    else:
        issue = _check_name("metadata.name", meta["name"], at(meta, "name"))
        if issue:
            issues.append(issue)
    if "namespace" in meta:
        issue = _check_name("metadata.namespace", meta["namespace"], at(meta, "namespace"))
        if issue:
            issues.append(issue)
    for field in ("title", "description"):
        if field in meta and not isinstance(meta[field], str):
            issues.append(EntityIssue(f"metadata.{field} must be a string, {_found(meta[field])}", at(meta, field)))
    for field in ("labels", "annotations"):
        if field not in meta:
            continue
        node = meta[field]
        if not isinstance(node, dict):
            issues.append(EntityIssue(f"metadata.{field} must be a mapping of strings, {_found(node)}", at(meta, field)))
            continue
        for key, value in node.items():
            if not isinstance(value, str):
                # An unquoted number (pagerduty.com/service-id: 12345) is the usual cause; Backstage rejects it too.
                hint = "; quote it" if isinstance(value, (int, float)) else ""
                issues.append(EntityIssue(f"metadata.{field}.{key} must be a string, {_found(value)}{hint}", at(node, key)))
    if "tags" in meta:
        tags = meta["tags"]
        if not isinstance(tags, list):
            issues.append(EntityIssue(f"metadata.tags must be a list of strings, {_found(tags)}", at(meta, "tags")))
        else:
            for index, tag in enumerate(tags):
                if not isinstance(tag, str):
                    issues.append(EntityIssue(f"metadata.tags[{index}] must be a string, {_found(tag)}", at(tags, index)))
    return issues


def _check_name(field: str, value: Any, location: Location | None) -> EntityIssue | None:
    if not isinstance(value, str):
        return EntityIssue(f"{field} must be a string, {_found(value)}", location)
    if len(value) > MAX_NAME_LENGTH:
        return EntityIssue(
            f"{field} {show(value)} is not valid; expected {_NAME_EXPECTATION} (it has {len(value)} characters)", location
        )
    if not NAME_RE.match(value):
        return EntityIssue(f"{field} {show(value)} is not valid; expected {_NAME_EXPECTATION}", location)
    return None
