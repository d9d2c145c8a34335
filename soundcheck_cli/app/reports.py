"""Report writing for ``check`` and ``run``: which format goes where, the report files, the GitHub Actions extras.

``-f/--format`` and ``-o/--output`` pair in order: the first ``-o`` is the first format's file, and formats without
an ``-o`` go to standard output (``plan``). Every file is opened (created, truncated) before any is written, so a
path that cannot be written stops the run before anything is recorded; a file whose writing fails is left empty,
never holding the previous run's report, which a CI step would read as this run's. Every text goes through the
process-wide redactor (``redact.GLOBAL``). Printing to the terminal is the CLI's: ``render_chunks`` gives the text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundcheck_cli.errors import UsageError
from soundcheck_cli.results import RunReport

DEFAULT_FORMAT = "table"


@dataclass(frozen=True)
class Output:
    format: str
    path: str | None = None  # None: standard output


def plan(formats: Sequence[str] | None, outputs: Sequence[str] | None) -> list[Output]:
    """The outputs of ``-f``/``-o`` as given (``table`` on standard output when no ``-f``). An unknown format or an
    ``-o`` without its ``-f`` is a ``UsageError``, raised before any output."""
    from soundcheck_cli import reporters

    formats = list(formats or [DEFAULT_FORMAT])
    outputs = list(outputs or [])
    if len(outputs) > len(formats):
        raise UsageError("more --output than --format: give one --format before each --output")
    for name in formats:
        reporters.get_chunks(name)  # an unknown format fails here
    return [Output(name, outputs[i] if i < len(outputs) else None) for i, name in enumerate(formats)]


def repo_root() -> str:
    """Where relative paths in reports start (SARIF, annotations): the Actions workspace, else the cwd."""
    return os.environ.get("GITHUB_WORKSPACE") or os.getcwd()


def render_chunks(report: RunReport, fmt: str, *, color: bool = False, width: int | None = None,
                  show_all: bool = False) -> Iterator[str]:
    """The report in ``fmt``, redacted, in pieces each ending with a newline. ``show_all`` (``--all``): every
    entity in the table and Markdown lists (formats without lists ignore it)."""
    from soundcheck_cli import reporters
    from soundcheck_cli.redact import GLOBAL

    render = reporters.get_chunks(fmt)
    return GLOBAL.redact_known_chunks(render(report, color=color, width=width, root=repo_root(), show_all=show_all))


def write_files(report: RunReport, outputs: Sequence[Output], *, show_all: bool = False) -> list[str]:
    """Write every output that has a path; returns those paths. Every file is opened before any is written; a
    ``UsageError`` names a file that cannot be opened or written."""
    files = [o for o in outputs if o.path is not None]
    handles: list[tuple[Output, Any]] = []
    try:
        for output in files:
            handles.append((output, _open(output.path or "")))
        for output, handle in handles:
            try:
                for chunk in render_chunks(report, output.format, width=120, show_all=show_all):
                    handle.write(chunk)
                handle.flush()
            except BaseException as exc:
                # A disk that fills up (or any failure) mid-write leaves the file empty: never a cut report (a
                # CSV or JUnit file cut between rows looks complete).
                _emptied(output.path or "", handle)
                if isinstance(exc, OSError):
                    raise UsageError(f"cannot write {output.path}: {exc.strerror or exc}") from None
                raise
    finally:
        for _, handle in handles:
            try:
                handle.close()
            except OSError:
                pass
    return [o.path or "" for o in files]


def _emptied(target: str, handle: Any) -> None:
    """Close ``handle`` (its buffered text is dropped or fails to flush: either is fine) and cut the file to
    nothing. Truncating frees space, so it works on a full disk too."""
    try:
        handle.close()
    except OSError:
        pass
    try:
        os.truncate(target, 0)
    except OSError:
        pass


def _open(target: str) -> Any:
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        return open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed by write_files
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def github_annotations(report: RunReport, outputs: Sequence[Output]) -> str | None:
    """On GitHub Actions (``GITHUB_ACTIONS=true``): the annotations as workflow commands, for standard error (standard
    output stays clean for machine formats); None elsewhere, or when ``-f github`` already prints them."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    if any(o.format == "github" and o.path is None for o in outputs):
        return None
    from soundcheck_cli.redact import GLOBAL
    from soundcheck_cli.reporters import github_reporter

    return GLOBAL.redact_known(github_reporter.render(report, root=repo_root()))


def append_step_summary(report: RunReport) -> str | None:
    """``--summary``: append the Markdown report to ``$GITHUB_STEP_SUMMARY``; returns a warning when that variable
    is not set (nothing written), raises ``UsageError`` when the file cannot be written."""
    from soundcheck_cli.redact import GLOBAL
    from soundcheck_cli.reporters import markdown_reporter

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return "--summary: $GITHUB_STEP_SUMMARY is not set (it is on GitHub Actions); no summary written"
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(GLOBAL.redact_known(markdown_reporter.render(report)) + "\n")
    except OSError as exc:
        raise UsageError(f"--summary: cannot append to $GITHUB_STEP_SUMMARY ({target}): {exc.strerror or exc}") from None
    return None


@dataclass
class CheckRun:
    """What ``check_and_report`` did: the report, the gate's verdict, the outputs (those without a path are for
    standard output: the caller prints them with ``render_chunks``), GitHub annotations for standard error, why
    ``--summary`` wrote nothing, and the warnings of the history and events (which never fail a run)."""

    report: RunReport
    verdict: Any  # gate.Verdict
    outputs: list[Output]
    annotations: str | None
    summary_warning: str | None
    warnings: list[Any]  # Problem

    @property
    def to_stdout(self) -> list[Output]:
        return [o for o in self.outputs if o.path is None]


def check_and_report(workspace: Any, options: Any, *, formats: Sequence[str] | None = None,
                     outputs: Sequence[str] | None = None, gate: Any = None, step_summary: bool = False,
                     out: Any = None, show_all: bool = False) -> CheckRun:
    """``check``, the gate's verdict, the report files, the GitHub extras, and the run recorded in the history (with
    its change events), in that order: an unknown format or a bad ``--min-level`` stops the run before any output,
    a file that cannot be written before the run is recorded. ``options`` is an ``app.CheckOptions``; ``out(stream,
    text)`` receives what the event sinks print; ``show_all`` is ``--all``."""
    from soundcheck_cli import app as core
    from soundcheck_cli.gcpause import paused

    plan_ = plan(formats, outputs)
    with paused():  # the whole run builds acyclic objects only: see gcpause for what this buys
        report = core.check(workspace, options)
        verdict = core.judge(report, gate)
        write_files(report, plan_, show_all=show_all)
        annotations = github_annotations(report, plan_)
        summary_warning = append_step_summary(report) if step_summary else None
        outcome = core.record_run(workspace, report, out=out)
    return CheckRun(report, verdict, plan_, annotations, summary_warning, list(outcome.warnings))
