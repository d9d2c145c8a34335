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
  ``re`` syntax (compiled by the ``regex`` package); ``(?<name>...)`` is accepted as in JavaScript. Each search
  is bounded in time: one that times out raises ``EvaluationError`` (that entity's result is ``error``).

``actual`` is ``jsonpath.MISSING`` when the rule's path matched nothing (JS ``undefined``): it equals nothing,
so ``notEqual``/``notIn`` are true and every other operator is false, as in json-rules-engine.

A rule value the operator cannot use (``lessThan: "abc"``, ``matches: "("``) raises ``OperatorError``: the
engine reports the check as ``error`` with that message; ``operand_problem`` lets the config loader say it
earlier, with a location.

``operator_form(name, expected)`` is the operator specialised for the rule value (regex compiled once, ``in``
lists turned into sets) as expression text; ``compile_operator`` builds predicates from it and ``rules.codegen``
inlines it, so both agree with ``OPERATORS`` by construction (and by test).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
# Patterns are compiled by the ``regex`` package (a superset of ``re``'s syntax, ``(?<name>...)`` included as in
# JavaScript) because its searches take a ``timeout``: a pattern that backtracks catastrophically on one value
# (``^(a|aa)+$`` doubles its time with every character) cannot hang ``check``; that value's result is ``error``.
REGEX_TIMEOUT = 0.1  # seconds one search may take
REGEX_MAX_TIMEOUTS = 3  # a pattern that timed out this often is not tried again in this process


class EvaluationError(Exception):
    """A rule that could not be evaluated on one value (a regular expression search that timed out): the
    engine makes that entity's result ``error`` with this message; other entities are unaffected."""


class BoundedSearch:
    """``pattern.search(text) is not None``, bounded: each search may take ``REGEX_TIMEOUT`` seconds; after
    ``REGEX_MAX_TIMEOUTS`` timeouts the pattern fails at once (a rule that times out on every entity would
    otherwise cost a tenth of a second per entity)."""

    __slots__ = ("pattern", "search", "timeouts")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self.search = compiled.search
        self.timeouts = 0

    def __call__(self, text: str) -> bool:
        if self.timeouts >= REGEX_MAX_TIMEOUTS:
            raise EvaluationError(f"regular expression {self.pattern!r} is not tried any more: it timed out "
                                  f"on {self.timeouts} values (more than {REGEX_TIMEOUT:g} s each)")
        try:
            return self.search(text, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            self.timeouts += 1
            raise EvaluationError(
                f"regular expression {self.pattern!r} timed out (more than {REGEX_TIMEOUT:g} s) on a value of "
                f"{len(text)} characters: it backtracks catastrophically (nested quantifiers such as '(a+)+' "
                "or overlapping alternatives such as '(a|aa)+'); rewrite it") from None


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> BoundedSearch:
    """Compile once per distinct pattern: a bounded search (``BoundedSearch``)."""
    if not isinstance(pattern, str):
        raise OperatorError(f"matches needs a regular expression string, got {_show(pattern)}")
    import regex  # here, not at the top: ~11 ms of start-up that only configs with a ``matches`` rule need

    try:
        return BoundedSearch(pattern, regex.compile(pattern))
    except regex.error as exc:
        raise OperatorError(f"invalid regular expression {pattern!r}: {exc}") from None


_QUANTIFIER = re.compile(r"[*+]|\{\d*,\d*\}|\{\d{2,}\}")


def regex_risk(pattern: str) -> str | None:
    """Why ``pattern`` may backtrack catastrophically (a quantified group that holds a quantifier, such as
    ``^([a-z0-9]+-?)+$``), or None. One left-to-right scan (escapes and ``[...]`` classes skipped); a group that
    starts with a literal its rest cannot match (``(-[a-z0-9]+)*``) repeats unambiguously and is not flagged. A
    hint for ``validate``, not a proof: searches are bounded in any case."""
    opened: list[list[Any]] = []  # per open group: [start index, holds a quantifier]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "(":
            opened.append([i, False])
            i += 1
            continue
        if ch == ")" and opened:
            start, inner = opened.pop()
            m = _QUANTIFIER.match(pattern, i + 1)
            if m is not None:
                if inner and not _delimited(pattern[start + 1 : i]):
                    return (f"nested quantifiers ({pattern[start : m.end()]!r} repeats a group that repeats "
                            "inside): searches may take exponential time on some values")
                inner = True
            if opened and inner:
                opened[-1][1] = True
            i = m.end() if m is not None else i + 1
            continue
        m = _QUANTIFIER.match(pattern, i)
        if m is not None:
            if opened:
                opened[-1][1] = True
            i = m.end()
            continue
        i += 1
    return None


def _delimited(body: str) -> bool:
    """Whether a group's ``body`` starts with a plain literal character that the rest of it can never match, so
    that its repetitions cannot split one text in several ways (``-[a-z0-9]+``)."""
    if body.startswith("?:"):
        body = body[2:]
    if not body or not (body[0].isalnum() or body[0] in "-_/:@,;=!%&'\"<>~#`") or "|" in body:
        return False
    if len(body) > 1 and body[1] in "?*{":
        return False
    import regex

    try:
        rest = regex.compile(body[1:])
    except regex.error:
        return False
    return not any(m.end() > m.start() for m in rest.finditer(body[0] * 4, timeout=REGEX_TIMEOUT))


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
    search = compile_regex(expected)
    return isinstance(actual, str) and search(actual)


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
        operator_form(name, expected)
    except OperatorError as exc:
        return str(exc)
    return None


# --- forms: the one source of the evaluation hot path ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Form:
    """An operator specialised on its rule value, as Python expression text: ``test`` decides when ``guard``
    (a test of ``c``, the class of the value ``v``) holds, and the plain operator ``OPERATORS[name](v, E)``
    decides otherwise (no guard: ``test`` decides alone).

    ``{NAME}`` fields in ``guard``/``test`` stand for the values in ``consts``; ``E`` is always the rule value.
    ``compile_operator`` builds its predicates from these texts and ``rules.codegen`` inlines the same texts in
    generated code, so the two cannot drift; a test compares both with ``OPERATORS`` (tests/cases/operators.yaml
    and random values).
    """

    test: str
    guard: str | None
    consts: tuple[tuple[str, Any], ...]


_NUMBER_GUARD = "c is int or c is float"  # bool is neither; int/float subclasses go to the plain operator
_CONTAINER_GUARD = "c is str or c is list or c is dict"
_SYMBOLS = {"lessThan": "<", "lessThanInclusive": "<=", "greaterThan": ">", "greaterThanInclusive": ">="}
_NEGATED = {"notEqual": "equal", "notIn": "in", "doesNotContain": "contains"}
_PLAIN = "{G}(v, {E})"  # the plain operator, for rule values without a faster form


def operator_form(name: str, expected: Any) -> Form:
    """The form of ``OPERATORS[name]`` for rule value ``expected``.

    Raises ``OperatorError`` for an unknown operator or a rule value the operator cannot use.
    """
    e = (("E", expected),)
    if name not in OPERATORS:
        known = ", ".join(sorted(OPERATOR_NAMES))
        raise OperatorError(f"unknown operator {name!r} (known: {known})")
    base = _NEGATED.get(name, name)
    negate = base != name
    if name in NUMERIC_OPERATORS:
        _need_number(name, expected)
        return Form(f"v {_SYMBOLS[name]} {{E}}", _NUMBER_GUARD, e)
    if base == "equal":
        if expected is None or isinstance(expected, bool):
            return Form(f"v is {'not ' if negate else ''}{{E}}", None, e)
        if isinstance(expected, str):  # a str never equals another JSON value (nor MISSING): no guard needed
            return Form(f"v {'!=' if negate else '=='} {{E}}", None, (("E", str(expected)),))
        if is_number(expected):
            return Form(f"v {'!=' if negate else '=='} {{E}}", _NUMBER_GUARD, e)
    elif base == "in":
        items = _as_list(expected)
        if items and all(isinstance(i, str) for i in items):
            return Form(f"v {'not in' if negate else 'in'} {{S}}", "c is str",
                        (*e, ("S", frozenset(str(i) for i in items))))
        if items and all(is_number(i) for i in items):
            return Form(f"v {'not in' if negate else 'in'} {{S}}", _NUMBER_GUARD, (*e, ("S", frozenset(items))))
    elif base == "contains":
        if isinstance(expected, str):  # substring of a string, item of a list (str == str only), key of a mapping
            return Form(f"{{E}} {'not in' if negate else 'in'} v", _CONTAINER_GUARD, e)
    elif name == "matches":
        return Form("{X}(v)", "c is str", (*e, ("X", compile_regex(expected))))
    return Form(_PLAIN, None, e)


@lru_cache(maxsize=256)
def _predicate_factory(test: str, guard: str | None, names: tuple[str, ...]) -> Callable[..., Callable[[Any], bool]]:
    """``make(G, <consts>) -> predicate``, compiled once per distinct form text (only generated names and the
    form texts above are ever compiled: rule values travel as arguments)."""
    fields = {name: name for name in ("G", *names)}
    body = f"return ({test.format(**fields)}) if ({guard}) else G(v, E)" if guard else f"return {test.format(**fields)}"
    if guard:
        body = "c = v.__class__\n        " + body
    source = f"def make(G, {', '.join(names)}):\n    def predicate(v):\n        {body}\n    return predicate\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<soundcheck operator>", "exec"), namespace)  # noqa: S102 - fixed texts only
    return namespace["make"]  # type: ignore[no-any-return]


def compile_operator(name: str, expected: Any) -> Callable[[Any], bool]:
    """A predicate ``actual -> bool`` equivalent to ``OPERATORS[name](actual, expected)``, built from
    ``operator_form`` (the common cases are a type test and one comparison).

    Raises ``OperatorError`` for an unknown operator or a rule value the operator cannot use.
    """
    form = operator_form(name, expected)
    names = tuple(n for n, _ in form.consts)
    make = _predicate_factory(form.test, form.guard, names)
    return make(OPERATORS[name], *(value for _, value in form.consts))


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
