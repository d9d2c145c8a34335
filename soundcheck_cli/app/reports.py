"""Report writing for ``check`` and ``run``: which format goes where, the report files, the GitHub Actions extras.

``-f/--format`` and ``-o/--output`` pair in order: the first ``-o`` is the first format's file, and formats without
an ``-o`` go to standard output (``plan``). Every file is opened (created, truncated) before any is written, so a
path that cannot be written stops the run before anything is recorded; a file whose writing fails is left empty,
never holding the previous run's report, which a CI step would read as this run's. Every text goes through the
process-wide redactor (``redact.GLOBAL``). Printing to the terminal is the CLI's: ``check_and_report`` hands it the
text of the outputs without a path (``print_out``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
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
        reporters.get_writer(name)  # an unknown format fails here
    return [Output(name, outputs[i] if i < len(outputs) else None) for i, name in enumerate(formats)]


def repo_root() -> str:
    """Where relative paths in reports start (SARIF, annotations): the Actions workspace, else the cwd."""
    return os.environ.get("GITHUB_WORKSPACE") or os.getcwd()


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


@dataclass
class CheckRun:
    """What ``check_and_report`` did: the gate's verdict, the outputs (those without a path went to ``print_out``),
    GitHub annotations for standard error, why ``--summary`` wrote nothing, the warnings of the history and events
    (which never fail a run), the run's problems and its summary line (``63 results for 9 entities: ...``)."""

    verdict: Any  # gate.Verdict
    outputs: list[Output]
    annotations: str | None
    summary_warning: str | None
    warnings: list[Any]  # Problem
    problems: tuple[Any, ...]
    summary: str

    @property
    def to_stdout(self) -> list[Output]:
        return [o for o in self.outputs if o.path is None]


class _Counts:
    """The summary line's counts, part by part (``piece``/``take``: see ``app.fanout``)."""

    PIECES = True

    def __init__(self) -> None:
        self.states: Counter[Any] = Counter()
        self.results = 0
        self.entities = 0

    @staticmethod
    def piece(part: RunReport) -> tuple[Counter[Any], int, int]:
        results = part.check_results
        return Counter(map(_STATE, results)), len(results), len(set(map(_ENTITY_REF, results)))

    def take(self, piece: tuple[Counter[Any], int, int]) -> None:
        states, results, entities = piece
        self.states.update(states)
        self.results += results
        self.entities += entities

    def add(self, part: RunReport) -> None:
        self.take(self.piece(part))

    def text(self) -> str:
        from soundcheck_cli.reporters.common import summary_text
        from soundcheck_cli.rules.model import CheckState

        return summary_text(self.results, self.entities, {s: self.states.get(s, 0) for s in CheckState})


_STATE = attrgetter("state")
_ENTITY_REF = attrgetter("entity_ref")


def check_and_report(workspace: Any, options: Any, *, formats: Sequence[str] | None = None,
                     outputs: Sequence[str] | None = None, gate: Any = None, step_summary: bool = False,
                     out: Any = None, show_all: bool = False, print_out: Callable[[str], None] | None = None,
                     color: bool = False, width: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> CheckRun:
    """``check`` with its reports, the gate's verdict, the GitHub extras and the run recorded in the history (with
    its change events), in one pass over the run's parts (``app.check_stream``: entity chunk by entity chunk, each
    part handed to every writer and dropped; issue 23). ``options`` is an ``app.CheckOptions``; ``out(stream,
    text)`` receives what the event sinks print; ``show_all`` is ``--all``; ``print_out(text)`` prints the outputs
    without a path (with ``color`` and the terminal's ``width``); ``progress(done, total)`` is called after each
    part with the entities evaluated so far (the CLI draws it on a terminal).

    An unknown format, a bad ``--min-level``, an unknown id or a file that cannot be opened stop the run before any
    output. A failure while writing (a full disk) cuts every report file to nothing and records nothing: never a
    cut report that looks complete, nor the previous run's."""
    from soundcheck_cli import app as core
    from soundcheck_cli.gate import Tally
    from soundcheck_cli.gcpause import paused
    from soundcheck_cli.history.recorder import Recorder
    from soundcheck_cli.redact import GLOBAL

    plan_ = plan(formats, outputs)
    with paused():  # the whole run builds acyclic objects only: see gcpause for what this buys
        stream = core.check_stream(workspace, options)
        try:
            head = stream.head
            tally = Tally(head, gate)
            files = _Files([o for o in plan_ if o.path is not None])
            try:
                outs = _Outputs(head, plan_, files, print_out, color=color, width=width, show_all=show_all,
                                step_summary=step_summary)
                counts = _Counts()
                recorder = Recorder(workspace.open_store, workspace.settings, head, out=out, catalog=workspace.entities)
                try:
                    done, total = 0, len(head.entities)
                    for entities in _feed(stream, [tally, counts, outs, recorder]):
                        if progress is not None:
                            done += entities
                            progress(done, total)
                    problems = tuple(head.problems) + tuple(stream.problems)
                    outs.close(problems)
                    files.finish()
                except BaseException:
                    recorder.discard()
                    raise
            except BaseException as exc:
                files.empty_all()
                if isinstance(exc, OSError):
                    raise UsageError(f"cannot write {files.current or 'a report'}: {exc.strerror or exc}") from None
                raise
            verdict = tally.verdict()
            summary_warning = None
            if step_summary:
                summary_warning = _append_step_summary(GLOBAL.redact_known("".join(outs.summary)))
            outcome = recorder.close(stream.problems)
        finally:
            stream.close()  # the store the facts are read from, also when the run stops early
    return CheckRun(verdict, plan_, GLOBAL.redact_known("".join(outs.annotations)) or None, summary_warning,
                    list(outcome.warnings), problems, counts.text())


def _feed(stream: Any, consumers: list[Any]) -> Iterator[int]:
    """Every part of ``stream`` to every consumer, in order; yields each part's number of entities. The parts are
    made in worker processes when that pays (``app.fanout``), else here, one by one."""
    from soundcheck_cli.app import fanout

    workers = fanout.worker_count(stream, consumers)
    if not workers:
        for part in stream.parts():
            for consumer in consumers:
                consumer.add(part)
            yield len(part.entities)
        return
    for pieces, entities in fanout.pieces(stream, consumers, workers):
        for consumer, piece in zip(consumers, pieces):
            consumer.take(piece)
        yield entities


class _Outputs:
    """Every writer of a run: one per report file and per output to ``print_out``, the GitHub annotations (on
    GitHub Actions, unless ``-f github`` prints them) and the step summary's Markdown (``--summary``), both kept
    as text for the end of the run."""

    def __init__(self, head: RunReport, plan_: list[Output], files: _Files, print_out: Callable[[str], None] | None,
                 *, color: bool, width: int | None, show_all: bool, step_summary: bool) -> None:
        from soundcheck_cli.redact import GLOBAL
        from soundcheck_cli.reporters import get_writer

        self.sinks = [GLOBAL.known_writer(files.write_to(o)) for o in files.outputs]
        self.writers = [get_writer(o.format)(head, sink, width=120, show_all=show_all, root=repo_root())
                        for o, sink in zip(files.outputs, self.sinks)]
        if print_out is not None:
            for o in plan_:
                if o.path is None:
                    self.sinks.append(GLOBAL.known_writer(print_out))
                    self.writers.append(get_writer(o.format)(head, self.sinks[-1], color=color, width=width,
                                                             show_all=show_all, root=repo_root()))
        self.annotations: list[str] = []
        if os.environ.get("GITHUB_ACTIONS") == "true" and not any(o.format == "github" and o.path is None
                                                                   for o in plan_):
            self.writers.append(get_writer("github")(head, self.annotations.append, root=repo_root()))
        self.summary: list[str] = []
        if step_summary:
            self.writers.append(get_writer("markdown")(head, self.summary.append))

    @property
    def PIECES(self) -> bool:  # the consumers' flag (``app.fanout``), read like their class attribute
        return all(writer.PIECES for writer in self.writers)

    def piece(self, part: RunReport) -> list[Any]:
        return [writer.piece(part) for writer in self.writers]

    def take(self, pieces: list[Any]) -> None:
        for writer, piece in zip(self.writers, pieces):
            writer.take(piece)

    def add(self, part: RunReport) -> None:
        for writer in self.writers:
            writer.add(part)

    def close(self, problems: tuple[Any, ...]) -> None:
        for writer in self.writers:
            writer.close(problems)
        for sink in self.sinks:
            sink.flush()


def _append_step_summary(text: str) -> str | None:
    """``--summary``: append the Markdown report to ``$GITHUB_STEP_SUMMARY``; returns a warning when that variable
    is not set (nothing written), raises ``UsageError`` when the file cannot be written."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return "--summary: $GITHUB_STEP_SUMMARY is not set (it is on GitHub Actions); no summary written"
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        raise UsageError(f"--summary: cannot append to $GITHUB_STEP_SUMMARY ({target}): {exc.strerror or exc}") from None
    return None


class _Files:
    """The report files of a run: every one opened (created, truncated) before any is written; ``write_to`` gives
    the write function of one; ``empty_all`` cuts them all to nothing (a failed run)."""

    def __init__(self, outputs: list[Output]) -> None:
        self.outputs = outputs
        self.handles: dict[int, Any] = {}
        self.current: str | None = None
        try:
            for output in outputs:
                self.current = output.path
                self.handles[id(output)] = _open(output.path or "")
        except BaseException:
            self.empty_all()
            raise
        self.current = None

    def write_to(self, output: Output) -> Callable[[str], None]:
        handle = self.handles[id(output)]

        def write(text: str) -> None:
            self.current = output.path
            handle.write(text)
            self.current = None

        return write

    def finish(self) -> None:
        for output in self.outputs:
            self.current = output.path
            self.handles[id(output)].flush()
            self.handles[id(output)].close()
        self.current = None

    def empty_all(self) -> None:
        for output in self.outputs:
            handle = self.handles.get(id(output))
            if handle is not None:
                _emptied(output.path or "", handle)
