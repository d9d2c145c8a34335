"""What happened to each (entity, fact) in a collection run, and the per-collector summary the CLI prints.

A collector built on ``EntityCollector`` reports one ``Outcome`` per (entity, fact ref) it was asked for:
collected (a fact), absent (the API answered "no such object": a fact whose data is ``null``, with the reason),
not-applicable (the entity lacks what the fact needs, e.g. the ``pagerduty.com/service-id`` annotation) or failed
(the earlier fact is kept). The runner adds fresh (still valid, not fetched) and not-done (interrupted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from soundcheck_cli.errors import Problem
from soundcheck_cli.facts.model import Fact, FactRef, utcnow


class OutcomeKind(str, Enum):
    COLLECTED = "collected"
    ABSENT = "absent"
    FRESH = "fresh"
    NOT_APPLICABLE = "not-applicable"
    FAILED = "failed"
    NOT_DONE = "not-done"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    entity_ref: str
    fact_ref: FactRef
    reason: str | None = None
    fact: Fact | None = None  # set for COLLECTED and ABSENT: what the runner stores
    # ``reason`` with the entity-specific parts (annotation values, the entity's name...) replaced by ``…``: the
    # cause, which the summary groups on (set by the runner, ``with_template``).
    template: str | None = None

    @classmethod
    def collected(cls, fact: Fact) -> Outcome:
        return cls(OutcomeKind.COLLECTED, fact.entity_ref, fact.fact_ref, None, fact)

    @classmethod
    def absent(cls, entity_ref: str, fact_ref: FactRef, reason: str) -> Outcome:
        # The object does not exist: recorded as a fact with no data, so checks fail on it (rather than passing on
        # a stale copy) and the next run does not ask again before the fact is due.
        return cls(OutcomeKind.ABSENT, entity_ref, fact_ref, reason, Fact(fact_ref, entity_ref, None, utcnow()))

    @classmethod
    def not_applicable(cls, entity_ref: str, fact_ref: FactRef, reason: str) -> Outcome:
        return cls(OutcomeKind.NOT_APPLICABLE, entity_ref, fact_ref, reason)

    @classmethod
    def failed(cls, entity_ref: str, fact_ref: FactRef, reason: str) -> Outcome:
        return cls(OutcomeKind.FAILED, entity_ref, fact_ref, reason)

    def with_template(self, entity_values: Iterable[str]) -> Outcome:
        """This outcome with ``template`` set from ``entity_values`` (see ``reason_template``)."""
        if not self.reason:
            return self
        return replace(self, template=reason_template(self.reason, entity_values))

    def __str__(self) -> str:
        text = f"{self.entity_ref} {self.fact_ref}: {self.kind.value}"
        return f"{text} ({self.reason})" if self.reason else text


# How every built-in collector words an HTTP "no such object" answer in an absent outcome's reason.
_NOT_FOUND = re.compile(r"\bHTTP (?:404|410)\b")


def is_not_found(outcome: Outcome) -> bool:
    """An absent outcome because the API answered HTTP 404/410 for the entity's object (its reason says
    ``HTTP 404``/``HTTP 410``, as ``http.client.NotFound`` and every built-in collector word it), as opposed to an
    absence the collector found itself (a file missing from a checkout). The runner holds these back while a block
    has collected nothing: all of them at once usually means a wrong base URL (``runner._Lookups``)."""
    return outcome.kind is OutcomeKind.ABSENT and bool(outcome.reason) and _NOT_FOUND.search(outcome.reason) is not None


class CollectorStatus(str, Enum):
    OK = "ok"  # ran; see the counts
    # configured but cannot run (e.g. no token): an error, and ``collect`` fails (exit 1) -- a collector that is
    # not wanted is switched off with ``enabled: false`` (DISABLED) instead
    SKIPPED = "skipped"
    DISABLED = "disabled"  # ``enabled: false`` in its config: not run, on purpose
    NOT_INSTALLED = "not-installed"  # configured but no such collector is installed: a warning
    FAILED = "failed"  # could not run at all (e.g. crashed while planning)


@dataclass
class CollectorSummary:
    """Counts per outcome for one collector, the reasons of everything not collected, and the request count."""

    collector_id: str
    status: CollectorStatus = CollectorStatus.OK
    reason: str | None = None
    total: int = 0  # (entity, fact) pairs the collector's configs select
    counts: dict[OutcomeKind, int] = field(default_factory=lambda: {k: 0 for k in OutcomeKind})
    details: list[Outcome] = field(default_factory=list)  # every outcome that is not collected/fresh
    requests: int = 0
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1
        if outcome.kind not in (OutcomeKind.COLLECTED, OutcomeKind.FRESH):
            self.details.append(outcome)

    def count(self, kind: OutcomeKind) -> int:
        return self.counts[kind]

    @property
    def collected(self) -> int:
        return self.counts[OutcomeKind.COLLECTED]

    @property
    def fresh(self) -> int:
        return self.counts[OutcomeKind.FRESH]

    @property
    def not_applicable(self) -> int:
        return self.counts[OutcomeKind.NOT_APPLICABLE]

    @property
    def absent(self) -> int:
        return self.counts[OutcomeKind.ABSENT]

    @property
    def failed(self) -> int:
        return self.counts[OutcomeKind.FAILED]

    @property
    def not_done(self) -> int:
        return self.counts[OutcomeKind.NOT_DONE]

    @property
    def ok(self) -> bool:
        """No due fact failed or was left undone, and the collector ran (or was disabled on purpose, or is not
        installed: a warning). A collector skipped for missing credentials is not ok."""
        return (
            self.status not in (CollectorStatus.FAILED, CollectorStatus.SKIPPED)
            and self.failed == 0
            and self.not_done == 0
        )

    def line(self) -> str:
        if self.status is not CollectorStatus.OK:
            reason = (self.reason or "").removeprefix(f"collector {self.collector_id}: ")  # said once is enough
            return f"{self.collector_id}: {self.status.value}" + (f" ({reason})" if reason else "")
        parts = [
            f"{self.collected} collected",
            f"{self.fresh} fresh (skipped)",
            f"{self.not_applicable} not applicable",
            f"{self.failed} failed",
        ]
        if self.absent:
            parts.insert(1, f"{self.absent} absent")
        if self.not_done:
            parts.append(f"{self.not_done} not done (interrupted)")
        return f"{self.collector_id}: " + ", ".join(parts) + f"; {self.requests} requests in {self.seconds:.1f}s"


@dataclass
class CollectionSummary:
    """The result of one ``collect`` run. ``ok`` is False when some due fact failed or was not done."""

    collectors: list[CollectorSummary] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)  # collectors that could not run (missing credentials)
    interrupted: bool = False
    seconds: float = 0.0
    shard: str | None = None  # "I/N" when the run collected one shard's share (``--shard``)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(c.ok for c in self.collectors)

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.collectors)

    def collector(self, collector_id: str) -> CollectorSummary | None:
        for summary in self.collectors:
            if summary.collector_id == collector_id:
                return summary
        return None

    def count(self, kind: OutcomeKind) -> int:
        return sum(c.count(kind) for c in self.collectors)

    def render(self, max_details: int = 20, *, problems_only: bool = False) -> str:
        """Plain text: one line per collector, then why facts were not collected, grouped by cause (kind and
        reason template), failures first and each with its count and a few example entities.

        ``problems_only``: only the collectors that are not ok and their failures (what ``--quiet`` prints).
        """
        lines = ["Collection summary" + (f" (shard {self.shard}):" if self.shard else ":")]
        if not self.collectors:
            lines.append("  no collectors configured (soundcheck.collectors in the app-config)")
        for summary in self.collectors:
            if problems_only and summary.ok:
                continue
            lines.append("  " + summary.line())
            kinds = (OutcomeKind.FAILED,) if problems_only else _DETAIL_ORDER
            lines.extend("    " + line for line in group_lines(summary.details, kinds, max_details))
        if self.interrupted:
            not_done = self.count(OutcomeKind.NOT_DONE)
            lines.append(f"  interrupted: {not_done} facts not collected; the facts collected before are saved")
        return "\n".join(lines)


# Failures first: a run that reports "1 failed" always shows that failure, however many not-applicable reasons.
_DETAIL_ORDER = (OutcomeKind.FAILED, OutcomeKind.ABSENT, OutcomeKind.NOT_APPLICABLE)
_EXAMPLES = 3
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_MIN_SPECIFIC = 2  # shorter entity values (``a``, ``1``) would blank out unrelated text


def entity_values(annotations: Mapping[str, Any], *names: str) -> list[str]:
    """The values that make a reason specific to one entity: its annotation values (also each ``/`` part of
    ``org/repo``-like ones, and their percent-encoded forms) and ``names`` (entity ref, name)."""
    from urllib.parse import quote

    values: set[str] = set()
    for value in [*annotations.values(), *names]:
        if not isinstance(value, str):
            continue
        value = value.strip()
        parts = [value, *value.split("/")] if "/" in value else [value]
        for part in parts:
            if len(part) >= _MIN_SPECIFIC:
                values.add(part)
                values.add(quote(part, safe=""))
    return sorted(values, key=len, reverse=True)


def reason_template(reason: str, entity_values: Iterable[str] = ()) -> str:
    """``reason`` without what is specific to one entity: each of ``entity_values`` (longest first) and every
    quoted literal become ``…``, so "PagerDuty has no service 'P1'" and "... 'P2'" are one cause."""
    text = reason
    for value in entity_values:
        if value and value in text:
            text = text.replace(value, "…")
    return _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], text)


def group_lines(details: Iterable[Outcome], kinds: Iterable[OutcomeKind], max_groups: int = 20) -> list[str]:
    """One line per cause among ``details`` of ``kinds`` (in that order; within a kind, most frequent first):
    ``failed: <template> (12 facts) [component:default/a (<its reason>); ... and 9 more]``. At most ``max_groups`` lines per
    kind, then a line counting the causes left out."""
    groups: dict[OutcomeKind, dict[str, list[Outcome]]] = {}
    for outcome in details:
        cause = outcome.template or outcome.reason or "no reason given"
        groups.setdefault(outcome.kind, {}).setdefault(cause, []).append(outcome)
    lines: list[str] = []
    for kind in kinds:
        causes = sorted(groups.get(kind, {}).items(), key=lambda item: -len(item[1]))  # stable: arrival order
        for shown, (cause, outcomes) in enumerate(causes):
            if shown >= max_groups:
                rest = causes[shown:]
                lines.append(f"... and {len(rest)} more {kind.value} causes ({sum(len(o) for _, o in rest)} facts)")
                break
            refs = list(dict.fromkeys(o.entity_ref for o in outcomes))
            examples = []
            for ref in refs[:_EXAMPLES]:
                first = next(o for o in outcomes if o.entity_ref == ref)
                # the concrete reason beside its entity when the cause had something taken out
                specific = first.reason if first.reason and first.reason != cause else None
                examples.append(f"{ref} ({specific})" if specific else ref)
            more = f" and {len(refs) - _EXAMPLES} more" if len(refs) > _EXAMPLES else ""
            count = f"{len(outcomes)} fact" + ("s" if len(outcomes) > 1 else "")
            lines.append(f"{kind.value}: {cause} ({count}) [{'; '.join(examples)}{more}]")
    return lines
