"""The rule engine: ``evaluate_check(check, entity, facts, now) -> CheckResult``, pure and fast.

States, in the order they are decided:

1. ``not-applicable`` -- the check's ``filter``/``exclude`` does not select the entity;
2. ``error`` -- the check cannot be evaluated at all (invalid regex, unparsable path, unknown operator, a rule
   value the operator cannot use); the message says why;
3. ``not-applicable`` -- the ``applicable`` rule is false (``not-reported`` if that depends on an absent fact);
4. the rule: ``passed``; ``failed`` (``warning`` instead when the check has ``warning: true``); or
   ``not-reported`` when the answer depends on a fact that was never collected or has expired. The message
   and ``missing_facts`` name each such fact ref with "not collected" or "expired at ...": a missing fact is
   never a silent failure.

Absent facts follow three-valued (Kleene) logic, so a result is reported whenever the facts present already
decide it: ``all`` is false as soon as one branch is false and ``any`` is true as soon as one branch is true,
whatever an absent fact would have said; otherwise an absent fact makes the result ``not-reported``. (A
``failed`` result decided this way still names the absent facts in its default message.) A fact that is
present but whose ``path`` matches nothing is not absent: the operator sees ``MISSING`` (docs/operators.md).

Messages: ``passedMessage``/``failedMessage``/``notApplicableMessage`` are rendered with ``rules.messages``.
Without them, a passed result has an empty message, a failed one says which conditions failed and with what
value (``pagerduty:default/service: $.status is "disabled", expected equal "active"``), a not-applicable one
says why. ``not-reported`` and ``error`` messages are always the engine's own.

Fact-valued conditions (``value: {factRef, path}``, issue 21) read their rule value from a fact of the same entity;
an absent or expired value fact, or a value path that selects nothing, makes the condition unknown (``None``:
not reported), never ``error``. A check with such a condition is evaluated by closures (its value is not a constant
the generated code could inline); checks whose values are all constants keep the generated fast path.

Speed (issue 7 asks >= 450,000 evaluations/s): a check is compiled once -- paths to accessors, operators to
predicates specialised on the rule value (``rules.plan``) -- and bound to one run's per-fact-ref tables
``{entity key: fact data}``. Binding generates the check's whole batch loop as Python source (``rules.codegen``);
rules too deep to generate, and single evaluations (``evaluate_check``), use equivalent closures (here). Default
messages are worked out on a slower path, only for the results that need them, and memoised on the values the
conditions saw (``plan.memo_key``).

A value a rule cannot be evaluated on (a ``matches`` search that timed out, ``operators.EvaluationError``) makes
that entity's result ``error``; the other entities are evaluated as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from soundcheck_cli.catalog.filters import selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.interface import entity_key
from soundcheck_cli.facts.model import Fact, FactRef, format_timestamp, utcnow
from soundcheck_cli.rules.codegen import MAX_GENERATED_DEPTH, bind_generated, generate_run
from soundcheck_cli.rules.jsonpath import MISSING, PathError
from soundcheck_cli.rules.messages import Template, compile_template, describe_value
from soundcheck_cli.rules.model import Check, CheckResult, CheckState, Condition, FactValue, Not, Rule, is_fact_valued
from soundcheck_cli.rules.operators import EvaluationError, OperatorError
from soundcheck_cli.rules.plan import (
    ABSENT,
    MEMO_LIMIT,
    NOT_SELECTED_MESSAGE,
    Leaf,
    Plan,
    Unreported,
    compile_plan,
    depth,
    leaf_expected,
    leaves,
    memo_key,
)

__all__ = ["ABSENT", "NOT_SELECTED_MESSAGE", "BoundCheck", "CompiledCheck", "Unreported", "bind_closures",
           "bind_generated", "bind_rule", "build_tables", "check_problem", "compile_check", "compile_plan",
           "evaluate_check", "evaluate_plan", "explain", "table_value"]

# --- fact tables -------------------------------------------------------------------------------------------


FactTable = Mapping[str, Any]  # entity key -> fact data, or an ``Unreported`` marker for an expired fact


def table_value(fact: Fact | None, now: datetime) -> Any:
    """What a fact table holds for ``fact``: its data, or a marker when it is absent or expired."""
    if fact is None:
        return ABSENT
    if fact.expires_at is not None and now >= fact.expires_at:
        return Unreported(fact.expires_at)
    return fact.data


def build_tables(
    facts: Mapping[tuple[str, FactRef], Fact], refs: set[FactRef] | frozenset[FactRef], now: datetime
) -> dict[FactRef, dict[str, Any]]:
    """One pass over ``facts`` (keyed by ``(entity_key, FactRef)``) into ``{ref: {entity key: data}}``.

    Facts that expired at the same instant share one ``Unreported`` marker: the engine memoises not-reported and
    default failure messages on the markers it meets (by identity), and facts collected together expire together.
    """
    tables: dict[FactRef, dict[str, Any]] = {ref: {} for ref in refs}
    by_id: dict[int, dict[str, Any] | None] = {}  # id(fact ref) -> its table: a FactRef hashes in Python code
    expired: dict[datetime, Unreported] = {}
    for (ekey, ref), fact in facts.items():
        table = by_id.get(id(ref), by_id)
        if table is by_id:
            table = by_id[id(ref)] = tables.get(ref)  # the ref stays alive in ``facts``: its id is not reused
        if table is not None:
            expires_at = fact.expires_at if fact is not None else None
            if fact is None:
                table[ekey] = ABSENT
            elif expires_at is not None and now >= expires_at:
                marker = expired.get(expires_at)
                if marker is None:
                    marker = expired[expires_at] = Unreported(expires_at)
                table[ekey] = marker
            else:
                table[ekey] = fact.data
    return tables


# --- results -----------------------------------------------------------------------------------------------
PASSED = CheckState.PASSED
FAILED = CheckState.FAILED
WARNING = CheckState.WARNING
NOT_APPLICABLE = CheckState.NOT_APPLICABLE
NOT_REPORTED = CheckState.NOT_REPORTED
ERROR = CheckState.ERROR


# A bound rule evaluates to True, False or None (None: depends on a fact that is absent or expired).
RuleFn = Callable[[str], "bool | None"]


def evaluate_plan(plan: Plan, fact: Callable[[FactRef], Any]) -> bool | None:
    """Reference (slow, unoptimised) evaluation of a plan; ``fact(ref)`` returns data or an ``Unreported``."""
    if isinstance(plan, Leaf):
        v = fact(plan.condition.fact_ref)
        if v.__class__ is Unreported:
            return None
        if plan.value_ref is not None:
            expected = leaf_expected(plan, fact)
            return None if expected is ABSENT else plan.test(plan.accessor.get(v), expected)  # type: ignore[call-arg]
        return plan.test(plan.accessor.get(v))
    if plan.kind == "not":
        r = evaluate_plan(plan.children[0], fact)
        return None if r is None else not r
    results = [evaluate_plan(child, fact) for child in plan.children]
    if plan.kind == "all":
        return False if False in results else (None if None in results else True)
    return True if True in results else (None if None in results else False)


# --- binding, way 1: closures (the fallback for rules too deep to generate) ---------------------------------
def bind_closures(plan: Plan, tables: Mapping[FactRef, FactTable]) -> RuleFn:
    if isinstance(plan, Leaf) and plan.value_ref is not None:  # fact-valued: the rule value per entity
        table_get = tables.get(plan.condition.fact_ref, {}).get
        value_get = tables.get(plan.value_ref, {}).get
        get = plan.accessor.get
        value_path = plan.value_accessor.get  # type: ignore[union-attr]
        dynamic = plan.test

        def fact_valued_leaf(ekey: str) -> bool | None:
            v = table_get(ekey, ABSENT)
            w = value_get(ekey, ABSENT)
            if v.__class__ is Unreported or w.__class__ is Unreported:
                return None
            expected = value_path(w)
            if expected is MISSING:
                return None
            return dynamic(get(v), expected)  # type: ignore[call-arg]

        return fact_valued_leaf
    if isinstance(plan, Leaf):
        table_get = tables.get(plan.condition.fact_ref, {}).get
        get = plan.accessor.get
        test = plan.test
        unreported = Unreported

        def leaf(ekey: str) -> bool | None:
            v = table_get(ekey, ABSENT)
            if v.__class__ is unreported:
                return None
            return test(get(v))

        return leaf
    children = tuple(bind_closures(p, tables) for p in plan.children)
    if plan.kind == "not":
        (child,) = children

        def not_(ekey: str) -> bool | None:
            r = child(ekey)
            return None if r is None else not r

        return not_
    decisive = plan.kind == "any"  # the value that ends the evaluation: True for any, False for all

    def branch(ekey: str) -> bool | None:
        unknown = False
        for child in children:
            r = child(ekey)
            if r is decisive:
                return decisive
            if r is None:
                unknown = True
        return None if unknown else not decisive

    return branch


def bind_rule(plan: Plan, tables: Mapping[FactRef, FactTable]) -> RuleFn:
    """The fastest correct evaluator of ``plan`` over ``tables``: generated code (``rules.codegen``), or closures
    for rules too deep to generate or whose rule values are read from facts."""
    if depth(plan) <= MAX_GENERATED_DEPTH and not any(lf.value_ref is not None for lf in leaves(plan)):
        try:
            return bind_generated(plan, tables)
        except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - guarded by the depth limit
            pass
    return bind_closures(plan, tables)


# --- explanations (default messages) -----------------------------------------------------------------------
def describe_condition(condition: Condition, actual: Any, holds: bool) -> str:
    """``pagerduty:default/service: $.status is "disabled", expected equal "active"``."""
    value = describe_value(condition.value)
    tail = f", which is {condition.operator} {value}" if holds else f", expected {condition.operator} {value}"
    return f"{condition.fact_ref}: {condition.path or '$'} is {describe_value(actual)}{tail}"


def _explain(plan: Plan, raw: Callable[[Leaf], Any], want: bool,
             fact: Callable[[FactRef], Any] | None = None) -> tuple[bool | None, list[str]]:
    """Evaluate ``plan`` and say why it is not ``want``, in one pass: ``(value, reasons)``. ``fact(ref)`` reads
    the rule values of fact-valued conditions."""
    if isinstance(plan, Leaf):
        v = raw(plan)
        if v.__class__ is Unreported:
            return None, []
        actual = plan.accessor.get(v)
        expected: Any = ABSENT
        if plan.value_ref is not None:
            expected = leaf_expected(plan, fact) if fact is not None else ABSENT
            if expected is ABSENT:
                return None, []
        try:
            holds = plan.test(actual) if expected is ABSENT else plan.test(actual, expected)  # type: ignore[call-arg]
        except EvaluationError:
            # A condition the rule's short-circuit skipped (``all`` already false...) and that cannot be evaluated
            # does not decide the result: it must not turn a failure into an error while explaining it.
            return None, []
        if holds == want:
            return holds, []
        text = plan.head + describe_value(actual) + (plan.hold_tail if holds else plan.fail_tail)
        if expected is not ABSENT:
            text += f"{describe_value(expected)} (from {plan.condition.value})"
        return holds, [text if want else "expected not: " + text]
    if plan.kind == "not":
        r, reasons = _explain(plan.children[0], raw, not want, fact)
        return (None if r is None else not r), reasons
    return _combine(plan.kind, [_explain(child, raw, want, fact) for child in plan.children], want)


def _combine(kind: str, results: list[tuple[bool | None, list[str]]], want: bool) -> tuple[bool | None, list[str]]:
    """``all``/``any`` of children already explained: the branch's value and reasons."""
    values = [r for r, _ in results]
    if kind == "all":
        value = False if False in values else (None if None in values else True)
    else:
        value = True if True in values else (None if None in values else False)
    wrong = [reasons for r, reasons in results if r is (not want)]
    reasons = [text for group in wrong for text in group]
    if (kind == "all") != want and len(reasons) > 1:
        # any must hold / all must fail, and every branch went the wrong way
        reasons = [("none of: " if want else "each of: ") + "; ".join(reasons)]
    return value, reasons


def explain(plan: Plan, fact: Callable[[FactRef], Any], want: bool = True) -> list[str]:
    """Why ``plan`` does not evaluate to ``want``: the decisive conditions, described.

    ``fact(ref)`` returns a fact's data or an ``Unreported`` marker.
    """
    return _explain(plan, lambda leaf: fact(leaf.condition.fact_ref), want, fact)[1]


# --- compiled and bound checks -----------------------------------------------------------------------------
def _ordered_refs(rule: Rule | None, out: list[FactRef]) -> list[FactRef]:
    if isinstance(rule, Condition):
        if rule.fact_ref not in out:
            out.append(rule.fact_ref)
        if isinstance(rule.value, FactValue) and rule.value.fact_ref not in out:
            out.append(rule.value.fact_ref)
    elif isinstance(rule, Not):
        _ordered_refs(rule.rule, out)
    elif rule is not None:
        for child in rule.rules:
            _ordered_refs(child, out)
    return out


class CompiledCheck:
    """A check compiled once: its fact refs, rule plans, message templates -- or why it cannot run."""

    __slots__ = ("check", "refs", "rule_refs", "applicable_refs", "error", "rule", "applicable",
                 "passed", "failed", "not_applicable", "check_info", "fact_valued")

    def __init__(self, check: Check) -> None:
        self.check = check
        self.rule_refs = tuple(_ordered_refs(check.rule, []))
        self.applicable_refs = tuple(_ordered_refs(check.applicable, []))
        self.refs = tuple(dict.fromkeys(self.applicable_refs + self.rule_refs))
        # A rule value read from a fact: the general path (closures, no memoised default messages).
        self.fact_valued = is_fact_valued(check.rule) or is_fact_valued(check.applicable)
        self.error: str | None = None
        self.rule: Plan | None = None
        self.applicable: Plan | None = None
        try:
            self.rule = compile_plan(check.rule)
            if check.applicable is not None:
                self.applicable = compile_plan(check.applicable)
        except (OperatorError, PathError) as exc:
            self.error = f"error: {exc}"
        self.passed: Template | None = compile_template(check.passed_message)
        self.failed: Template | None = compile_template(check.failed_message)
        self.not_applicable: Template | None = compile_template(check.not_applicable_message)
        self.check_info = {"id": check.id, "name": check.title, "description": check.description}

    def bind(
        self, tables: Mapping[FactRef, FactTable], absent_reasons: Mapping[FactRef, str] | None = None,
        *, generate: bool = True,
    ) -> BoundCheck:
        """Attach the fact tables of one run (``absent_reasons`` explains absent in-memory facts).

        ``generate=False`` skips code generation (closures only): cheaper for a handful of evaluations.
        """
        return BoundCheck(self, tables, absent_reasons or {}, generate)

class BoundCheck:
    """A compiled check over one run's fact tables: ``evaluate`` one entity, or ``run`` many.

    ``failed_memo``, ``nr_memo``, ``nr_slow`` and ``evaluation_error_result`` are what the generated loop
    (``codegen.generate_run``) shares with this object."""

    __slots__ = ("compiled", "tables", "absent_reasons", "rule", "applicable", "_leaf_access",
                 "_leaf_tables", "_rule_ref_gets", "_applicable_ref_gets", "_unreported_memo", "failed_memo",
                 "nr_memo",
                 "_run")

    def __init__(self, compiled: CompiledCheck, tables: Mapping[FactRef, FactTable],
                 absent_reasons: Mapping[FactRef, str], generate: bool = True) -> None:
        self.compiled = compiled
        self.tables = tables
        self.absent_reasons = absent_reasons
        empty: dict[str, Any] = {}
        # Pre-resolved table lookups (a FactRef hashes in Python code: keep that out of per-entity paths).
        rule_leaves = leaves(compiled.rule) if compiled.rule is not None else []
        self._leaf_access = tuple((tables.get(lf.condition.fact_ref, empty).get, lf.accessor.get)
                                  for lf in rule_leaves)
        self._leaf_tables = {id(lf): tables.get(lf.condition.fact_ref, empty).get for lf in rule_leaves}
        if compiled.applicable is not None:
            for lf in leaves(compiled.applicable):
                self._leaf_tables[id(lf)] = tables.get(lf.condition.fact_ref, empty).get
        self._rule_ref_gets = tuple((r, tables.get(r, empty).get) for r in compiled.rule_refs)
        self._applicable_ref_gets = tuple((r, tables.get(r, empty).get) for r in compiled.applicable_refs)
        self._unreported_memo: dict[tuple[Any, ...], tuple[str, tuple[str, ...], str]] = {}
        self.failed_memo: dict[tuple[Any, ...], str] = {}  # values the conditions saw -> default message
        self.nr_memo: dict[tuple[Any, ...], tuple[str, tuple[str, ...], str]] = {}
        self._run = generate_run(self) if generate and not compiled.fact_valued else None
        # With a generated ``run`` loop, ``rule``/``applicable`` serve only single ``evaluate`` calls: closures,
        # which need no compiling (same answers).
        ok = compiled.error is None
        bind = bind_rule if generate and self._run is None and not compiled.fact_valued else bind_closures
        self.rule: RuleFn | None = bind(compiled.rule, tables) if ok and compiled.rule else None
        self.applicable: RuleFn | None = (
            bind(compiled.applicable, tables) if ok and compiled.applicable is not None else None
        )

    # --- evaluation -----------------------------------------------------------------------------------------
    def evaluate(self, entity: Entity, ref: str, ekey: str, selected: bool = True) -> CheckResult:
        """The result for one entity (``selected``: whether the check's filter/exclude selects it)."""
        if not selected:
            return self.not_applicable_result(entity, ref, ekey)
        if self.compiled.error is not None:
            return CheckResult(self.compiled.check.id, ref, ERROR, self.compiled.error)
        try:
            return self._evaluate(entity, ref, ekey)
        except EvaluationError as exc:
            return self.evaluation_error_result(ref, exc)

    def evaluation_error_result(self, ref: str, exc: EvaluationError) -> CheckResult:
        """The result for an entity the rule could not be evaluated on (a regular expression timed out)."""
        return CheckResult(self.compiled.check.id, ref, ERROR, f"error: {exc}")

    def _evaluate(self, entity: Entity, ref: str, ekey: str) -> CheckResult:
        compiled = self.compiled
        cid = compiled.check.id
        if self.applicable is not None:
            a = self.applicable(ekey)
            if a is None:
                return self._not_reported(ref, ekey, self._applicable_ref_gets, " for the applicable rule")
            if a is False:
                return CheckResult(cid, ref, NOT_APPLICABLE, self._not_applicable_message(entity, ekey, True))
        r = self.rule(ekey)  # type: ignore[misc]
        if r is True:
            return CheckResult(cid, ref, PASSED, self.passed_message(entity, ekey))
        if r is False:
            return CheckResult(cid, ref, WARNING if compiled.check.warning else FAILED,
                              self.failed_message(entity, ekey))
        return self.not_reported_result(ref, ekey)

    def run(self, entities: Sequence[tuple[Entity, str, str]], selected: Sequence[bool] | None = None
            ) -> list[CheckResult]:
        """Results for ``(entity, entity ref, entity key)`` triples in order; ``selected`` (aligned with them)
        says which the check's filter/exclude selects; None: all of them.

        The engine's hot path: a generated loop (``generate_run``) when the check allows, else ``evaluate``.
        """
        if self._run is not None:
            return self._run(entities, selected)
        evaluate = self.evaluate
        if selected is None:
            return [evaluate(e, r, k) for e, r, k in entities]
        return [evaluate(e, r, k, s) for (e, r, k), s in zip(entities, selected)]

    # --- results and messages off the hot path ------------------------------------------------------------
    def fact(self, ekey: str) -> Callable[[FactRef], Any]:
        """``ref -> data`` (or an ``Unreported`` marker) for one entity."""
        tables = self.tables

        def fact(ref: FactRef) -> Any:
            table = tables.get(ref)
            return table.get(ekey, ABSENT) if table is not None else ABSENT

        return fact

    def _raw(self, ekey: str) -> Callable[[Leaf], Any]:
        tables = self._leaf_tables
        return lambda leaf: tables[id(leaf)](ekey, ABSENT)

    def _data(self, ekey: str) -> Callable[[FactRef], Any]:
        raw = self.fact(ekey)

        def data(ref: FactRef) -> Any:
            v = raw(ref)
            return MISSING if v.__class__ is Unreported else v

        return data

    def _render(self, template: Template, entity: Entity, ekey: str) -> str:
        if template.constant:
            return template.text
        return template.fn(entity.data, self.compiled.check_info, self._data(ekey) if template.uses_facts else None)

    def passed_message(self, entity: Entity, ekey: str) -> str:
        template = self.compiled.passed
        return "" if template is None else self._render(template, entity, ekey)

    def not_applicable_result(self, entity: Entity, ref: str, ekey: str) -> CheckResult:
        """The result for an entity the check's filter/exclude does not select."""
        message = self._not_applicable_message(entity, ekey, False)
        return CheckResult(self.compiled.check.id, ref, NOT_APPLICABLE, message)

    def _not_applicable_message(self, entity: Entity, ekey: str, by_rule: bool) -> str:
        template = self.compiled.not_applicable
        if template is not None:
            return self._render(template, entity, ekey)
        if not by_rule:
            return NOT_SELECTED_MESSAGE
        plan = self.compiled.applicable
        reasons = _explain(plan, self._raw(ekey), True, self.fact(ekey))[1] if plan is not None else []
        return "not applicable: " + ("; ".join(reasons) if reasons else "the applicable rule is false")

    def failed_message(self, entity: Entity, ekey: str) -> str:
        """``failedMessage`` rendered, or the default: which conditions failed, with the values they saw."""
        template = self.compiled.failed
        if template is not None:
            return self._render(template, entity, ekey)
        plan = self.compiled.rule
        if plan is None:  # pragma: no cover - a check with a compile error never fails
            return "the rule is not satisfied"
        if self.compiled.fact_valued:  # the message depends on the rule values too: not memoised
            return "; ".join(_explain(plan, self._raw(ekey), True, self.fact(ekey))[1]) or "the rule is not satisfied"
        if isinstance(plan, Leaf):
            # One condition: the message depends on the value alone; memoised (the generated loop reads the
            # same memo with the same key before calling here).
            table_get, path_get = self._leaf_access[0]
            actual = path_get(table_get(ekey, ABSENT))
            key = memo_key(actual)
            message = self.failed_memo.get(key) if key is not None else None
            if message is None:
                message = "; ".join(_explain(plan, self._raw(ekey), True)[1]) or "the rule is not satisfied"
                if key is not None and len(self.failed_memo) < MEMO_LIMIT:
                    self.failed_memo[key] = message
            return message
        # Several conditions: memoised on the values they all see (``plan.memo_key``, as the generated loop).
        key_parts: tuple[Any, ...] | None = ()
        for table_get, path_get in self._leaf_access:
            v = table_get(ekey, ABSENT)
            part = memo_key(v if v.__class__ is Unreported else path_get(v))
            if part is None:
                key_parts = None
                break
            key_parts += part
        key = key_parts
        if key is not None:
            cached = self.failed_memo.get(key)
            if cached is not None:
                return cached
        tables = self._leaf_tables
        unusable: list[Leaf] = []

        def raw(leaf: Leaf) -> Any:
            v = tables[id(leaf)](ekey, ABSENT)
            if v.__class__ is Unreported:
                unusable.append(leaf)
            return v

        message = "; ".join(_explain(plan, raw, True)[1]) or "the rule is not satisfied"
        if unusable:
            message += "; also not reported: " + self.unreported(ekey)[0]
        if key is not None and len(self.failed_memo) < MEMO_LIMIT:
            self.failed_memo[key] = message
        return message

    def unreported(self, ekey: str, ref_gets: Sequence[tuple[FactRef, Callable[..., Any]]] | None = None,
                   subject: str = "") -> tuple[str, tuple[str, ...], str]:
        """``(text, missing, message)`` for the unusable facts among ``ref_gets`` (default: the rule's refs).

        Each ``missing`` entry reads ``"<ref> (not collected)"`` or ``"<ref> (expired at <timestamp>)"``;
        ``message`` is the not-reported message (``subject`` says for what, e.g. the applicable rule).
        """
        if ref_gets is None:
            ref_gets = self._rule_ref_gets
        signature = []
        for _ref, table_get in ref_gets:
            v = table_get(ekey, ABSENT)
            signature.append(v.expires_at if v.__class__ is Unreported else False)
        key = (id(ref_gets), subject, *signature)
        cached = self._unreported_memo.get(key)
        if cached is not None:
            return cached
        missing: list[str] = []
        for (ref, _get), mark in zip(ref_gets, signature):
            if mark is False:
                continue
            if mark is not None:
                reason = f"expired at {format_timestamp(mark)}"
            else:
                reason = self.absent_reasons.get(ref, "not collected")
            missing.append(f"{ref} ({reason})")
        text = "; ".join(missing)
        if not text and self.compiled.fact_valued:
            text = "a rule value's fact has nothing at its path"
        result = (text, tuple(missing), f"not reported{subject}: {text}" if text else "not reported")
        if len(self._unreported_memo) < MEMO_LIMIT:
            self._unreported_memo[key] = result
        return result

    def nr_slow(self, key: tuple[Any, ...], ekey: str) -> tuple[str, tuple[str, ...], str]:
        """The generated loop's not-reported memo miss: compute, remember (bounded), return."""
        result = self.unreported(ekey)
        if len(self.nr_memo) < MEMO_LIMIT:
            self.nr_memo[key] = result
        return result

    def not_reported_result(self, ref: str, ekey: str) -> CheckResult:
        """The result when the rule's answer depends on facts that are absent or expired."""
        return self._not_reported(ref, ekey, self._rule_ref_gets, "")

    def _not_reported(self, ref: str, ekey: str, ref_gets: Sequence[tuple[FactRef, Callable[..., Any]]],
                      subject: str) -> CheckResult:
        _text, missing, message = self.unreported(ekey, ref_gets, subject)
        return CheckResult(self.compiled.check.id, ref, NOT_REPORTED, message, missing)




# --- the public single-evaluation API ----------------------------------------------------------------------
_COMPILED: dict[int, tuple[Check, CompiledCheck]] = {}


def compile_check(check: Check) -> CompiledCheck:
    """The compiled form of ``check``, built once per check object."""
    entry = _COMPILED.get(id(check))
    if entry is not None and entry[0] is check:
        return entry[1]
    compiled = CompiledCheck(check)
    if len(_COMPILED) >= 4096:
        _COMPILED.clear()
    _COMPILED[id(check)] = (check, compiled)
    return compiled


def check_problem(check: Check) -> str | None:
    """Why ``check`` can never be evaluated (invalid regex, path, operator...), or None."""
    return compile_check(check).error


def evaluate_check(
    check: Check, entity: Entity, facts: Mapping[tuple[str, FactRef], Fact], now: datetime | None = None
) -> CheckResult:
    """Evaluate one check for one entity. ``facts`` is keyed by ``(entity_key(entity ref), FactRef)``."""
    now = now or utcnow()
    compiled = compile_check(check)
    ref = str(entity.ref)
    ekey = entity_key(ref)
    tables = {r: {ekey: table_value(facts.get((ekey, r)), now)} for r in compiled.refs}
    bound = compiled.bind(tables, generate=False)  # one evaluation: closures, no code generation
    schedule = check.schedule
    runs_for = schedule is None or schedule.filter is None or selects(entity, schedule.filter, None)
    return bound.evaluate(entity, ref, ekey, runs_for and selects(entity, check.filter, check.exclude))
