"""Column-wise filters and certification give the per-entity answers (``selects``, ``certify``), value for value.

``SelectionColumns`` (catalog.filters) and ``certify_many`` (tracks.certification) work a column at a time for
speed; these properties compare them with the per-entity definitions on random entities, filters and results.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundcheck_cli.catalog.filters import EntityFilter, LoweredViews, SelectionColumns, _norm, selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.certification import _not_evaluated, _not_selected, certify, certify_many
from soundcheck_cli.tracks.model import Level, LevelCheck, LevelResult, Track, TrackResult

# --- filters -------------------------------------------------------------------------------------------------
KEYS = ["kind", "Kind", "KIND", "spec", "Spec", "lifecycle", "type", "metadata", "annotations", "a", "a.b", "b",
        "A.B", "b.c", "tags"]
WORDS = ["component", "Component", " COMPONENT ", "production", "prod", "true", "false", "1", "x", "A", "b", ""]
scalars = st.one_of(st.sampled_from(WORDS), st.booleans(), st.integers(-2, 2), st.sampled_from([1.0, 0.5]),
                    st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8)
datas = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)
# Entities mostly alike (as catalogs are), so that the column-wise walk's usual case is exercised too.
usual = st.builds(lambda kind, life, extra: {"apiVersion": "v1", "kind": kind, "metadata": {"name": "n"},
                                             "spec": {"lifecycle": life, **extra}},
                  st.sampled_from(WORDS), st.one_of(st.sampled_from(WORDS), st.none()),
                  st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2))
# Only plain strings, some without ``spec``: the column-wise walk's case of entities with nothing at a path.
plain = st.builds(lambda kind, life: {"kind": kind, **({} if life is None else {"spec": {"lifecycle": life}})},
                  st.sampled_from(WORDS), st.one_of(st.none(), st.sampled_from(WORDS)))
entity_datas = st.one_of(st.lists(st.one_of(usual, usual, datas), max_size=12), st.lists(plain, max_size=12))

paths = st.one_of(
    st.sampled_from([("kind",), ("spec", "lifecycle"), ("Spec", "Lifecycle"), ("a", "b"), ("metadata", "tags")]),
    st.lists(st.sampled_from(["kind", "Kind", "spec", "lifecycle", "a", "b", "c", "A", "type", "tags",
                              "metadata", "annotations", "x"]), min_size=1, max_size=3).map(tuple))
clauses = st.tuples(paths, st.frozensets(st.sampled_from(WORDS).map(_norm), min_size=1, max_size=3))
filters = st.builds(EntityFilter, st.lists(st.lists(clauses, max_size=3).map(tuple), max_size=3).map(tuple))
optional_filters = st.one_of(st.none(), filters)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(entity_datas, st.lists(st.tuples(optional_filters, optional_filters), min_size=1, max_size=4))
def test_selection_columns_answer_as_selects(entities: list[dict[str, Any]], pairs: list[tuple[Any, Any]]) -> None:
    columns = SelectionColumns(entities)
    for filter, exclude in pairs:  # several filters on one object: shared path and clause columns
        expected = [selects(e, filter, exclude) for e in entities]  # type: ignore[arg-type]
        with_views = [selects(e, filter, exclude, LoweredViews()) for e in entities]  # type: ignore[arg-type]
        got = columns.selects(filter, exclude)
        assert got == expected == with_views
        assert all(v is True or v is False for v in got)


def test_selection_columns_on_entities_and_other_filters() -> None:
    ents = [Entity.from_data({"apiVersion": "v1", "kind": kind, "metadata": {"name": f"e{i}"},
                              "spec": {"lifecycle": life}})
            for i, (kind, life) in enumerate([("Component", "production"), ("API", "production"),
                                              ("component", "experimental")])]
    prod = EntityFilter((((("spec", "lifecycle"), frozenset({"production"})),),))
    comp = EntityFilter((((("kind",), frozenset({"component"})),),))
    columns = SelectionColumns(ents)
    assert columns.selects(comp, None) == [True, False, True]
    assert columns.selects(comp, prod) == [False, False, True]
    assert columns.selects(None, prod) == [False, False, True]
    assert columns.selects(None, None) == [True, True, True]

    class OnlyFirst:  # any object with ``matches``: asked entity by entity, as ``selects`` does
        def matches(self, entity: Entity, views: Any = None) -> bool:
            return entity is ents[0]

    assert columns.selects(OnlyFirst(), None) == [True, False, False]  # type: ignore[arg-type]
    assert columns.selects(comp, OnlyFirst()) == [False, False, True]  # type: ignore[arg-type]


def test_selection_columns_mixed_layouts_and_missing_values() -> None:
    entities = [{"kind": "Component", "spec": {"lifecycle": "production"}},
                {"Kind": "component", "spec": {"Lifecycle": "Production"}},
                {"kind": "Component"},
                {"kind": "component", "KIND": "api", "spec": None},
                {"kind": ["api", "Component"], "spec": {"lifecycle": ["x", "production"]}},
                {"spec.lifecycle": "production", "spec": {"lifecycle": "dev"}},
                {"kind": True, "spec": {"lifecycle": {"x": 1}}}]
    prod = EntityFilter((((("spec", "lifecycle"), frozenset({"production"})),),))
    comp = EntityFilter((((("kind",), frozenset({"component"})),),))
    yes = EntityFilter((((("kind",), frozenset({"true"})),),))
    for f in (prod, comp, yes):
        assert SelectionColumns(entities).selects(f) == [selects(e, f) for e in entities]  # type: ignore[arg-type]
    assert SelectionColumns(entities).selects(prod) == [True, True, False, False, True, True, False]
    some_without = [{"kind": "a", "spec": {"lifecycle": "Production"}}, {"kind": "b"},
                    {"kind": "c", "spec": {"lifecycle": "dev"}}, {"kind": "d", "spec": {"lifecycle": "production "}}]
    assert SelectionColumns(some_without).selects(prod) == [True, False, False, True]


# --- certification ------------------------------------------------------------------------------------------
def reference_certify_many(track: Track, entities: list[Entity], columns: dict[str, list[CheckResult]],
                           selected: Any) -> list[TrackResult]:
    """The per-entity loop ``certify_many`` had before it went column-wise (the definition it must keep)."""
    ok = (CheckState.PASSED, CheckState.WARNING, CheckState.NOT_APPLICABLE, CheckState.EXEMPT)
    plan = []
    for level in sorted(track.levels, key=lambda lv: lv.ordinal):
        items = []
        for lc in level.checks:
            mask = selected(lc.filter, lc.exclude) if lc.filter is not None or lc.exclude is not None else None
            items.append((lc.id, columns.get(lc.id), mask))
        plan.append((level.ordinal, level.name, items))
    out = []
    for i, entity in enumerate(entities):
        ref = str(entity.ref)
        levels = []
        highest = None
        climbing = True
        for ordinal, name, items in plan:
            checks = []
            certified = True
            for check_id, column, mask in items:
                if mask is not None and not mask[i]:
                    result = _not_selected(check_id, ref, ordinal)
                elif column is None:
                    result = _not_evaluated(check_id, ref)
                    certified = False
                else:
                    result = column[i]
                    if not any(result.state is s for s in ok):
                        certified = False
                checks.append(result)
            level_result = LevelResult(ordinal, name, certified, tuple(checks))
            levels.append(level_result)
            if climbing and certified:
                highest = level_result
            else:
                climbing = False
        out.append(TrackResult(track.id, ref, tuple(levels), highest))
    return out


CHECK_IDS = ["c1", "c2", "c3", "c4", "missing"]
lifecycle_filters = st.one_of(st.none(), st.sampled_from(["production", "experimental"]).map(
    lambda life: EntityFilter((((("spec", "lifecycle"), frozenset({life})),),))))
level_checks = st.builds(lambda cid, f, x: LevelCheck(cid, filter=f, exclude=x),
                         st.sampled_from(CHECK_IDS), lifecycle_filters, lifecycle_filters)
levels = st.builds(lambda ordinal, name, checks: Level(ordinal, tuple(checks), name),
                   st.integers(1, 4), st.one_of(st.none(), st.sampled_from(["Bronze", "Silver"])),
                   st.lists(level_checks, max_size=4))
tracks = st.builds(lambda lvls: Track("t", tuple(lvls)), st.lists(levels, max_size=4))
# A plain string state is not a member: it blocks (identity), though it equals "passed".
states = st.one_of(st.sampled_from(list(CheckState)), st.just("passed"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(tracks, st.lists(st.sampled_from(["production", "experimental", "dev"]), max_size=8), st.data())
def test_certify_many_is_certify_per_entity(track: Track, lifecycles: list[str], data: st.DataObject) -> None:
    entities = [Entity.from_data({"apiVersion": "v1", "kind": "Component", "metadata": {"name": f"e{i}"},
                                  "spec": {"lifecycle": life}}) for i, life in enumerate(lifecycles)]
    refs = [str(e.ref) for e in entities]
    columns = {cid: [CheckResult(cid, ref, data.draw(states), data.draw(st.sampled_from(["", "m"])))
                     for ref in refs]
               for cid in CHECK_IDS[:4] if data.draw(st.booleans())}

    def selected(f: Any, x: Any) -> list[bool]:
        return [selects(e, f, x) for e in entities]

    expected = reference_certify_many(track, entities, columns, selected)
    assert certify_many(track, entities, columns, selected) == expected
    assert certify_many(track, entities, columns, selected, refs) == expected
    for i, e in enumerate(entities):  # and the public one-entity form
        assert certify(track, e, {cid: column[i] for cid, column in columns.items()}) == expected[i]
    for got, want in zip(certify_many(track, entities, columns, selected, refs), expected):
        assert type(got) is TrackResult and all(type(lv) is LevelResult for lv in got.levels)
        # the highest level is one of the entity's own level results, as before
        assert got.highest_level is None or any(got.highest_level is lv for lv in got.levels)
        assert all(type(lv.certified) is bool for lv in got.levels)
        assert want.levels == got.levels


def test_certify_many_without_levels_or_entities() -> None:
    empty = Track("t", ())
    ents = [Entity.from_data({"apiVersion": "v1", "kind": "Component", "metadata": {"name": "a"}})]
    assert certify_many(empty, ents, {}, lambda f, x: [True]) == [TrackResult("t", "component:default/a", (), None)]
    level = Track("t", (Level(1, ()),))
    assert certify_many(level, ents, {}, lambda f, x: [True]) == [
        TrackResult("t", "component:default/a", (LevelResult(1, None, True, ()),), LevelResult(1, None, True, ()))]
    assert certify_many(level, [], {}, lambda f, x: []) == []
