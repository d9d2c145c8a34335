"""The caches and fast paths of issue 7 give exactly the answers of the plain code they stand in for:
``catalog.filters.LoweredViews`` (per-run key folding), the JSON reporter's per-level memo, the history's
``dumps_compact`` and the fact store's bulk decoding of expiring facts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundcheck_cli.catalog.filters import EntityFilter, LoweredViews, resolve_path, selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import open_store
from soundcheck_cli.history.codec import MessageSpool, dumps_compact, encode_str, pack, unpack
from soundcheck_cli.reporters import json_reporter
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.model import LevelResult, TrackResult
from test_json_render import reference  # the renderer as it was: json.dumps per item


# --- entity filters -------------------------------------------------------------------------------------------
def reference_resolve(obj: Any, parts: tuple[str, ...]) -> list[Any]:
    """``resolve_path`` as it was before the cache: fold every mapping's keys on every call."""
    if not parts:
        if isinstance(obj, list):
            return [v for item in obj for v in reference_resolve(item, parts)]
        return [obj]
    if isinstance(obj, list):
        return [v for item in obj for v in reference_resolve(item, parts)]
    if not isinstance(obj, dict):
        return []
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for j in range(len(parts), 0, -1):
        key = ".".join(parts[:j]).lower()
        if key in lowered:
            return reference_resolve(lowered[key], parts[j:])
    return []


def reference_norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def reference_matches(data: dict[str, Any], flt: EntityFilter) -> bool:
    return any(
        all(any(f is not None and not isinstance(f, dict) and reference_norm(f) in accepted
                for f in reference_resolve(data, parts))
            for parts, accepted in clauses)
        for clauses in flt.alternatives)


def reference_selects(entity: Entity, flt: EntityFilter | None, exclude: EntityFilter | None) -> bool:
    if flt is not None and not reference_matches(entity.data, flt):
        return False
    return not (exclude is not None and reference_matches(entity.data, exclude))


# Keys that collide once lower-cased, dotted keys, and keys that are not strings (YAML allows them).
KEYS = st.sampled_from(["kind", "Kind", "KIND", "spec", "Spec", "lifecycle", "LifeCycle", "a", "a.b", "A.B", "b",
                        "b.c", "c", "tags", "name", "1", "true"]) | st.sampled_from([1, True, 1.0, None, 2])
SCALARS = st.sampled_from(["Component", "component", " production ", "PRODUCTION", "x", "1", "true", "", "a.b"]) | \
    st.sampled_from([1, True, False, None, 1.0, 2.5])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=12)
PATHS = st.lists(st.sampled_from(["kind", "spec", "lifecycle", "a", "b", "c", "tags", "name", "B", "Spec", "1",
                                  "true"]), min_size=1, max_size=4).map(lambda p: ".".join(p))
FILTERS = st.lists(st.dictionaries(PATHS, st.lists(SCALARS.filter(lambda v: v is not None), min_size=1, max_size=3),
                                   min_size=1, max_size=3), min_size=1, max_size=2)


def entity_of(data: dict[Any, Any], i: int) -> Entity:
    data = dict(data)
    data["kind"] = data.get("kind", "Component")
    data["metadata"] = {"name": f"e{i}"}
    return Entity.from_data(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=6), FILTERS,
       st.one_of(st.none(), FILTERS))
def test_filter_cache_gives_the_answers_of_plain_folding(datas: list[dict[Any, Any]], spec: Any, exclude_spec: Any) -> None:
    problems = Problems()
    flt = EntityFilter.parse(spec, problems)
    exclude = EntityFilter.parse(exclude_spec, problems) if exclude_spec is not None else None
    entities = [entity_of(d, i) for i, d in enumerate(datas)]
    views = LoweredViews()  # one cache for every entity and filter, as one evaluation run keeps it
    for _ in range(2):  # a second pass answers from the cache
        for entity in entities:
            want = reference_selects(entity, flt, exclude)
            assert selects(entity, flt, exclude, views) is want
            assert selects(entity, flt, exclude) is want
            for parts, _accepted in flt.alternatives[0]:
                assert resolve_path(entity.data, parts, views) == reference_resolve(entity.data, parts)


def test_filter_cache_tells_apart_layouts_that_fold_differently() -> None:
    views = LoweredViews()
    first = {"Kind": "API", "kind": "Component"}  # the later key wins, as in {str(k).lower(): v}
    second = {"kind": "Component", "Kind": "API"}
    assert resolve_path(first, ("kind",), views) == ["Component"]
    assert resolve_path(second, ("kind",), views) == ["API"]
    assert resolve_path({1: "one"}, ("1",), views) == ["one"]
    assert resolve_path({True: "yes"}, ("1",), views) == []  # True folds to "true", not "1"
    assert resolve_path({True: "yes"}, ("true",), views) == ["yes"]
    # the longest dotted key present wins, whatever its case
    annotated = {"metadata": {"annotations": {"Backstage.io/techdocs-ref": "dir:.", "backstage": {"io/techdocs-ref": "no"}}}}
    assert resolve_path(annotated, ("metadata", "annotations", "backstage", "io/techdocs-ref"), views) == ["dir:."]


# --- JSON reporter: one encoding per distinct level ---------------------------------------------------------------
def test_level_memo_keeps_levels_that_differ_apart() -> None:
    passed = CheckResult("c1", "component:default/a", CheckState.PASSED)
    failed = CheckResult("c1", "component:default/a", CheckState.FAILED, "no")
    other = CheckResult("c2", "component:default/a", CheckState.PASSED)
    variants = [
        LevelResult(1, "Bronze", True, (passed,)),
        LevelResult(1, "Bronze", True, (passed,)),  # the same again: from the memo
        LevelResult(1.0, "Bronze", True, (passed,)),  # type: ignore[arg-type]  # equal ordinal, other text
        LevelResult(True, "Bronze", True, (passed,)),  # type: ignore[arg-type]
        LevelResult(1, None, True, (passed,)),
        LevelResult(1, "Bronze", False, (passed,)),
        LevelResult(1, "Bronze", True, (failed,)),
        LevelResult(1, "Bronze", True, (other,)),
        LevelResult(1, "Bronze", True, (passed, other)),
        LevelResult(1, "Bronze", True, ()),
    ]
    tracks = tuple(TrackResult("t", f"component:default/e{i}", (lv,), lv if i % 2 else None)
                   for i, lv in enumerate(variants))
    report = RunReport(datetime(2024, 1, 2, tzinfo=timezone.utc), (), (), (), (passed, failed, other), tracks, ())
    text = json_reporter.render(report)
    assert text == reference(json_reporter.to_document(report))
    levels = [c["levels"][0] for c in json.loads(text)["certifications"]]
    assert [lv["ordinal"] for lv in levels[:4]] == [1, 1, 1.0, True]
    assert '"ordinal": 1.0' in text and '"ordinal": true' in text


# --- history: compact JSON ------------------------------------------------------------------------------------------
TEXTS = st.text(max_size=8) | st.sampled_from(['quote " and \\', "é漢字 ☃", "\u2028", "\x00\x1f", ""])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | TEXTS,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
                       max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(TEXTS, JSONISH, max_size=3),
       st.dictionaries(TEXTS, st.dictionaries(TEXTS, TEXTS, max_size=4), max_size=3) | JSONISH)
def test_dumps_compact_writes_what_json_dumps_writes(rest: dict[str, Any], messages: Any) -> None:
    for doc in ({**{k: v for k, v in rest.items() if k != "messages"}, "messages": messages}, rest, {"messages": messages}):
        assert dumps_compact(doc) == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        assert unpack(pack(doc)) == json.loads(json.dumps(doc))


def test_dumps_compact_falls_back_for_other_message_shapes() -> None:
    for messages in ({"c": {"0": 1}}, {"c": {1: "x"}}, {"c": ["x"]}, {1: {"0": "x"}}, {"c": {"0": None}}):
        doc = {"v": 1, "messages": messages}
        assert dumps_compact(doc) == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


# --- fact store: bulk decoding ------------------------------------------------------------------------------------
def test_load_all_decodes_expiring_facts_like_single_reads(tmp_path: Any) -> None:
    ref = FactRef("pagerduty", "default", "service")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    facts = [Fact(ref, f"component:default/s{i}", {"i": i}, now, now + timedelta(hours=i % 3) if i % 4 else None)
             for i in range(40)]
    with open_store(str(tmp_path / "store")) as store:
        store.put_many(facts)
        loaded = store.load_all()
        assert sorted(loaded.values(), key=lambda f: f.entity_ref) == sorted(facts, key=lambda f: f.entity_ref)
        for fact in facts:
            assert loaded[(fact.entity_ref.lower(), ref)] == store.get(fact.entity_ref, ref) == fact
        assert type(next(iter(loaded.values()))) is Fact


def _spool(adds: list[tuple[str, int, str]]) -> MessageSpool:
    """A spool given ``adds`` as the recorder gives them: runs of one check's messages, encoded."""
    from itertools import groupby

    spool = MessageSpool()
    for check_id, group in groupby(adds, key=lambda a: a[0]):
        spool.add(check_id, [f'"{slot}":' + encode_str(text) for _, slot, text in group])
    return spool


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["c1", "c2", 'c"3', "é"]), st.integers(0, 3000), TEXTS), max_size=40))
def test_message_spool_writes_what_json_dumps_writes_for_the_mapping(adds: list[tuple[str, int, str]]) -> None:
    mapping: dict[str, dict[str, str]] = {}
    kept = []
    for check_id, slot, text in adds:  # in any order of checks: a check's messages added apart are joined
        if str(slot) in mapping.get(check_id, {}):  # the recorder adds each (check, entity slot) once
            continue
        kept.append((check_id, slot, text))
        mapping.setdefault(check_id, {})[str(slot)] = text
    text = "".join(_spool(kept))
    assert json.loads(text) == mapping
    grouped = sorted(kept, key=lambda a: a[0])  # each check's messages together: the same text as json.dumps
    expected: dict[str, dict[str, str]] = {}
    for check_id, slot, message in grouped:
        expected.setdefault(check_id, {})[str(slot)] = message
    assert "".join(_spool(grouped)) == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
    doc = {"v": 1, "entities": ["a"], "messages": _spool(grouped)}
    plain = {"v": 1, "entities": ["a"], "messages": expected}
    assert pack(doc) == pack(plain)  # compressed piece by piece: the same bytes as compressed whole
    assert unpack(pack({"messages": _spool(kept)})) == {"messages": mapping}


def test_message_spool_joins_a_checks_messages_added_apart() -> None:
    text = "".join(_spool([("c1", 0, "x"), ("c2", 0, "y"), ("c1", 1, "z")]))
    assert text == '{"c1":{"0":"x","1":"z"},"c2":{"0":"y"}}'


def test_message_spool_of_thousands_of_results_in_several_pieces() -> None:
    kept = [("c1", i, f"m{i % 7}") for i in range(2500)] + [("c2", i, "é") for i in range(1200)]
    mapping = {"c1": {str(i): f"m{i % 7}" for i in range(2500)}, "c2": {str(i): "é" for i in range(1200)}}
    pieces = list(_spool(kept))
    assert len(pieces) > 5  # a piece per 1,000 messages, not one per check
    assert "".join(pieces) == json.dumps(mapping, separators=(",", ":"), ensure_ascii=False)
