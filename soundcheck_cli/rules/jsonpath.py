"""JSONPath access to fact data, compiled once per distinct path string.

``compile_path(path)`` returns an ``Accessor`` whose ``get(document)`` is what a rule condition sees:

- **Simple paths** -- ``$``, then any of ``.name``, ``[0]``, ``['key']``, ``["key"]`` (for example
  ``$.metadata.annotations["pagerduty.com/integration-key"]``) -- compile to a tuple of keys/indexes walked
  directly, with no parser involved at evaluation time. Everything else goes to ``jsonpath_ng.ext.parse``.
- **What a rule sees** follows json-rules-engine, whose default path resolver is
  ``JSONPath({path, json, wrap: false})`` (jsonpath-plus): no match -> ``MISSING`` (JavaScript's
  ``undefined``); a *definite* path (only names and single indexes) -> the one value; an *indefinite* path
  (wildcard, ``..``, filter, slice, union) -> the list of every match in document order, even when there is
  only one (jsonpath-plus keeps results of array expressions wrapped). So ``$.tags`` yields the list itself and
  ``$.items[*].name`` yields a list of names.
- The fast path gives the same answers as jsonpath-ng (property-tested with hypothesis), including
  jsonpath-ng's habit of indexing into strings (``$.name[0]`` is the first character). Two deliberate
  differences: a name jsonpath-ng's lexer misreads (``$.trueValue``, ``$.falsey``, ``$.where`` are parse errors
  there, because ``true``/``false``/``where`` are tokens) is an ordinary key here; and where jsonpath-ng
  raises while walking (``[0]`` applied to a mapping or a number), the result is ``MISSING``.
- A path that does not parse raises ``PathError`` from ``compile_path`` (the engine turns it into the check's
  ``error`` state; ``path_problem`` lets the config loader report it with a location).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class _Missing:
    """The value of a path that matched nothing (JavaScript's ``undefined`` in json-rules-engine)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class PathError(ValueError):
    """A JSONPath expression that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Accessor:
    """A compiled path: ``get(document)`` returns the value, a list of values, or ``MISSING``."""

    path: str
    get: Callable[[Any], Any]
    fast: bool  # walked directly (no jsonpath-ng at evaluation time)
    definite: bool  # at most one match: a single value rather than a list
    steps: tuple[str | int, ...] | None = None  # the fast path's keys/indexes

    def __call__(self, document: Any) -> Any:
        return self.get(document)


# --- the simple-path grammar -------------------------------------------------------------------------------
# ``.name`` accepts what jsonpath-ng.ext's lexer reads as one identifier (``[A-Za-z_][A-Za-z0-9_@-]*``, minus
# ``@`` which we leave to jsonpath-ng); brackets hold a non-negative integer or a quoted string whose
# backslash escapes mean "the next character" (jsonpath-ng's lexer rule). No whitespace: anything unusual
# goes to jsonpath-ng, which remains the reference.
_SEGMENT = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
      | \[(?P<index>[0-9]+)\]
      | \['(?P<sq>(?:[^'\\]|\\.)*)'\]
      | \["(?P<dq>(?:[^"\\]|\\.)*)"\]""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def parse_simple_path(path: str) -> tuple[str | int, ...] | None:
    """The keys/indexes of a simple path (``$.a["b/c"][0]`` -> ``('a', 'b/c', 0)``), or None if not simple."""
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    pos, end = 1, len(path)
    while pos < end:
        m = _SEGMENT.match(path, pos)
        if m is None:
            return None
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            quoted = m.group("sq") if m.group("sq") is not None else m.group("dq")
            key = _ESCAPE.sub(r"\1", quoted)
            if key == "*":  # jsonpath-ng reads ['*'] as a wildcard: leave it to jsonpath-ng
                return None
            steps.append(key)
        pos = m.end()
    return tuple(steps)


def step(value: Any, key: str | int) -> Any:
    """One step of a simple path: a key of a mapping, or an index of a list; else ``MISSING``."""
    if type(key) is int:
        # RFC 9535 and jsonpath-ng >= 1.16: only arrays are indexable; a string or mapping matches nothing.
        if isinstance(value, list) and key < len(value):
            return value[key]
        return MISSING
    if isinstance(value, dict):
        return value.get(key, MISSING)
    return MISSING


def _walk(value: Any, steps: tuple[str | int, ...]) -> Any:
    for key in steps:
        value = step(value, key)
        if value is MISSING:
            return MISSING
    return value


def _fast_getter(steps: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """Specialised closures for the common short all-key paths (the hot path of evaluation)."""
    if not steps:
        return _identity
    if all(type(k) is str for k in steps):
        if len(steps) == 1:
            (k1,) = steps

            def get1(doc: Any) -> Any:
                if doc.__class__ is dict or isinstance(doc, dict):
                    return doc.get(k1, MISSING)
                return MISSING

            return get1
        if len(steps) == 2:
            k1, k2 = steps

            def get2(doc: Any) -> Any:
                if doc.__class__ is dict or isinstance(doc, dict):
                    doc = doc.get(k1, MISSING)
                    if doc.__class__ is dict or isinstance(doc, dict):
                        return doc.get(k2, MISSING)
                return MISSING

            return get2
        if len(steps) == 3:
            k1, k2, k3 = steps

            def get3(doc: Any) -> Any:
                if doc.__class__ is dict or isinstance(doc, dict):
                    doc = doc.get(k1, MISSING)
                    if doc.__class__ is dict or isinstance(doc, dict):
                        doc = doc.get(k2, MISSING)
                        if doc.__class__ is dict or isinstance(doc, dict):
                            return doc.get(k3, MISSING)
                return MISSING

            return get3

    def get_n(doc: Any) -> Any:
        return _walk(doc, steps)

    return get_n


def _identity(doc: Any) -> Any:
    return doc


# --- the jsonpath-ng fallback --------------------------------------------------------------------------------
def _is_definite(node: Any) -> bool:
    """True when the expression selects at most one value: ``$``, ``@``, names, single indexes, and the ext
    operators that turn one value into one value (`` `len` ``, `` `keys` ``, `` `str()` ``, `` `sorted` ``...)."""
    from jsonpath_ng import jsonpath as jp
    from jsonpath_ng.ext import iterable, string

    if isinstance(node, (jp.Root, jp.This, jp.Parent, iterable.Len, iterable.Keys, iterable.Path, string.Str,
                         string.Sub, string.Split)):
        return True
    if isinstance(node, jp.Child):
        return _is_definite(node.left) and _is_definite(node.right)
    if isinstance(node, jp.Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if isinstance(node, jp.Index):
        return len(node.indices) == 1
    return False


_PARSER: Any = None
_PARSER_LOCK = threading.Lock()


def _parse_jsonpath_ng(path: str) -> Any:
    """``jsonpath_ng.ext.parse(path)``, with one parser reused (building one costs ~20 ms of PLY tables)."""
    global _PARSER
    with _PARSER_LOCK:
        if _PARSER is None:
            # Imported lazily: jsonpath-ng is only needed for non-simple paths (keeps `soundcheck --help` fast).
            from jsonpath_ng.ext.parser import ExtendedJsonPathParser

            _PARSER = ExtendedJsonPathParser()
        try:
            return _PARSER.parse(path)
        except Exception as exc:  # jsonpath-ng raises lexer/parser errors and, on odd input, plain Exceptions
            raise PathError(f"invalid JSONPath {path!r}: {exc}") from None


def _fallback_getter(expr: Any, definite: bool) -> Callable[[Any], Any]:
    find = expr.find

    def get(doc: Any) -> Any:
        try:
            matches = find(doc)
        except Exception:  # jsonpath-ng raises on e.g. [0] applied to a mapping: no match, as in JSONPath
            return MISSING
        if not matches:
            return MISSING
        if definite:
            return matches[0].value
        return [m.value for m in matches]

    return get


_CACHE: dict[str | None, Accessor] = {}


def compile_path(path: str | None) -> Accessor:
    """The accessor for ``path`` (None or empty means the whole fact), built once per distinct string."""
    accessor = _CACHE.get(path)
    if accessor is not None:
        return accessor
    text = (path or "$").strip() or "$"
    steps = parse_simple_path(text)
    if steps is not None:
        accessor = Accessor(text, _fast_getter(steps), fast=True, definite=True, steps=steps)
    else:
        expr = _parse_jsonpath_ng(text)
        definite = _is_definite(expr)
        accessor = Accessor(text, _fallback_getter(expr, definite), fast=False, definite=definite)
    _CACHE[path] = accessor
    return accessor


def path_problem(path: str | None) -> str | None:
    """A readable message when ``path`` does not parse, else None (for located config validation)."""
    try:
        compile_path(path)
    except PathError as exc:
        return str(exc)
    return None


def reference_find(path: str, document: Any) -> Any:
    """What jsonpath-ng alone answers for ``path`` (no fast path): the oracle of the property tests."""
    expr = _parse_jsonpath_ng(path)
    return _fallback_getter(expr, _is_definite(expr))(document)
