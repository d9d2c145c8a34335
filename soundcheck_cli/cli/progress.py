"""Collection progress for the terminal: rich progress bars on a TTY, plain lines otherwise, only errors
and failures with ``--quiet``. Part of the CLI shell; the core only calls a ``CollectionListener``. (``check``'s
progress is ``cli.check_progress``: it must not import the collectors.)"""

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
