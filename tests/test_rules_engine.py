"""The rule engine: every check state, missing facts (three-valued), messages and templates, generated code."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.rules.engine import (
    ABSENT,
    Unreported,
    bind_closures,
    bind_generated,
    bind_rule,
    build_tables,
    check_problem,
    compile_check,
    evaluate_check,
    evaluate_plan,
)
from soundcheck_cli.rules.messages import compile_template, render
from soundcheck_cli.rules.model import AllOf, AnyOf, Check, CheckState, Condition, Not

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PD = FactRef.parse("pagerduty:default/service")
GH = FactRef.parse("github:default/repo")
CI = FactRef.parse("custom:default/ci")


def entity(name: str = "payments", **spec: Any) -> Entity:
    return Entity.from_data({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "annotations": {"pagerduty.com/service-id": "PX1", "x/y": "slash"},
                     "tags": ["java", "web"]},
        "spec": {"type": "service", "lifecycle": "production", **spec},
    })


def facts_for(ent: Entity, **data_by_ref: Any) -> dict[tuple[str, FactRef], Fact]:
    ref = str(ent.ref)
    out = {}
    for name, data in data_by_ref.items():
        fact_ref = {"pd": PD, "gh": GH, "ci": CI}[name]
        expires = None
        if isinstance(data, tuple):  # (data, expires_at)
            data, expires = data
        out[(ref.lower(), fact_ref)] = Fact(fact_ref, ref, data, timestamp=NOW - timedelta(hours=1), expires_at=expires)
    return out


def flt(node: Any) -> EntityFilter:
    parsed = EntityFilter.parse(node, Problems())
    assert parsed is not None
    return parsed


ACTIVE = Condition(PD, "$.status", "equal", "active")
PUBLIC = Condition(GH, "$.visibility", "equal", "public")
COVERED = Condition(CI, "$.coverage", "greaterThanInclusive", 80)


# --- states ------------------------------------------------------------------------------------------------
def test_passed_and_failed() -> None:
    ent = entity()
    check = Check(id="pd_active", rule=ACTIVE)
    assert evaluate_check(check, ent, facts_for(ent, pd={"status": "active"}), NOW).state is CheckState.PASSED
    failed = evaluate_check(check, ent, facts_for(ent, pd={"status": "disabled"}), NOW)
    assert failed.state is CheckState.FAILED
    assert failed.check_id == "pd_active" and failed.entity_ref == "component:default/payments"
    assert failed.message == 'pagerduty:default/service: $.status is "disabled", expected equal "active"'
    assert failed.missing_facts == ()


def test_warning_is_a_failure_of_a_warning_check() -> None:
    ent = entity()
    check = Check(id="c", rule=ACTIVE, warning=True)
    result = evaluate_check(check, ent, facts_for(ent, pd={"status": "disabled"}), NOW)
    assert result.state is CheckState.WARNING
    assert "expected equal" in result.message
    assert evaluate_check(check, ent, facts_for(ent, pd={"status": "active"}), NOW).state is CheckState.PASSED


def test_not_applicable_by_filter_and_exclude() -> None:
    prod, exp = entity("a"), entity("b", lifecycle="experimental")
    check = Check(id="c", rule=ACTIVE, filter=flt({"spec.lifecycle": "production"}))
    facts = {**facts_for(prod, pd={"status": "active"}), **facts_for(exp, pd={"status": "disabled"})}
    assert evaluate_check(check, prod, facts, NOW).state is CheckState.PASSED
    na = evaluate_check(check, exp, facts, NOW)
    assert na.state is CheckState.NOT_APPLICABLE
    assert na.message == "not applicable: the check's filter does not select this entity"
    excluding = Check(id="c", rule=ACTIVE, exclude=flt({"metadata.name": "a"}))
    assert evaluate_check(excluding, prod, facts, NOW).state is CheckState.NOT_APPLICABLE
    # a fact that was never collected does not matter when the check does not apply
    assert evaluate_check(check, exp, {}, NOW).state is CheckState.NOT_APPLICABLE


def test_not_applicable_by_applicable_rule() -> None:
    ent = entity()
    check = Check(id="c", rule=ACTIVE, applicable=Condition(GH, "$.archived", "equal", False))
    facts = facts_for(ent, pd={"status": "disabled"}, gh={"archived": True})
    result = evaluate_check(check, ent, facts, NOW)
    assert result.state is CheckState.NOT_APPLICABLE
    assert result.message == "not applicable: github:default/repo: $.archived is true, expected equal false"
    facts = facts_for(ent, pd={"status": "disabled"}, gh={"archived": False})
    assert evaluate_check(check, ent, facts, NOW).state is CheckState.FAILED
    # applicable needs a fact that is absent: not-reported, saying so
    result = evaluate_check(check, ent, facts_for(ent, pd={"status": "active"}), NOW)
    assert result.state is CheckState.NOT_REPORTED
    assert result.message == "not reported for the applicable rule: github:default/repo (not collected)"


def test_not_reported_names_missing_and_expired_facts() -> None:
    ent = entity()
    check = Check(id="c", rule=AllOf((ACTIVE, PUBLIC)))
    expired_at = NOW - timedelta(minutes=5)
    facts = facts_for(ent, pd=({"status": "active"}, expired_at))
    result = evaluate_check(check, ent, facts, NOW)
    assert result.state is CheckState.NOT_REPORTED
    assert result.missing_facts == (
        "pagerduty:default/service (expired at 2026-03-01T11:55:00.000Z)",
        "github:default/repo (not collected)",
    )
    assert result.message == "not reported: " + "; ".join(result.missing_facts)
    # an expiry in the future is fine
    fresh = facts_for(ent, pd=({"status": "active"}, NOW + timedelta(minutes=5)), gh={"visibility": "public"})
    assert evaluate_check(check, ent, fresh, NOW).state is CheckState.PASSED


def test_present_fact_with_missing_path_is_not_absent() -> None:
    ent = entity()
    result = evaluate_check(Check(id="c", rule=ACTIVE), ent, facts_for(ent, pd={}), NOW)
    assert result.state is CheckState.FAILED
    assert result.message == "pagerduty:default/service: $.status is missing, expected equal \"active\""
    not_equal = Check(id="c", rule=Condition(PD, "$.status", "notEqual", "disabled"))
    assert evaluate_check(not_equal, ent, facts_for(ent, pd={}), NOW).state is CheckState.PASSED


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (Condition(PD, "$.name", "matches", "(unclosed"), "invalid regular expression '(unclosed'"),
        (Condition(PD, "$.n", "lessThan", "ten"), "lessThan needs a number value, got 'ten'"),
        (Condition(PD, "$.a[?(@.x ==", "equal", 1), "invalid JSONPath"),
        (Condition(PD, "$.a", "sameAs", 1), "unknown operator 'sameAs'"),
    ],
)
def test_error_state_says_why(condition: Condition, reason: str) -> None:
    ent = entity()
    check = Check(id="c", rule=AnyOf((ACTIVE, condition)))
    result = evaluate_check(check, ent, facts_for(ent, pd={"status": "active"}), NOW)
    assert result.state is CheckState.ERROR
    assert result.message.startswith("error: ") and reason in result.message
    assert reason in check_problem(check)
    # the filter still decides first
    filtered = Check(id="c", rule=condition, filter=flt({"kind": "API"}))
    assert evaluate_check(filtered, ent, {}, NOW).state is CheckState.NOT_APPLICABLE
    assert check_problem(Check(id="ok", rule=ACTIVE)) is None


# --- three-valued logic with absent facts -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "present", "state"),
    [
        (AllOf((ACTIVE, PUBLIC)), {"pd": {"status": "disabled"}}, CheckState.FAILED),  # A false decides
        (AllOf((ACTIVE, PUBLIC)), {"pd": {"status": "active"}}, CheckState.NOT_REPORTED),
        (AllOf((PUBLIC, ACTIVE)), {"pd": {"status": "disabled"}}, CheckState.FAILED),  # order does not matter
        (AnyOf((ACTIVE, PUBLIC)), {"pd": {"status": "active"}}, CheckState.PASSED),  # A true decides
        (AnyOf((PUBLIC, ACTIVE)), {"pd": {"status": "active"}}, CheckState.PASSED),
        (AnyOf((ACTIVE, PUBLIC)), {"pd": {"status": "disabled"}}, CheckState.NOT_REPORTED),
        (Not(PUBLIC), {"pd": {"status": "active"}}, CheckState.NOT_REPORTED),
        (Not(AllOf((ACTIVE, PUBLIC))), {"pd": {"status": "disabled"}}, CheckState.PASSED),
        (AllOf((AnyOf((ACTIVE, PUBLIC)), COVERED)), {"pd": {"status": "active"}, "ci": {"coverage": 90}},
         CheckState.PASSED),
        (AllOf((AnyOf((PUBLIC, COVERED)), ACTIVE)), {"pd": {"status": "active"}, "ci": {"coverage": 10}},
         CheckState.NOT_REPORTED),
        (AllOf(()), {}, CheckState.PASSED),  # as json-rules-engine: [].every
        (AnyOf(()), {}, CheckState.FAILED),  # [].some
    ],
)
def test_kleene_logic(rule: Any, present: dict[str, Any], state: CheckState) -> None:
    ent = entity()
    result = evaluate_check(Check(id="c", rule=rule), ent, facts_for(ent, **present), NOW)
    assert result.state is state, result.message
    if state is CheckState.NOT_REPORTED:
        assert "github:default/repo (not collected)" in result.missing_facts


def test_failed_with_an_absent_fact_says_so() -> None:
    ent = entity()
    result = evaluate_check(Check(id="c", rule=AllOf((ACTIVE, PUBLIC))), ent, facts_for(ent, pd={"status": "x"}), NOW)
    assert result.state is CheckState.FAILED
    assert result.message == ('pagerduty:default/service: $.status is "x", expected equal "active"; '
                              "also not reported: github:default/repo (not collected)")


# --- default messages ----------------------------------------------------------------------------------------
def test_default_messages_name_the_failing_conditions() -> None:
    ent = entity()
    facts = facts_for(ent, pd={"status": "disabled"}, gh={"visibility": "private"}, ci={"coverage": 95.5})
    all_of = evaluate_check(Check(id="c", rule=AllOf((ACTIVE, PUBLIC, COVERED))), ent, facts, NOW)
    assert all_of.message == ('pagerduty:default/service: $.status is "disabled", expected equal "active"; '
                              'github:default/repo: $.visibility is "private", expected equal "public"')
    any_of = evaluate_check(Check(id="c", rule=AnyOf((ACTIVE, PUBLIC))), ent, facts, NOW)
    assert any_of.message == ('none of: pagerduty:default/service: $.status is "disabled", expected equal "active"; '
                              'github:default/repo: $.visibility is "private", expected equal "public"')
    negated = evaluate_check(Check(id="c", rule=Not(COVERED)), ent, facts, NOW)
    assert negated.message == ("expected not: custom:default/ci: $.coverage is 95.5, "
                               "which is greaterThanInclusive 80")
    lists = evaluate_check(Check(id="c", rule=Condition(GH, "$.topics", "contains", "api")), ent,
                           facts_for(ent, gh={"topics": ["web", "ml"]}), NOW)
    assert lists.message == 'github:default/repo: $.topics is ["web","ml"], expected contains "api"'
    whole = evaluate_check(Check(id="c", rule=Condition(GH, None, "contains", "topics")), ent,
                           facts_for(ent, gh={"name": "x"}), NOW)
    assert whole.message == 'github:default/repo: $ is {"name":"x"}, expected contains "topics"'


def test_default_messages_are_memoised_but_never_mixed_up() -> None:
    """1, 1.0 and true hash alike; their messages must differ."""
    ents = [entity(f"e{i}") for i in range(4)]
    values = [1, 1.0, True, "1"]
    facts: dict[tuple[str, FactRef], Fact] = {}
    for ent, value in zip(ents, values):
        facts.update(facts_for(ent, pd={"n": value}))
    check = Check(id="c", rule=Condition(PD, "$.n", "equal", 2))
    tables = build_tables(facts, {PD}, NOW)
    bound = compile_check(check).bind(tables)
    infos = [(e, str(e.ref), str(e.ref).lower()) for e in ents]
    for _ in range(2):  # the second time from the memo
        messages = [r.message for r in bound.run(infos, [True] * 4)]
        assert messages == [f"pagerduty:default/service: $.n is {shown}, expected equal 2"
                            for shown in ("1", "1", "true", '"1"')]
    composite = Check(id="c2", rule=AllOf((Condition(PD, "$.n", "equal", 2), Condition(PD, "$.n", "notEqual", 3))))
    bound = compile_check(composite).bind(tables)
    for _ in range(2):
        shown = [r.message.split(" is ")[1].split(",")[0] for r in bound.run(infos, [True] * 4)]
        assert shown == ["1", "1", "true", '"1"']


# --- templates ---------------------------------------------------------------------------------------------
def test_templates_substitute_entity_check_and_fact_values() -> None:
    ent = entity()
    check = Check(
        id="pd_active", name="PagerDuty active", rule=ACTIVE,
        passed_message="{{ entity.metadata.name }} is on call ({{check.name}})",
        failed_message=("{{ entity.metadata.name }}: service "
                        "{{ entity.metadata.annotations['pagerduty.com/service-id'] }}"
                        ' / {{ entity.metadata.annotations["x/y"] }} is {{ facts["pagerduty:default/service"].status }}'
                        " [{{ entity.metadata.tags[1] }}] ({{ entity.spec.nope }})"),
    )
    ok = evaluate_check(check, ent, facts_for(ent, pd={"status": "active"}), NOW)
    assert ok.message == "payments is on call (PagerDuty active)"
    bad = evaluate_check(check, ent, facts_for(ent, pd={"status": "disabled"}), NOW)
    assert bad.message == "payments: service PX1 / slash is disabled [web] ()"


def test_not_applicable_message_template() -> None:
    ent = entity(lifecycle="experimental")
    check = Check(id="c", rule=ACTIVE, filter=flt({"spec.lifecycle": "production"}),
                  not_applicable_message="{{ entity.metadata.name }} is {{ entity.spec.lifecycle }}")
    result = evaluate_check(check, ent, {}, NOW)
    assert (result.state, result.message) == (CheckState.NOT_APPLICABLE, "payments is experimental")
    ref = str(ent.ref)
    (in_run,) = compile_check(check).bind(build_tables({}, {PD}, NOW)).run([(ent, ref, ref.lower())], [False])
    assert in_run == result  # the generated loop renders it the same way


def test_not_reported_and_error_messages_ignore_templates() -> None:
    ent = entity()
    check = Check(id="c", rule=ACTIVE, failed_message="custom", passed_message="custom")
    assert evaluate_check(check, ent, {}, NOW).message == "not reported: pagerduty:default/service (not collected)"


@pytest.mark.parametrize(
    "text",
    [
        "{{ __import__('os').system('touch PWNED') }}",
        "{{ entity.__class__.__mro__ }}x",
        "{{ ''.__class__ }}",
        "{% for x in y %}{{ x }}{% endfor %}",
        "{{ entity.metadata.name | upper }}",
        "{{ entiy.metadata.name }}",
        "{{ facts['not a ref'].x }}",
        "{{ entity.metadata.name + 1 }}",
        "{{ lipsum.__globals__ }}",
    ],
)
def test_templates_never_execute_anything(text: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ent = entity()
    out = render(text, ent.data, {"id": "c"}, lambda ref: {"x": 1})
    # unknown or non-placeholder syntax stays as written; attribute-looking keys are only dict keys
    expected = {"{{ entity.__class__.__mro__ }}x": "x"}.get(text, text)
    assert out == expected
    assert list(tmp_path.iterdir()) == []  # nothing ran
    # the same through a check
    check = Check(id="c", rule=ACTIVE, failed_message=text)
    assert evaluate_check(check, ent, facts_for(ent, pd={"status": "x"}), NOW).message == expected
    assert list(tmp_path.iterdir()) == []


def test_template_parsing_is_cached_and_values_render_as_text() -> None:
    assert compile_template("{{ entity.a }}") is compile_template("{{ entity.a }}")
    assert compile_template(None) is None
    data = {"a": True, "b": None, "c": [1, "x"], "d": {"k": 2.0}, "e": 3.0, "f": "x" * 500}
    assert render("{{entity.a}}|{{entity.b}}|{{entity.c}}|{{entity.d}}|{{entity.e}}", data) == \
        'true||[1,"x"]|{"k":2.0}|3'
    assert len(render("{{ entity.f }}", data)) == 200
    assert render("{{ entity.c[5] }}{{ entity.a.b }}{{ entity }}", {"c": []}) == '{"c":[]}'
    assert compile_template("plain").constant and not compile_template("{{ check.id }}").constant


# --- generated code ------------------------------------------------------------------------------------------
def test_generated_code_contains_no_config_text() -> None:
    """Keys, values and refs travel as constants; the source only has generated names."""
    sneaky = Condition(FactRef.parse("x:default/y"), "$['a\\' + __import__(\"os\").getcwd() + \\'']",
                       "equal", "'); import os; ('")
    plan = compile_check(Check(id="c", rule=AllOf((sneaky, Condition(GH, "$.n", "in", ["x\")", "y"]))))).rule
    fn = bind_generated(plan, {})
    source = fn.__doc__
    assert "import" not in source and "getcwd" not in source and "x\")" not in source
    assert fn("e") is None


def test_deep_rules_fall_back_to_closures() -> None:
    rule: Any = ACTIVE
    for _ in range(40):
        rule = Not(rule)
    plan = compile_check(Check(id="deep", rule=rule)).rule
    tables = {PD: {"e": {"status": "active"}}}
    fn = bind_rule(plan, tables)
    assert fn.__doc__ is None or "def rule" not in (fn.__doc__ or "")
    assert fn("e") is True  # 40 negations
    ent = entity()
    assert evaluate_check(Check(id="deep", rule=rule), ent, facts_for(ent, pd={"status": "x"}), NOW).state \
        is CheckState.FAILED


def test_fact_data_may_be_mapping_subclasses() -> None:
    class Located(dict):
        pass

    ent = entity()
    data = Located(status="active", spec=Located(tier=Located(level=2)))
    check = Check(id="c", rule=AllOf((ACTIVE, Condition(PD, "$.spec.tier.level", "lessThan", 3))))
    assert evaluate_check(check, ent, facts_for(ent, pd=data), NOW).state is CheckState.PASSED


# Random rules over three facts, random fact tables: the generated loop, the generated rule, the closures and
# the plain reference evaluation all agree, state by state and message by message.
CONDITIONS = [
    Condition(PD, "$.status", "equal", "active"),
    Condition(PD, "$.n", "lessThan", 3),
    Condition(GH, "$.tags", "contains", "a"),
    Condition(GH, "$.tags[0]", "in", ["a", "b"]),
    Condition(CI, "$.name", "matches", "^x"),
    Condition(CI, "$.nested.flag", "equal", True),
    Condition(CI, "$..flag", "contains", False),
    Condition(GH, None, "doesNotContain", "tags"),
]
rules = st.recursive(
    st.sampled_from(CONDITIONS),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda rs: AllOf(tuple(rs))),
        st.lists(children, max_size=3).map(lambda rs: AnyOf(tuple(rs))),
        children.map(Not),
    ),
    max_leaves=6,
)
fact_values = {
    PD: st.sampled_from([ABSENT, Unreported(NOW), {}, {"status": "active", "n": 1}, {"status": "x", "n": 5},
                         {"status": "active", "n": "1"}, {"n": True}]),
    GH: st.sampled_from([ABSENT, {}, {"tags": ["a"]}, {"tags": ["b", "a"]}, {"tags": "abc"}, {"tags": []}, []]),
    CI: st.sampled_from([ABSENT, {"name": "xy", "nested": {"flag": True}}, {"name": 5, "nested": {"flag": False}},
                         {"nested": None}, "text"]),
}


@settings(max_examples=150, deadline=None, database=None)
@given(rule=rules, rows=st.lists(st.fixed_dictionaries(fact_values), min_size=1, max_size=6),
       selected=st.lists(st.booleans(), min_size=6, max_size=6), warning=st.booleans())
def test_generated_code_agrees_with_the_reference(rule: Any, rows: list[dict[FactRef, Any]], selected: list[bool],
                                                  warning: bool) -> None:
    ents = [entity(f"e{i}") for i in range(len(rows))]
    keys = [str(e.ref).lower() for e in ents]
    tables: dict[FactRef, dict[str, Any]] = {ref: {} for ref in (PD, GH, CI)}
    for key, row in zip(keys, rows):
        for ref, value in row.items():
            if value is not ABSENT:
                tables[ref][key] = value
    check = Check(id="c", rule=rule, warning=warning)
    compiled = compile_check(check)
    bound = compiled.bind(tables)
    infos = [(e, str(e.ref), k) for e, k in zip(ents, keys)]
    sel = selected[: len(ents)]
    batch = bound.run(infos, sel)
    assert bound.run(infos) == [bound.evaluate(e, r, k) for e, r, k in infos]  # None: every entity selected
    closures = bind_closures(compiled.rule, tables)
    for (ent, ref, key), chosen, result in zip(infos, sel, batch):
        single = bound.evaluate(ent, ref, key, chosen)
        assert result == single
        value = evaluate_plan(compiled.rule, lambda r, k=key: tables[r].get(k, ABSENT))
        assert closures(key) is value and bound.rule(key) is value
        expected = (CheckState.NOT_APPLICABLE if not chosen else
                    {True: CheckState.PASSED, False: CheckState.WARNING if warning else CheckState.FAILED,
                     None: CheckState.NOT_REPORTED}[value])
        assert result.state is expected
        assert (result.missing_facts != ()) == (expected is CheckState.NOT_REPORTED)


# --- results: value objects, whichever way they were built -------------------------------------------------------
def test_results_of_a_generated_run_are_immutable_values_of_their_own_type() -> None:
    from soundcheck_cli.rules.model import CheckResult

    ents = [entity("a"), entity("b"), entity("c")]
    facts = {**facts_for(ents[0], pd={"status": "active"}), **facts_for(ents[1], pd={"status": "off"})}
    check = Check(id="pd", rule=ACTIVE)
    bound = compile_check(check).bind(build_tables(facts, {PD}, NOW))
    infos = [(e, str(e.ref), str(e.ref).lower()) for e in ents]
    run = bound.run(infos)
    one_by_one = [bound.evaluate(e, r, k) for e, r, k in infos]
    assert [r.state for r in run] == [CheckState.PASSED, CheckState.FAILED, CheckState.NOT_REPORTED]
    assert run == one_by_one and all(type(r) is CheckResult for r in run + one_by_one)
    assert hash(run[0]) == hash(one_by_one[0]) and len({*run, *one_by_one}) == 3
    assert run[2].missing_facts and run[0].missing_facts == () and run[0].message == ""
    assert repr(run[0]) == ("CheckResult(check_id='pd', entity_ref='component:default/a', "
                            "state=<CheckState.PASSED: 'passed'>, message='', missing_facts=())")
    with pytest.raises(AttributeError):
        run[0].state = CheckState.FAILED  # type: ignore[misc]
    made = CheckResult("pd", "component:default/a", CheckState.PASSED)
    assert made == run[0] and (made.message, made.missing_facts) == ("", ())
