"""What happened to each (entity, fact) in a collection run, and the per-collector summary the CLI prints.

A collector built on ``EntityCollector`` reports one ``Outcome`` per (entity, fact ref) it was asked for:
collected (a fact), absent (the API answered "no such object": a fact whose data is ``null``, with the reason),
not-applicable (the entity lacks what the fact needs, e.g. the ``pagerduty.com/service-id`` annotation) or failed
(the earlier fact is kept). The runner adds fresh (still valid, not fetched) and not-done (interrupted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

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

    def __str__(self) -> str:
        text = f"{self.entity_ref} {self.fact_ref}: {self.kind.value}"
        return f"{text} ({self.reason})" if self.reason else text


class CollectorStatus(str, Enum):
    OK = "ok"  # ran; see the counts
    SKIPPED = "skipped"  # configured but cannot run (e.g. no token): a warning, its facts stay not-reported
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
        """No due fact failed or was left undone, and the collector could run (or was merely skipped)."""
        return self.status is not CollectorStatus.FAILED and self.failed == 0 and self.not_done == 0

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

    def render(self, max_details: int = 20) -> str:
        """Plain text: one line per collector, then why facts were not collected (grouped by reason)."""
        lines = ["Collection summary" + (f" (shard {self.shard}):" if self.shard else ":")]
        if not self.collectors:
            lines.append("  no collectors configured (soundcheck.collectors in the app-config)")
        for summary in self.collectors:
            lines.append("  " + summary.line())
            by_reason: dict[tuple[str, str | None], list[Outcome]] = {}
            for outcome in summary.details:
                if outcome.kind is OutcomeKind.NOT_DONE:
                    continue
                by_reason.setdefault((outcome.kind.value, outcome.reason), []).append(outcome)
            for shown, ((kind, reason), outcomes) in enumerate(by_reason.items()):
                if shown >= max_details:
                    lines.append(f"    ... and {len(by_reason) - shown} more reasons")
                    break
                refs = sorted({o.entity_ref for o in outcomes})
                who = ", ".join(refs[:3]) + (f" and {len(refs) - 3} more" if len(refs) > 3 else "")
                lines.append(f"    {kind}: {reason or 'no reason given'} [{who}]")
        if self.interrupted:
            not_done = self.count(OutcomeKind.NOT_DONE)
            lines.append(f"  interrupted: {not_done} facts not collected; the facts collected before are saved")
        return "\n".join(lines)
