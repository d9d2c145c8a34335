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

Speed (issue 7 asks >= 450,000 evaluations/s): a check is compiled once -- paths to accessors, operators to
predicates specialised on the rule value -- and bound to one run's per-fact-ref tables
``{entity key: fact data}``. Binding generates the check's whole batch loop as Python source: fact lookups,
key walks and comparisons inlined, results built in place, every constant a local variable. Only generated
names appear in that source (keys, rule values, fact refs and messages travel as constants in its namespace),
so no configuration text is ever compiled; rules too deep to generate, and single evaluations
(``evaluate_check``), use equivalent closures. Default messages are worked out on a slower path, only for the
results that need them, and memoised on the values the conditions saw.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import CodeType
from typing import Any

from soundcheck_cli.catalog.filters import selects
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.interface import entity_key
from soundcheck_cli.facts.model import Fact, FactRef, format_timestamp, utcnow
from soundcheck_cli.rules import code_cache
from soundcheck_cli.rules.jsonpath import MISSING, Accessor, PathError, compile_path, step
from soundcheck_cli.rules.messages import MAX_VALUE_CHARS, Template, compile_template, describe_value
from soundcheck_cli.rules.model import AllOf, AnyOf, Check, CheckResult, CheckState, Condition, Not, Rule
from soundcheck_cli.rules.operators import NUMERIC_OPERATORS, OperatorError, compile_operator, compile_regex, is_number

# --- fact tables -------------------------------------------------------------------------------------------


class Unreported:
    """Marks a fact a check needs but cannot use: never collected (``expires_at`` None) or expired.

    One class for both so that the hot path needs a single ``v.__class__ is Unreported`` test.
    """

    __slots__ = ("expires_at",)

    def __init__(self, expires_at: datetime | None = None) -> None:
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return "ABSENT" if self.expires_at is None else f"EXPIRED({format_timestamp(self.expires_at)})"


ABSENT = Unreported()

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

NOT_SELECTED_MESSAGE = "not applicable: the check's filter does not select this entity"


# --- plans: a rule with its paths and operators compiled -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Leaf:
    condition: Condition
    accessor: Accessor
    test: Callable[[Any], bool]  # operator predicate on the path's value
    # Pieces of the default message, worked out once: ``<head><actual value><tail>``.
    head: str = ""
    fail_tail: str = ""
    hold_tail: str = ""


@dataclass(frozen=True, slots=True)
class Branch:
    kind: str  # "all" | "any" | "not"
    children: tuple[Plan, ...]


Plan = Leaf | Branch


def compile_plan(rule: Rule) -> Plan:
    """Compile paths and operators of ``rule`` once; raises ``PathError``/``OperatorError``."""
    if isinstance(rule, Condition):
        accessor, test = compile_path(rule.path), compile_operator(rule.operator, rule.value)
        value = describe_value(rule.value)
        return Leaf(rule, accessor, test, head=f"{rule.fact_ref}: {rule.path or '$'} is ",
                    fail_tail=f", expected {rule.operator} {value}", hold_tail=f", which is {rule.operator} {value}")
    if isinstance(rule, Not):
        return Branch("not", (compile_plan(rule.rule),))
    if isinstance(rule, AllOf):
        return Branch("all", tuple(compile_plan(r) for r in rule.rules))
    if isinstance(rule, AnyOf):
        return Branch("any", tuple(compile_plan(r) for r in rule.rules))
    raise OperatorError(f"unsupported rule node {type(rule).__name__}")


def _leaves(plan: Plan, out: list[Leaf]) -> list[Leaf]:
    if isinstance(plan, Leaf):
        out.append(plan)
    else:
        for child in plan.children:
            _leaves(child, out)
    return out


# A bound rule evaluates to True, False or None (None: depends on a fact that is absent or expired).
RuleFn = Callable[[str], "bool | None"]


def evaluate_plan(plan: Plan, fact: Callable[[FactRef], Any]) -> bool | None:
    """Reference (slow, unoptimised) evaluation of a plan; ``fact(ref)`` returns data or an ``Unreported``."""
    if isinstance(plan, Leaf):
        v = fact(plan.condition.fact_ref)
        if v.__class__ is Unreported:
            return None
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


# --- binding, way 2: generated code ---------------------------------------------------------------------------
class _Gen:
    """Emits the body of ``def rule(ekey)``; every constant goes into ``ns`` under a generated name."""

    def __init__(self, tables: Mapping[FactRef, FactTable]) -> None:
        self.tables = tables
        self.ns: dict[str, Any] = {"ABSENT": ABSENT, "U": Unreported, "M": MISSING, "step": step}
        self.lines: list[str] = []
        self.n = 0
        self._table_names: dict[FactRef, str] = {}
        self.fact_vars: dict[FactRef, str] = {}  # prefetched ``ref -> local variable`` holding its data

    def prefetch(self, refs: Sequence[FactRef], ind: int) -> None:
        """Look each fact up once per entity, before the rule (conditions on the same fact share it)."""
        for ref in refs:
            name = self.table(ref).replace("g", "f", 1)
            self.emit(ind, f"{name} = {self.table(ref)}(ekey, ABSENT)")
            self.fact_vars[ref] = name

    def const(self, prefix: str, value: Any) -> str:
        self.n += 1
        name = f"{prefix}{self.n}"
        self.ns[name] = value
        return name

    def var(self) -> str:
        self.n += 1
        return f"r{self.n}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def table(self, ref: FactRef) -> str:
        name = self._table_names.get(ref)
        if name is None:
            name = self.const("g", self.tables.get(ref, {}).get)
            self._table_names[ref] = name
        return name

    def node(self, plan: Plan, target: str, ind: int) -> None:
        if isinstance(plan, Leaf):
            self.leaf(plan, target, ind)
        elif plan.kind == "not":
            inner = self.var()
            self.node(plan.children[0], inner, ind)
            self.emit(ind, f"{target} = None if {inner} is None else not {inner}")
        else:
            decisive = "True" if plan.kind == "any" else "False"
            self.emit(ind, f"{target} = {'False' if decisive == 'True' else 'True'}")
            for i, child in enumerate(plan.children):
                inner = self.var()
                body = ind
                if i:
                    self.emit(ind, f"if {target} is not {decisive}:")
                    body = ind + 1
                self.node(child, inner, body)
                self.emit(body, f"if {inner} is {decisive}:")
                self.emit(body + 1, f"{target} = {decisive}")
                self.emit(body, f"elif {inner} is None:")
                self.emit(body + 1, f"{target} = None")

    def leaf(self, leaf: Leaf, target: str, ind: int) -> None:
        ref = leaf.condition.fact_ref
        fetched = self.fact_vars.get(ref)
        self.emit(ind, f"v = {fetched}" if fetched else f"v = {self.table(ref)}(ekey, ABSENT)")
        self.emit(ind, "if v.__class__ is U:")
        self.emit(ind + 1, f"{target} = None")
        self.emit(ind, "else:")
        body = ind + 1
        self.walk(leaf, body)
        self.test(leaf, target, body)

    def walk(self, leaf: Leaf, ind: int) -> None:
        """``v = <the leaf's path applied to v>`` (``leaf.accessor.get(v)``, inlined for simple paths)."""
        acc = leaf.accessor
        if acc.fast and acc.steps is not None:
            for key in acc.steps:
                k = self.const("k", key)
                if isinstance(key, str):
                    self.emit(ind, f"v = v.get({k}, M) if v.__class__ is dict else step(v, {k})")
                else:
                    self.emit(ind, f"v = step(v, {k})")
        else:
            self.emit(ind, f"v = {self.const('a', acc.get)}(v)")

    def test(self, leaf: Leaf, target: str, ind: int) -> None:
        """Inline the operator for the common rule values; anything else calls the compiled predicate.

        Each inline form is exactly the predicate's fast branch (``compile_operator``); every type it does not
        handle falls through to the predicate itself, so both always agree (tested on every operator row).
        """
        cond = leaf.condition
        op, e = cond.operator, cond.value
        t = self.const("t", leaf.test)
        negate = op in ("notEqual", "notIn", "doesNotContain")
        base = {"notEqual": "equal", "notIn": "in", "doesNotContain": "contains"}.get(op, op)
        if base == "equal" and isinstance(e, str):
            self.emit(ind, f"{target} = v {'!=' if negate else '=='} {self.const('e', str(e))}")
        elif base == "equal" and (e is None or isinstance(e, bool)):
            self.emit(ind, f"{target} = v is {'not ' if negate else ''}{self.const('e', e)}")
        elif (base == "equal" and is_number(e)) or (op in NUMERIC_OPERATORS and is_number(e)):
            symbol = {"equal": "!=" if negate else "==", "lessThan": "<", "lessThanInclusive": "<=",
                      "greaterThan": ">", "greaterThanInclusive": ">="}[base]
            self.emit(ind, "c = v.__class__")
            self.emit(ind, f"{target} = (v {symbol} {self.const('e', e)}) if (c is int or c is float) else {t}(v)")
        elif base == "in" and isinstance(e, list) and e and all(isinstance(i, str) for i in e):
            s = self.const("s", frozenset(str(i) for i in e))
            self.emit(ind, f"{target} = (v {'not in' if negate else 'in'} {s}) if v.__class__ is str else {t}(v)")
        elif base == "contains" and isinstance(e, str):
            self.emit(ind, "c = v.__class__")
            self.emit(ind, f"{target} = ({self.const('e', str(e))} {'not in' if negate else 'in'} v) "
                           f"if (c is str or c is list or c is dict) else {t}(v)")
        elif op == "matches" and isinstance(e, str):
            search = self.const("x", compile_regex(e).search)
            self.emit(ind, f"{target} = ({search}(v) is not None) if v.__class__ is str else {t}(v)")
        else:
            self.emit(ind, f"{target} = {t}(v)")


def _list_key(cls: type, value: Any) -> tuple[Any, Any] | None:
    """The memo key part of a non-scalar value a condition saw (``BoundCheck.failed_message``'s rule): a short
    list of strings (tags, topics...) keys as a tuple; anything else is not memoised (None)."""
    if cls is list and len(value) <= 16 and all(item.__class__ is str for item in value):
        return cls, tuple(value)
    return None


_CODE: dict[str, CodeType] = {}


def _compiled_code(source: str, filename: str) -> CodeType:
    """``compile`` once per distinct generated source: the source depends on the rule and messages only (the
    tables are passed in the namespace), so later calls with the same checks skip the compiler, and so do later
    runs when ``code_cache`` has a folder."""
    code = _CODE.get(source)
    if code is None:
        code = code_cache.load(source) if code_cache.enabled() else None
        if code is None:
            code = compile(source, filename, "exec")
            code_cache.save(source, code)
        if len(_CODE) < 1024:
            _CODE[source] = code
    return code


# Generated functions nest two indentation levels per rule level; CPython allows 100.
_MAX_GENERATED_DEPTH = 30


def _depth(plan: Plan) -> int:
    return 1 if isinstance(plan, Leaf) else 1 + max((_depth(c) for c in plan.children), default=0)


def bind_generated(plan: Plan, tables: Mapping[FactRef, FactTable]) -> RuleFn:
    gen = _Gen(tables)
    gen.emit(0, "def rule(ekey):")
    refs: list[FactRef] = []
    for leaf in _leaves(plan, []):
        if leaf.condition.fact_ref not in refs:
            refs.append(leaf.condition.fact_ref)
    gen.prefetch(refs, 1)
    gen.node(plan, "r0", 1)
    gen.emit(1, "return r0")
    source = "\n".join(gen.lines) + "\n"
    exec(_compiled_code(source, "<soundcheck rule>"), gen.ns)  # noqa: S102 - generated names only
    fn: RuleFn = gen.ns["rule"]
    fn.__doc__ = source  # for debugging: the generated code
    return fn


def bind_rule(plan: Plan, tables: Mapping[FactRef, FactTable]) -> RuleFn:
    """The fastest correct evaluator of ``plan`` over ``tables``."""
    if _depth(plan) <= _MAX_GENERATED_DEPTH:
        try:
            return bind_generated(plan, tables)
        except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - guarded by the depth limit
            pass
    return bind_closures(plan, tables)


RunFn = Callable[[Sequence[tuple[Entity, str, str]], "Sequence[bool] | None"], list[CheckResult]]


def generate_run(bound: BoundCheck) -> RunFn | None:
    """The whole ``BoundCheck.run`` loop as one generated function (rule inlined, results built in place).

    Only for checks without an ``applicable`` rule or compile error, and rules shallow enough to generate.
    """
    compiled = bound.compiled
    plan = compiled.rule
    if plan is None or compiled.error is not None or compiled.applicable is not None:
        return None
    if _depth(plan) > _MAX_GENERATED_DEPTH - 2:
        return None
    gen = _Gen(bound.tables)
    check = compiled.check
    ns = gen.ns
    ns.update(CID=check.id, PASSED=PASSED, FSTATE=WARNING if check.warning else FAILED,
              na=bound.not_applicable_result, unrep=bound.unreported, fmsg=bound.failed_message,
              pmsg=bound.passed_message, memo_get=bound._failed_memo.get, SCALARS=_SCALARS, EMPTY=(),
              NOT_REPORTED=NOT_REPORTED, CI=compiled.check_info,
              nrm=bound._nr_memo.get, nr_slow=bound._nr_slow, lkey=_list_key)
    ns.update(C=CheckResult, tnew=tuple.__new__)

    def result(ind: int, state: str, message: str, missing: str = "EMPTY") -> None:
        # ``CheckResult`` is a named tuple: built from its fields by one C call (its own ``__new__`` is Python)
        gen.emit(ind, f"append(tnew(C, (CID, ref, {state}, {message}, {missing})))")

    def templated(template: Template, name: str, fallback: str) -> str:
        if template.uses_facts:
            return fallback
        ns[name] = template.fn  # rendered in place: (entity data, check info, no fact lookup)
        return f"{name}(entity.data, CI, None)"

    def inline_template(template: Template, name: str, ind: int) -> bool:
        """``m = <template rendered>`` for the usual shape -- text around one ``{{ entity.<keys> }}`` -- with
        the lookup inlined; any value other than a short string renders through the template itself (``name``,
        put in the namespace by ``templated``). False when the template has another shape."""
        parts = template.parts
        lookups = [p for p in parts if not isinstance(p, str)]
        if template.uses_facts or len(lookups) != 1 or len(parts) > 3:
            return False
        lookup = lookups[0]
        if lookup.root != "entity" or not lookup.steps or not all(isinstance(k, str) for k in lookup.steps):
            return False
        at = parts.index(lookup)
        before, after = "".join(parts[:at]), "".join(parts[at + 1:])  # type: ignore[arg-type]
        rendered = templated(template, name, "")
        gen.emit(ind, "w = entity.data")
        for key in lookup.steps:
            k = gen.const("k", key)
            gen.emit(ind, f"w = w.get({k}, M) if w.__class__ is dict else (w.get({k}, M) "
                          f"if isinstance(w, dict) else M)")
        ns["MAXV"] = MAX_VALUE_CHARS
        text = " + ".join([*([gen.const("p", before)] if before else []), "w",
                           *([gen.const("p", after)] if after else [])])
        gen.emit(ind, f"m = ({text}) if (w.__class__ is str and len(w) <= MAXV) else {rendered}")
        return True

    def default_failure(ind: int) -> None:
        """``m = <the default failed message>`` of a rule of several conditions: looked up in the check's memo
        under the key ``BoundCheck.failed_message`` stores it with (built here from the facts already fetched),
        else worked out by ``fmsg``."""
        names = []
        for j, lf in enumerate(_leaves(plan, [])):
            q = f"q{j}"
            names.append(q)
            gen.emit(ind, f"v = {gen.fact_vars[lf.condition.fact_ref]}")
            gen.emit(ind, "if v.__class__ is U:")
            gen.emit(ind + 1, f"{q} = (v,)")
            gen.emit(ind, "else:")
            gen.walk(lf, ind + 1)
            gen.emit(ind + 1, "c = v.__class__")
            gen.emit(ind + 1, f"{q} = (c, v) if c in SCALARS else lkey(c, v)")
        present = " and ".join(f"{q} is not None" for q in names)
        gen.emit(ind, f"m = memo_get({' + '.join(names)}) if ({present}) else None")
        gen.emit(ind, "if m is None:")
        gen.emit(ind + 1, "m = fmsg(entity, ekey)")

    passed_t, failed_t = compiled.passed, compiled.failed
    if passed_t is None or passed_t.constant:
        ns["PMSG"] = "" if passed_t is None else passed_t.text
        passed_expr = "PMSG"
    else:
        passed_expr = templated(passed_t, "PT", "pmsg(entity, ekey)")

    def body(ind: int) -> None:
        """The per-entity code for a selected entity: fetch facts, evaluate, build the result."""
        gen.prefetch(compiled.rule_refs, ind)
        gen.node(plan, "r0", ind)
        gen.emit(ind, "if r0 is True:")
        if passed_t is not None and not passed_t.constant and inline_template(passed_t, "PT", ind + 1):
            result(ind + 1, "PASSED", "m")
        else:
            result(ind + 1, "PASSED", passed_expr)
        gen.emit(ind, "elif r0 is False:")
        if failed_t is not None and failed_t.constant:
            ns["FMSG"] = failed_t.text
            result(ind + 1, "FSTATE", "FMSG")
        elif failed_t is None and isinstance(plan, Leaf):
            # One condition: after the leaf, ``v`` is the value the operator saw; the default message is
            # memoised on it (the key is the one ``BoundCheck.failed_message`` stores).
            gen.emit(ind + 1, "m = memo_get(((v.__class__, v),)) if v.__class__ in SCALARS else None")
            gen.emit(ind + 1, "if m is None:")
            gen.emit(ind + 2, "m = fmsg(entity, ekey)")
            result(ind + 1, "FSTATE", "m")
        elif failed_t is not None and inline_template(failed_t, "FT", ind + 1):
            result(ind + 1, "FSTATE", "m")
        elif failed_t is not None:
            result(ind + 1, "FSTATE", templated(failed_t, "FT", "fmsg(entity, ekey)"))
        else:
            default_failure(ind + 1)
            result(ind + 1, "FSTATE", "m")
        gen.emit(ind, "else:")
        # not reported: the message depends only on which facts are absent/expired (memoised on that)
        marks = "".join(f"{gen.fact_vars[r]} if {gen.fact_vars[r]}.__class__ is U else False, "
                        for r in compiled.rule_refs)
        gen.emit(ind + 1, f"k = ({marks})")
        gen.emit(ind + 1, "u = nrm(k)")
        gen.emit(ind + 1, "if u is None:")
        gen.emit(ind + 2, "u = nr_slow(k, ekey)")
        result(ind + 1, "NOT_REPORTED", "u[2]", "u[1]")

    gen.emit(0, "def run(infos, selected):")  # the signature gets its defaults below
    gen.emit(1, "out = []")
    gen.emit(1, "append = out.append")
    gen.emit(1, "if selected is None:  # every entity selected")
    gen.emit(2, "for entity, ref, ekey in infos:")
    body(3)
    gen.emit(1, "else:")
    gen.emit(2, "for (entity, ref, ekey), sel in zip(infos, selected):")
    gen.emit(3, "if not sel:")
    na_t = compiled.not_applicable
    if na_t is None or na_t.constant:
        ns["NA_STATE"], ns["NAMSG"] = NOT_APPLICABLE, NOT_SELECTED_MESSAGE if na_t is None else na_t.text
        result(4, "NA_STATE", "NAMSG")
    else:
        gen.emit(4, "append(na(entity, ref, ekey))")
    gen.emit(4, "continue")
    body(3)
    gen.emit(1, "return out")
    # Every constant becomes a keyword default, i.e. a local variable (LOAD_FAST) inside the loop.
    used = sorted(name for name in set(re.findall(r"\b[A-Za-z_]\w*\b", "\n".join(gen.lines))) if name in ns)
    gen.lines[0] = "def run(infos, selected, *, " + ", ".join(f"{name}={name}" for name in used) + "):"
    source = "\n".join(gen.lines) + "\n"
    try:
        exec(_compiled_code(source, "<soundcheck check>"), ns)  # noqa: S102 - generated names only
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - guarded by the depth limit
        return None
    fn = ns["run"]
    fn.__doc__ = source
    return fn  # type: ignore[no-any-return]


# --- explanations (default messages) -----------------------------------------------------------------------
def describe_condition(condition: Condition, actual: Any, holds: bool) -> str:
    """``pagerduty:default/service: $.status is "disabled", expected equal "active"``."""
    value = describe_value(condition.value)
    tail = f", which is {condition.operator} {value}" if holds else f", expected {condition.operator} {value}"
    return f"{condition.fact_ref}: {condition.path or '$'} is {describe_value(actual)}{tail}"


def _explain(plan: Plan, raw: Callable[[Leaf], Any], want: bool) -> tuple[bool | None, list[str]]:
    """Evaluate ``plan`` and say why it is not ``want``, in one pass: ``(value, reasons)``."""
    if isinstance(plan, Leaf):
        v = raw(plan)
        if v.__class__ is Unreported:
            return None, []
        actual = plan.accessor.get(v)
        holds = plan.test(actual)
        if holds == want:
            return holds, []
        text = plan.head + describe_value(actual) + (plan.hold_tail if holds else plan.fail_tail)
        return holds, [text if want else "expected not: " + text]
    if plan.kind == "not":
        r, reasons = _explain(plan.children[0], raw, not want)
        return (None if r is None else not r), reasons
    return _combine(plan.kind, [_explain(child, raw, want) for child in plan.children], want)


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
    return _explain(plan, lambda leaf: fact(leaf.condition.fact_ref), want)[1]


# --- compiled and bound checks -----------------------------------------------------------------------------
def _ordered_refs(rule: Rule | None, out: list[FactRef]) -> list[FactRef]:
    if isinstance(rule, Condition):
        if rule.fact_ref not in out:
            out.append(rule.fact_ref)
    elif isinstance(rule, Not):
        _ordered_refs(rule.rule, out)
    elif rule is not None:
        for child in rule.rules:
            _ordered_refs(child, out)
    return out


class CompiledCheck:
    """A check compiled once: its fact refs, rule plans, message templates -- or why it cannot run."""

    __slots__ = ("check", "refs", "rule_refs", "applicable_refs", "error", "rule", "applicable",
                 "passed", "failed", "not_applicable", "check_info")

    def __init__(self, check: Check) -> None:
        self.check = check
        self.rule_refs = tuple(_ordered_refs(check.rule, []))
        self.applicable_refs = tuple(_ordered_refs(check.applicable, []))
        self.refs = tuple(dict.fromkeys(self.applicable_refs + self.rule_refs))
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


_MEMO_LIMIT = 4096  # distinct memoised messages per bound check
_SCALARS = frozenset({str, int, float, bool, type(None), type(MISSING)})


class BoundCheck:
    """A compiled check over one run's fact tables: ``evaluate`` one entity, or ``run`` many."""

    __slots__ = ("compiled", "tables", "absent_reasons", "rule", "applicable", "_leaf_access",
                 "_leaf_tables", "_rule_ref_gets", "_applicable_ref_gets", "_unreported_memo", "_failed_memo",
                 "_nr_memo",
                 "_run")

    def __init__(self, compiled: CompiledCheck, tables: Mapping[FactRef, FactTable],
                 absent_reasons: Mapping[FactRef, str], generate: bool = True) -> None:
        self.compiled = compiled
        self.tables = tables
        self.absent_reasons = absent_reasons
        empty: dict[str, Any] = {}
        # Pre-resolved table lookups (a FactRef hashes in Python code: keep that out of per-entity paths).
        leaves = _leaves(compiled.rule, []) if compiled.rule is not None else []
        self._leaf_access = tuple((tables.get(lf.condition.fact_ref, empty).get, lf.accessor.get) for lf in leaves)
        self._leaf_tables = {id(lf): tables.get(lf.condition.fact_ref, empty).get for lf in leaves}
        if compiled.applicable is not None:
            for lf in _leaves(compiled.applicable, []):
                self._leaf_tables[id(lf)] = tables.get(lf.condition.fact_ref, empty).get
        self._rule_ref_gets = tuple((r, tables.get(r, empty).get) for r in compiled.rule_refs)
        self._applicable_ref_gets = tuple((r, tables.get(r, empty).get) for r in compiled.applicable_refs)
        self._unreported_memo: dict[tuple[Any, ...], tuple[str, tuple[str, ...], str]] = {}
        self._failed_memo: dict[tuple[Any, ...], str] = {}  # values the conditions saw -> default message
        self._nr_memo: dict[tuple[Any, ...], tuple[str, tuple[str, ...], str]] = {}
        self._run = generate_run(self) if generate else None
        # With a generated ``run`` loop, ``rule``/``applicable`` serve only single ``evaluate`` calls: closures,
        # which need no compiling (same answers).
        ok = compiled.error is None
        bind = bind_rule if generate and self._run is None else bind_closures
        self.rule: RuleFn | None = bind(compiled.rule, tables) if ok and compiled.rule else None
        self.applicable: RuleFn | None = (
            bind(compiled.applicable, tables) if ok and compiled.applicable is not None else None
        )

    # --- evaluation -----------------------------------------------------------------------------------------
    def evaluate(self, entity: Entity, ref: str, ekey: str, selected: bool = True) -> CheckResult:
        """The result for one entity (``selected``: whether the check's filter/exclude selects it)."""
        compiled = self.compiled
        cid = compiled.check.id
        if not selected:
            return self.not_applicable_result(entity, ref, ekey)
        if compiled.error is not None:
            return CheckResult(cid, ref, ERROR, compiled.error)
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
        reasons = _explain(plan, self._raw(ekey), True)[1] if plan is not None else []
        return "not applicable: " + ("; ".join(reasons) if reasons else "the applicable rule is false")

    def failed_message(self, entity: Entity, ekey: str) -> str:
        """``failedMessage`` rendered, or the default: which conditions failed, with the values they saw."""
        template = self.compiled.failed
        if template is not None:
            return self._render(template, entity, ekey)
        plan = self.compiled.rule
        if plan is None:  # pragma: no cover - a check with a compile error never fails
            return "the rule is not satisfied"
        if isinstance(plan, Leaf):
            # One condition: the message depends on the value alone; memoised (the generated loop reads the
            # same memo with the same key before calling here).
            table_get, path_get = self._leaf_access[0]
            actual = path_get(table_get(ekey, ABSENT))
            key = ((actual.__class__, actual),) if actual.__class__ in _SCALARS else None
            message = self._failed_memo.get(key) if key is not None else None
            if message is None:
                message = "; ".join(_explain(plan, self._raw(ekey), True)[1]) or "the rule is not satisfied"
                if key is not None and len(self._failed_memo) < _MEMO_LIMIT:
                    self._failed_memo[key] = message
            return message
        # Several conditions: memoised on the values they all see (scalars, or short lists of strings).
        key_parts: list[Any] | None = []
        for table_get, path_get in self._leaf_access:
            v = table_get(ekey, ABSENT)
            if v.__class__ is Unreported:
                key_parts.append(v)  # type: ignore[union-attr]  # ABSENT is one object; expired ones are not
                continue
            actual = path_get(v)
            cls = actual.__class__
            if cls not in _SCALARS:
                if cls is list and len(actual) <= 16 and all(item.__class__ is str for item in actual):
                    actual = tuple(actual)  # tags, topics...: common enough to be worth a key
                else:
                    key_parts = None
                    break
            key_parts.append(cls)  # type: ignore[union-attr]  # 1, 1.0 and True hash alike but read differently
            key_parts.append(actual)  # type: ignore[union-attr]
        key = tuple(key_parts) if key_parts is not None else None
        if key is not None:
            cached = self._failed_memo.get(key)
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
        if key is not None and len(self._failed_memo) < _MEMO_LIMIT:
            self._failed_memo[key] = message
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
        result = (text, tuple(missing), f"not reported{subject}: {text}" if text else "not reported")
        if len(self._unreported_memo) < _MEMO_LIMIT:
            self._unreported_memo[key] = result
        return result

    def _nr_slow(self, key: tuple[Any, ...], ekey: str) -> tuple[str, tuple[str, ...], str]:
        """The generated loop's not-reported memo miss: compute, remember (bounded), return."""
        result = self.unreported(ekey)
        if len(self._nr_memo) < _MEMO_LIMIT:
            self._nr_memo[key] = result
        return result

    def not_reported_result(self, ref: str, ekey: str) -> CheckResult:
        """The result when the rule's answer depends on facts that are absent or expired."""
        return self._not_reported(ref, ekey, self._rule_ref_gets, "")

    def _not_reported(self, ref: str, ekey: str, ref_gets: Sequence[tuple[FactRef, Callable[..., Any]]],
                      subject: str) -> CheckResult:
        _text, missing, message = self.unreported(ekey, ref_gets, subject)
        return CheckResult(self.compiled.check.id, ref, NOT_REPORTED, message, missing)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run allocates its results.

    A run creates one ``CheckResult`` per evaluation and no reference cycles worth collecting; with the
    collector on, each allocation burst triggers collections that rescan every entity and fact held in memory,
    which made evaluation about twice as slow and erratic. Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    return bound.evaluate(entity, ref, ekey, selects(entity, check.filter, check.exclude))
