"""Track certification: cumulative levels, what blocks and what does not, level-check filters, track facts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.jsonpath import compile_path
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.certification import (
    certify,
    level_state,
    parse_track_fact_ref,
    track_fact,
    track_fact_data,
    track_fact_ref,
)
from soundcheck_cli.tracks.model import Level, LevelCheck, Track

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
P, F, W, NA, NR, E = (CheckState.PASSED, CheckState.FAILED, CheckState.WARNING, CheckState.NOT_APPLICABLE,
                      CheckState.NOT_REPORTED, CheckState.ERROR)


def entity(name: str = "svc", **spec: Any) -> Entity:
    return Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                             "metadata": {"name": name}, "spec": {"type": "service", **spec}})


ENT = entity()
REF = "component:default/svc"


def track(*levels: tuple[int, list[str]], id: str = "t", kind: str = "track") -> Track:
    return Track(id=id, kind=kind, levels=tuple(
        Level(ordinal, tuple(LevelCheck(c) for c in checks), name=f"L{ordinal}") for ordinal, checks in levels))


def results(**states: CheckState) -> dict[str, CheckResult]:
    return {cid: CheckResult(cid, REF, state, f"{cid} is {state.value}") for cid, state in states.items()}


def highest(result: Any) -> int | None:
    return None if result.highest_level is None else result.highest_level.ordinal


def test_every_level_certified() -> None:
    t = track((1, ["a"]), (2, ["b", "c"]), (3, ["d"]))
    result = certify(t, ENT, results(a=P, b=P, c=P, d=P))
    assert [lv.certified for lv in result.levels] == [True, True, True]
    assert highest(result) == 3 and result.highest_level.name == "L3"
    assert (result.track_id, result.entity_ref) == ("t", REF)


def test_certification_is_cumulative() -> None:
    t = track((1, ["a"]), (2, ["b"]), (3, ["c"]))
    result = certify(t, ENT, results(a=P, b=F, c=P))
    assert [lv.certified for lv in result.levels] == [True, False, True]
    assert highest(result) == 1  # level 3 passes on its own but level 2 does not
    assert highest(certify(t, ENT, results(a=F, b=P, c=P))) is None


@pytest.mark.parametrize(("state", "certified"),
                         [(P, True), (W, True), (NA, True), (F, False), (NR, False), (E, False)])
def test_what_blocks_a_level(state: CheckState, certified: bool) -> None:
    t = track((1, ["a", "b"]))
    result = certify(t, ENT, results(a=P, b=state))
    assert result.levels[0].certified is certified
    assert highest(result) == (1 if certified else None)


def test_a_check_that_was_not_evaluated_blocks_and_says_so() -> None:
    result = certify(track((1, ["a", "ghost"])), ENT, results(a=P))
    ghost = result.levels[0].checks[1]
    assert (ghost.check_id, ghost.state) == ("ghost", NR)
    assert "was not evaluated" in ghost.message
    assert highest(result) is None


def test_level_check_filter_makes_it_not_applicable_at_that_level() -> None:
    only_websites = EntityFilter.parse({"spec.type": "website"}, Problems())
    t = Track(id="t", levels=(
        Level(1, (LevelCheck("a"), LevelCheck("b", filter=only_websites))),
        Level(2, (LevelCheck("b"),)),
    ))
    result = certify(t, ENT, results(a=P, b=F))
    level1_b = result.levels[0].checks[1]
    assert level1_b.state is NA and "level 1" in level1_b.message
    assert result.levels[0].certified and not result.levels[1].certified  # same check, no filter at level 2
    assert highest(result) == 1
    website = entity("site", **{"type": "website"})
    website_result = certify(t, website, {k: CheckResult(k, "component:default/site", v.state) for k, v in
                                          results(a=P, b=F).items()})
    assert website_result.levels[0].checks[1].state is F and highest(website_result) is None


def test_level_check_exclude() -> None:
    not_svc = EntityFilter.parse({"metadata.name": "svc"}, Problems())
    t = Track(id="t", levels=(Level(1, (LevelCheck("a", exclude=not_svc),)),))
    result = certify(t, ENT, results(a=F))
    assert result.levels[0].checks[0].state is NA and highest(result) == 1


def test_a_level_where_nothing_applies_does_not_block() -> None:
    t = track((1, ["a"]), (2, ["b"]), (3, ["c"]))
    result = certify(t, ENT, results(a=P, b=NA, c=P))
    assert highest(result) == 3
    assert [level_state(lv) for lv in result.levels] == ["certified", "not-applicable", "certified"]


def test_levels_are_taken_in_ordinal_order() -> None:
    t = Track(id="t", levels=(Level(2, (LevelCheck("b"),)), Level(1, (LevelCheck("a"),))))
    result = certify(t, ENT, results(a=P, b=F))
    assert [lv.ordinal for lv in result.levels] == [1, 2]
    assert highest(result) == 1


# --- the built-in soundcheck facts ----------------------------------------------------------------------------
def test_track_fact_refs() -> None:
    assert str(track_fact_ref("pagerduty_track")) == "soundcheck:default/track/pagerduty_track"
    assert str(track_fact_ref("legacy", "program")) == "soundcheck:default/program/legacy"
    assert parse_track_fact_ref(FactRef.parse("soundcheck:default/track/x")) == ("track", "x")
    assert parse_track_fact_ref(FactRef.parse("soundcheck:default/program/x/y")) == ("program", "x/y")
    assert parse_track_fact_ref(FactRef.parse("soundcheck:other/track/x")) is None
    assert parse_track_fact_ref(FactRef.parse("github:default/track/x")) is None
    assert parse_track_fact_ref(FactRef.parse("soundcheck:default/track/")) is None


def test_track_fact_shape() -> None:
    t = track((1, ["a"]), (2, ["b"]), (3, ["c"]), id="pagerduty_track")
    result = certify(t, ENT, results(a=P, b=W, c=F))
    fact = track_fact(result, now=NOW)
    assert str(fact.fact_ref) == "soundcheck:default/track/pagerduty_track"
    assert fact.entity_ref == REF and fact.timestamp == NOW and fact.expires_at is None
    assert fact.data == {
        "trackId": "pagerduty_track",
        "levels": [
            {"ordinal": 1, "name": "L1", "state": "certified"},
            {"ordinal": 2, "name": "L2", "state": "certified"},
            {"ordinal": 3, "name": "L3", "state": "not-certified"},
        ],
        "highestLevel": {"ordinal": 2, "name": "L2"},
    }
    # what Soundcheck's documented check reads
    assert compile_path("$.highestLevel.ordinal")(fact.data) == 2
    assert fact.to_json()["factRef"] == "soundcheck:default/track/pagerduty_track"


def test_track_fact_without_any_level() -> None:
    result = certify(track((1, ["a"]), kind="program", id="legacy"), ENT, results(a=F))
    fact = track_fact(result, "program", now=NOW)
    assert str(fact.fact_ref) == "soundcheck:default/program/legacy"
    assert fact.data["highestLevel"] is None
    assert track_fact_data(result)["levels"] == [{"ordinal": 1, "name": "L1", "state": "not-certified"}]


def test_results_built_a_column_at_a_time_are_the_dataclasses_own():
    from itertools import repeat

    from soundcheck_cli.fastinit import build_columns
    from soundcheck_cli.tracks.model import LevelResult, TrackResult

    levels = build_columns(LevelResult, 2, repeat(2, 2), ["Silver", None], [False, True], [(), ()])
    assert levels == [LevelResult(2, "Silver", False, ()), LevelResult(2, None, True, ())]
    assert all(type(lv) is LevelResult for lv in levels)
    assert hash(levels[0]) == hash(LevelResult(2, "Silver", False, ()))
    (track,) = build_columns(TrackResult, 1, ["t"], ["component:default/a"], [(levels[0],)], [None])
    assert track == TrackResult("t", "component:default/a", (levels[0],), None) and type(track) is TrackResult
    with pytest.raises(AttributeError):
        levels[0].ordinal = 3  # still frozen
