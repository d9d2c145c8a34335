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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from soundcheck_cli.errors import Problem, Problems, SoundcheckError
from soundcheck_cli.events.config import EventsSettings
from soundcheck_cli.facts.interface import FactStore
from soundcheck_cli.history.changes import Changes, compare_encoded
from soundcheck_cli.history.codec import States, covers, decode
from soundcheck_cli.history.config import HistorySettings
from soundcheck_cli.history.run_doc import RunEncoder
from soundcheck_cli.history.store import MESSAGE_LIMIT, History, RunInfo, run_id
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState

LOCK_NAME = "history"
LOCK_WAIT = 30.0
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
                       catalog: Any = None, changes: bool | None = None,
                       encoder: RunEncoder | None = None) -> RunOutcome:
    """Record the run and publish its change events. ``catalog``: the entities of the catalog as loaded for the run
    (default: the run's own entities), where the notification sinks find each entity's owner and the owner's email
    or Slack channel. The changes are computed only when events are enabled (or ``changes=True``): nothing else
    reads them, and a first run over 100,000 entities x 20 checks has 2,000,000 of them (every result is new), which
    took ~500 MB and ~7 s for nothing.

    ``encoder``: a ``RunEncoder`` already given every part of the run (``Recorder``), whose states, counts and
    messages are recorded; without one, ``report`` is encoded here as the run's one part. Either way ``report``
    gives the run's time, selection and entities, and its results are read only by the notification sinks."""
    history_settings, events_settings = _settings(settings)
    outcome = RunOutcome()
    problems = Problems()
    if not history_settings.enabled and not events_settings.enabled:
        return outcome
    if encoder is None:
        encoder = new_encoder(report)
        try:
            encoder.add(report)
        except BaseException:
            encoder.messages.close()
            raise
    waited = 0.0
    try:
        while True:
            with store.lock(LOCK_NAME, expire_seconds=120) as acquired:
                if acquired:
                    try:
                        want = events_settings.enabled if changes is None else changes
                        _record(store, settings, report, encoder, history_settings, outcome, want)
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
    finally:
        encoder.messages.close()
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


def _settings(settings: Any) -> tuple[HistorySettings, EventsSettings]:
    """The history and events settings of ``settings`` (their defaults when it has none)."""
    return (getattr(settings, "history", None) or HistorySettings(),
            getattr(settings, "events", None) or EventsSettings())


def new_encoder(head: RunReport) -> RunEncoder:
    return RunEncoder(head.tracks, frozenset(state.value for state in KEEP_MESSAGES), MESSAGE_LIMIT)


class Recorder:
    """``record_and_publish`` for a run given in parts (``app.reports``): with the history on and events off (the
    default), each part is encoded as it comes (``RunEncoder``) and dropped; with events on, the parts are kept
    and joined at the close, since the changes and notifications read every result."""

    def __init__(self, store_opener: Callable[[], Any], settings: Any, head: RunReport, **options: Any) -> None:
        self.open = store_opener
        self.settings = settings
        self.head = head
        self.options = options
        history_settings, events_settings = _settings(settings)
        self.enabled = history_settings.enabled or events_settings.enabled
        self.keep_parts = events_settings.enabled
        self.parts: list[RunReport] = []
        self.encoder = new_encoder(head) if self.enabled else None

    @property
    def PIECES(self) -> bool:  # the consumers' flag (``app.fanout``), read like their class attribute
        """With events on the parts themselves are kept: the run's parts must then be made in this process."""
        return not self.keep_parts

    def piece(self, part: RunReport) -> Any:
        return None if self.encoder is None else self.encoder.piece(part)

    def take(self, piece: Any) -> None:
        if self.encoder is not None:
            self.encoder.take(piece)

    def add(self, part: RunReport) -> None:
        if self.encoder is None:
            return
        self.encoder.add(part)
        if self.keep_parts:
            self.parts.append(part)

    def close(self, problems: Sequence[Any] = ()) -> RunOutcome:
        if self.encoder is None:
            return RunOutcome()
        report = RunReport.join(self.head, self.parts, tuple(problems)) if self.keep_parts else self.head
        self.parts = []
        with self.open() as store:
            return record_and_publish(store, self.settings, report, encoder=self.encoder, **self.options)

    def discard(self) -> None:
        """The run failed before its end: nothing is recorded."""
        if self.encoder is not None:
            self.encoder.messages.close()
        self.parts = []


def _record(store: FactStore, settings: Any, report: RunReport, encoder: RunEncoder,
            history_settings: HistorySettings, outcome: RunOutcome, changes: bool = True) -> None:
    history = History(store)
    before_doc = history.state_doc()
    encoded = encoder.doc()
    memo: dict[str, States] = {}

    def before_states() -> States:
        if "before" not in memo:
            memo["before"] = decode(before_doc)
        return memo["before"]

    def run_states() -> States:
        if "run" not in memo:
            memo["run"] = decode(encoded)
        return memo["run"]

    if changes:
        outcome.changes = compare_encoded(before_doc, encoded, before_states, run_states)
    if history_settings.enabled:
        runs = history.runs()
        rid = run_id(report.generated_at, {r.id for r in runs})
        info = RunInfo(rid, report.generated_at, _selection(report, settings), dict(encoder.counts),
                       len(report.entities))
        history.add(info, States(), {}, history_settings.keep, encoded=encoded, packed_messages=encoder.messages,
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
