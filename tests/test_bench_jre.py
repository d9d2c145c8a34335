"""bench/bench_jre.py's offline parts: checks -> json-rules-engine rules, flat facts, the cross-check.

The benchmark itself needs node and json-rules-engine; none of this does (no node, no network).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.engine import Unreported
from soundcheck_cli.rules.model import AllOf, AnyOf, Check, CheckResult, CheckState, Condition, Not
from soundcheck_cli.rules.operators import OPERATOR_NAMES

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load_bench_jre():
    spec = importlib.util.spec_from_file_location("bench_jre", BENCH / "bench_jre.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_jre"] = module
    spec.loader.exec_module(module)
    return module


jre = _load_bench_jre()

REPO = FactRef("github", "default", "repository_details")
CI = FactRef("custom", "default", "ci_report")
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
VALUES = {"equal": "main", "notEqual": "disabled", "in": ["MIT", "Apache-2.0"], "notIn": ["ml"],
          "contains": "backstage", "doesNotContain": "ml", "lessThan": 50, "lessThanInclusive": 8,
          "greaterThan": 50, "greaterThanInclusive": 60.5, "matches": r"^ci\.ya?ml$"}


def test_every_soundcheck_operator_has_a_translation():
    assert set(VALUES) == set(OPERATOR_NAMES)
    assert jre.JRE_OPERATORS | jre.CUSTOM_OPERATORS == OPERATOR_NAMES


@pytest.mark.parametrize("operator", sorted(VALUES))
def test_condition_keeps_fact_path_operator_and_value(operator):
    rule = jre.translate_condition(Condition(REPO, "$.license.spdx_id", operator, VALUES[operator]))
    assert rule == {"fact": "github:default/repository_details", "path": "$.license.spdx_id",
                    "operator": operator, "value": VALUES[operator]}
    assert list(rule) == ["fact", "path", "operator", "value"]


@pytest.mark.parametrize("path", [None, "", "$", " $ "])
def test_whole_fact_paths_leave_path_out(path):
    assert jre.translate_condition(Condition(REPO, path, "contains", "x")) == {
        "fact": "github:default/repository_details", "operator": "contains", "value": "x"}


def test_tuple_values_become_lists():
    rule = jre.translate_condition(Condition(REPO, "$.visibility", "in", ("private", ("a", "b"))))
    assert rule["value"] == ["private", ["a", "b"]]


def test_all_any_not_nest_as_written():
    a = Condition(REPO, "$.visibility", "equal", "private")
    b = Condition(REPO, "$.topics", "doesNotContain", "ml")
    c = Condition(CI, "$.workflow", "matches", "ci")
    rule = jre.translate_rule(AllOf((AnyOf((a, Not(b))), Not(AllOf((c,))))))
    assert rule == {"all": [
        {"any": [{"fact": str(REPO), "path": "$.visibility", "operator": "equal", "value": "private"},
                 {"not": {"fact": str(REPO), "path": "$.topics", "operator": "doesNotContain", "value": "ml"}}]},
        {"not": {"all": [{"fact": str(CI), "path": "$.workflow", "operator": "matches", "value": "ci"}]}},
    ]}


def test_check_becomes_a_named_rule_with_an_event():
    check = Check(id="few_issues", rule=Condition(REPO, "$.open_issues", "lessThan", 50))
    assert jre.translate_check(check) == {
        "name": "few_issues",
        "conditions": {"all": [{"fact": str(REPO), "path": "$.open_issues", "operator": "lessThan", "value": 50}]},
        "event": {"type": "few_issues"},
    }
    top_not = Check(id="not_archived", rule=Not(Condition(REPO, "$.archived", "equal", True)))
    assert jre.translate_check(top_not)["conditions"] == {
        "not": {"fact": str(REPO), "path": "$.archived", "operator": "equal", "value": True}}


def test_entity_filters_are_not_part_of_the_rule():
    rule = Condition(REPO, "$.default_branch", "equal", "main")
    components = EntityFilter.parse({"kind": "Component"}, Problems())
    assert jre.translate_check(Check(id="b", rule=rule, filter=components, exclude=components)) == \
        jre.translate_check(Check(id="b", rule=rule))


@pytest.mark.parametrize("check, why", [
    (Check(id="x", rule=Condition(REPO, "$.a", "startsWith", "a")), "no json-rules-engine equivalent"),
    (Check(id="x", rule=Condition(REPO, "$.a", "equal", {"fact": "other"})), "fact reference"),
    (Check(id="x", rule=Condition(REPO, "$.a", "lessThan", math.nan)), "not JSON"),
    (Check(id="x", rule=Condition(REPO, "$.a", "equal", object())), "not JSON"),
    (Check(id="x", rule=Condition(REPO, "$.a", "equal", 1), applicable=Condition(REPO, "$.b", "equal", 1)),
     "applicable"),
])
def test_what_json_rules_engine_cannot_run_is_refused(check, why):
    with pytest.raises(jre.Untranslatable, match=why):
        jre.translate_check(check)


def test_flat_rules_name_the_fact_and_path_and_drop_the_path():
    check = Check(id="c", rule=AnyOf((Condition(CI, "$.tests.failed", "equal", 0), Condition(REPO, None, "equal", {}))))
    assert jre.translate_check(check, flat=True)["conditions"] == {"any": [
        {"fact": "custom:default/ci_report $.tests.failed", "operator": "equal", "value": 0},
        {"fact": "github:default/repository_details", "operator": "equal", "value": {}},
    ]}


def test_flat_facts_resolve_each_path_and_leave_out_what_is_missing():
    check = Check(id="c", rule=AllOf((Condition(CI, "$.tests.failed", "equal", 0),
                                      Not(Condition(CI, "$.nope", "equal", 1)),
                                      Condition(REPO, "$.topics", "contains", "api"))))
    facts = [{str(CI): {"tests": {"failed": 3}}, str(REPO): {"topics": ["api"]}}, {str(REPO): {"topics": []}}]
    assert jre.flat_facts([check], facts) == [
        {"custom:default/ci_report $.tests.failed": 3, "github:default/repository_details $.topics": ["api"]},
        {"github:default/repository_details $.topics": []},
    ]


def test_entity_facts_leave_out_absent_and_expired_facts():
    expired = Unreported(NOW)
    tables = {REPO: {"k1": {"v": 1}, "k2": expired}, CI: {"k2": {"c": 2}}}
    infos = [(None, "component:default/a", "k1"), (None, "component:default/b", "k2"), (None, "component:x", "k3")]
    assert jre.entity_facts(tables, infos) == [{str(REPO): {"v": 1}}, {str(CI): {"c": 2}}, {}]


def test_every_benchmark_check_translates_to_json():
    import bench_eval  # bench_jre put bench/ on sys.path

    checks = bench_eval.make_checks(20)
    rules = [jre.translate_check(c) for c in checks]
    assert json.loads(json.dumps(rules)) == rules
    assert [r["name"] for r in rules] == [c.id for c in checks]
    operators = {c["operator"] for r in rules for c in _leaves(r["conditions"])}
    assert operators == {"equal", "notEqual", "in", "contains", "doesNotContain", "matches", "lessThan",
                         "lessThanInclusive", "greaterThan", "greaterThanInclusive"}
    assert all(c["path"].startswith("$.") for r in rules for c in _leaves(r["conditions"]))


def _leaves(node):
    if "fact" in node:
        return [node]
    if "not" in node:
        return _leaves(node["not"])
    return [leaf for child in node.get("all", node.get("any", [])) for leaf in _leaves(child)]


def _results(check_id, states):
    return [CheckResult(check_id, f"component:default/e{i}", state) for i, state in enumerate(states)]


def test_compare_counts_passed_and_failed_only():
    p, f, nr = CheckState.PASSED, CheckState.FAILED, CheckState.NOT_REPORTED
    checks = [Check(id="a", rule=Condition(REPO, "$.x", "equal", 1)),
              Check(id="b", rule=Condition(REPO, "$.y", "equal", 1))]
    results = [_results("a", [p, f, nr]), _results("b", [f, p, p])]
    agreement = jre.compare(checks, results, "PFF" + "FFP")
    assert (agreement.compared, agreement.agreed) == (5, 4)
    assert agreement.skipped == {"not-reported": 1}
    assert agreement.disagreed == {"b": [(1, "P", "F")]}
    assert agreement.rate == 0.8
    with pytest.raises(ValueError):
        jre.compare(checks, results, "PF")


def test_divergence_names_the_documented_difference():
    contains = Condition(CI, "$.workflow", "contains", "ci")
    assert "C2" in jre.js_divergence(contains, {"workflow": "ci.yml"})
    assert jre.js_divergence(contains, {"workflow": ["ci"]}) is None
    assert jre.js_divergence(contains, {}) is None  # missing value: both false
    assert jre.js_divergence(contains, None) is None  # absent fact
    assert "L2" in jre.js_divergence(Condition(CI, "$.n", "lessThan", 10), {"n": "5"})
    assert "I2" in jre.js_divergence(Condition(CI, "$.n", "in", "abc"), {"n": "b"})
    assert "E1" in jre.js_divergence(Condition(CI, "$.n", "equal", [1]), {"n": [1]})
    rule = AllOf((Condition(REPO, "$.v", "equal", "x"), Not(contains)))
    assert len(jre.divergent_leaves(rule, {str(CI): {"workflow": "ci.yml"}, str(REPO): {"v": "x"}})) == 1


def test_installed_version_wants_the_pinned_major(tmp_path):
    package = tmp_path / "node_modules" / "json-rules-engine"
    assert jre.installed_version(str(tmp_path)) is None
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"version": f"{jre.JRE_MAJOR}.3.1"}))
    assert jre.installed_version(str(tmp_path)) == f"{jre.JRE_MAJOR}.3.1"
    (package / "package.json").write_text(json.dumps({"version": f"{jre.JRE_MAJOR - 1}.5.0"}))
    assert jre.installed_version(str(tmp_path)) is None
    (package / "package.json").write_text("not json")
    assert jre.installed_version(str(tmp_path)) is None


def test_without_node_the_benchmark_is_skipped(monkeypatch, capsys):
    monkeypatch.setattr(jre.shutil, "which", lambda name: None)
    assert jre.main(["--entities", "10"]) == 0
    assert capsys.readouterr().out == "json-rules-engine benchmark skipped: node is not on PATH\n"
