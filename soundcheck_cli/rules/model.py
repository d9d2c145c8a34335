"""Values for rules and checks, as parsed from the ``soundcheck.checks`` config.

A rule is a tree: ``Condition`` leaves (``{factRef, path, operator, value}``) under ``AllOf`` / ``AnyOf`` / ``Not``.
Every node keeps the ``Location`` it was written at, for located error messages. A condition's ``value`` is a
constant, or a ``FactValue`` (``value: {factRef, path}``, Soundcheck's "Value Input" from a fact): the threshold
read from a fact of the same entity.

A check of ``type: manual`` (``Check.manual``) has no rule: its results are pushed (``results_store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple, Union

from soundcheck_cli.errors import Location
from soundcheck_cli.facts.model import FactRef


@dataclass(frozen=True, slots=True)
class FactValue:
    """A rule value read from a fact of the entity being evaluated: ``value: {factRef, path}``. An absent or
    expired fact, or a path that selects nothing, makes the condition not reported (never ``error``)."""

    fact_ref: FactRef
    path: str | None = None
    location: Location | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.fact_ref} {self.path or '$'}"


@dataclass(frozen=True, slots=True)
class Condition:
    fact_ref: FactRef
    path: str | None
    operator: str
    value: Any
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule
    location: Location | None = field(default=None, compare=False)


Rule = Union[Condition, AllOf, AnyOf, Not]


def is_fact_valued(rule: Rule | None) -> bool:
    """Whether any condition of ``rule`` reads its value from a fact (such rules take the engine's general path)."""
    if rule is None:
        return False
    if isinstance(rule, Condition):
        return isinstance(rule.value, FactValue)
    if isinstance(rule, Not):
        return is_fact_valued(rule.rule)
    return any(is_fact_valued(child) for child in rule.rules)


def rule_fact_refs(rule: Rule) -> set[FactRef]:
    """Every fact ref a rule reads (used for dependency order and not-reported messages)."""
    if isinstance(rule, Condition):
        if isinstance(rule.value, FactValue):
            return {rule.fact_ref, rule.value.fact_ref}
        return {rule.fact_ref}
    if isinstance(rule, Not):
        return rule_fact_refs(rule.rule)
    out: set[FactRef] = set()
    for child in rule.rules:
        out |= rule_fact_refs(child)
    return out


class CheckState(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    NOT_APPLICABLE = "not-applicable"
    NOT_REPORTED = "not-reported"
    ERROR = "error"
    EXEMPT = "exempt"  # soundcheck.exemptions: counts as passing for certification, shown with its reason


@dataclass(frozen=True, slots=True)
class CheckSchedule:
    """A check's ``schedule: {frequency, filter}`` (Soundcheck runs the check periodically, for the entities of
    ``filter``). A CLI run is "now": ``filter`` is the set of entities the check runs for (others get no result
    for it), ``frequency`` (``{cron: ...}`` or a duration, as written) is informational."""

    frequency: Any = None
    filter: Any = None  # catalog.filters.EntityFilter | None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    rule: Rule
    name: str | None = None
    description: str | None = None
    owner_entity_ref: str | None = None
    applicable: Rule | None = None
    filter: Any = None  # catalog.filters.EntityFilter | None
    exclude: Any = None  # catalog.filters.EntityFilter | None
    warning: bool = False
    passed_message: str | None = None
    failed_message: str | None = None
    not_applicable_message: str | None = None
    schedule: CheckSchedule | None = None
    location: Location | None = field(default=None, compare=False)
    manual: bool = False  # ``type: manual``: no rule (``rule`` is an always-true placeholder); results are pushed

    @property
    def title(self) -> str:
        return self.name or self.id

    def fact_refs(self) -> set[FactRef]:
        refs = rule_fact_refs(self.rule)
        if self.applicable is not None:
            refs |= rule_fact_refs(self.applicable)
        return refs


class CheckResult(NamedTuple):
    """The outcome of one check for one entity. A named tuple rather than a frozen dataclass: a run makes one per
    (entity, check) -- 200,000 for 10,000 entities x 20 checks -- and the engine's loops build each by one C call
    (``tuple.__new__``) instead of a constructor that sets five fields one by one (a quarter of the engine's
    instructions). Immutable, compared and hashed by value, as before."""

    check_id: str
    entity_ref: str
    state: CheckState
    message: str = ""
    # fact refs that were missing/expired when state is NOT_REPORTED, as strings with the reason
    missing_facts: tuple[str, ...] = ()
