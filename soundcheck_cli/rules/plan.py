"""Compiled rules ("plans") and the values the engine and its generated code share.

A plan is a rule with its paths compiled to accessors and its operators to predicates (``compile_plan``): ``Leaf``
conditions under ``Branch`` nodes (``all``/``any``/``not``). ``rules.engine`` evaluates plans (closures, default
messages) and ``rules.codegen`` turns them into Python source; both read these definitions, so that the markers of
unusable facts, the memo keys of default messages and the not-selected message have one source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soundcheck_cli.facts.model import FactRef, format_timestamp
from soundcheck_cli.rules.jsonpath import MISSING, Accessor, compile_path
from soundcheck_cli.rules.messages import describe_value
from soundcheck_cli.rules.model import AllOf, AnyOf, Condition, FactValue, Not, Rule
from soundcheck_cli.rules.operators import OPERATOR_NAMES, EvaluationError, OperatorError, compile_operator, operand_problem


class Unreported:
    """Marks a fact a check needs but cannot use: never collected (``expires_at`` None) or expired.

    One class for both so that the hot path needs a single ``v.__class__ is Unreported`` test.
    """

    __slots__ = ("expires_at",)

    def __init__(self, expires_at: datetime | None = None) -> None:
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return "ABSENT" if self.expires_at is None else f"EXPIRED({format_timestamp(self.expires_at)})"


ABSENT = Unreported()

NOT_SELECTED_MESSAGE = "not applicable: the check's filter does not select this entity"


# --- plans -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Leaf:
    condition: Condition
    accessor: Accessor
    test: Callable[[Any], bool]  # operator predicate on the path's value
    # Pieces of the default message, worked out once: ``<head><actual value><tail>``.
    head: str = ""
    fail_tail: str = ""
    hold_tail: str = ""
    # A fact-valued condition (``value: {factRef, path}``): where its rule value is read, per entity; ``test`` is
    # then ``dynamic_test(operator)`` and takes ``(actual, expected)``.
    value_ref: FactRef | None = None
    value_accessor: Accessor | None = None


def dynamic_test(operator: str) -> Callable[[Any, Any], bool]:
    """``(actual, expected) -> bool`` for a rule value known only per entity (read from a fact). The predicate of
    each distinct scalar value is compiled once (a threshold fact takes few values); a value the operator cannot
    use (a string for ``lessThan``, a bad regular expression) raises ``EvaluationError``: that entity's result is
    ``error``, with the reason."""
    cache: dict[tuple[type, Any], Callable[[Any], bool]] = {}

    def test(actual: Any, expected: Any) -> bool:
        cls = expected.__class__
        key = (cls, expected) if cls in (str, int, float, bool) else None
        predicate = cache.get(key) if key is not None else None  # type: ignore[arg-type]
        if predicate is None:
            problem = operand_problem(operator, expected)
            if problem is not None:
                raise EvaluationError(f"rule value read from a fact: {problem}")
            predicate = compile_operator(operator, expected)
            if key is not None and len(cache) < 1024:
                cache[key] = predicate
        return predicate(actual)

    return test


def leaf_expected(leaf: Leaf, fact: Callable[[FactRef], Any]) -> Any:
    """The rule value of a fact-valued leaf for one entity (``fact(ref)``: data or an ``Unreported`` marker), or
    ``ABSENT`` when it cannot be read (fact absent or expired, or its path selects nothing): not reported."""
    v = fact(leaf.value_ref)  # type: ignore[arg-type]
    if v.__class__ is Unreported:
        return ABSENT
    expected = leaf.value_accessor.get(v)  # type: ignore[union-attr]
    return ABSENT if expected is MISSING else expected


@dataclass(frozen=True, slots=True)
class Branch:
    kind: str  # "all" | "any" | "not"
    children: tuple[Plan, ...]


Plan = Leaf | Branch


def compile_plan(rule: Rule) -> Plan:
    """Compile paths and operators of ``rule`` once; raises ``PathError``/``OperatorError``."""
    if isinstance(rule, Condition) and isinstance(rule.value, FactValue):
        if rule.operator not in OPERATOR_NAMES:
            raise OperatorError(f"unknown operator {rule.operator!r}")
        return Leaf(rule, compile_path(rule.path), dynamic_test(rule.operator),
                    head=f"{rule.fact_ref}: {rule.path or '$'} is ", fail_tail=f", expected {rule.operator} ",
                    hold_tail=f", which is {rule.operator} ", value_ref=rule.value.fact_ref,
                    value_accessor=compile_path(rule.value.path))
    if isinstance(rule, Condition):
        accessor, test = compile_path(rule.path), compile_operator(rule.operator, rule.value)
        value = describe_value(rule.value)
        return Leaf(rule, accessor, test, head=f"{rule.fact_ref}: {rule.path or '$'} is ",
                    fail_tail=f", expected {rule.operator} {value}", hold_tail=f", which is {rule.operator} {value}")
    if isinstance(rule, Not):
        return Branch("not", (compile_plan(rule.rule),))
    if isinstance(rule, AllOf):
        return Branch("all", tuple(compile_plan(r) for r in rule.rules))
    if isinstance(rule, AnyOf):
        return Branch("any", tuple(compile_plan(r) for r in rule.rules))
    raise OperatorError(f"unsupported rule node {type(rule).__name__}")


def leaves(plan: Plan, out: list[Leaf] | None = None) -> list[Leaf]:
    """The conditions of ``plan``, left to right."""
    out = [] if out is None else out
    if isinstance(plan, Leaf):
        out.append(plan)
    else:
        for child in plan.children:
            leaves(child, out)
    return out


def depth(plan: Plan) -> int:
    return 1 if isinstance(plan, Leaf) else 1 + max((depth(c) for c in plan.children), default=0)


# --- memo keys of default failed messages --------------------------------------------------------------------
# A default failed message depends only on the values its conditions saw; a bound check memoises it (bounded by
# MEMO_LIMIT) under the concatenation of one ``memo_key`` per condition. The engine's own path and the generated
# loop both build keys with this function, so a message one stores is the message the other finds.
MEMO_LIMIT = 4096  # distinct memoised messages per bound check
SCALARS = frozenset({str, int, float, bool, type(None), type(MISSING)})


def _list_key(cls: type, v: Any) -> tuple[Any, ...] | None:
    """A short list of strings (tags, topics...) keys as a tuple; anything else is not memoised (None)."""
    if cls is list and len(v) <= 16 and all(item.__class__ is str for item in v):
        return (cls, tuple(v))
    return None


# The key part of one condition, as an expression over ``v`` (the fact's ``Unreported`` marker, or the value the
# condition's path selected) and ``c`` (its class). Scalars key with their class (1, 1.0 and True hash alike but
# read differently); ABSENT is one object and facts that expired together share one marker (``build_tables``).
# ``memo_key`` below is compiled from this text and ``rules.codegen`` inlines the same text.
MEMO_KEY = "(c, v) if c in SCALARS else ((v,) if c is U else LKEY(c, v))"
MEMO_KEY_NAMES: dict[str, Any] = {"SCALARS": SCALARS, "U": Unreported, "LKEY": _list_key}

_namespace = dict(MEMO_KEY_NAMES)
exec(compile(f"def memo_key(v):\n    c = v.__class__\n    return {MEMO_KEY}\n", "<soundcheck memo key>", "exec"),
     _namespace)  # noqa: S102 - the fixed text above
memo_key: Callable[[Any], tuple[Any, ...] | None] = _namespace["memo_key"]
memo_key.__doc__ = "The memo key part of one condition (``MEMO_KEY``): a tuple, or None when not memoised."
