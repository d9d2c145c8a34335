"""One exception hierarchy for the whole tool, and the source locations errors point at.

Every config and catalog problem names ``file:line:column`` (1-based, as editors count). Each error class
formats its own message; the CLI maps ``SoundcheckError.exit_code`` to the process exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file. ``line`` and ``column`` are 1-based; either may be unknown."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One diagnostic: an error (the run cannot go on) or a warning (reported, the run goes on)."""

    message: str
    location: Location | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        return f"{prefix}{self.message}"


class Problems:
    """Collects diagnostics while loading, so that ``soundcheck validate`` can list all of them at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, message: str, location: Location | None = None) -> None:
        self.items.append(Problem(message, location, Severity.ERROR))

    def warning(self, message: str, location: Location | None = None) -> None:
        self.items.append(Problem(message, location, Severity.WARNING))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity is Severity.WARNING]

    def raise_if_errors(self, error_class: type[SoundcheckError] | None = None) -> None:
        if self.errors:
            raise (error_class or ConfigError)(self.errors)


class ExitCode(int, Enum):
    """The documented exit codes; ``soundcheck_cli.app.exit_code`` is the one place that chooses one."""

    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2
    STORE_UNAVAILABLE = 4  # the fact store could not be reached, even after retrying (3 is a bug: ``cli``)


class SoundcheckError(Exception):
    """Base of every error the tool reports to a user (never with a traceback)."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str | list[Problem], location: Location | None = None) -> None:
        if isinstance(message, list):
            self.problems = list(message)
        else:
            self.problems = [Problem(message, location)]
        super().__init__(str(self))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with its problems (an error can cross a process boundary, e.g. multiprocessing)
        return (self.__class__, (self.problems,))

    @property
    def location(self) -> Location | None:
        return self.problems[0].location if self.problems else None

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class ConfigError(SoundcheckError):
    """The app-config is malformed or inconsistent (exit code 2)."""


class CatalogError(SoundcheckError):
    """The catalog cannot be loaded at all (single bad entities are warnings, not this)."""


class UsageError(SoundcheckError):
    """The command line is inconsistent (unknown track id, bad option value...)."""


class StoreError(SoundcheckError):
    """The fact store cannot be opened or written."""


class StoreUnavailable(StoreError):
    """The fact store's server cannot be reached, even after retrying for a while (exit code 4: not a config
    error, the same command may well work later)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class CollectorError(SoundcheckError):
    """A collector cannot run at all (not installed, misconfigured). Per-entity failures are results."""
