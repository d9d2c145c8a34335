"""After a ``check`` run: compare with the last recorded state, record the run, emit the change events.

Order matters for "exactly once": the changes are computed against ``history:state`` and the new state is saved
before any event is delivered; undelivered events live on in the sinks' outboxes (``events.dispatch``), never as
a state left unsaved. So a second run with nothing changed emits nothing, and a change is emitted by the one run
that saw it.

Runs are serialised by a store lock (``FactStore.lock``), since two ``check`` processes recording at once would
both compare against the same old state. A run that cannot get the lock within ``LOCK_WAIT`` seconds records
nothing and says so (its report and exit code are unaffected).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import Any

from soundcheck_cli.errors import Problem, Problems, SoundcheckError
from soundcheck_cli.events.config import EventsSettings
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.history.changes import Changes, compare, compare_encoded
from soundcheck_cli.history.codec import (
    MessagePieces,
    States,
    covers,
    decode,
    encode,
    encode_run,
    from_report,
)
from soundcheck_cli.history.config import HistorySettings
from soundcheck_cli.history.store import MESSAGE_LIMIT, History, RunInfo, run_id
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState

LOCK_NAME = "history"
LOCK_WAIT = 30.0
_MESSAGE = attrgetter("message")
# Every state's message is kept (a passed or not-applicable result has one only when the check configures
# passedMessage/notApplicableMessage or a collector gave a reason): `soundcheck site` shows them on entity pages.
KEEP_MESSAGES = frozenset(CheckState)


@dataclass
class RunOutcome:
    run_id: str | None = None
    changes: Changes = field(default_factory=Changes)
    events: int = 0
    publish: Any = None  # events.dispatch.PublishSummary when events are enabled
    notify: Any = None  # events.notify.NotifySummary when a slack/teams/email sink is configured
    warnings: list[Problem] = field(default_factory=list)


def _selection(report: RunReport, settings: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if len(report.tracks) != len(settings.tracks):
        out["tracks"] = [t.id for t in report.tracks]
    if len(report.checks) != len(settings.checks):
        out["checks"] = [c.id for c in report.checks]
    return out


def record_and_publish(store: FactStore, settings: Any, report: RunReport, *, out: Callable[[str, str], None] | None = None,
                       http_options: Any = None, bus: Any = None, sleep: Callable[[float], None] = time.sleep,
                       catalog: Any = None, changes: bool | None = None) -> RunOutcome:
    """Record the run and publish its change events. ``catalog``: the entities of the catalog as loaded for the run
    (default: the run's own entities), where the notification sinks find each entity's owner and the owner's email
    or Slack channel. The changes are computed only when events are enabled (or ``changes=True``): nothing else
    reads them, and a first run over 100,000 entities x 20 checks has 2,000,000 of them (every result is new), which
    took ~500 MB and ~7 s for nothing."""
    history_settings: HistorySettings = getattr(settings, "history", None) or HistorySettings()
    events_settings: EventsSettings = getattr(settings, "events", None) or EventsSettings()
    outcome = RunOutcome()
    problems = Problems()
    if not history_settings.enabled and not events_settings.enabled:
        return outcome
    waited = 0.0
    while True:
        with store.lock(LOCK_NAME, expire_seconds=120) as acquired:
            if acquired:
                try:
                    want = events_settings.enabled if changes is None else changes
                    _record(store, settings, report, history_settings, outcome, want)
                except SoundcheckError as exc:  # a store problem: report it, never fail the check run for it
                    for p in exc.problems:
                        problems.warning(f"history not recorded: {p.message}", p.location)
                    outcome.warnings = problems.items
                    return outcome
                break
        if waited >= LOCK_WAIT:
            problems.warning(f"history not recorded: another soundcheck process held the store for {LOCK_WAIT:g}s")
            outcome.warnings = problems.items
            return outcome
        sleep(0.2)
        waited += 0.2
    if events_settings.enabled:
        from soundcheck_cli.events.dispatch import publish
        from soundcheck_cli.events.model import events_for

        events = events_for(outcome.changes, report.generated_at)
        outcome.events = len(events)
        outcome.publish = publish(store, events_settings, events, problems, out=out, http_options=http_options,
                                  bus=bus)
        from soundcheck_cli.events.notify import notify, notify_sinks

        if notify_sinks(events_settings):
            from soundcheck_cli.facts.model import format_timestamp

            outcome.notify = notify(store, events_settings, outcome.changes, report.check_results,
                                    list(catalog if catalog is not None else report.entities),
                                    format_timestamp(report.generated_at), problems, http_options=http_options)
    outcome.warnings = problems.items
    return outcome


def _record(store: FactStore, settings: Any, report: RunReport, history_settings: HistorySettings,
            outcome: RunOutcome, changes: bool = True) -> None:
    history = History(store)
    before_doc = history.state_doc()
    results = tuple(report.check_results)
    run = encode_run(results, report.track_results, report.tracks)
    if run is None:  # results not in evaluation's check-major order: the general path
        _record_general(history, settings, report, history_settings, outcome, changes)
        return
    memo: dict[str, States] = {}

    def before_states() -> States:
        if "before" not in memo:
            memo["before"] = decode(before_doc)
        return memo["before"]

    def run_states() -> States:
        if "run" not in memo:
            memo["run"] = from_report(results, report.track_results, report.tracks)
        return memo["run"]

    encoded = run.doc
    if changes:
        outcome.changes = compare_encoded(before_doc, encoded, before_states, run_states)
    if history_settings.enabled:
        runs = history.runs()
        rid = run_id(report.generated_at, {r.id for r in runs})
        values = run.values
        counts = dict(Counter(values))  # first-seen order, as counted one by one
        keep = {state.value for state in KEEP_MESSAGES}
        slot_of = run.slot_of

        def adds() -> Iterator[tuple[str, int, str]]:
            # Read while the run is packed (``MessagePieces``): each (check, entity slot) occurs once and each
            # check's results are together here, as encode_run checked.
            for i in compress(range(len(values)), map(_MESSAGE, results)):  # only results with a message
                if values[i] in keep:
                    r = results[i]
                    text = r.message
                    yield r.check_id, slot_of[i], text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT]

        packed = MessagePieces(adds())
        info = RunInfo(rid, report.generated_at, _selection(report, settings), counts, len(report.entities))
        history.add(info, States(), {}, history_settings.keep, encoded=encoded, packed_messages=packed,
                    keep_daily=history_settings.keep_daily)
        outcome.run_id = rid
    # A run that evaluated everything known before (the usual full run) leaves a state equal to its own: its
    # encoding is reused instead of merging and encoding 200,000 results a second time.
    covered = covers(encoded, before_doc)
    if covered is None:  # the entity tables differ: decide on the decoded states, as the general path does
        before, current = before_states(), run_states()
        covered = (before.checks.keys() <= current.checks.keys() and before.levels.keys() <= current.levels.keys()
                   and before.tracks.keys() <= current.tracks.keys())
    if covered:
        history.save_state(States(), encoded=encoded)
    else:
        history.save_state(before_states().merged(run_states()))


def _record_general(history: History, settings: Any, report: RunReport, history_settings: HistorySettings,
                    outcome: RunOutcome, changes: bool = True) -> None:
    before = history.state()
    current = from_report(report.check_results, report.track_results, report.tracks)
    if changes:
        outcome.changes = compare(before, current)
    encoded = encode(current)
    if history_settings.enabled:
        runs = history.runs()
        rid = run_id(report.generated_at, {r.id for r in runs})
        counts: dict[str, int] = {}
        messages: dict[tuple[str, str], str] = {}
        keep = {state.value for state in KEEP_MESSAGES}
        keys: dict[str, str] = {}
        for r in report.check_results:
            value = r.state._value_  # no descriptor call per result
            counts[value] = counts.get(value, 0) + 1
            if r.message and value in keep:
                key = keys.get(r.entity_ref)
                if key is None:
                    key = keys[r.entity_ref] = entity_key(r.entity_ref)
                messages[(r.check_id, key)] = r.message
        info = RunInfo(rid, report.generated_at, _selection(report, settings), counts, len(report.entities))
        history.add(info, current, messages, history_settings.keep, encoded=encoded,
                    keep_daily=history_settings.keep_daily)
        outcome.run_id = rid
    # A run that evaluated everything known before (the usual full run) leaves a state equal to its own: its
    # encoding is reused instead of merging and encoding 200,000 results a second time.
    if (before.checks.keys() <= current.checks.keys() and before.levels.keys() <= current.levels.keys()
            and before.tracks.keys() <= current.tracks.keys()):
        history.save_state(current, encoded=encoded)
    else:
        history.save_state(before.merged(current))
