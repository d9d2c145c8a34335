"""Operators: every row of docs/operators.md, through the table, the compiled predicates and the engine.

The cases live in ``tests/cases/operators.yaml`` (one line each, sqlfluff-style); each names the doc-table row it
covers, and a test checks that no row of the table is left without a case.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.rules.engine import bind_closures, compile_check, evaluate_check
from soundcheck_cli.rules.jsonpath import MISSING
from soundcheck_cli.rules.model import Check, CheckState, Condition, Not
from soundcheck_cli.rules.operators import (
    OPERATOR_NAMES,
    OPERATORS,
    OperatorError,
    compile_operator,
    compile_regex,
    is_number,
    json_equal,
    operand_problem,
)

ROOT = Path(__file__).resolve().parent.parent
CASES = YAML(typ="safe").load((ROOT / "tests" / "cases" / "operators.yaml").read_text())
DOC_ROWS = re.findall(r"^\| ([A-Z]+\d+) \|", (ROOT / "docs" / "operators.md").read_text(), re.MULTILINE)

REF = FactRef("test", "default", "fact")
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ENTITY = Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "svc"}})
EKEY = "component:default/svc"


def _id(case: dict[str, Any]) -> str:
    fact = "MISSING" if case.get("missing") else repr(case["fact"])
    return f"{case['row']}-{case['op']}-{fact}-{case['value']!r}"


def _actual(case: dict[str, Any]) -> Any:
    return MISSING if case.get("missing") else case["fact"]


def test_cases_cover_every_row_of_the_doc_table() -> None:
    assert DOC_ROWS, "docs/operators.md lost its table"
    assert len(DOC_ROWS) == len(set(DOC_ROWS))
    covered = {case["row"] for case in CASES}
    assert set(DOC_ROWS) - covered == set(), "rows without a test case"
    assert covered - set(DOC_ROWS) == set(), "cases naming a row the doc does not have"


def test_cases_use_every_operator() -> None:
    assert {case["op"] for case in CASES} == set(OPERATOR_NAMES)
    assert set(OPERATORS) == set(OPERATOR_NAMES)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_operator_table(case: dict[str, Any]) -> None:
    fn = OPERATORS[case["op"]]
    if case["expect"] == "error":
        with pytest.raises(OperatorError):
            fn(_actual(case), case["value"])
    else:
        assert fn(_actual(case), case["value"]) is case["expect"]


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_compiled_predicate_agrees(case: dict[str, Any]) -> None:
    if case["expect"] == "error":
        with pytest.raises(OperatorError):
            compile_operator(case["op"], case["value"])
        assert operand_problem(case["op"], case["value"])
    else:
        assert operand_problem(case["op"], case["value"]) is None
        assert compile_operator(case["op"], case["value"])(_actual(case)) is case["expect"]


def _check(case: dict[str, Any], negate: bool = False) -> Check:
    condition = Condition(REF, "$.v", case["op"], case["value"])
    return Check(id="c", rule=Not(condition) if negate else condition)


def _facts(case: dict[str, Any]) -> dict[tuple[str, FactRef], Fact]:
    data = {} if case.get("missing") else {"v": case["fact"]}
    return {(EKEY, REF): Fact(REF, EKEY, data)}


STATE = {True: CheckState.PASSED, False: CheckState.FAILED, "error": CheckState.ERROR}


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_engine_agrees(case: dict[str, Any]) -> None:
    """The engine inlines common operators in generated code: every way it evaluates gives the table's answer."""
    result = evaluate_check(_check(case), ENTITY, _facts(case), NOW)
    assert result.state is STATE[case["expect"]], result.message
    if case["expect"] == "error":
        assert result.message.startswith("error: ")
    # the batch loop (generated separately) and the closure fallback agree too
    check = _check(case)
    tables = {REF: {EKEY: _facts(case)[(EKEY, REF)].data}}
    bound = compile_check(check).bind(tables)
    assert bound.run([(ENTITY, EKEY, EKEY)], [True])[0].state is STATE[case["expect"]]
    if case["expect"] != "error":
        assert bound.rule(EKEY) is case["expect"]  # the generated rule function
        plan = compile_check(check).rule
        assert bind_closures(plan, tables)(EKEY) is case["expect"]
        # under `not`, the answer flips
        negated = evaluate_check(_check(case, negate=True), ENTITY, _facts(case), NOW)
        assert negated.state is STATE[not case["expect"]]


def test_error_messages_say_why() -> None:
    assert "invalid regular expression '('" in operand_problem("matches", "(")
    assert "lessThan needs a number value, got '10'" == operand_problem("lessThan", "10")
    assert "matches needs a regular expression string, got 5" == operand_problem("matches", 5)
    assert "unknown operator 'equals'" in operand_problem("equals", 1)
    with pytest.raises(OperatorError, match="unknown operator"):
        compile_operator("startsWith", "a")


def test_regex_is_compiled_once_per_pattern() -> None:
    compile_regex.cache_clear()
    for _ in range(5):
        OPERATORS["matches"]("abc", r"^a(?P<rest>.*)$")
    compile_operator("matches", r"^a(?P<rest>.*)$")
    info = compile_regex.cache_info()
    assert info.misses == 1 and info.hits == 5


def test_javascript_named_groups_are_accepted_but_lookbehinds_stay() -> None:
    assert compile_regex(r"(?<year>\d{4})")("in 2024")
    assert not compile_regex(r"(?<year>\d{4})")("in 24")
    assert OPERATORS["matches"]("ab", r"(?<=a)b")
    assert not OPERATORS["matches"]("cb", r"(?<!c)b")


def test_json_equal_and_numbers() -> None:
    assert is_number(1) and is_number(1.5) and not is_number(True) and not is_number("1")
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": [True]}, {"a": [1]})
    assert not json_equal(None, MISSING)
