"""``evaluate``: selection by ids, entity refs, track filters, dependency order through soundcheck facts, cycles."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.config.model import Settings
from soundcheck_cli.errors import ConfigError, Location, Problems, Severity, UsageError
from soundcheck_cli.evaluation import evaluate
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.rules import engine
from soundcheck_cli.rules.model import AllOf, Check, CheckState, Condition
from soundcheck_cli.tracks.certification import track_fact_ref
from soundcheck_cli.tracks.model import Level, LevelCheck, Track

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
PD = FactRef.parse("pagerduty:default/service")
CAT = FactRef.parse("catalog:default/entity_descriptor")


def entity(name: str, kind: str = "Component", **spec: Any) -> Entity:
    return Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": {"name": name},
                             "spec": {"lifecycle": "production", **spec}})


ENTITIES = [entity("alpha"), entity("beta", lifecycle="experimental"), entity("Gamma"), entity("api-one", "API")]


def fact(ent: Entity, ref: FactRef, data: Any, expires_at: datetime | None = None) -> tuple[tuple[str, FactRef], Fact]:
    key = str(ent.ref).lower()
    return (key, ref), Fact(ref, str(ent.ref), data, timestamp=NOW - timedelta(hours=1), expires_at=expires_at)


FACTS = dict([
    fact(ENTITIES[0], PD, {"status": "active"}),
    fact(ENTITIES[1], PD, {"status": "disabled"}),
    fact(ENTITIES[2], PD, {"status": "active"}, expires_at=NOW - timedelta(minutes=1)),
    *(fact(e, CAT, e.data) for e in ENTITIES),
])


def flt(node: Any) -> EntityFilter:
    parsed = EntityFilter.parse(node, Problems())
    assert parsed is not None
    return parsed


def cond(ref: FactRef | str, path: str, op: str, value: Any, line: int | None = None) -> Condition:
    ref = FactRef.parse(ref) if isinstance(ref, str) else ref
    return Condition(ref, path, op, value, location=Location("app-config.yaml", line, 9) if line else None)


PD_ACTIVE = Check(id="pd_active", rule=cond(PD, "$.status", "equal", "active"))
HAS_OWNER = Check(id="has_owner", rule=cond(CAT, "$.spec.owner", "notEqual", None))
PRODUCTION = Check(id="production", rule=cond(CAT, "$.spec.lifecycle", "equal", "production"))
PD_TRACK = Track(id="pagerduty_track", filter=flt({"kind": "Component"}),
                 levels=(Level(1, (LevelCheck("pd_active"),), name="Basic"),))
HYGIENE = Track(id="hygiene", levels=(Level(1, (LevelCheck("production"),)), Level(2, (LevelCheck("has_owner"),))))
SETTINGS = Settings(files=("app-config.yaml",), checks=(PD_ACTIVE, HAS_OWNER, PRODUCTION), tracks=(PD_TRACK, HYGIENE))


def states(report: Any, check_id: str) -> dict[str, CheckState]:
    return {r.entity_ref: r.state for r in report.check_results if r.check_id == check_id}


def test_check_in_no_track_is_reported_for_every_entity() -> None:
    lonely = Check(id="lonely", rule=cond(CAT, "$.kind", "equal", "API"))
    settings = Settings(files=("app-config.yaml",), checks=(PD_ACTIVE, lonely), tracks=(PD_TRACK,))
    report = evaluate(settings, ENTITIES, FACTS, now=NOW)
    assert set(states(report, "lonely")) == {str(e.ref) for e in ENTITIES}
    assert set(states(report, "pd_active")) == {str(e.ref) for e in ENTITIES if e.kind == "Component"}


def test_released_facts_give_the_same_report_and_are_freed() -> None:
    """``release_facts``: the caller's dict is emptied once indexed (``check`` frees the Fact objects before the
    results are built), and the report is the one the facts kept would give, tracks and expired facts included."""
    given = dict(FACTS)
    released = evaluate(SETTINGS, ENTITIES, given, now=NOW, release_facts=True)
    assert given == {}
    assert released == evaluate(SETTINGS, ENTITIES, FACTS, now=NOW)
    assert len(FACTS) == 7  # without release_facts the facts are the caller's, untouched


# --- selection -----------------------------------------------------------------------------------------------
def test_no_ids_evaluates_everything() -> None:
    report = evaluate(SETTINGS, ENTITIES, FACTS, now=NOW)
    assert [c.id for c in report.checks] == ["pd_active", "has_owner", "production"]
    assert [t.id for t in report.tracks] == ["pagerduty_track", "hygiene"]
    # pd_active belongs only to pagerduty_track (kind: Component), so it is not reported for the API;
    # has_owner and production belong to hygiene (no filter): every entity.
    assert len(report.check_results) == 3 + 4 + 4
    # config order of checks, then entity order
    assert [(r.check_id, r.entity_ref) for r in report.check_results[:4]] == [
        ("pd_active", "component:default/alpha"), ("pd_active", "component:default/beta"),
        ("pd_active", "component:default/Gamma"), ("has_owner", "component:default/alpha")]
    assert states(report, "pd_active") == {
        "component:default/alpha": CheckState.PASSED,
        "component:default/beta": CheckState.FAILED,
        "component:default/Gamma": CheckState.NOT_REPORTED,  # expired
    }
    gamma = next(r for r in report.check_results if r.entity_ref == "component:default/Gamma")
    assert gamma.missing_facts == ("pagerduty:default/service (expired at 2026-02-28T23:59:00.000Z)",)
    assert report.generated_at == NOW and report.entities == tuple(ENTITIES)
    assert report.problems == ()


def test_track_filter_leaves_unselected_entities_out() -> None:
    report = evaluate(SETTINGS, ENTITIES, FACTS, now=NOW)
    pd_refs = [r.entity_ref for r in report.track_results if r.track_id == "pagerduty_track"]
    assert pd_refs == ["component:default/alpha", "component:default/beta", "component:default/Gamma"]
    hygiene = {r.entity_ref: r.highest_level and r.highest_level.ordinal
               for r in report.track_results if r.track_id == "hygiene"}
    # spec.owner is absent (null is not missing, but absent is): notEqual null holds for a missing path
    assert hygiene == {"component:default/alpha": 2, "component:default/beta": None,
                       "component:default/Gamma": 2, "api:default/api-one": 2}


def test_select_by_track() -> None:
    report = evaluate(SETTINGS, ENTITIES, FACTS, track_ids=["hygiene"], now=NOW)
    assert [t.id for t in report.tracks] == ["hygiene"]
    assert [c.id for c in report.checks] == ["has_owner", "production"]  # config order
    assert {r.check_id for r in report.check_results} == {"has_owner", "production"}
    assert {r.track_id for r in report.track_results} == {"hygiene"}


def test_select_by_check_and_both() -> None:
    report = evaluate(SETTINGS, ENTITIES, FACTS, check_ids=["production"], now=NOW)
    assert [c.id for c in report.checks] == ["production"] and report.tracks == ()
    assert report.track_results == ()
    both = evaluate(SETTINGS, ENTITIES, FACTS, track_ids=["pagerduty_track"], check_ids=["production"], now=NOW)
    assert [c.id for c in both.checks] == ["pd_active", "production"]
    assert [t.id for t in both.tracks] == ["pagerduty_track"]


def test_unknown_ids_list_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        evaluate(SETTINGS, ENTITIES, FACTS, track_ids=["nope"], check_ids=["pd_active", "missing"], now=NOW)
    messages = [p.message for p in info.value.problems]
    assert messages == [
        "unknown track 'nope'; valid tracks: pagerduty_track, hygiene",
        "unknown check 'missing'; valid checks: pd_active, has_owner, production",
    ]
    with pytest.raises(UsageError, match="no tracks are defined"):
        evaluate(Settings(files=()), ENTITIES, FACTS, track_ids=["x"], now=NOW)


def test_select_entities() -> None:
    report = evaluate(SETTINGS, ENTITIES, FACTS, entity_refs=["gamma", "API:default/api-one"], now=NOW)
    assert [str(e.ref) for e in report.entities] == ["component:default/Gamma", "api:default/api-one"]
    assert {r.entity_ref for r in report.check_results} == {"component:default/Gamma", "api:default/api-one"}
    with pytest.raises(UsageError, match="unknown entity 'component:default/alfa'.*did you mean "
                                         "component:default/alpha"):
        evaluate(SETTINGS, ENTITIES, FACTS, entity_refs=["component:default/alfa"], now=NOW)


def test_each_check_entity_pair_is_evaluated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = engine.BoundCheck.run

    def spy(self: Any, entities: Any, selected: Any) -> Any:
        calls.append(self.compiled.check.id)
        return original(self, entities, selected)

    monkeypatch.setattr(engine.BoundCheck, "run", spy)
    shared = Track(id="shared", levels=(Level(1, (LevelCheck("production"), LevelCheck("pd_active"))),))
    settings = Settings(files=(), checks=SETTINGS.checks, tracks=(PD_TRACK, HYGIENE, shared))
    report = evaluate(settings, ENTITIES, FACTS, now=NOW)
    assert sorted(calls) == ["has_owner", "pd_active", "production"]
    assert len(report.check_results) == 12


def test_collector_is_left_enabled() -> None:
    assert gc.isenabled()
    evaluate(SETTINGS, ENTITIES, FACTS, now=NOW)
    assert gc.isenabled()
    gc.disable()
    try:
        evaluate(SETTINGS, ENTITIES, FACTS, now=NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- dependencies through soundcheck facts --------------------------------------------------------------------
PD_CERTIFIED = Check(id="pd_certified", rule=cond("soundcheck:default/track/pagerduty_track",
                                                  "$.highestLevel.ordinal", "greaterThanInclusive", 1, line=30))
META = Track(id="meta", levels=(Level(1, (LevelCheck("pd_certified"),)),))


def test_checks_reading_a_track_run_after_it() -> None:
    # the dependent check and track come first in the config: order is by dependency, not by position
    settings = Settings(files=(), checks=(PD_CERTIFIED, PD_ACTIVE), tracks=(META, PD_TRACK))
    stale = dict(FACTS)
    for e in ENTITIES:  # a stored copy that says everything is certified must not win over this run
        stale.update([fact(e, track_fact_ref("pagerduty_track"), {"highestLevel": {"ordinal": 9}})])
    report = evaluate(settings, ENTITIES, stale, now=NOW)
    assert states(report, "pd_certified") == {
        "component:default/alpha": CheckState.PASSED,
        "component:default/beta": CheckState.FAILED,
        "component:default/Gamma": CheckState.FAILED,
        "api:default/api-one": CheckState.NOT_REPORTED,  # the track does not apply to APIs
    }
    api = next(r for r in report.check_results if r.check_id == "pd_certified" and r.entity_ref.startswith("api"))
    assert api.missing_facts == (
        "soundcheck:default/track/pagerduty_track (track 'pagerduty_track' does not apply to this entity)",)
    beta = next(r for r in report.check_results if r.check_id == "pd_certified" and "beta" in r.entity_ref)
    assert beta.message == ("soundcheck:default/track/pagerduty_track: $.highestLevel.ordinal is missing, "
                            "expected greaterThanInclusive 1")
    meta = {r.entity_ref: r.highest_level is not None for r in report.track_results if r.track_id == "meta"}
    assert meta["component:default/alpha"] and not meta["component:default/beta"]


def test_a_selected_check_pulls_its_track_in_without_reporting_it() -> None:
    settings = Settings(files=(), checks=(PD_ACTIVE, PD_CERTIFIED), tracks=(PD_TRACK,))
    report = evaluate(settings, ENTITIES, FACTS, check_ids=["pd_certified"], now=NOW)
    assert [c.id for c in report.checks] == ["pd_certified"] and report.tracks == ()
    assert {r.check_id for r in report.check_results} == {"pd_certified"}
    assert states(report, "pd_certified")["component:default/alpha"] is CheckState.PASSED


def test_programs_have_their_own_fact_ref() -> None:
    program = Track(id="legacy", kind="program", levels=(Level(1, (LevelCheck("production"),)),))
    reader = Check(id="reads_program", rule=cond("soundcheck:default/program/legacy", "$.highestLevel.ordinal",
                                                 "equal", 1))
    settings = Settings(files=(), checks=(reader, PRODUCTION), tracks=(program,))
    report = evaluate(settings, ENTITIES, FACTS, now=NOW)
    assert states(report, "reads_program")["component:default/alpha"] is CheckState.PASSED
    assert states(report, "reads_program")["component:default/beta"] is CheckState.FAILED


def test_reading_an_undefined_track_is_a_warning() -> None:
    reader = Check(id="reader", rule=cond("soundcheck:default/track/nowhere", "$.highestLevel", "notEqual", None,
                                          line=12))
    report = evaluate(Settings(files=(), checks=(reader,)), ENTITIES, FACTS, now=NOW)
    (problem,) = report.problems
    assert problem.severity is Severity.WARNING
    assert str(problem) == ("app-config.yaml:12:9: check 'reader' reads soundcheck:default/track/nowhere but no "
                            "track 'nowhere' is defined; only a stored fact can answer it")
    assert set(states(report, "reader").values()) == {CheckState.NOT_REPORTED}


def test_a_cycle_is_a_located_config_error() -> None:
    a = Check(id="a", rule=AllOf((cond(PD, "$.status", "equal", "active"),
                                  cond("soundcheck:default/track/t", "$.highestLevel.ordinal", "equal", 1, line=41))))
    t = Track(id="t", levels=(Level(1, (LevelCheck("a"),)),))
    with pytest.raises(ConfigError) as info:
        evaluate(Settings(files=(), checks=(a,), tracks=(t,)), ENTITIES, FACTS, now=NOW)
    assert str(info.value) == ("app-config.yaml:41:9: check 'a' reads soundcheck:default/track/t, but track 't' "
                               "depends on it: dependency cycle check 'a' -> track 't' -> check 'a'")


def test_an_indirect_cycle() -> None:
    a = Check(id="a", rule=cond("soundcheck:default/track/t2", "$.highestLevel", "notEqual", None, line=5),
              location=Location("checks.yaml", 4, 3))
    b = Check(id="b", rule=cond("soundcheck:default/track/t1", "$.highestLevel", "notEqual", None, line=9))
    t1 = Track(id="t1", levels=(Level(1, (LevelCheck("a"),)),))
    t2 = Track(id="t2", levels=(Level(1, (LevelCheck("b"),)),))
    with pytest.raises(ConfigError, match=r"dependency cycle check 'a' -> track 't2' -> check 'b' -> track 't1' "
                                          r"-> check 'a'") as info:
        evaluate(Settings(files=(), checks=(a, b), tracks=(t1, t2)), ENTITIES, FACTS, now=NOW)
    assert info.value.location == Location("app-config.yaml", 5, 9)
    # no cycle when only part of it is selected? the dependency is still there, so still an error
    with pytest.raises(ConfigError):
        evaluate(Settings(files=(), checks=(a, b), tracks=(t1, t2)), ENTITIES, FACTS, check_ids=["b"], now=NOW)


def test_a_bigger_run_stays_consistent() -> None:
    many = [entity(f"svc-{i}", lifecycle="production" if i % 3 else "experimental") for i in range(300)]
    facts = dict(fact(e, CAT, e.data) for e in many)
    facts.update(fact(e, PD, {"status": "active" if i % 2 else "disabled"}) for i, e in enumerate(many) if i % 5)
    report = evaluate(SETTINGS, many, facts, now=NOW)
    assert len(report.check_results) == 900
    production = states(report, "production")
    assert sum(s is CheckState.PASSED for s in production.values()) == 200
    pd = list(states(report, "pd_active").values())
    assert pd.count(CheckState.NOT_REPORTED) == 60 and pd.count(CheckState.PASSED) == 120
