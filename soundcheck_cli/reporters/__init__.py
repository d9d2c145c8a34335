"""Reporters: one module per output format, each a pure ``render(report, **options) -> str``.

``get(name)`` returns the render function of a format; ``FORMATS`` lists the ids (a closed set, as a str Enum).
``get_chunks(name)`` returns the same text in pieces that each end with a newline: a reporter with a
``render_chunks`` (``json``) makes a big report piece by piece, so it is written without being held whole.
Every format is documented in ``docs/output-formats.md``. Options a reporter does not know are ignored, so
callers may pass ``color``, ``width`` and ``root`` (the repository root, for relative file paths) to any.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
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


def get_chunks(name: str) -> Callable[..., Iterator[str]]:
    module = _module(name)
    chunks = getattr(module, "render_chunks", None)
    if chunks is not None:
        return chunks  # type: ignore[no-any-return]

    def whole(report: Any, **options: Any) -> Iterator[str]:
        yield module.render(report, **options)

    return whole


def _module(name: str) -> Any:
    try:
        fmt = Format(name)
    except ValueError:
        raise UsageError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}") from None
    return importlib.import_module(f"soundcheck_cli.reporters.{fmt.value}_reporter")
