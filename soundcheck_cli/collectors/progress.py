"""How the collection runtime tells the outside world what it is doing, without touching a terminal.

The core calls a ``CollectionListener``; the CLI passes one that draws rich progress bars on a TTY, or plain log
lines (``LoggingListener``) in CI/cron, or with ``--quiet`` only the errors and failures (``QuietListener``);
library use defaults to nothing (``NullListener``). The runner wraps whatever
it is given in ``RedactingListener`` so no message can carry a secret, whoever wrote it.

Message levels: ``"debug"`` (``--verbose`` request lines), ``"info"``, ``"warning"``, ``"error"``.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Protocol, TextIO, runtime_checkable

from soundcheck_cli.redact import Redactor
from soundcheck_cli.safe_text import terminal_safe

if TYPE_CHECKING:  # only for annotations: keeps this module free of import cycles
    from soundcheck_cli.collectors.outcomes import CollectorSummary


@runtime_checkable
class CollectionListener(Protocol):
    def on_collector_start(self, collector_id: str, total: int) -> None:
        """A collector starts; ``total`` is the number of (entity, fact) pairs it will go through."""

    def on_advance(self, collector_id: str, n: int = 1) -> None:
        """``n`` more pairs are done (collected, fresh, not applicable or failed)."""

    def on_message(self, level: str, text: str) -> None:
        """A log line (already redacted)."""

    def on_collector_done(self, summary: CollectorSummary) -> None:
        """A collector finished (or was skipped); ``summary`` has its counts and reasons."""



def write_line(stream: TextIO | None, text: str) -> None:
    """One line to ``stream`` (default stderr), flushed; API error bodies and catalog data in it must not act on a
    terminal, so control characters are shown as escapes."""
    stream = stream or sys.stderr
    stream.write(terminal_safe(text) + "\n")
    stream.flush()


class NullListener:
    """Says nothing (``--quiet``, library use)."""

    def on_collector_start(self, collector_id: str, total: int) -> None:
        pass

    def on_advance(self, collector_id: str, n: int = 1) -> None:
        pass

    def on_message(self, level: str, text: str) -> None:
        pass

    def on_collector_done(self, summary: CollectorSummary) -> None:
        pass


class LoggingListener:
    """Plain lines for a non-TTY (CI logs, cron mail): start, done and messages; progress every ``every`` %.

    ``verbose`` lets ``debug`` lines (one per HTTP request) through.
    """

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False, every: int = 25) -> None:
        self.stream = stream
        self.verbose = verbose
        self.every = max(1, every)
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._last_pct: dict[str, int] = {}

    def _write(self, text: str) -> None:
        write_line(self.stream, text)

    def on_collector_start(self, collector_id: str, total: int) -> None:
        self._totals[collector_id] = total
        self._done[collector_id] = 0
        self._last_pct[collector_id] = 0
        self._write(f"collect {collector_id}: {total} entity {'fact' if total == 1 else 'facts'} to check")

    def on_advance(self, collector_id: str, n: int = 1) -> None:
        self._done[collector_id] = self._done.get(collector_id, 0) + n
        total = self._totals.get(collector_id) or 0
        if total:
            pct = int(100 * self._done[collector_id] / total)
            step = pct - pct % self.every
            if step > self._last_pct.get(collector_id, 0) and step < 100:
                self._last_pct[collector_id] = step
                # The percentage of the count shown (1/3 is 33 %), not the step that triggered the line.
                self._write(f"collect {collector_id}: {self._done[collector_id]}/{total} ({pct}%)")

    def on_message(self, level: str, text: str) -> None:
        if level == "debug" and not self.verbose:
            return
        self._write(text if level in ("info", "debug") else f"{level}: {text}")

    def on_collector_done(self, summary: CollectorSummary) -> None:
        # Short: the run's summary (``CollectionSummary.render``) gives the counts and reasons once at the end.
        if summary.total:
            self._write(f"collect {summary.collector_id}: done in {summary.seconds:.1f}s")


class QuietListener(NullListener):
    """``--quiet``: no progress and no warnings, but never silent about failures. Errors are printed as they
    come, and ``close`` prints the collectors that are not ok with their failures grouped by cause (the part of
    the run's summary that explains a non-zero exit)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.summaries: list[CollectorSummary] = []

    def _write(self, text: str) -> None:
        write_line(self.stream, text)

    def on_message(self, level: str, text: str) -> None:
        if level == "error":
            self._write(f"error: {text}")

    def on_collector_done(self, summary: CollectorSummary) -> None:
        self.summaries.append(summary)

    def close(self) -> None:
        from soundcheck_cli.collectors.outcomes import CollectionSummary

        # A collector reported more than once (skipped ones are announced before the run) counts once.
        unique = list({id(s): s for s in self.summaries}.values())
        if any(not s.ok for s in unique):
            self._write(CollectionSummary(collectors=unique).render(problems_only=True))


class PythonLoggingListener(NullListener):
    """Forwards messages to the ``logging`` module (for library users who configure logging themselves)."""

    LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("soundcheck.collect")

    def on_message(self, level: str, text: str) -> None:
        self.logger.log(self.LEVELS.get(level, logging.INFO), text)

    def on_collector_done(self, summary: CollectorSummary) -> None:
        self.logger.info("collect %s", summary.line())


class RedactingListener:
    """Masks secrets in every message before the wrapped listener sees them (the runner redacts the reasons in
    summaries itself)."""

    def __init__(self, inner: CollectionListener, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def on_collector_start(self, collector_id: str, total: int) -> None:
        self.inner.on_collector_start(collector_id, total)

    def on_advance(self, collector_id: str, n: int = 1) -> None:
        self.inner.on_advance(collector_id, n)

    def on_message(self, level: str, text: str) -> None:
        self.inner.on_message(level, self.redactor.redact(text))

    def on_collector_done(self, summary: CollectorSummary) -> None:
        self.inner.on_collector_done(summary)
