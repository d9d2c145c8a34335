"""Generated code (``rules.codegen``) against the plain operators: one verdict for every value.

The generated forms come from ``operators.operator_form``, the same texts ``compile_operator`` builds its
predicates from; these tests compare the generated rule function, the generated batch loop and the predicates
with the plain functions of ``OPERATORS``, over the cases of tests/cases/operators.yaml and random JSON values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.codegen import bind_generated, generate_run
from soundcheck_cli.rules.engine import compile_check
from soundcheck_cli.rules.jsonpath import MISSING
from soundcheck_cli.rules.model import AllOf, Check, CheckState, Condition
from soundcheck_cli.rules.operators import NUMERIC_OPERATORS, OPERATOR_NAMES, OPERATORS, OperatorError, compile_operator
from soundcheck_cli.rules.plan import compile_plan, memo_key

ROOT = Path(__file__).resolve().parent.parent
CASES = [c for c in YAML(typ="safe").load((ROOT / "tests" / "cases" / "operators.yaml").read_text())
         if c["expect"] != "error"]
REF = FactRef("test", "default", "fact")
ENTITY = Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "s"}})
EKEY = "component:default/s"


def verdicts(op: str, expected: Any, actual: Any) -> tuple[bool, bool, bool, CheckState]:
    """(plain operator, compiled predicate, generated rule, generated batch loop) for one value."""
    plain = OPERATORS[op](actual, expected)
    predicate = compile_operator(op, expected)(actual)
    condition = Condition(REF, "$.v", op, expected)
    data = {} if actual is MISSING else {"v": actual}
    tables = {REF: {EKEY: data}}
    generated = bind_generated(compile_plan(condition), tables)(EKEY)
    bound = compile_check(Check(id="c", rule=condition)).bind(tables)
    assert bound._run is not None, "the batch loop is generated for a plain condition"
    state = bound.run([(ENTITY, EKEY, EKEY)], None)[0].state
    return plain, predicate, generated, state


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['row']}-{c['op']}-{c.get('fact')!r}-{c['value']!r}")
def test_generated_code_agrees_with_the_plain_operator_on_every_case(case: dict[str, Any]) -> None:
    actual = MISSING if case.get("missing") else case["fact"]
    plain, predicate, generated, state = verdicts(case["op"], case["value"], actual)
    assert plain is predicate is generated is case["expect"]
    assert state is (CheckState.PASSED if plain else CheckState.FAILED)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
                    st.sampled_from(["", "a", "ab", "b", "active", "1", "A"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2)),
                      max_leaves=6)
patterns = st.sampled_from(["^a", "b$", "a|b", "(?i)^A", r"\d", "(?<x>a)b", "^$", "[ab]+"])


@st.composite
def rule_values(draw: st.DrawFn, op: str) -> Any:
    if op in NUMERIC_OPERATORS:
        return draw(st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)))
    if op == "matches":
        return draw(patterns)
    return draw(values)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), op=st.sampled_from(sorted(OPERATOR_NAMES)),
       actual=st.one_of(values, st.just(MISSING)))
def test_generated_code_agrees_with_the_plain_operator_on_random_values(data: st.DataObject, op: str,
                                                                        actual: Any) -> None:
    expected = data.draw(rule_values(op))
    plain, predicate, generated, state = verdicts(op, expected, actual)
    assert plain is predicate is generated, (op, expected, actual)
    assert state is (CheckState.PASSED if plain else CheckState.FAILED)


def test_rule_values_an_operator_cannot_use_raise_before_any_code_is_generated() -> None:
    for op, value in (("lessThan", "10"), ("matches", 5), ("matches", "("), ("nope", 1)):
        with pytest.raises(OperatorError):
            compile_plan(Condition(REF, "$.v", op, value))


@settings(max_examples=200, deadline=None)
@given(first=values, second=values)
def test_default_messages_read_back_from_the_memo_are_the_messages_worked_out(first: Any, second: Any) -> None:
    """The generated loop and ``BoundCheck.failed_message`` key the memo with the same ``memo_key``: a message one
    stored is the message the other would have worked out."""
    rule = AllOf((Condition(REF, "$.a", "equal", "never"), Condition(REF, "$.b", "equal", "never")))
    check = Check(id="c", rule=rule)
    entities = [(ENTITY, EKEY, EKEY)]
    fresh = compile_check(check).bind({REF: {EKEY: {"a": first, "b": second}}}, generate=False)
    expected = fresh.evaluate(ENTITY, EKEY, EKEY).message
    bound = compile_check(check).bind({REF: {EKEY: {"a": first, "b": second}}})
    assert generate_run(bound) is not None
    assert bound.run(entities, None)[0].message == expected  # worked out, then memoised (when keyable)
    assert bound.run(entities, None)[0].message == expected  # read back
    if memo_key(first) is not None and memo_key(second) is not None:
        assert bound.failed_memo
