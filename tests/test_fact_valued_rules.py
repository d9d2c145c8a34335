"""Fact-valued rule values (issue 21): ``value: {factRef, path}`` reads a condition's threshold from a fact of the
same entity; a missing value fact is not-reported (not error); bad value refs and paths are located config errors.
Through the CLI (``run_cli``)."""

from __future__ import annotations

import json
from pathlib import Path

from soundcheck_cli.cli.commands import run_cli

CATALOG = "".join(
    f"---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {n}}}\n"
    f"spec: {{type: service, owner: team-x}}\n" for n in ("a", "b", "c", "d"))

CONFIG = """\
catalog:
  locations: [{type: file, target: ./catalog.yaml}]
soundcheck:
  checks:
    - id: coverage
      rule:
        factRef: ci:default/coverage
        path: $.percent
        operator: greaterThanInclusive
        value: {factRef: team:default/thresholds, path: %s}
"""


def _facts(rows):
    return [{"factRef": ref, "entityRef": f"component:default/{e}", "data": data} for ref, e, data in rows]


def workspace(tmp_path: Path, path: str = "$.minCoverage") -> list[str]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "app-config.yaml").write_text(CONFIG % path)
    (tmp_path / "facts.json").write_text(json.dumps(_facts([
        ("ci:default/coverage", "a", {"percent": 80}), ("ci:default/coverage", "b", {"percent": 60}),
        ("ci:default/coverage", "c", {"percent": 60}), ("ci:default/coverage", "d", {"percent": 60}),
        ("team:default/thresholds", "a", {"minCoverage": 70}), ("team:default/thresholds", "b", {"minCoverage": 70}),
        ("team:default/thresholds", "d", {"minCoverage": "seventy"}),
    ])))
    common = ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]
    assert run_cli(["facts", "push", str(tmp_path / "facts.json"), *common]) == 0
    return common


def test_threshold_read_per_entity_from_a_fact(tmp_path, capsys):
    common = workspace(tmp_path)
    capsys.readouterr()
    assert run_cli(["check", *common, "-f", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    by_entity = {r["entityRef"]: r for r in report["results"]}
    assert by_entity["component:default/a"]["state"] == "passed"
    assert by_entity["component:default/b"]["state"] == "failed"
    assert "expected greaterThanInclusive 70 (from team:default/thresholds $.minCoverage)" in \
        by_entity["component:default/b"]["message"]
    # No thresholds fact for c: not reported, naming the missing fact (never error).
    assert by_entity["component:default/c"]["state"] == "not-reported"
    assert "team:default/thresholds (not collected)" in by_entity["component:default/c"]["message"]
    # A value the operator cannot use is that entity's error, with the reason.
    assert by_entity["component:default/d"]["state"] == "error"
    assert "rule value read from a fact" in by_entity["component:default/d"]["message"]


def test_value_path_selecting_nothing_is_not_reported(tmp_path, capsys):
    common = workspace(tmp_path, path="$.nothing")
    capsys.readouterr()
    run_cli(["check", *common, "-f", "json"])
    states = {r["entityRef"]: r["state"] for r in json.loads(capsys.readouterr().out)["results"]}
    assert states["component:default/a"] == "not-reported"
    assert states["component:default/b"] == "not-reported"


def test_bad_value_path_and_ref_are_located_config_errors(tmp_path, capsys):
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "app-config.yaml").write_text(CONFIG % "'$[['")
    assert run_cli(["validate", "-c", str(tmp_path / "app-config.yaml")]) == 2
    assert f"{tmp_path / 'app-config.yaml'}:10:" in capsys.readouterr().err
    (tmp_path / "app-config.yaml").write_text((CONFIG % "$.x").replace("factRef: team:default/thresholds",
                                                                        "factRef: 'not a ref'"))
    assert run_cli(["validate", "-c", str(tmp_path / "app-config.yaml")]) == 2
    err = capsys.readouterr().err
    assert "app-config.yaml:10:" in err and "invalid fact ref 'not a ref'" in err


def test_constant_values_keep_the_generated_fast_path(tmp_path):
    from soundcheck_cli.rules.engine import CompiledCheck
    from soundcheck_cli.rules.model import Check, Condition, FactValue
    from soundcheck_cli.facts.model import FactRef

    ref = FactRef("ci", "default", "coverage")
    constant = CompiledCheck(Check("k", Condition(ref, "$.percent", "greaterThan", 5)))
    dynamic = CompiledCheck(Check("d", Condition(ref, "$.percent", "greaterThan", FactValue(ref, "$.min"))))
    assert constant.bind({ref: {}})._run is not None  # generated loop
    assert dynamic.bind({ref: {}})._run is None  # closures


def test_fact_valued_states_equal_the_constant_check_with_that_value():
    """For each entity, a fact-valued condition answers what the same check with that entity's value as a constant
    answers (the generated fast path), across operators, values and nesting."""
    import random

    from soundcheck_cli.catalog.model import Entity
    from soundcheck_cli.facts.interface import entity_key
    from soundcheck_cli.facts.model import FactRef
    from soundcheck_cli.rules.engine import CompiledCheck
    from soundcheck_cli.rules.model import AllOf, AnyOf, Check, Condition, FactValue, Not

    rng = random.Random(21)
    data_ref, value_ref = FactRef("ci", "default", "data"), FactRef("team", "default", "bar")
    pool = [0, 1, 5, 7.5, 10, "a", "b", True, None, [1, 5], ["a"], {"k": 1}]
    operators = ["equal", "notEqual", "lessThan", "greaterThanInclusive", "in", "contains", "doesNotContain"]
    for _ in range(60):
        operator = rng.choice(operators)
        expected = rng.choice([v for v in pool if v is not None] if operator in ("in",) else pool)
        if operator in ("lessThan", "greaterThanInclusive"):
            expected = rng.choice([0, 1, 5, 7.5, 10])
        other = Condition(data_ref, "$.y", "equal", rng.choice([1, 2]))
        wrap = rng.choice([lambda c: c, lambda c: AllOf((c, other)), lambda c: AnyOf((Not(c), other))])
        dynamic = Check("d", wrap(Condition(data_ref, "$.x", operator, FactValue(value_ref, "$.v"))))
        constant = Check("c", wrap(Condition(data_ref, "$.x", operator, expected)))
        infos, data = [], {}
        for i in range(20):
            entity = Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                                       "metadata": {"name": f"e{i}"}, "spec": {}})
            ref = str(entity.ref)
            infos.append((entity, ref, entity_key(ref)))
            data[entity_key(ref)] = {"x": rng.choice(pool), "y": rng.choice([1, 2])}
        tables = {data_ref: data, value_ref: {k: {"v": expected} for k in data}}
        got = [r.state for r in CompiledCheck(dynamic).bind(tables).run(infos)]
        want = [r.state for r in CompiledCheck(constant).bind(tables).run(infos)]
        assert got == want, (operator, expected)
