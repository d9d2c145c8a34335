"""Reporters: one module per output format, each a pure ``render(report, **options) -> str`` and a ``Writer``.

``get(name)`` returns the render function of a format; ``FORMATS`` lists the ids (a closed set, as a str Enum).
Every format is documented in ``docs/output-formats.md``. Options a reporter does not know are ignored, so
callers may pass ``color``, ``width`` and ``root`` (the repository root, for relative file paths) to any.

``get_writer(name)`` is how ``check`` writes a run that is evaluated entity chunk by entity chunk (issue 23):
a ``ReportWriter`` is made with the run's head (``RunReport`` without results) and a ``write(text)`` callable,
gets each part (``add``), and writes what is left at ``close(problems)``; it holds only what its format must
count or list (the capped lists, or a temporary file: ``spool``). Every format's ``render`` is its ``Writer`` over
one part (``render_whole``), so a whole report and a streamed run are written by the same code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from typing import Any

from soundcheck_cli.errors import UsageError


class Format(str, Enum):
    TABLE = "table"  # for people, on a terminal
    JSON = "json"  # docs/json-output.md (versioned)
    JUNIT = "junit"  # JUnit XML (Ant/Surefire dialect)
    MARKDOWN = "markdown"  # GitHub step summary / PR comment
    SARIF = "sarif"  # SARIF 2.1.0, e.g. GitHub code scanning
    HTML = "html"  # one self-contained page
    CSV = "csv"  # one row per entity x check
    GITHUB = "github"  # GitHub Actions workflow commands (::error file=...::)


FORMATS = tuple(f.value for f in Format)


def get(name: str) -> Callable[..., str]:
    return _module(name).render  # type: ignore[no-any-return]


def _module(name: str) -> Any:
    try:
        fmt = Format(name)
    except ValueError:
        raise UsageError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}") from None
    return importlib.import_module(f"soundcheck_cli.reporters.{fmt.value}_reporter")


class ReportWriter:
    """Writes one report of a run given in parts: ``add(part)`` per part (a ``RunReport`` of an entity chunk), then
    ``close(problems)`` once. Text goes to ``write`` in pieces that each end with a newline.

    ``add(part)`` is ``take(piece(part))``, split so that a run can make the pieces of its parts in worker
    processes (``app.fanout``) and hand them to the writer in part order:

    - ``piece(part)`` does the work that grows with the part's results (formatting, counting, picking the capped
      lists) and returns what ``take`` needs, as plain picklable data that is cheap to pickle (text, numbers,
      small tuples; not the results themselves). It reads the options set at ``__init__`` and never changes
      ``self``: in a worker, such changes would be lost.
    - ``take(piece)`` merges a piece into the writer's state and writes what can be written.

    ``PIECES`` says the split is real: a writer whose piece is the part itself (the default) would make a worker
    pickle every result, which costs as much as evaluating them, so a run with such a writer is not fanned out."""

    PIECES = False

    def __init__(self, head: Any, write: Callable[[str], None], **options: Any) -> None:
        self.head = head
        self.write = write
        self.options = options

    def piece(self, part: Any) -> Any:
        return part

    def take(self, piece: Any) -> None:
        raise NotImplementedError

    def add(self, part: Any) -> None:
        self.take(self.piece(part))

    def close(self, problems: Sequence[Any] = ()) -> None:
        raise NotImplementedError


def get_writer(name: str) -> Callable[..., ReportWriter]:
    """``factory(head, write, **options)`` for format ``name``: its module's ``Writer``."""
    return _module(name).Writer  # type: ignore[no-any-return]


def render_whole(writer: Callable[..., ReportWriter], report: Any, **options: Any) -> Iterator[str]:
    """A whole report through a ``Writer`` (one part), as text pieces: what each format's ``render`` joins, so
    that the whole and the streamed report are one code path."""
    pieces: list[str] = []
    w = writer(report, pieces.append, **options)
    w.add(report.part())
    w.close(report.problems)
    return iter(pieces)
