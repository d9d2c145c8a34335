"""FactRef and Fact: parse/format round trips, names with '/', the dict form, invalid inputs, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from soundcheck_cli.facts.model import Fact, FactRef, format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("github:default/repo_details", FactRef("github", "default", "repo_details")),
        ("pagerduty:service", FactRef("pagerduty", "default", "service")),
        ("soundcheck:default/track/pagerduty_track", FactRef("soundcheck", "default", "track/pagerduty_track")),
        ("custom:team-a/a/b/c", FactRef("custom", "team-a", "a/b/c")),
        ("  catalog:default/entity_descriptor  ", FactRef("catalog", "default", "entity_descriptor")),
    ],
)
def test_fact_ref_parses_string_forms(text: str, expected: FactRef) -> None:
    assert FactRef.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "github:default/repo_details",
        "soundcheck:default/track/pagerduty_track",
        "soundcheck:default/program/legacy",
        "custom:team-a/a/b/c",
    ],
)
def test_fact_ref_string_round_trip(text: str) -> None:
    ref = FactRef.parse(text)
    assert str(ref) == text
    assert FactRef.parse(str(ref)) == ref


def test_fact_ref_without_scope_formats_with_default_scope() -> None:
    assert str(FactRef.parse("pagerduty:service")) == "pagerduty:default/service"


def test_fact_ref_dict_form() -> None:
    assert FactRef.parse({"source": "custom", "scope": "ci", "name": "tests/unit"}) == FactRef("custom", "ci", "tests/unit")
    assert FactRef.parse({"source": "custom", "name": "x"}) == FactRef("custom", "default", "x")
    ref = FactRef("a", "b", "c/d")
    assert FactRef.parse({"source": ref.source, "scope": ref.scope, "name": ref.name}) == ref


def test_fact_ref_default_source() -> None:
    assert FactRef.parse("default/service", default_source="pagerduty") == FactRef("pagerduty", "default", "service")
    assert FactRef.parse({"name": "service"}, default_source="pagerduty") == FactRef("pagerduty", "default", "service")


def test_fact_ref_passes_through_fact_ref() -> None:
    ref = FactRef("a", "default", "b")
    assert FactRef.parse(ref) is ref


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "no-colon",
        ":default/name",
        "source:",
        "source:default/",
        "source:/name",
        "source:default/na me",
        None,
        42,
        {"source": "x"},
        {"name": "x"},
        {"source": "", "name": "x"},
        {"source": 1, "name": "x"},
        [],
    ],
)
def test_fact_ref_rejects_invalid(value: object) -> None:
    with pytest.raises(ValueError, match="invalid fact ref"):
        FactRef.parse(value)  # type: ignore[arg-type]


def test_fact_refs_order_and_hash() -> None:
    refs = {FactRef.parse("b:default/x"), FactRef.parse("a:default/y"), FactRef.parse("a:default/y")}
    assert sorted(refs) == [FactRef("a", "default", "y"), FactRef("b", "default", "x")]


def test_timestamps_are_utc_iso_with_z_and_parse_back() -> None:
    moment = datetime(2026, 1, 5, 10, 0, 0, 123000, tzinfo=timezone.utc)
    assert format_timestamp(moment) == "2026-01-05T10:00:00.123Z"
    assert parse_timestamp("2026-01-05T10:00:00.123Z") == moment
    assert parse_timestamp("2026-01-05T12:00:00.123+02:00") == moment
    assert parse_timestamp("2026-01-05T10:00:00.123") == moment  # naive means UTC
    naive = datetime(2026, 1, 5, 10, 0)
    assert parse_timestamp(naive).tzinfo == timezone.utc
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


def test_fact_json_round_trip() -> None:
    fact = Fact(
        FactRef.parse("soundcheck:default/track/pagerduty_track"),
        "component:default/payments-api",
        {"levels": [{"ordinal": 1, "passed": True}], "highestLevel": {"ordinal": 1, "name": "Basic"}},
        timestamp=datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc),
        expires_at=datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc),
    )
    encoded = fact.to_json()
    assert encoded == {
        "factRef": "soundcheck:default/track/pagerduty_track",
        "entityRef": "component:default/payments-api",
        "data": {"levels": [{"ordinal": 1, "passed": True}], "highestLevel": {"ordinal": 1, "name": "Basic"}},
        "timestamp": "2026-01-05T10:00:00.000Z",
        "expiresAt": "2026-01-05T12:00:00.000Z",
    }
    assert Fact.from_json(encoded) == fact


def test_fact_from_json_dict_fact_ref_and_default_timestamp() -> None:
    before = datetime.now(timezone.utc)
    fact = Fact.from_json({"factRef": {"source": "custom", "name": "ci"}, "entityRef": "component:default/x", "data": 1})
    assert fact.fact_ref == FactRef("custom", "default", "ci")
    assert fact.expires_at is None
    assert before <= fact.timestamp <= datetime.now(timezone.utc)
    assert "expiresAt" not in fact.to_json()


@pytest.mark.parametrize(
    "obj",
    [
        {"entityRef": "component:default/x", "data": 1},  # no factRef
        {"factRef": "custom:default/x", "data": 1},  # no entityRef
        {"factRef": "nonsense", "entityRef": "component:default/x", "data": 1},
        {"factRef": "custom:default/x", "entityRef": "component:default/x", "data": 1, "timestamp": "soon"},
    ],
)
def test_fact_from_json_rejects_malformed(obj: dict) -> None:
    with pytest.raises((KeyError, ValueError)):
        Fact.from_json(obj)


def test_expiry_is_data() -> None:
    now = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    ref = FactRef.parse("custom:default/x")
    assert not Fact(ref, "component:default/x", 1, now).is_expired(now + timedelta(days=999))
    expiring = Fact(ref, "component:default/x", 1, now, expires_at=now + timedelta(hours=1))
    assert not expiring.is_expired(now + timedelta(minutes=59))
    assert expiring.is_expired(now + timedelta(hours=1))
