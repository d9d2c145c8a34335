"""JSONPath access: the compiled fast path agrees with jsonpath-ng; what a rule sees for 0, 1 or many matches."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from soundcheck_cli.rules import jsonpath
from soundcheck_cli.rules.jsonpath import (
    MISSING,
    PathError,
    compile_path,
    parse_simple_path,
    path_problem,
    reference_find,
)

# --- the property: fast path == jsonpath-ng ----------------------------------------------------------------
KEYS = ["a", "b", "c", "k-1", "_z", "metadata", "annotations", "x/y", "a.b", "", "0", "it's", 'say "hi"', "b\\s",
        "true", "where", "pagerduty.com/integration-key"]
# Names jsonpath-ng's lexer reads as one identifier after a dot (true/false/where are tokens there: see module doc).
DOTTABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _dottable(key: str) -> bool:
    return bool(DOTTABLE.match(key)) and not key.startswith(("true", "false")) and key not in ("where", "wherenot")


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "x", "abc", "é"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=15,
)


@st.composite
def simple_paths(draw: Any) -> str:
    parts = ["$"]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["dot", "single", "double", "index"]))
        if kind == "index":
            parts.append(f"[{draw(st.integers(0, 4))}]")
            continue
        key = draw(st.sampled_from(KEYS))
        if kind == "dot" and _dottable(key):
            parts.append("." + key)
        elif kind == "single" or (kind == "dot" and "'" not in key):
            parts.append("['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']")
        else:
            parts.append('["' + key.replace("\\", "\\\\").replace('"', '\\"') + '"]')
    return "".join(parts)


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    # the fast path hands over the very object in the document, as jsonpath-ng does (string indexing aside)
    return a is b or (type(a) is type(b) and a == b)


@settings(max_examples=150, deadline=None, database=None)
@given(document=documents, path=simple_paths())
def test_fast_path_matches_jsonpath_ng(document: Any, path: str) -> None:
    accessor = compile_path(path)
    assert accessor.fast, path
    assert _same(accessor(document), reference_find(path, document)), (path, json.dumps(document))


@st.composite
def path_and_aligned_document(draw: Any) -> tuple[str, Any]:
    """A simple path and a document built along it, so that most steps find something (and the last value,
    or a step in between, is of any type: string under an index, list under a name...)."""
    path = draw(simple_paths())
    steps = parse_simple_path(path)
    assert steps is not None
    value = draw(documents)
    for step in reversed(steps):
        if draw(st.integers(0, 3)) == 0:
            # a type mismatch somewhere along the way: a string under an index, a list under a name...
            value = draw(st.sampled_from(["abc", "", 7, None, True, [1], {"k": 1}]))
        elif isinstance(step, int):
            items = draw(st.lists(scalars, min_size=0, max_size=5))
            items.insert(min(step, len(items)), value)
            value = items
        else:
            siblings = draw(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=3))
            if draw(st.integers(0, 5)):
                siblings[step] = value
            else:  # the key is missing here
                siblings.pop(step, None)
            value = siblings
    return path, value


@settings(max_examples=120, deadline=None, database=None)
@given(case=path_and_aligned_document())
@example(case=("$.a[0]", {"a": "abc"}))  # index into a string
@example(case=("$.a[3]", {"a": "abc"}))
@example(case=("$.a[0]", {"a": {"0": 1}}))  # index into a mapping
@example(case=("$.a[0]", {"a": 5}))
@example(case=("$.a[0]", {"a": True}))
@example(case=("$.a.b", {"a": [{"b": 1}]}))  # name applied to a list
@example(case=("$.a.b", {"a": "b"}))
@example(case=("$.a", {"a": None}))
@example(case=("$.a.b", {"a": {}}))  # a missing key at each depth
@example(case=("$.a.b.c", {"a": {"b": {}}}))
@example(case=("$.a.b.c.d", {"a": {"b": {"c": {}}}}))
@example(case=("$.a.b.c", {"a": {"b": None}}))
@example(case=('$["a.b"]', {"a.b": 1, "a": {"b": 2}}))
@example(case=("$['']", {"": 0}))
def test_fast_path_matches_jsonpath_ng_on_aligned_documents(case: tuple[str, Any]) -> None:
    path, document = case
    assert _same(compile_path(path)(document), reference_find(path, document)), (path, json.dumps(document))


@settings(max_examples=60, deadline=None, database=None)
@given(document=documents, path=simple_paths())
def test_fast_path_inside_a_wrapper_document(document: Any, path: str) -> None:
    # the same path one level down, so that every step also walks through a real mapping
    deeper = "$.metadata" + path[1:]
    wrapped = {"metadata": document}
    assert _same(compile_path(deeper)(wrapped), reference_find(deeper, wrapped))


# --- which paths are simple ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("$.a[0]", ("a", 0)),
        ('$.a["x/y"]', ("a", "x/y")),
        ("$['a']", ("a",)),
        ('$.metadata.annotations["pagerduty.com/integration-key"]',
         ("metadata", "annotations", "pagerduty.com/integration-key")),
        (r"$['it\'s']", ("it's",)),
        ("$.highestLevel.ordinal", ("highestLevel", "ordinal")),
        ("$.trueValue", ("trueValue",)),
    ],
)
def test_simple_paths_compile_to_steps(path: str, steps: tuple[Any, ...]) -> None:
    assert parse_simple_path(path) == steps
    accessor = compile_path(path)
    assert accessor.fast and accessor.definite and accessor.steps == steps


@pytest.mark.parametrize("path", ["$.a[*]", "$..b", "$.a[0:2]", "$['a','b']", "$.a[?(@.n > 1)]", "$['*']",
                                  "$.a[-1]", "a.b", "$.a[ 0 ]", "$.a.`len`"])
def test_other_paths_use_jsonpath_ng(path: str) -> None:
    assert parse_simple_path(path) is None
    assert not compile_path(path).fast


def test_none_and_empty_path_mean_the_whole_fact() -> None:
    doc = {"a": 1}
    assert compile_path(None)(doc) is doc
    assert compile_path("")(doc) is doc
    assert compile_path("$")(doc) is doc
    assert compile_path("$")(None) is None


# --- what a rule sees ----------------------------------------------------------------------------------------
DOC = {
    "items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}, {"n": 3}],
    "one": [{"name": "only"}],
    "empty": [],
    "tags": ["x", "y"],
    "status": None,
    "meta": {"annotations": {"pagerduty.com/integration-key": "KEY"}},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.status", None),  # present and null: not missing
        ("$.nope", MISSING),
        ("$.tags", ["x", "y"]),  # a definite path hands over the list itself
        ("$.tags[1]", "y"),
        ("$.tags[5]", MISSING),
        ('$.meta.annotations["pagerduty.com/integration-key"]', "KEY"),
        ("$.items[*].name", ["a", "b"]),  # indefinite: every match, in order
        ("$.one[*].name", ["only"]),  # ... still a list with one match (jsonpath-plus, wrap: false)
        ("$.empty[*]", MISSING),  # ... and missing with none
        ("$..annotations", [{"pagerduty.com/integration-key": "KEY"}]),
        ("$.items[?(@.n > 1)].n", [2, 3]),
        ("$.items[?(@.n > 5)].n", MISSING),
        ("$.items[-1].n", 3),  # a definite jsonpath-ng path: the value, not a list
        ("$.items[0:2].n", [1, 2]),
        ("$.tags.`len`", 2),
    ],
)
def test_matches_zero_one_many(path: str, expected: Any) -> None:
    got = compile_path(path)(DOC)
    assert got is MISSING if expected is MISSING else got == expected


def test_jsonpath_ng_quirks_and_our_answers() -> None:
    # index into a string: not an array, so nothing (RFC 9535; jsonpath-ng >= 1.16 agrees)
    assert compile_path("$.s[0]")({"s": "abc"}) is MISSING
    assert reference_find("$.s[0]", {"s": "abc"}) is MISSING
    # index into a mapping: jsonpath-ng raises; both ways say missing
    assert compile_path("$.m[0]")({"m": {"0": 1}}) is MISSING
    assert reference_find("$.m[0]", {"m": {"0": 1}}) is MISSING
    assert compile_path("$.m[-1]")({"m": {"a": 1}}) is MISSING
    # names jsonpath-ng cannot lex after a dot are plain keys here
    assert compile_path("$.trueValue")({"trueValue": 1}) == 1
    assert compile_path("$.where")({"where": 2}) == 2


def test_invalid_paths_raise_with_a_reason() -> None:
    with pytest.raises(PathError, match=r"invalid JSONPath '\$\.\['"):
        compile_path("$.[")
    assert "invalid JSONPath" in path_problem("$.a[?(@.x ==")
    assert path_problem("$.a.b") is None
    # the shared parser is fine after an error
    assert compile_path("$.after_error[*]")({"after_error": [1]}) == [1]


def test_each_distinct_path_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    accessor = compile_path("$.cached[*].x")
    assert compile_path("$.cached[*].x") is accessor

    def no_parsing(path: str) -> Any:
        raise AssertionError(f"parsed {path!r} again")

    monkeypatch.setattr(jsonpath, "_parse_jsonpath_ng", no_parsing)
    for i in range(50):
        assert accessor({"cached": [{"x": i}]}) == [i]
        assert compile_path("$.cached[*].x") is accessor


def test_accessors_accept_mapping_subclasses() -> None:
    class Located(dict):
        pass

    doc = Located(a=Located(b=[Located(c=1)]))
    assert compile_path("$.a.b[0].c")(doc) == 1
    assert compile_path("$.a")(doc) is doc["a"]
