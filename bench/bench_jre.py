"""json-rules-engine on bench_eval's workload, beside soundcheck's engine, in the same minutes (issue 7's reference).

Issue 7 sets soundcheck's evaluation target at >= 450,000 evaluations/s, "about 10x json-rules-engine". This script
measures json-rules-engine (the engine Backstage Tech Insights runs checks with) on the same entities, facts and
checks as ``bench/bench_eval.py`` and soundcheck's engine in the same process run, interleaved (soundcheck,
json-rules-engine, soundcheck, ...), best of ``--repeat``, so that the ratio holds even on a VM whose speed moves
from one minute to the next:

1. the workload comes from ``bench_eval.make_workload`` (same generators, same seed);
2. every check is translated into a json-rules-engine rule (``translate_check``; see docs/benchmarks-jre.md):
   a condition becomes ``{fact: "<fact ref>", path: "<JSONPath>", operator, value}``, ``all``/``any``/``not`` stay,
   ``matches`` is a custom operator (``engine.addOperator``, a JavaScript ``RegExp`` search); entity filters are
   not part of the rules: filters select entities, and in this measurement every entity is selected on both sides
   (as bench_eval's "engine: rules + results (run)" row does). Each entity's facts are handed to ``engine.run``
   keyed by fact ref; absent and expired facts are left out (``allowUndefinedFacts: true`` makes them
   ``undefined``);
3. json-rules-engine is installed once into a cache folder outside the repository (``npm install --prefix``,
   pinned to major 7); without node/npm or when the install fails (offline) the script prints "skipped" and exits 0;
4. ``bench/jre_runner.js`` runs the engine per entity (``engine.run(facts)``), both with one Engine built beforehand
   and reused (mode "reused") and with a new Engine per entity as Tech Insights' ``JsonRulesEngineFactChecker``
   builds one per ``runChecks`` call (mode "per-entity"), and reused over flat facts, every (fact ref, path) resolved
   beforehand so that no JSONPath runs in json-rules-engine's timing (mode "flat": its upper bound);
5. both engines' pass/fail answers are compared for every (entity, check) soundcheck passed or failed; each
   disagreement is matched against the documented semantic differences (docs/operators.md).

Run from the repository root::

    python bench/bench_jre.py --entities 10000 --checks 20 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_eval  # noqa: E402  (puts the repository root on sys.path)
from machine import Steal  # noqa: E402

from soundcheck_cli.catalog.model import Entity  # noqa: E402
from soundcheck_cli.facts.model import FactRef  # noqa: E402
from soundcheck_cli.gcpause import paused  # noqa: E402
from soundcheck_cli.rules.engine import Unreported  # noqa: E402
from soundcheck_cli.rules.jsonpath import MISSING, PathError, compile_path  # noqa: E402
from soundcheck_cli.rules.model import AllOf, AnyOf, Check, CheckResult, CheckState, Condition, Not, Rule  # noqa: E402
from soundcheck_cli.rules.operators import NUMERIC_OPERATORS, is_number  # noqa: E402

JRE_MAJOR = 7  # json-rules-engine's current major (7.3.x when this was written)
JRE_OPERATORS = frozenset({"equal", "notEqual", "in", "notIn", "contains", "doesNotContain", "lessThan",
                           "lessThanInclusive", "greaterThan", "greaterThanInclusive"})  # engine-default-operators.js
CUSTOM_OPERATORS = frozenset({"matches"})  # added by jre_runner.js with engine.addOperator
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jre_runner.js")
MODES = ("reused", "per-entity", "flat")
MODE_LABELS = {"reused": "Engine built once, reused", "per-entity": "new Engine per entity (Tech Insights)",
               "flat": "reused, flat facts, no JSONPath"}
INSTALL_TIMEOUT = 300  # seconds


# --- checks -> json-rules-engine rules ---------------------------------------------------------------------
class Untranslatable(ValueError):
    """A check that json-rules-engine cannot run as written."""


def _json_value(value: Any) -> Any:
    """The rule value as JSON data (tuples become lists); Untranslatable when it is not JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise Untranslatable(f"value {value!r} is not JSON: {exc}") from None


def _path(condition: Condition) -> str | None:
    path = (condition.path or "").strip()
    return path if path and path != "$" else None


def flat_fact(condition: Condition) -> str:
    """The flat fact name of ``condition``'s (fact ref, path) pair: ``"<fact ref> <path>"`` (the ref alone for the
    whole fact)."""
    path = _path(condition)
    return f"{condition.fact_ref} {path}" if path else str(condition.fact_ref)


def translate_condition(condition: Condition, flat: bool = False) -> dict[str, Any]:
    """``{fact, path, operator, value}``: the fact is the fact ref's text, the path soundcheck's JSONPath.

    No path (or ``$``) means the whole fact, as in soundcheck: the ``path`` key is then left out. ``flat``: the fact
    is ``flat_fact(condition)`` and there is no path (``flat_facts`` resolves the paths beforehand).
    """
    operator = condition.operator
    if operator not in JRE_OPERATORS and operator not in CUSTOM_OPERATORS:
        raise Untranslatable(f"operator {operator!r} has no json-rules-engine equivalent")
    value = _json_value(condition.value)
    if isinstance(value, dict) and "fact" in value:
        # json-rules-engine reads {"fact": ...} as a reference to another fact's value, not as a literal mapping
        raise Untranslatable(f"value {value!r} would be read as a fact reference by json-rules-engine")
    if flat:
        out: dict[str, Any] = {"fact": flat_fact(condition)}
    else:
        out = {"fact": str(condition.fact_ref)}
        path = _path(condition)
        if path:
            out["path"] = path
    out["operator"] = operator
    out["value"] = value
    return out


def translate_rule(rule: Rule, flat: bool = False) -> dict[str, Any]:
    """A rule tree as json-rules-engine conditions: ``all`` / ``any`` / ``not`` nest as they do in soundcheck."""
    if isinstance(rule, Condition):
        return translate_condition(rule, flat)
    if isinstance(rule, AllOf):
        return {"all": [translate_rule(r, flat) for r in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [translate_rule(r, flat) for r in rule.rules]}
    if isinstance(rule, Not):
        return {"not": translate_rule(rule.rule, flat)}
    raise Untranslatable(f"unknown rule node {type(rule).__name__}")


def translate_check(check: Check, flat: bool = False) -> dict[str, Any]:
    """The json-rules-engine rule for ``check``: named by the check id (results come back under that name).

    A single condition is wrapped in ``all`` (json-rules-engine wants ``all``/``any``/``not`` at the top). Entity
    filters (``filter``/``exclude``) are not part of the rule: they decide which entities a check runs on, which
    the caller does (as Tech Insights decides which entities to run checks for). ``applicable`` has no
    json-rules-engine equivalent (a third outcome), so such checks are Untranslatable.
    """
    if check.applicable is not None:
        raise Untranslatable(f"check {check.id!r}: an 'applicable' rule has no json-rules-engine equivalent")
    conditions = translate_rule(check.rule, flat)
    if "fact" in conditions:
        conditions = {"all": [conditions]}
    return {"name": check.id, "conditions": conditions, "event": {"type": check.id}}


def entity_facts(tables: dict[FactRef, dict[str, Any]], infos: Sequence[tuple[Entity, str, str]]
                 ) -> list[dict[str, Any]]:
    """Per entity, ``{fact ref text: data}`` for the facts soundcheck sees as present (absent/expired left out)."""
    named = [(str(ref), table) for ref, table in sorted(tables.items(), key=lambda item: str(item[0]))]
    out = []
    for _, _, ekey in infos:
        facts = {}
        for name, table in named:
            value = table.get(ekey)
            if value is not None and not isinstance(value, Unreported):
                facts[name] = value
        out.append(facts)
    return out


def _conditions(rule: Rule, out: list[Condition]) -> list[Condition]:
    if isinstance(rule, Condition):
        out.append(rule)
    elif isinstance(rule, Not):
        _conditions(rule.rule, out)
    else:
        for child in rule.rules:
            _conditions(child, out)
    return out


def flat_facts(checks: Sequence[Check], facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per entity, ``{flat_fact(condition): the value its path selects}`` for every distinct (fact ref, path) of
    the checks, resolved with soundcheck's JSONPath; a path that selects nothing, or an absent fact, is left out."""
    pairs = {flat_fact(c): (str(c.fact_ref), compile_path(c.path))
             for check in checks for c in _conditions(check.rule, [])}
    out = []
    for entity in facts:
        flat = {}
        for name, (ref, accessor) in pairs.items():
            data = entity.get(ref)
            if data is not None:
                value = accessor.get(data)
                if value is not MISSING:
                    flat[name] = value
        out.append(flat)
    return out


def write_data(folder: str, checks: Sequence[Check], infos: Sequence[tuple[Entity, str, str]],
               facts: list[dict[str, Any]]) -> str:
    path = os.path.join(folder, "jre-data.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"checks": [c.id for c in checks], "rules": [translate_check(c) for c in checks],
                   "entities": [ref for _, ref, _ in infos], "facts": facts,
                   "rules_flat": [translate_check(c, flat=True) for c in checks],
                   "facts_flat": flat_facts(checks, facts)}, handle, allow_nan=False)
    return path


# --- where the two engines may answer differently (docs/operators.md, "json-rules-engine" column) -----------
def js_divergence(condition: Condition, data: Any) -> str | None:
    """Why json-rules-engine may answer ``condition`` differently from soundcheck on this fact data, or None."""
    if data is None:
        return None  # an absent fact: soundcheck's "unknown" and json-rules-engine's undefined decide alike
    try:
        accessor = compile_path(condition.path)
    except PathError:
        return None
    actual = accessor.get(data)
    if actual is MISSING:
        return None
    op, expected = condition.operator, condition.value
    where = f"{condition.fact_ref} {accessor.path} {op} {json.dumps(expected)}"
    kind = type(actual).__name__
    if not accessor.definite:
        return f"{where}: an indefinite path (jsonpath-ng and jsonpath-plus may select differently)"
    if op in ("contains", "doesNotContain"):
        if not isinstance(actual, list):
            return (f"{where}: the fact value is a {kind}; soundcheck looks inside strings and mappings, "
                    f"json-rules-engine only inside arrays (operators.md C2-C4, D1)")
        if isinstance(expected, (list, tuple, dict)):
            return f"{where}: json-rules-engine compares list/mapping items by reference (operators.md C1)"
    if op in NUMERIC_OPERATORS and not is_number(actual):
        return f"{where}: the fact value is a {kind}; json-rules-engine coerces it to a number (operators.md L2)"
    if op in ("in", "notIn"):
        if not isinstance(expected, (list, tuple)):
            return f"{where}: json-rules-engine reads a non-list value as a substring test (operators.md I2)"
        if isinstance(actual, (list, dict)):
            return f"{where}: json-rules-engine compares a list/mapping by reference (operators.md I3)"
    if op in ("equal", "notEqual") and isinstance(actual, (list, dict)):
        return f"{where}: json-rules-engine compares lists/mappings by reference (operators.md E1)"
    return None


def divergent_leaves(rule: Rule, facts: dict[str, Any]) -> list[str]:
    """``js_divergence`` for every condition of ``rule`` on one entity's facts (``{fact ref text: data}``)."""
    if isinstance(rule, Condition):
        reason = js_divergence(rule, facts.get(str(rule.fact_ref)))
        return [reason] if reason else []
    if isinstance(rule, Not):
        return divergent_leaves(rule.rule, facts)
    return [reason for child in rule.rules for reason in divergent_leaves(child, facts)]


@dataclass
class Agreement:
    compared: int = 0  # (entity, check) pairs soundcheck passed or failed
    agreed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # soundcheck's other states
    disagreed: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)  # check id -> (entity, sc, jre)

    @property
    def rate(self) -> float:
        return self.agreed / self.compared if self.compared else 1.0


def compare(checks: Sequence[Check], results: Sequence[Sequence[CheckResult]], outcomes: str) -> Agreement:
    """soundcheck's results (check-major, one list per check) against the runner's outcome string
    (check-major, 'P' passed / 'F' failed / '-' no result)."""
    n = len(results[0]) if results else 0
    if len(outcomes) != len(checks) * n:
        raise ValueError(f"{len(outcomes)} outcomes for {len(checks)} checks x {n} entities")
    agreement = Agreement()
    for j, (check, per_entity) in enumerate(zip(checks, results)):
        for i, result in enumerate(per_entity):
            state = result.state
            if state is CheckState.PASSED:
                want = "P"
            elif state in (CheckState.FAILED, CheckState.WARNING):
                want = "F"
            else:
                agreement.skipped[state.value] += 1
                continue
            agreement.compared += 1
            got = outcomes[j * n + i]
            if got == want:
                agreement.agreed += 1
            else:
                agreement.disagreed.setdefault(check.id, []).append((i, want, got))
    return agreement


# --- json-rules-engine install and runner ------------------------------------------------------------------
def cache_prefix() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "soundcheck-bench", "jre")


def installed_version(prefix: str) -> str | None:
    """The installed json-rules-engine version under ``prefix`` when it is of major JRE_MAJOR, else None."""
    try:
        with open(os.path.join(prefix, "node_modules", "json-rules-engine", "package.json"), encoding="utf-8") as f:
            version = json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) and version.split(".")[0] == str(JRE_MAJOR) else None


def ensure_jre(prefix: str) -> tuple[str | None, str]:
    """(installed version, "") or (None, why it is not available)."""
    if shutil.which("node") is None:
        return None, "node is not on PATH"
    version = installed_version(prefix)
    if version is not None:
        return version, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not on PATH"
    print(f"# installing json-rules-engine@{JRE_MAJOR} into {prefix} (once)", flush=True)
    os.makedirs(prefix, exist_ok=True)
    command = [npm, "install", "--prefix", prefix, f"json-rules-engine@{JRE_MAJOR}", "--no-audit", "--no-fund",
               "--loglevel=error"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"npm install failed: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"npm install failed (exit code {done.returncode}): {last}"
    version = installed_version(prefix)
    return (version, "") if version else (None, "npm install left no json-rules-engine package behind")


class NodeRunner:
    """``bench/jre_runner.js`` as a child process: one JSON command/reply line at a time."""

    def __init__(self, data_file: str, prefix: str, folder: str) -> None:
        self._stderr = open(os.path.join(folder, "node-stderr.txt"), "w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [shutil.which("node") or "node", "--expose-gc", RUNNER, data_file, prefix],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1,
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            self._stderr.seek(0)
            raise RuntimeError(f"node exited ({self.proc.returncode}): {self._stderr.read()[-2000:]}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"jre_runner.js: {reply['error']}")
        return reply

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


# --- the benchmark -----------------------------------------------------------------------------------------
_ANSWER = {"P": "passed", "F": "failed", "-": "no result"}


def _print_agreement(checks: Sequence[Check], agreements: dict[str, Agreement], facts: list[dict[str, Any]]) -> None:
    first_mode, first = next(iter(agreements.items()))
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(first.skipped.items()))
    same = all(a.disagreed == first.disagreed for a in agreements.values())
    print(f"agreement: {first.agreed:,} of {first.compared:,} (entity, check) results soundcheck passed or failed "
          f"= {100 * first.rate:.2f} % (left out: {skipped or 'none'}); "
          + ("every json-rules-engine mode answers alike" if same else
             "per mode: " + ", ".join(f"{m} {100 * a.rate:.2f} %" for m, a in agreements.items())))
    by_id = {c.id: c for c in checks}
    for mode, agreement in agreements.items():
        if mode != first_mode and agreement.disagreed == first.disagreed:
            continue
        for check_id, pairs in agreement.disagreed.items():
            reasons: Counter[str] = Counter()
            unexplained = 0
            for i, _, _ in pairs:
                found = divergent_leaves(by_id[check_id].rule, facts[i])
                unexplained += not found
                reasons.update(dict.fromkeys(found, 1))
            flips = ", ".join(f"soundcheck {_ANSWER[w]} / json-rules-engine {_ANSWER[g]} {n:,}"
                              for (w, g), n in sorted(Counter((w, g) for _, w, g in pairs).items()))
            print(f"- {check_id} ({mode}): {len(pairs):,} differ ({flips}); unexplained {unexplained:,}")
            for reason, n in reasons.items():
                print(f"    {n:,} x {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per engine; the best is kept")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"json-rules-engine modes, comma-separated (default: {','.join(MODES)})")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: choose from {', '.join(MODES)}")

    prefix = cache_prefix()
    version, why = ensure_jre(prefix)
    if version is None:
        print(f"json-rules-engine benchmark skipped: {why}")
        return 0

    entities, facts, checks = bench_eval.make_workload(args.entities, args.checks, args.seed)
    tables, infos, bound = bench_eval.prepare_engine(entities, facts, checks)
    try:
        rules = [translate_check(c) for c in checks]
    except Untranslatable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_entity = entity_facts(tables, infos)
    given = sum(len(f) for f in per_entity)
    evaluations = len(entities) * len(checks)
    with paused():  # soundcheck's answers, for the cross-check (and a warm-up)
        sc_results = [b.run(infos) for b in bound]

    best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in ("soundcheck", *modes)}
    with tempfile.TemporaryDirectory(prefix="soundcheck-bench-jre-") as folder:
        data_file = write_data(folder, checks, infos, per_entity)
        assert len(rules) == len(checks)
        try:
            runner = NodeRunner(data_file, prefix, folder)
        except (OSError, RuntimeError) as exc:
            print(f"json-rules-engine benchmark skipped: node could not start the runner: {exc}")
            return 0
        try:
            with Steal() as steal:
                for _ in range(args.repeat):  # A, B, (C), A, B, (C), ...
                    fresh = bench_eval.rebound(bound)  # as a run binds them: message memos empty (not timed)
                    gc.collect()
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    bench_eval.engine_only(fresh, infos)
                    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                    best["soundcheck"] = [min(best["soundcheck"][0], wall), min(best["soundcheck"][1], cpu)]
                    for mode in modes:
                        reply = runner.ask(f"run {mode}")
                        if reply["passed"] + reply["failed"] != evaluations:
                            raise RuntimeError(f"{mode}: {reply['passed']} passed + {reply['failed']} failed, "
                                               f"expected {evaluations:,} results")
                        best[mode] = [min(best[mode][0], reply["wall"]), min(best[mode][1], reply["cpu"])]
            outcomes = {mode: runner.ask(f"outcomes {mode}")["outcomes"] for mode in modes}
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            runner.close()

    agreements = {mode: compare(checks, sc_results, outcomes[mode]) for mode in modes}
    load = os.getloadavg()
    steal_text = f"; CPU steal during the runs {steal.percent:.0f} %" if steal.percent is not None else ""
    print(f"# json-rules-engine beside soundcheck's engine: Python {platform.python_version()}, "
          f"node {runner.hello['node']}, json-rules-engine {version}, {os.cpu_count()} CPU(s), {platform.machine()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}{steal_text}")
    print(f"# {len(entities):,} entities x {len(checks)} checks = {evaluations:,} evaluations, {len(facts):,} facts "
          f"({given:,} present and unexpired, handed to engine.run); best of {args.repeat}, interleaved")
    print()
    sc_wall, sc_cpu = best["soundcheck"]
    rows = [("soundcheck: rules + results (run)", sc_wall, sc_cpu)]
    rows += [(f"json-rules-engine: {MODE_LABELS[m]}", *best[m]) for m in modes]
    print(f"| {'engine':<56} | {'evaluations':>11} | {'best s':>7} | {'CPU s':>7} | {'evaluations/s':>13} | "
          f"{'soundcheck / this':>17} | {'same, by CPU s':>14} |")
    print(f"|{'-' * 58}|{'-' * 13}|{'-' * 9}|{'-' * 9}|{'-' * 15}|{'-' * 19}|{'-' * 16}|")
    for label, wall, cpu in rows:
        print(f"| {label:<56} | {evaluations:>11,} | {wall:>7.3f} | {cpu:>7.3f} | {evaluations / wall:>13,.0f} | "
              f"{wall / sc_wall:>16.1f}x | {cpu / sc_cpu:>13.1f}x |")
    print()
    print("wall seconds: best of the interleaved runs; CPU seconds: process time of the same runs (node's counts "
          "its GC and compiler threads)")
    _print_agreement(checks, agreements, per_entity)
    sc_rate = evaluations / sc_wall
    print(f"issue 7: target >= 450,000 evaluations/s; soundcheck {sc_rate:,.0f}/s here = "
          + ", ".join(f"{best[m][0] / sc_wall:.1f}x json-rules-engine ({m})" for m in modes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
