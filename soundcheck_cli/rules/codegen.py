"""Generated Python code for checks: a rule as ``def rule(ekey)``, a whole batch loop as ``def run(...)``.

Why (issue 7 asks >= 450,000 evaluations/s): a check bound to one run's fact tables ``{entity key: fact data}``
evaluates fastest as straight-line code -- fact lookups, key walks and comparisons inlined, results built in place,
every constant a local variable. ``bench/bench_eval.py`` measures it against the closures (``engine.bind_closures``).

What is generated comes from one source each:

- operators: ``rules.operators.operator_form`` -- the same expression texts ``compile_operator`` builds its
  predicates from; a value the form does not handle goes to the plain operator (``OPERATORS[name]``), so the
  generated code, the predicates and the table agree (tests/test_rules_codegen.py compares them);
- memo keys of default failed messages: the expression ``rules.plan.MEMO_KEY``, inlined here and compiled into
  ``plan.memo_key`` for the engine's own path.

Only generated names appear in the source (keys, rule values, fact refs and messages travel as constants in its
namespace), so no configuration text is ever compiled. ``compiled_code`` compiles each distinct source once per
process, and once per user with ``rules.code_cache``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import TYPE_CHECKING, Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules import code_cache
from soundcheck_cli.rules.jsonpath import MISSING, step
from soundcheck_cli.rules.messages import MAX_VALUE_CHARS, Template
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.rules.operators import OPERATORS, EvaluationError, operator_form
from soundcheck_cli.rules.plan import (
    ABSENT,
    MEMO_KEY,
    MEMO_KEY_NAMES,
    NOT_SELECTED_MESSAGE,
    Leaf,
    Plan,
    Unreported,
    depth,
    leaves,
)

if TYPE_CHECKING:
    from soundcheck_cli.rules.engine import BoundCheck

FactTable = Mapping[str, Any]
RuleFn = Callable[[str], "bool | None"]
RunFn = Callable[[Sequence[tuple[Entity, str, str]], "Sequence[bool] | None"], list[CheckResult]]

# Generated functions nest two indentation levels per rule level; CPython allows 100.
MAX_GENERATED_DEPTH = 30


class Generator:
    """Emits Python source lines; every constant goes into ``ns`` under a generated name."""

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
        """``target = True | False | None`` (None: depends on an unusable fact), three-valued like the engine."""
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
        self.walk(leaf, ind + 1)
        self.test(leaf, target, ind + 1)

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
        """``target = <the operator on v>``: the operator's form (``operators.operator_form``) inlined."""
        cond = leaf.condition
        form = operator_form(cond.operator, cond.value)
        names = {name: self.const(name.lower(), value) for name, value in form.consts}
        names["G"] = self.const("o", OPERATORS[cond.operator])
        test = form.test.format(**names)
        if form.guard is None:
            self.emit(ind, f"{target} = {test}")
        else:
            self.emit(ind, "c = v.__class__")
            self.emit(ind, f"{target} = ({test}) if ({form.guard}) else {names['G']}(v, {names['E']})")


# --- compiling ---------------------------------------------------------------------------------------------
_CODE: dict[str, CodeType] = {}


def compiled_code(source: str, filename: str) -> CodeType:
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


def bind_generated(plan: Plan, tables: Mapping[FactRef, FactTable]) -> RuleFn:
    """``rule(ekey) -> True | False | None`` for ``plan`` over ``tables``, as generated code."""
    gen = Generator(tables)
    gen.emit(0, "def rule(ekey):")
    refs: list[FactRef] = []
    for leaf in leaves(plan):
        if leaf.condition.fact_ref not in refs:
            refs.append(leaf.condition.fact_ref)
    gen.prefetch(refs, 1)
    gen.node(plan, "r0", 1)
    gen.emit(1, "return r0")
    source = "\n".join(gen.lines) + "\n"
    exec(compiled_code(source, "<soundcheck rule>"), gen.ns)  # noqa: S102 - generated names only
    fn: RuleFn = gen.ns["rule"]
    fn.__doc__ = source  # for debugging: the generated code
    return fn


def generate_run(bound: BoundCheck) -> RunFn | None:
    """The whole ``BoundCheck.run`` loop as one generated function (rule inlined, results built in place).

    Only for checks without an ``applicable`` rule or compile error, and rules shallow enough to generate.
    """
    compiled = bound.compiled
    plan = compiled.rule
    if plan is None or compiled.error is not None or compiled.applicable is not None:
        return None
    if depth(plan) > MAX_GENERATED_DEPTH - 3:
        return None
    gen = Generator(bound.tables)
    check = compiled.check
    ns = gen.ns
    ns.update(CID=check.id, PASSED=CheckState.PASSED,
              FSTATE=CheckState.WARNING if check.warning else CheckState.FAILED,
              na=bound.not_applicable_result, fmsg=bound.failed_message,
              pmsg=bound.passed_message, memo_get=bound.failed_memo.get, EMPTY=(),
              NOT_REPORTED=CheckState.NOT_REPORTED, CI=compiled.check_info,
              nrm=bound.nr_memo.get, nr_slow=bound.nr_slow, EVAL_ERROR=EvaluationError,
              eres=bound.evaluation_error_result)
    ns.update(C=CheckResult, tnew=tuple.__new__)
    ns.update(MEMO_KEY_NAMES)

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
        under the key ``BoundCheck.failed_message`` stores it with (``memo_key`` of what each condition saw,
        from the facts already fetched), else worked out by ``fmsg``."""
        names = []
        for j, lf in enumerate(leaves(plan)):
            q = f"q{j}"
            names.append(q)
            gen.emit(ind, f"v = {gen.fact_vars[lf.condition.fact_ref]}")
            gen.emit(ind, "c = v.__class__")
            gen.emit(ind, "if c is not U:")
            gen.walk(lf, ind + 1)
            gen.emit(ind + 1, "c = v.__class__")
            gen.emit(ind, f"{q} = {MEMO_KEY}")
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
        """The per-entity code for a selected entity: fetch facts, evaluate, build the result. A value the
        rule cannot be evaluated on (``EvaluationError``) makes that entity's result ``error``."""
        gen.emit(ind, "try:")
        ind += 1
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
            gen.emit(ind + 1, "c = v.__class__")
            gen.emit(ind + 1, f"k = {MEMO_KEY}")
            gen.emit(ind + 1, "m = memo_get(k) if k is not None else None")
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
        gen.emit(ind - 1, "except EVAL_ERROR as exc:")
        gen.emit(ind, "append(eres(ref, exc))")

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
        ns["NA_STATE"], ns["NAMSG"] = CheckState.NOT_APPLICABLE, NOT_SELECTED_MESSAGE if na_t is None else na_t.text
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
        exec(compiled_code(source, "<soundcheck check>"), ns)  # noqa: S102 - generated names only
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - guarded by the depth limit
        return None
    fn = ns["run"]
    fn.__doc__ = source
    return fn  # type: ignore[no-any-return]
