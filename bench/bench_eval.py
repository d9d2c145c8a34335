"""Evaluation throughput of the rule engine (issue 7: target >= 450,000 evaluations/s).

Generates N synthetic catalog entities and ~2.7 facts per entity over three fact refs (a GitHub-like
repository fact, a PagerDuty-like service fact, a CI fact pushed by a pipeline), builds ``--checks`` checks of
the kinds users write (equal / in / contains / matches / lessThan, ``any``/``all`` over the three facts, some
with entity filters, about a tenth of the facts missing so that some results are not-reported), and times:

- the engine alone: compiled checks run over prepared fact tables -- rule evaluation and ``CheckResult``
  construction, messages included (what json-rules-engine's ``engine.run`` is measured on; target >= 450,000/s);
- ``evaluate()``: the whole pure evaluation (fact indexing, entity filters, every check for every entity, the
  report), without and with a 3-level track over the checks; and the entity filters' share of it.

Run from the repository root::

    python bench/bench_eval.py --entities 10000 --checks 20
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundcheck_cli.catalog.filters import EntityFilter, LoweredViews, selects  # noqa: E402
from soundcheck_cli.catalog.model import Entity  # noqa: E402
from soundcheck_cli.config.model import Settings  # noqa: E402
from soundcheck_cli.errors import Problems  # noqa: E402
from soundcheck_cli.evaluation import evaluate  # noqa: E402
from soundcheck_cli.facts.interface import entity_key  # noqa: E402
from soundcheck_cli.facts.model import Fact, FactRef  # noqa: E402
from soundcheck_cli.gcpause import paused  # noqa: E402
from soundcheck_cli.rules.engine import BoundCheck, build_tables, compile_check  # noqa: E402
from soundcheck_cli.rules.model import AllOf, AnyOf, Check, Condition, Not  # noqa: E402
from soundcheck_cli.tracks.model import Level, LevelCheck, Track  # noqa: E402

REPO = FactRef("github", "default", "repository_details")
SERVICE = FactRef("pagerduty", "default", "service")
CI = FactRef("custom", "default", "ci_report")
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_entities(n: int, rng: random.Random) -> list[Entity]:
    entities = []
    for i in range(n):
        kind = rng.choices(["Component", "API", "System"], [8, 1, 1])[0]
        data = {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": kind,
            "metadata": {
                "name": f"service-{i}",
                "namespace": "default",
                "tags": rng.sample(["java", "python", "go", "web", "data", "internal"], 2),
                "annotations": {"pagerduty.com/service-id": f"P{i:06d}"} if rng.random() < 0.8 else {},
            },
            "spec": {"type": rng.choice(["service", "website", "library"]),
                     "lifecycle": rng.choice(["production", "experimental", "deprecated"]),
                     "owner": f"team-{i % 40}"},
        }
        entities.append(Entity.from_data(data))
    return entities


def make_facts(entities: list[Entity], rng: random.Random) -> dict[tuple[str, FactRef], Fact]:
    facts: dict[tuple[str, FactRef], Fact] = {}
    for entity in entities:
        ref = str(entity.ref)
        key = entity_key(ref)
        if rng.random() < 0.9:
            facts[(key, REPO)] = Fact(REPO, ref, {
                "visibility": rng.choice(["private", "internal", "public"]),
                "default_branch": rng.choice(["main", "main", "master"]),
                "topics": rng.sample(["backstage", "soundcheck", "api", "ml", "frontend", "infra"], 3),
                "open_issues": rng.randint(0, 60),
                "archived": rng.random() < 0.05,
                "license": {"spdx_id": rng.choice(["MIT", "Apache-2.0", "NOASSERTION"])},
                "description": rng.choice(["Payments API service", "internal tool", "", "Data pipeline v2"]),
            }, timestamp=NOW)
        if rng.random() < 0.9:
            facts[(key, SERVICE)] = Fact(SERVICE, ref, {
                "status": rng.choice(["active", "active", "active", "warning", "disabled"]),
                "name": entity.name,
                "escalation_policy": {"id": f"EP{rng.randint(1, 30)}", "type": "escalation_policy_reference"},
                "incident_urgency_rule": {"type": "constant", "urgency": rng.choice(["high", "low"])},
                "incidents_last_30d": rng.randint(0, 12),
            }, timestamp=NOW, expires_at=NOW + timedelta(days=1) if rng.random() < 0.97 else NOW - timedelta(hours=1))
        if rng.random() < 0.9:
            facts[(key, CI)] = Fact(CI, ref, {
                "coverage": round(rng.uniform(20, 100), 1),
                "tests": {"passed": rng.randint(10, 500), "failed": rng.choice([0, 0, 0, 1, 3])},
                "workflow": rng.choice(["ci.yml", "build.yaml", "release.yml"]),
                "language": rng.choice(["python", "java", "go"]),
            }, timestamp=NOW)
    return facts


def c(ref: FactRef, path: str, op: str, value: object) -> Condition:
    return Condition(ref, path, op, value)


def make_checks(count: int) -> list[Check]:
    problems = Problems()
    production = EntityFilter.parse({"kind": "Component", "spec.lifecycle": "production"}, problems)
    components = EntityFilter.parse({"kind": "Component"}, problems)
    templates = [
        ("pd_active", c(SERVICE, "$.status", "equal", "active"), None),
        ("repo_private", c(REPO, "$.visibility", "in", ["private", "internal"]), None),
        ("main_branch", c(REPO, "$.default_branch", "equal", "main"), components),
        ("few_issues", c(REPO, "$.open_issues", "lessThan", 50), None),
        ("has_topic", c(REPO, "$.topics", "contains", "backstage"), None),
        ("ci_workflow", c(CI, "$.workflow", "matches", r"^ci\.ya?ml$"), None),
        ("coverage", c(CI, "$.coverage", "greaterThanInclusive", 60), production),
        ("no_failed_tests", c(CI, "$.tests.failed", "equal", 0), None),
        ("license", c(REPO, "$.license.spdx_id", "in", ["MIT", "Apache-2.0"]), None),
        ("high_urgency", c(SERVICE, "$.incident_urgency_rule.urgency", "equal", "high"), production),
        ("all_three", AllOf((c(SERVICE, "$.status", "equal", "active"),
                             c(REPO, "$.visibility", "in", ["private", "internal"]),
                             c(CI, "$.coverage", "greaterThan", 50))), None),
        ("any_three", AnyOf((c(REPO, "$.topics", "contains", "soundcheck"),
                             c(SERVICE, "$.escalation_policy.id", "matches", "^EP1"),
                             c(CI, "$.language", "equal", "python"))), None),
        ("not_archived", Not(c(REPO, "$.archived", "equal", True)), None),
        ("described", c(REPO, "$.description", "matches", r"\w{4,}"), components),
        ("incidents", c(SERVICE, "$.incidents_last_30d", "lessThanInclusive", 8), None),
        ("all_prod", AllOf((c(SERVICE, "$.status", "notEqual", "disabled"),
                            c(CI, "$.tests.failed", "lessThan", 2),
                            c(REPO, "$.default_branch", "in", ["main"]))), production),
        ("any_ci", AnyOf((c(CI, "$.coverage", "greaterThan", 80),
                          c(CI, "$.tests.passed", "greaterThan", 400),
                          c(REPO, "$.license.spdx_id", "equal", "MIT"))), None),
        ("lang", c(CI, "$.language", "in", ["python", "go"]), None),
        ("policy", c(SERVICE, "$.escalation_policy.type", "equal", "escalation_policy_reference"), None),
        ("nested", AllOf((AnyOf((c(REPO, "$.visibility", "equal", "private"),
                                 c(REPO, "$.topics", "doesNotContain", "ml"))),
                          c(SERVICE, "$.status", "in", ["active", "warning"]),
                          c(CI, "$.workflow", "contains", "ci"))), None),
    ]
    checks = []
    for i in range(count):
        name, rule, flt = templates[i % len(templates)]
        suffix = "" if i < len(templates) else f"_{i // len(templates)}"
        checks.append(Check(id=f"{name}{suffix}", rule=rule, filter=flt,
                            failed_message=None if i % 2 else "{{ entity.metadata.name }} fails " + name))
    return checks


def make_tracks(checks: list[Check]) -> list[Track]:
    ids = [c.id for c in checks]
    levels = tuple(Level(ordinal=i + 1, name=f"L{i + 1}", checks=tuple(LevelCheck(cid) for cid in ids[i::3]))
                   for i in range(3))
    return [Track(id="bench_track", levels=levels)]


def make_workload(entities: int, checks: int, seed: int = 7) -> tuple[list[Entity], dict[tuple[str, FactRef], Fact],
                                                                    list[Check]]:
    """The benchmark's entities, facts and checks (``bench/bench_jre.py`` measures json-rules-engine on them)."""
    rng = random.Random(seed)
    made = make_entities(entities, rng)
    return made, make_facts(made, rng), make_checks(checks)


def prepare_engine(entities: list[Entity], facts: dict[tuple[str, FactRef], Fact], checks: list[Check]
                   ) -> tuple[dict[FactRef, dict[str, Any]], list[tuple[Entity, str, str]], list[BoundCheck]]:
    """The engine's inputs: fact tables, ``(entity, ref, key)`` triples, and the checks compiled and bound."""
    refs = {r for ch in checks for r in compile_check(ch).refs}
    tables = build_tables(facts, refs, NOW)
    infos = [(e, str(e.ref), entity_key(str(e.ref))) for e in entities]
    bound = [compile_check(ch).bind(tables) for ch in checks]
    return tables, infos, bound


def rebound(bound: list[BoundCheck]) -> list[BoundCheck]:
    """The same checks bound again to the same tables, as a new run binds them: the per-check message memos start
    empty (a timed repetition over already-used bound checks would reuse the messages the last one worked out)."""
    return [b.compiled.bind(b.tables, b.absent_reasons) for b in bound]


def engine_only(bound: list[BoundCheck], infos: list[tuple[Entity, str, str]]) -> None:
    """The measured engine run: every bound check over every entity, all selected (results are dropped)."""
    with paused():  # as evaluate() does
        for b in bound:
            b.run(infos)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    entities, facts, checks = make_workload(args.entities, args.checks, args.seed)
    settings = Settings(files=("<bench>",), checks=tuple(checks), tracks=tuple(make_tracks(checks)))
    evaluations = len(entities) * len(checks)

    def best_of(fn: object, prepare: object = None) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            arg = prepare() if prepare is not None else None  # type: ignore[operator]
            gc.collect()
            start = time.perf_counter()
            fn() if prepare is None else fn(arg)  # type: ignore[operator]
            best = min(best, time.perf_counter() - start)
        return best

    # 1. the engine alone: bound checks over prepared fact tables, every entity selected -- rule evaluation and
    #    CheckResult construction, messages included (what json-rules-engine's engine.run measures). Each
    #    repetition gets the checks freshly bound (not timed), as a run has them.
    _, infos, bound = prepare_engine(entities, facts, checks)
    engine_time = best_of(lambda fresh: engine_only(fresh, infos), lambda: rebound(bound))

    # 2. entity filters alone (catalog.filters.selects, once per distinct filter and entity, sharing one run's
    #    LoweredViews, as evaluate() does)
    distinct = {(id(ch.filter), id(ch.exclude)): ch for ch in checks if ch.filter is not None or ch.exclude is not None}

    def filters_run() -> None:
        views = LoweredViews()
        for ch in distinct.values():
            [selects(e, ch.filter, ch.exclude, views) for e in entities]

    filters_time = best_of(filters_run)

    # 3. the whole evaluate(): fact indexing, filters, checks, report -- without and with a 3-level track
    check_ids = [c.id for c in checks]
    report = evaluate(settings, entities, facts, check_ids=check_ids, now=NOW)
    assert len(report.check_results) == evaluations
    evaluate_time = best_of(lambda: evaluate(settings, entities, facts, check_ids=check_ids, now=NOW))
    with_track = evaluate(settings, entities, facts, now=NOW)
    track_time = best_of(lambda: evaluate(settings, entities, facts, now=NOW))

    def calibration() -> None:  # a plain Python loop: how fast this machine runs Python right now
        total = 0
        for i in range(1_000_000):
            total += i

    loop_ns = best_of(calibration) * 1e3  # ns per iteration

    states: dict[str, int] = {}
    for r in report.check_results:
        states[r.state.value] = states.get(r.state.value, 0) + 1
    print(f"# soundcheck evaluation benchmark: Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
          f"{platform.machine()}")
    print(f"# {len(entities):,} entities x {len(checks)} checks = {evaluations:,} evaluations, {len(facts):,} facts; "
          f"best of {args.repeat}")
    print(f"# calibration: a bare Python loop runs at {loop_ns:.0f} ns/iteration here (load average "
          f"{os.getloadavg()[0]:.2f}); figures scale with it")
    print()
    rows = [
        ("engine: rules + results (run)", evaluations, engine_time),
        ("evaluate(): checks", evaluations, evaluate_time),
        ("evaluate(): checks + 3-level track", evaluations, track_time),
    ]
    print(f"| {'measure':<36} | {'evaluations':>11} | {'time (s)':>8} | {'evaluations/s':>13} |")
    print(f"|{'-' * 38}|{'-' * 13}|{'-' * 10}|{'-' * 15}|")
    for label, count, seconds in rows:
        print(f"| {label:<36} | {count:>11,} | {seconds:>8.3f} | {count / seconds:>13,.0f} |")
    print()
    print(f"of which entity filters ({len(distinct)} distinct filters x {len(entities):,} entities): "
          f"{filters_time:.3f} s")
    print("states: " + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items())))
    print(f"track results: {len(with_track.track_results):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
