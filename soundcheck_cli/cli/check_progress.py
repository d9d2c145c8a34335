"""``check``'s progress for the terminal: a bar of the entities evaluated, on a TTY only, for a run of more than
one chunk. Apart from ``cli.progress`` (collection), whose imports (the collectors, ``logging``) a ``check`` on a
file catalog does not need (``tests/test_startup_imports.py``)."""

from __future__ import annotations

import sys
from typing import Any


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
