"""Rule operators: one table of ``name -> function(actual, expected) -> bool`` (documented in docs/operators.md).

Semantics follow json-rules-engine's default operators (``src/engine-default-operators.js``), which Soundcheck
rules follow, with these documented differences (each one avoids a silent surprise):

- equality is JSON equality: deep for lists/mappings (JS ``===`` compares arrays by reference), and a boolean
  never equals a number (``true == 1`` is false, as with ``===``);
- ``lessThan``/``greaterThan``/... compare numbers only: a string or boolean fact is never ordered (JS would
  coerce ``"5"`` to 5 through ``Number()``);
- ``contains``/``doesNotContain`` also accept a string fact (substring) and a mapping fact (key); JS only
  accepts arrays;
- ``in``/``notIn`` with a scalar rule value treat it as a list of one (JS would run ``String.indexOf``);
- ``matches`` (Soundcheck's regex operator, absent from json-rules-engine) is a regex *search* with Python
  ``re`` syntax; ``(?<name>...)`` is accepted as in JavaScript.

``actual`` is ``jsonpath.MISSING`` when the rule's path matched nothing (JS ``undefined``): it equals nothing,
so ``notEqual``/``notIn`` are true and every other operator is false, as in json-rules-engine.

A rule value the operator cannot use (``lessThan: "abc"``, ``matches: "("``) raises ``OperatorError``: the
engine reports the check as ``error`` with that message; ``operand_problem`` lets the config loader say it
earlier, with a location.

``compile_operator(name, expected)`` returns a one-argument predicate specialised for the rule value (regex
compiled once, ``in`` lists turned into sets); it agrees with ``OPERATORS`` on every input (tested).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from soundcheck_cli.rules.jsonpath import MISSING

OPERATOR_NAMES = frozenset(
    {
        "equal",
        "notEqual",
        "lessThan",
        "lessThanInclusive",
        "greaterThan",
        "greaterThanInclusive",
        "in",
        "notIn",
        "contains",
        "doesNotContain",
        "matches",
    }
)

NUMERIC_OPERATORS = frozenset({"lessThan", "lessThanInclusive", "greaterThan", "greaterThanInclusive"})


class OperatorError(ValueError):
    """A rule value an operator cannot use (e.g. an invalid regular expression)."""


def is_number(value: Any) -> bool:
    """JSON numbers: int or float, never bool (``True`` is not 1 in a rule)."""
    cls = value.__class__
    return cls is int or cls is float or (isinstance(value, (int, float)) and not isinstance(value, bool))


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: deep for lists/mappings, numbers by value, booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    return False


# --- regular expressions ---------------------------------------------------------------------------------
_JS_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?![=!])")


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile once per distinct pattern; ``(?<name>...)`` (JavaScript) is read as ``(?P<name>...)``."""
    if not isinstance(pattern, str):
        raise OperatorError(f"matches needs a regular expression string, got {_show(pattern)}")
    try:
        return re.compile(_JS_NAMED_GROUP.sub("(?P<", pattern))
    except re.error as exc:
        raise OperatorError(f"invalid regular expression {pattern!r}: {exc}") from None


# --- the generic table -------------------------------------------------------------------------------------
def _as_list(expected: Any) -> list[Any]:
    return list(expected) if isinstance(expected, (list, tuple)) else [expected]


def _need_number(name: str, expected: Any) -> None:
    if not is_number(expected):
        raise OperatorError(f"{name} needs a number value, got {_show(expected)}")


def op_equal(actual: Any, expected: Any) -> bool:
    return actual is not MISSING and json_equal(actual, expected)


def op_not_equal(actual: Any, expected: Any) -> bool:
    return not op_equal(actual, expected)


def op_less_than(actual: Any, expected: Any) -> bool:
    _need_number("lessThan", expected)
    return is_number(actual) and actual < expected


def op_less_than_inclusive(actual: Any, expected: Any) -> bool:
    _need_number("lessThanInclusive", expected)
    return is_number(actual) and actual <= expected


def op_greater_than(actual: Any, expected: Any) -> bool:
    _need_number("greaterThan", expected)
    return is_number(actual) and actual > expected


def op_greater_than_inclusive(actual: Any, expected: Any) -> bool:
    _need_number("greaterThanInclusive", expected)
    return is_number(actual) and actual >= expected


def op_in(actual: Any, expected: Any) -> bool:
    return actual is not MISSING and any(json_equal(actual, item) for item in _as_list(expected))


def op_not_in(actual: Any, expected: Any) -> bool:
    return not op_in(actual, expected)


def _is_container(actual: Any) -> bool:
    return isinstance(actual, (str, list, dict))


def op_contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return any(json_equal(item, expected) for item in actual)
    if isinstance(actual, dict):
        return isinstance(expected, str) and expected in actual
    return False


def op_does_not_contain(actual: Any, expected: Any) -> bool:
    return _is_container(actual) and not op_contains(actual, expected)


def op_matches(actual: Any, expected: Any) -> bool:
    regex = compile_regex(expected)
    return isinstance(actual, str) and regex.search(actual) is not None


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equal": op_equal,
    "notEqual": op_not_equal,
    "lessThan": op_less_than,
    "lessThanInclusive": op_less_than_inclusive,
    "greaterThan": op_greater_than,
    "greaterThanInclusive": op_greater_than_inclusive,
    "in": op_in,
    "notIn": op_not_in,
    "contains": op_contains,
    "doesNotContain": op_does_not_contain,
    "matches": op_matches,
}
assert OPERATORS.keys() == OPERATOR_NAMES


def operand_problem(name: str, expected: Any) -> str | None:
    """Why ``expected`` cannot be used with operator ``name`` (unknown operator, bad regex...), or None."""
    try:
        compile_operator(name, expected)
    except OperatorError as exc:
        return str(exc)
    return None


# --- compiled predicates (the evaluation hot path) ---------------------------------------------------------
# Each builder returns ``predicate(actual) -> bool``, specialised on the type of the rule value so that the
# common cases are a type test and one comparison.


def _compile_equal(expected: Any) -> Callable[[Any], bool]:
    if isinstance(expected, bool):
        want = bool(expected)
        return (lambda a: a is True) if want else (lambda a: a is False)
    if expected is None:
        return lambda a: a is None
    if isinstance(expected, str):
        e = str(expected)
        # A str never equals a non-str JSON value (nor MISSING), so no type test is needed.
        return lambda a: a == e
    if is_number(expected):
        n = expected

        def eq_number(a: Any) -> bool:
            c = a.__class__
            if c is int or c is float:
                return a == n
            return c is not bool and is_number(a) and a == n

        return eq_number
    e_any = expected
    return lambda a: a is not MISSING and json_equal(a, e_any)


def _compile_in(expected: Any) -> Callable[[Any], bool]:
    items = _as_list(expected)
    if items and all(isinstance(i, str) for i in items):
        strings = frozenset(str(i) for i in items)
        return lambda a: isinstance(a, str) and a in strings
    if items and all(is_number(i) for i in items):
        numbers = frozenset(items)

        def in_numbers(a: Any) -> bool:
            return is_number(a) and a in numbers

        return in_numbers
    return lambda a: a is not MISSING and any(json_equal(a, i) for i in items)


def _compile_contains(expected: Any) -> Callable[[Any], bool]:
    if isinstance(expected, str):
        e = str(expected)

        def contains_str(a: Any) -> bool:
            # substring of a string, element of a list (str == only matches str), key of a mapping
            if isinstance(a, (str, list, dict)):
                return e in a
            return False

        return contains_str
    e_any = expected

    def contains_any(a: Any) -> bool:
        if isinstance(a, list):
            return any(json_equal(item, e_any) for item in a)
        return False  # a string or mapping never contains a non-string

    return contains_any


def _compile_numeric(name: str, expected: Any) -> Callable[[Any], bool]:
    _need_number(name, expected)
    n = expected
    if name == "lessThan":
        def lt(a: Any) -> bool:
            c = a.__class__
            if c is int or c is float:
                return a < n
            return c is not bool and is_number(a) and a < n
        return lt
    if name == "lessThanInclusive":
        def le(a: Any) -> bool:
            c = a.__class__
            if c is int or c is float:
                return a <= n
            return c is not bool and is_number(a) and a <= n
        return le
    if name == "greaterThan":
        def gt(a: Any) -> bool:
            c = a.__class__
            if c is int or c is float:
                return a > n
            return c is not bool and is_number(a) and a > n
        return gt

    def ge(a: Any) -> bool:
        c = a.__class__
        if c is int or c is float:
            return a >= n
        return c is not bool and is_number(a) and a >= n

    return ge


def compile_operator(name: str, expected: Any) -> Callable[[Any], bool]:
    """A predicate ``actual -> bool`` equivalent to ``OPERATORS[name](actual, expected)``.

    Raises ``OperatorError`` for an unknown operator or a rule value the operator cannot use.
    """
    if name == "equal":
        return _compile_equal(expected)
    if name == "notEqual":
        eq = _compile_equal(expected)
        return lambda a: not eq(a)
    if name in NUMERIC_OPERATORS:
        return _compile_numeric(name, expected)
    if name == "in":
        return _compile_in(expected)
    if name == "notIn":
        member = _compile_in(expected)
        return lambda a: not member(a)
    if name == "contains":
        return _compile_contains(expected)
    if name == "doesNotContain":
        has = _compile_contains(expected)
        return lambda a: isinstance(a, (str, list, dict)) and not has(a)
    if name == "matches":
        search = compile_regex(expected).search
        return lambda a: isinstance(a, str) and search(a) is not None
    known = ", ".join(sorted(OPERATOR_NAMES))
    raise OperatorError(f"unknown operator {name!r} (known: {known})")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
