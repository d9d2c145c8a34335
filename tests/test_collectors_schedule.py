"""Tests of ``collectors.schedule``: durations, frequencies (minutes/hours/cron), due logic, cache expiry and the
Soundcheck getCollectionConfigs merge of block defaults into ``collects`` entries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.schedule import (
    Frequency,
    cache_duration,
    expiry_for,
    is_due,
    merge_entry,
    parse_duration,
    parse_entries,
    parse_frequency,
)
from soundcheck_cli.config.settings import load_settings
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import Fact, FactRef

T0 = datetime(2026, 3, 2, 10, 7, tzinfo=timezone.utc)
REF = FactRef("x", "default", "fact")


def fact(at: datetime, expires_at: datetime | None = None) -> Fact:
    return Fact(REF, "component:default/a", {"v": 1}, at, expires_at)


# -- durations and frequencies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node, expected",
    [
        ({"minutes": 30}, timedelta(minutes=30)),
        ({"hours": 1, "minutes": 30}, timedelta(minutes=90)),
        ({"days": 2}, timedelta(days=2)),
        ({"seconds": 5, "milliseconds": 500}, timedelta(seconds=5.5)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
    ],
)
def test_parse_duration(node, expected):
    assert parse_duration(node) == expected


@pytest.mark.parametrize("node", [{"hourz": 1}, {"hours": -1}, {"hours": "two"}, {}, "1h", 5, None])
def test_parse_duration_errors(node):
    problems = Problems()
    assert parse_duration(node, problems) is None
    assert problems.errors


def test_bare_number_duration_only_with_a_unit():
    assert parse_duration(60000, number_unit=timedelta(milliseconds=1)) == timedelta(minutes=1)


def test_frequency_minutes_and_hours_due_logic():
    every_10m = parse_frequency({"minutes": 10})
    assert every_10m == Frequency(interval=timedelta(minutes=10))
    assert not every_10m.is_due(T0, T0 + timedelta(minutes=9, seconds=59))
    assert every_10m.is_due(T0, T0 + timedelta(minutes=10))
    hourly = parse_frequency({"hours": 1})
    assert not hourly.is_due(T0, T0 + timedelta(minutes=59))
    assert hourly.is_due(T0, T0 + timedelta(hours=1, seconds=1))


def test_frequency_cron_due_at_the_next_cron_time():
    hourly_cron = parse_frequency({"cron": "0 * * * *"})
    assert hourly_cron.cron == "0 * * * *"
    # Collected at 10:07: the next run is 11:00, not 11:07.
    assert hourly_cron.next_after(T0) == datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc)
    assert not hourly_cron.is_due(T0, datetime(2026, 3, 2, 10, 59, tzinfo=timezone.utc))
    assert hourly_cron.is_due(T0, datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc))


@pytest.mark.parametrize("node", [{"cron": "not a cron"}, {"cron": "0 * * * *", "hours": 1}, {"weeks": 0}, {"cron": 5}])
def test_frequency_errors(node):
    problems = Problems()
    assert parse_frequency(node, problems) is None
    assert problems.errors


# -- due / fresh -----------------------------------------------------------------------------------------------


def test_missing_fact_is_due():
    assert is_due(None, parse_frequency({"hours": 1}), T0)


def test_fresh_fact_is_not_due_then_due_after_frequency():
    freq = parse_frequency({"hours": 1})
    assert not is_due(fact(T0), freq, T0 + timedelta(minutes=30))
    assert is_due(fact(T0), freq, T0 + timedelta(hours=1))


def test_no_frequency_and_no_cache_means_always_due():
    assert is_due(fact(T0), None, T0 + timedelta(seconds=1))


def test_force_and_refresh_make_a_fresh_fact_due():
    freq = parse_frequency({"hours": 1})
    assert is_due(fact(T0), freq, T0, force=True)
    assert is_due(fact(T0), freq, T0, refresh=True)


def test_cache_duration_keeps_fact_fresh_until_it_expires():
    freq = parse_frequency({"minutes": 10})
    cached = fact(T0, expires_at=T0 + timedelta(hours=2))
    # Older than the frequency, but the collector-level cache still holds it.
    assert not is_due(cached, freq, T0 + timedelta(hours=1))
    assert is_due(cached, freq, T0 + timedelta(hours=2))  # expired: due whatever the frequency says


def test_cache_expiry():
    assert cache_duration({"duration": {"hours": 2}}) == timedelta(hours=2)
    assert expiry_for({"duration": {"hours": 2}}, T0) == T0 + timedelta(hours=2)
    assert expiry_for(False, T0) is None
    assert expiry_for(True, T0) is None
    assert expiry_for(None, T0) is None
    problems = Problems()
    cache_duration({"ttl": 3}, problems)
    assert problems.errors


# -- getCollectionConfigs ----------------------------------------------------------------------------------------


def refs_for(entry, block, location):
    return [FactRef("x", "default", entry["name"])]


def test_no_collects_schedules_nothing():
    problems = Problems()
    assert parse_entries({"frequency": {"hours": 1}, "filter": {"kind": "Component"}}, problems, refs_for) == []
    assert not problems.items


def test_entries_inherit_block_defaults_unless_they_set_their_own():
    block = {
        "filter": {"kind": "Component"},
        "exclude": {"spec.lifecycle": "experimental"},
        "frequency": {"hours": 1},
        "initialDelay": {"minutes": 1},
        "batchSize": 10,
        "cache": {"duration": {"hours": 2}},
        "collects": [
            {"name": "a"},
            {"name": "b", "frequency": {"cron": "0 0 * * *"}, "batchSize": 3, "filter": {"kind": "API"}, "cache": False},
            {"name": "c", "cache": True, "frequency": None},
        ],
    }
    problems = Problems()
    entries = parse_entries(block, problems, refs_for)
    assert not problems.items
    a, b, c = (e.collection for e in entries)
    assert a.fact_refs == (FactRef("x", "default", "a"),)
    assert a.frequency == {"hours": 1} and a.batch_size == 10 and a.initial_delay == {"minutes": 1}
    assert a.cache == {"duration": {"hours": 2}}
    api = Entity.from_data({"kind": "API", "metadata": {"name": "x"}})
    comp = Entity.from_data({"kind": "Component", "metadata": {"name": "x"}, "spec": {"lifecycle": "production"}})
    exp = Entity.from_data({"kind": "Component", "metadata": {"name": "y"}, "spec": {"lifecycle": "experimental"}})
    assert a.filter.matches(comp) and not a.filter.matches(api) and a.exclude.matches(exp)
    assert b.frequency == {"cron": "0 0 * * *"} and b.batch_size == 3 and b.cache is False
    assert b.filter.matches(api) and not b.filter.matches(comp)
    assert b.exclude is a.exclude  # inherited, parsed once
    # An explicit null inherits (JavaScript ``??``); ``cache: true`` takes the block's duration.
    assert c.frequency == {"hours": 1}
    assert c.cache == {"duration": {"hours": 2}}
    assert c.options["name"] == "c"


def test_single_mapping_and_list_accepted_for_block_and_collects():
    single = parse_entries({"collects": {"name": "one"}}, Problems(), refs_for)
    assert [e.collection.fact_refs[0].name for e in single] == ["one"]
    blocks = [
        {"frequency": {"hours": 1}, "collects": {"name": "a"}},
        {"frequency": {"hours": 2}, "collects": [{"name": "b"}, {"name": "c"}]},
    ]
    entries = parse_entries(blocks, Problems(), refs_for)
    assert [(e.collection.fact_refs[0].name, e.block_index, e.collection.frequency) for e in entries] == [
        ("a", 0, {"hours": 1}),
        ("b", 1, {"hours": 2}),
        ("c", 1, {"hours": 2}),
    ]


def test_merge_entry_keeps_type_specific_keys():
    merged = merge_entry({"frequency": {"hours": 1}, "token": "t"}, {"type": "Service", "factName": "svc"})
    assert merged == {"type": "Service", "factName": "svc", "frequency": {"hours": 1}}


def test_invalid_entries_are_located_errors(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "soundcheck:\n"
        "  collectors:\n"
        "    x:\n"
        "      frequency:\n"
        "        cron: 'nope'\n"
        "      collects:\n"
        "        - name: a\n"
        "          batchSize: 0\n"
        "        - just-a-string\n"
    )
    settings, _ = load_settings([str(path)])
    node = settings.collectors[0].config
    problems = Problems()
    assert parse_entries(node, problems, refs_for) == []
    messages = [str(p) for p in problems.errors]
    assert any(m.startswith(f"{path}:5:") and "invalid cron expression 'nope'" in m for m in messages), messages
    assert any(m.startswith(f"{path}:8:") and "batchSize must be a positive integer" in m for m in messages), messages
    assert any(m.startswith(f"{path}:9:") and "must be a mapping" in m for m in messages), messages
