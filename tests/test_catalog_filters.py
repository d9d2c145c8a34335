"""Tests for ``soundcheck_cli.catalog.filters``: one line per rule of its docstring, on parsed (located) YAML."""

from __future__ import annotations

from typing import Any

import pytest

from soundcheck_cli.catalog.filters import EntityFilter, resolve_path, select, selects
from soundcheck_cli.catalog.loader import parse_documents
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems, Severity


def make(kind: str, name: str, spec: dict[str, Any] | None = None, **metadata: Any) -> Entity:
    data = {"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": {"name": name, **metadata}}
    if spec is not None:
        data["spec"] = spec
    return Entity.from_data(data)


ENTITIES = {
    "svc": make(
        "Component",
        "payments-api",
        {
            "type": "service",
            "lifecycle": "Production",
            "owner": "team-a",
            "enabled": True,
            "replicas": 3,
            "links": [{"title": "Docs"}, {"title": "Runbook"}],
            "providesApis": ["payments"],
        },
        tags=["Java", "web"],
        annotations={"pagerduty.com/service-id": "P1", "backstage.io/techdocs-ref": "dir:."},
    ),
    "lib": make("Component", "utils", {"type": "library", "lifecycle": "experimental", "enabled": "False"}),
    "api": make("API", "payments", {"type": "openapi", "lifecycle": "production"}),
}


def parse(text: str, what: str = "filter") -> tuple[EntityFilter | None, Problems]:
    """Parse ``<what>: ...`` YAML the way the config loader hands nodes over (located containers)."""
    problems = Problems()
    docs = parse_documents(text, "app-config.yaml", problems)
    assert docs is not None and problems.items == []
    root = docs[0].content
    return EntityFilter.parse(root[what], problems, what, loc_of(root, what)), problems


def matches(text: str, entity: str) -> bool:
    parsed, problems = parse(f"filter: {text}\n")
    assert parsed is not None and problems.errors == []
    return parsed.matches(ENTITIES[entity])


@pytest.mark.parametrize(
    ("filter_text", "entity", "expected"),
    [
        # a mapping of dot paths to values
        ("{kind: Component}", "svc", True),
        ("{kind: Component}", "api", False),
        # case-insensitive values and keys
        ("{kind: component}", "svc", True),
        ("{KIND: COMPONENT}", "svc", True),
        ("{spec.lifecycle: production}", "svc", True),  # the entity writes "Production"
        ("{Spec.LifeCycle: PRODUCTION}", "svc", True),
        ("{spec.providesapis: PAYMENTS}", "svc", True),  # the entity writes "providesApis"
        ("{spec.lifecycle: ' production '}", "svc", True),  # surrounding blanks are ignored
        # a list of values for one key: any-of
        ("{spec.lifecycle: [experimental, production]}", "svc", True),
        ("{spec.lifecycle: [experimental, production]}", "lib", True),
        ("{spec.lifecycle: [deprecated, experimental]}", "svc", False),
        # keys in one mapping: all-of
        ("{kind: Component, spec.type: service}", "svc", True),
        ("{kind: Component, spec.type: service}", "lib", False),
        ("{kind: Component, spec.lifecycle: production}", "api", False),
        # a list of mappings: any-of
        ("[{kind: API}, {spec.type: library}]", "svc", False),
        ("[{kind: API}, {spec.type: library}]", "lib", True),
        ("[{kind: API}, {spec.type: library}]", "api", True),
        ("[{kind: API, spec.type: grpc}, {spec.type: service}]", "api", False),
        # array fields: any element matches
        ("{metadata.tags: java}", "svc", True),  # the entity writes "Java"
        ("{metadata.tags: [python, web]}", "svc", True),
        ("{metadata.tags: python}", "svc", False),
        ("{spec.links.title: runbook}", "svc", True),  # a list of mappings fans out too
        # annotation keys with dots and slashes (the longest key present wins)
        ("{metadata.annotations.pagerduty.com/service-id: p1}", "svc", True),
        ("{metadata.annotations.PagerDuty.com/Service-ID: P1}", "svc", True),
        ("{metadata.annotations.backstage.io/techdocs-ref: 'dir:.'}", "svc", True),
        ("{metadata.annotations.pagerduty.com/service-id: P2}", "svc", False),
        # non-string values: booleans and numbers compare by their text
        ("{spec.enabled: true}", "svc", True),
        ("{spec.enabled: 'TRUE'}", "svc", True),
        ("{spec.enabled: false}", "lib", True),  # the entity writes the string "False"
        ("{spec.enabled: false}", "svc", False),
        ("{spec.replicas: 3}", "svc", True),
        ("{spec.replicas: '3'}", "svc", True),
        ("{spec.replicas: 4}", "svc", False),
        # a missing path never matches
        ("{spec.missing: x}", "svc", False),
        ("{metadata.annotations.github.com/project-slug: x}", "svc", False),
        ("{metadata.tags: java}", "lib", False),  # no tags at all
        ("{spec.type.deeper: service}", "svc", False),  # a path through a scalar
        ("{spec: service}", "svc", False),  # a mapping is never equal to a value
        # an empty mapping has no clause to fail
        ("{}", "api", True),
    ],
)
def test_filter_semantics(filter_text, entity, expected):
    assert matches(filter_text, entity) is expected


@pytest.mark.parametrize(
    ("text", "entity", "expected"),
    [
        ("filter: {catalog: {kind: Component}}\n", "svc", True),
        ("filter: {catalog: {kind: Component}}\n", "api", False),
        ("filter: {catalog: [{kind: API}, {metadata.tags: java}]}\n", "svc", True),
        ("filter: {catalog: [{kind: API}, {metadata.tags: java}]}\n", "lib", False),
    ],
)
def test_legacy_catalog_form_is_accepted(text, entity, expected):
    parsed, problems = parse(text)
    assert parsed is not None and parsed.matches(ENTITIES[entity]) is expected
    assert [str(p) for p in problems.items] == [
        "app-config.yaml:1:9: 'filter: {catalog: ...}' is deprecated; write the entity filter directly under 'filter'"
    ]
    assert problems.items[0].severity is Severity.WARNING


def test_legacy_warning_names_exclude_for_exclude():
    _, problems = parse("exclude:\n  catalog:\n    kind: API\n", "exclude")
    assert [str(p) for p in problems.items] == [
        "app-config.yaml:2:3: 'exclude: {catalog: ...}' is deprecated; write the entity filter directly under 'exclude'"
    ]


@pytest.mark.parametrize(
    ("filter_text", "exclude_text", "entity", "expected"),
    [
        ("{kind: Component}", "{spec.type: library}", "svc", True),
        ("{kind: Component}", "{spec.type: library}", "lib", False),  # excluded
        ("{kind: Component}", "{spec.type: library}", "api", False),  # not selected
        (None, "{kind: API}", "api", False),  # exclude alone
        (None, "{kind: API}", "lib", True),
        ("{kind: API}", None, "api", True),
        (None, None, "lib", True),  # no filter, no exclude: everything
        (None, "[{metadata.tags: web}, {spec.lifecycle: experimental}]", "svc", False),
        (None, "[{metadata.tags: web}, {spec.lifecycle: experimental}]", "api", True),
    ],
)
def test_selects_with_exclude(filter_text, exclude_text, entity, expected):
    filter_ = parse(f"filter: {filter_text}\n")[0] if filter_text else None
    exclude = parse(f"exclude: {exclude_text}\n", "exclude")[0] if exclude_text else None
    assert selects(ENTITIES[entity], filter_, exclude) is expected


def test_select_keeps_order_and_removes_excluded():
    filter_, _ = parse("filter: {spec.lifecycle: [production, experimental]}\n")
    exclude, _ = parse("exclude: {kind: API}\n", "exclude")
    assert [e.name for e in select(ENTITIES.values(), filter_, exclude)] == ["payments-api", "utils"]


def test_matches_accepts_a_raw_entity_mapping():
    filter_, _ = parse("filter: {metadata.name: UTILS}\n")
    assert filter_ is not None and filter_.matches(ENTITIES["lib"].data) is True


def test_absent_filter_parses_to_none():
    assert EntityFilter.parse(None, Problems()) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("filter: Component\n", "app-config.yaml:1:9: filter must be a mapping of entity fields to values, or a list of such mappings"),
        ("filter:\n  - {kind: API}\n  - Component\n", "app-config.yaml:3:5: filter must be a mapping of entity fields to values, or a list of such mappings"),
        ("filter:\n  kind: {is: API}\n", "app-config.yaml:2:9: filter value for 'kind' must be a string or a list of strings"),
        ("filter:\n  kind: [API, [Component]]\n", "app-config.yaml:2:9: filter value for 'kind' must be a string or a list of strings"),
        ("filter:\n  kind:\n", "app-config.yaml:2:3: filter value for 'kind' must be a string or a list of strings"),
        ("filter:\n  kind: [API, null]\n", "app-config.yaml:2:9: filter value for 'kind' must be a string or a list of strings"),
        ("filter:\n  kind: API\n  '': x\n", "app-config.yaml:3:3: filter key must be a dot path such as 'spec.lifecycle'"),
    ],
)
def test_malformed_filters_are_located_errors(text, expected):
    _, problems = parse(text)
    assert [str(p) for p in problems.items] == [expected]
    assert problems.items[0].severity is Severity.ERROR


def test_scalar_filter_without_a_given_location_still_reports_an_error():
    problems = Problems()
    EntityFilter.parse("Component", problems)
    assert [(p.message, p.location) for p in problems.items] == [
        ("filter must be a mapping of entity fields to values, or a list of such mappings", None)
    ]


@pytest.mark.parametrize(
    ("obj", "path", "expected"),
    [
        ({"a": {"b": 1}}, "a.b", [1]),
        ({"A": {"B": 1}}, "a.b", [1]),
        ({"a": [{"b": 1}, {"b": 2}, {"c": 3}]}, "a.b", [1, 2]),
        ({"a": {"x.y/z": 1, "x": {"y/z": 2}}}, "a.x.y/z", [1]),  # the longest key present wins
        ({"a": ["p", "q"]}, "a", ["p", "q"]),
        ({"a": 1}, "a.b", []),
        ({}, "a", []),
    ],
)
def test_resolve_path(obj, path, expected):
    assert resolve_path(obj, tuple(path.split("."))) == expected


def test_filter_location_is_kept_for_messages_elsewhere():
    parsed, _ = parse("x: 1\nfilter:\n  kind: API\n")
    assert parsed is not None and parsed.location == Location("app-config.yaml", 3, 3)
