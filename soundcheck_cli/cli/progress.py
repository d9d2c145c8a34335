"""Progress for the terminal. Collection: rich progress bars on a TTY, plain lines otherwise, only errors and
failures with ``--quiet``; the core only calls a ``CollectionListener``. Check: a bar of the entities evaluated,
on a TTY only, for a run of more than one chunk (``CheckProgress``)."""

from __future__ import annotations

import sys
from typing import Any

from soundcheck_cli.collectors.progress import CollectionListener, LoggingListener, QuietListener
from soundcheck_cli.safe_text import terminal_safe


class RichProgressListener:
    """One progress bar per collector, messages printed above the bars (to stderr)."""

    def __init__(self, *, verbose: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.verbose = verbose
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("collect [bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.progress.start()

    def on_collector_start(self, collector_id: str, total: int) -> None:
        self.tasks[collector_id] = self.progress.add_task(collector_id, total=max(total, 0))

    def on_advance(self, collector_id: str, n: int = 1) -> None:
        task = self.tasks.get(collector_id)
        if task is not None:
            self.progress.advance(task, n)

    def on_message(self, level: str, text: str) -> None:
        if level == "debug" and not self.verbose:
            return
        style = {"warning": "yellow", "error": "red"}.get(level)
        prefix = f"{level}: " if level in ("warning", "error") else ""
        self.console.print(terminal_safe(prefix + text), style=style, markup=False, highlight=False)

    def on_collector_done(self, summary: Any) -> None:
        task = self.tasks.get(summary.collector_id) if hasattr(summary, "collector_id") else None
        if task is not None:
            self.progress.update(task, completed=self.progress.tasks[task].total)

    def close(self) -> None:
        self.progress.stop()


def make_listener(*, quiet: bool, verbose: bool) -> CollectionListener:
    if quiet:
        return QuietListener()  # quiet means no progress, never no errors
    if sys.stderr.isatty():
        return RichProgressListener(verbose=verbose)
    return LoggingListener(verbose=verbose)


class CheckProgress:
    """``check``'s progress on standard error: a transient bar of the entities evaluated so far, drawn from the
    second chunk on (a run of one chunk takes about a second) and gone when the run is written."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            if done >= total:
                return  # one chunk: nothing to show
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("check: entities"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.task = self.progress.add_task("check", total=total)
            self.progress.start()
        self.progress.update(self.task, completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def check_progress(*, quiet: bool, stdout_formats: list[str]) -> CheckProgress | None:
    """A ``CheckProgress`` when standard error is a terminal, not ``--quiet``, and nothing streams to standard
    output while the run goes (a table is written at the end; other formats would mix with the bar)."""
    if quiet or not sys.stderr.isatty() or any(fmt != "table" for fmt in stdout_formats):
        return None
    return CheckProgress()
