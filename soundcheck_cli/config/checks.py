"""Parsing ``soundcheck.checks`` into ``rules.model.Check`` values, with located errors.

Rule syntax, as Soundcheck writes it (json-rules-engine shapes with Soundcheck's ``factRef``):

- a leaf condition ``{factRef, path, operator, value}`` (``factRef`` a string ``source:scope/name`` or a mapping
  ``{source, scope, name}``; ``path`` optional JSONPath, absent = the whole fact data);
- ``{all: [...]}``, ``{any: [...]}``, ``{not: rule}`` nested to any depth;
- a bare list, which means all (Soundcheck's docs write ``rule: [ {factRef: ...} ]``);
- a condition's ``value`` may be read from a fact of the same entity: ``value: {factRef, path}`` (Soundcheck's
  "Value Input" from a fact; a mapping with ``factRef`` and at most ``path`` is always read this way), validated
  here like a condition's own ``factRef`` and ``path``;
- ``type: manual`` declares a check without a rule: a person's verdict or a result computed elsewhere, pushed with
  ``soundcheck results push`` (``results_store``); without a pushed result it is ``not-reported``.

Everything that would only fail later at evaluation time and is knowable now is reported now: unknown operators,
bad fact refs, JSONPath syntax (checked by the engine's own ``rules.jsonpath`` compiler, which falls back to
jsonpath-ng's extended parser) and rule values the operator cannot use (``rules.operators.operand_problem``: a
regular expression for ``matches``, a number for ``lessThan``...). A ``matches`` pattern with nested quantifiers
is a warning (``rules.operators.regex_risk``).
"""

from __future__ import annotations

from typing import Any

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import EntityRef
from soundcheck_cli.config.fields import Fields, type_name
from soundcheck_cli.located.durations import parse_duration
from soundcheck_cli.located.nodes import loc_of, to_plain
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.jsonpath import path_problem
from soundcheck_cli.rules.model import AllOf, AnyOf, Check, CheckSchedule, Condition, FactValue, Not, Rule
from soundcheck_cli.rules.operators import OPERATOR_NAMES, REGEX_TIMEOUT, operand_problem, regex_risk

CHECK_KEYS = frozenset(
    {
        "id",
        "name",
        "description",
        "ownerEntityRef",
        "rule",
        "applicable",
        "filter",
        "exclude",
        "warning",
        "passedMessage",
        "failedMessage",
        "notApplicableMessage",
        "schedule",
        "type",
    }
)
CHECK_TYPES = ("rule", "manual")
VALUE_FACT_KEYS = frozenset({"factRef", "path"})
CONDITION_KEYS = frozenset({"factRef", "path", "operator", "value"})
COMBINATORS = ("all", "any", "not")


def parse_checks(
    node: Any, problems: Problems, where: Location | None = None
) -> tuple[list[Check], dict[str, Location | None]]:
    """The valid checks of ``soundcheck.checks``, and every declared id with its location.

    The declared ids include checks that had errors, so that a track naming one of them is not also reported as
    naming an undefined check (one mistake, one message).
    """
    checks: list[Check] = []
    declared: dict[str, Location | None] = {}
    if node is None:
        return checks, declared
    if not isinstance(node, list):
        problems.error(f"soundcheck.checks must be a list of checks, not {type_name(node)}", loc_of(node) or where)
        return checks, declared
    for index, item in enumerate(node):
        item_loc = loc_of(node, index) or where
        check = _parse_check(item, index, item_loc, problems, declared)
        if check is not None:
            checks.append(check)
    return checks, declared


def _parse_check(
    item: Any, index: int, item_loc: Location | None, problems: Problems, declared: dict[str, Location | None]
) -> Check | None:
    if not isinstance(item, dict):
        problems.error(f"check must be a mapping, not {type_name(item)}", item_loc)
        return None
    errors_before = len(problems.errors)
    fields = Fields(item, problems, f"check #{index + 1}", item_loc)
    check_loc = fields.loc
    check_id: str | None = None
    if not fields.has("id"):
        problems.error(fields.absent("id", "check without 'id'"), check_loc)
    else:
        raw_id = fields.raw("id")
        if not isinstance(raw_id, str) or not raw_id.strip():
            problems.error(f"check 'id' must be a non-empty string, not {type_name(raw_id)}", fields.value_loc("id"))
        else:
            check_id = raw_id
            fields.what = f"check '{check_id}'"
            if check_id in declared:
                first = declared[check_id]
                where = f" (first defined at {first})" if first else ""
                problems.error(f"duplicate check id '{check_id}'{where}", fields.value_loc("id"))
                return None
            declared[check_id] = fields.value_loc("id")

    parser = RuleParser(problems, fields.what)
    rule: Rule | None = None
    check_type = fields.raw("type")
    manual = False
    if check_type is not None and check_type not in CHECK_TYPES:
        fields.error(f"'type' must be one of {', '.join(CHECK_TYPES)}, not {check_type!r}", fields.value_loc("type"))
    elif check_type == "manual":
        manual = True
        rule = AllOf(())  # never evaluated: a manual check's results are pushed (evaluation.py)
        if fields.raw("rule") is not None:
            fields.error("a check of type 'manual' has no 'rule' (its results are pushed with "
                         "`soundcheck results push`)", fields.value_loc("rule"))
    if manual:
        pass  # the placeholder rule above
    elif not fields.has("rule") or fields.raw("rule") is None:
        fields.error(fields.absent("rule", "missing 'rule'"), check_loc)
    else:
        rule = parser.parse(fields.raw("rule"), fields.value_loc("rule"))
    applicable: Rule | None = None
    if fields.raw("applicable") is not None:
        applicable = parser.parse(fields.raw("applicable"), fields.value_loc("applicable"))

    name = fields.string("name")
    description = fields.string("description")
    owner = fields.string("ownerEntityRef")
    if owner is not None:
        try:
            EntityRef.parse(owner)
        except ValueError as exc:
            fields.warning(f"'ownerEntityRef': {exc}", fields.value_loc("ownerEntityRef"))
    entity_filter = EntityFilter.parse(fields.raw("filter"), problems, "filter")
    exclude = EntityFilter.parse(fields.raw("exclude"), problems, "exclude")
    warning = fields.boolean("warning")
    passed = fields.string("passedMessage")
    failed = fields.string("failedMessage")
    not_applicable = fields.string("notApplicableMessage")
    schedule = _parse_schedule(fields, problems)
    fields.warn_unknown(CHECK_KEYS)

    if check_id is None or rule is None or len(problems.errors) > errors_before:
        return None
    return Check(
        id=check_id,
        rule=rule,
        name=name,
        description=description,
        owner_entity_ref=owner,
        applicable=applicable,
        filter=entity_filter,
        exclude=exclude,
        warning=warning,
        passed_message=passed,
        failed_message=failed,
        not_applicable_message=not_applicable,
        schedule=schedule,
        location=check_loc,
        manual=manual,
    )


SCHEDULE_KEYS = frozenset({"frequency", "filter"})


def _parse_schedule(fields: Fields, problems: Problems) -> CheckSchedule | None:
    """``schedule: {frequency, filter}`` (Soundcheck's check schedule). ``filter`` limits the entities the check
    runs for; ``frequency`` (``{cron: '...'}`` or a duration) is validated and kept, informational for a CLI run,
    which is always "now"."""
    if not fields.has("schedule") or fields.raw("schedule") is None:
        return None
    node = fields.raw("schedule")
    where = fields.value_loc("schedule")
    if not isinstance(node, dict):
        fields.error(f"'schedule' must be a mapping {{frequency, filter}}, not {type_name(node)}", where)
        return None
    inner = Fields(node, problems, f"{fields.what}: schedule", where)
    frequency = inner.raw("frequency")
    if frequency is not None:
        frequency = to_plain(frequency)
        loc = inner.value_loc("frequency")
        if isinstance(frequency, dict) and "cron" in frequency:
            expr = frequency["cron"]
            extra = sorted(str(k) for k in frequency if k != "cron")
            if extra:
                inner.error(f"frequency: 'cron' cannot be combined with {', '.join(extra)}", loc)
            else:
                from croniter import croniter  # imported only for a cron schedule

                if not isinstance(expr, str) or not croniter.is_valid(expr):
                    inner.error(f"frequency: invalid cron expression {expr!r}", loc)
        else:
            parse_duration(inner.raw("frequency"), problems, f"{inner.what}: frequency", loc)
    entity_filter = EntityFilter.parse(inner.raw("filter"), problems, "schedule.filter", inner.value_loc("filter"))
    inner.warn_unknown(SCHEDULE_KEYS)
    return CheckSchedule(frequency=frequency, filter=entity_filter, location=where)


class RuleParser:
    """Parses one rule tree; ``what`` (e.g. ``"check 'x'"``) prefixes every message."""

    def __init__(self, problems: Problems, what: str) -> None:
        self.problems = problems
        self.what = what

    def error(self, message: str, location: Location | None) -> None:
        self.problems.error(f"{self.what}: {message}", location)

    def parse(self, node: Any, loc: Location | None) -> Rule | None:
        """A ``Rule``, or ``None`` after reporting every problem found in ``node`` (siblings are still checked)."""
        if isinstance(node, list):
            return self._list(node, "all", loc_of(node) or loc)
        if not isinstance(node, dict):
            self.error(
                f"a rule must be a condition {{factRef, path, operator, value}}, {{all: [...]}}, {{any: [...]}}, "
                f"{{not: ...}} or a list, not {type_name(node)}",
                loc,
            )
            return None
        loc = loc_of(node) or loc
        found = [key for key in COMBINATORS if key in node]
        if not found:
            return self._condition(node, loc)
        if len(found) > 1:
            self.error(f"a rule may have only one of 'all', 'any' and 'not' (found {', '.join(found)})", loc)
            return None
        key = found[0]
        leaf_keys = sorted(k for k in node if k in CONDITION_KEYS)
        if leaf_keys:
            self.error(f"'{key}' cannot be combined with condition keys ({', '.join(leaf_keys)}) in one mapping", loc)
            return None
        fields = Fields(node, self.problems, self.what, loc)
        fields.warn_unknown(COMBINATORS)
        child = node[key]
        child_loc = loc_of(node, key) or loc
        if key == "not":
            inner = self.parse(child, child_loc)
            return None if inner is None else Not(inner, loc)
        if not isinstance(child, list):
            self.error(f"'{key}' must be a list of rules, not {type_name(child)}", child_loc)
            return None
        return self._list(child, key, loc_of(child) or child_loc)

    def _list(self, items: list[Any], key: str, loc: Location | None) -> Rule | None:
        if not items:
            # json-rules-engine: all([]) is true and any([]) is false; almost certainly a mistake, so say so.
            self.problems.warning(f"{self.what}: empty '{key}' list of rules", loc)
        children = [self.parse(item, loc_of(items, index) or loc) for index, item in enumerate(items)]
        if any(child is None for child in children):
            return None
        rules = tuple(child for child in children if child is not None)
        return AnyOf(rules, loc) if key == "any" else AllOf(rules, loc)

    def _condition(self, node: dict[str, Any], loc: Location | None) -> Condition | None:
        fields = Fields(node, self.problems, self.what, loc)
        ok = True

        fact_ref: FactRef | None = None
        if fields.raw("factRef") is None:
            fields.error(fields.absent("factRef", "condition without 'factRef'"), loc)
            ok = False
        else:
            try:
                fact_ref = FactRef.parse(fields.raw("factRef"))
            except ValueError as exc:
                fields.error(str(exc), fields.value_loc("factRef"))
                ok = False

        operator = fields.raw("operator")
        if operator is None:
            fields.error(fields.absent("operator", "condition without 'operator'"), loc)
            ok = False
        elif not isinstance(operator, str):
            fields.error(f"'operator' must be a string, not {type_name(operator)}", fields.value_loc("operator"))
            ok = False
        elif operator not in OPERATOR_NAMES:
            valid = ", ".join(sorted(OPERATOR_NAMES))
            fields.error(f"unknown operator '{operator}' (valid operators: {valid})", fields.value_loc("operator"))
            ok = False

        path = fields.raw("path")
        if path is not None:
            if not isinstance(path, str):
                fields.error(f"'path' must be a JSONPath string, not {type_name(path)}", fields.value_loc("path"))
                ok = False
            else:
                # The engine's own compiler: what it accepts is exactly what is valid here, and the path is then
                # compiled once, ahead of evaluation.
                problem = path_problem(path)
                if problem is not None:
                    fields.error(problem, fields.value_loc("path"))
                    ok = False

        if not fields.has("value"):
            fields.error(fields.absent("value", "condition without 'value'"), loc)
            ok = False
        value = to_plain(fields.raw("value"))
        if isinstance(value, dict) and "factRef" in value and set(value) <= VALUE_FACT_KEYS:
            fact_value = self._fact_value(fields.raw("value"), fields.value_loc("value"))
            fields.warn_unknown(CONDITION_KEYS)
            if not ok or fact_ref is None or fact_value is None:
                return None
            return Condition(fact_ref=fact_ref, path=path, operator=operator, value=fact_value, location=loc)
        if fields.has("value") and isinstance(operator, str) and operator in OPERATOR_NAMES:
            # The engine's own check of the rule value (a number for lessThan..., a valid regular expression for
            # matches): what `check` would report as `error` for every entity is reported here, located.
            problem = operand_problem(operator, value)
            if problem is not None:
                engine_words = f"invalid regular expression {value!r}: "
                if problem.startswith(engine_words):  # the wording validate has always used for a bad pattern
                    problem = f"invalid regular expression '{value}' for operator 'matches': {problem[len(engine_words):]}"
                fields.error(problem, fields.value_loc("value"))
                ok = False
            elif operator == "matches":
                risk = regex_risk(value)
                if risk is not None:
                    fields.warning(f"regular expression {value!r}: {risk}; each search is stopped after "
                                   f"{REGEX_TIMEOUT:g} s and that entity's result is 'error'",
                                   fields.value_loc("value"))

        fields.warn_unknown(CONDITION_KEYS)
        if not ok or fact_ref is None:
            return None
        return Condition(fact_ref=fact_ref, path=path, operator=operator, value=value, location=loc)

    def _fact_value(self, node: Any, loc: Location | None) -> FactValue | None:
        """``value: {factRef, path}``: the rule value read from a fact of the entity, validated as a condition's
        own ``factRef`` and ``path`` are (the fact itself is only known per entity, at evaluation)."""
        fields = Fields(node, self.problems, f"{self.what}: value", loc_of(node) or loc)
        try:
            ref = FactRef.parse(fields.raw("factRef"))
        except ValueError as exc:
            fields.error(str(exc), fields.value_loc("factRef"))
            return None
        path = fields.raw("path")
        if path is not None:
            if not isinstance(path, str):
                fields.error(f"'path' must be a JSONPath string, not {type_name(path)}", fields.value_loc("path"))
                return None
            problem = path_problem(path)
            if problem is not None:
                fields.error(problem, fields.value_loc("path"))
                return None
        return FactValue(ref, path, loc_of(node) or loc)
