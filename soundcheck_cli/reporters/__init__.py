"""Reporters: one module per output format, each a pure ``render(report, **options) -> str``.

``get(name)`` returns the render function of a format; ``FORMATS`` lists the ids (a closed set, as a str Enum).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import Enum

from soundcheck_cli.errors import UsageError


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"


FORMATS = tuple(f.value for f in Format)


def get(name: str) -> Callable[..., str]:
    try:
        fmt = Format(name)
    except ValueError:
        raise UsageError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}") from None
    module = importlib.import_module(f"soundcheck_cli.reporters.{fmt.value}_reporter")
    return module.render
