"""The ``github`` format: GitHub Actions workflow commands that annotate the catalog files of failing entities.

One line per check that did not pass: ``::error file=F,line=L,col=C,title=T::MESSAGE`` for failed, error and
not-reported, ``::warning ...`` for warning. ``file`` is the entity's catalog file relative to ``root`` (the
workspace: GitHub resolves annotation paths against the repository root); without a known file the command has
no ``file``/``line`` and shows on the run's summary only. The CLI prints these on stderr when
``GITHUB_ACTIONS=true``, so that stdout stays clean for machine formats; ``-f github`` prints them on stdout.

Escaping follows the Actions toolkit (``@actions/core`` ``command.ts``): in the message ``%``, CR and LF become
``%25``, ``%0D``, ``%0A``; in property values also ``:`` → ``%3A`` and ``,`` → ``%2C``. A message can therefore
never start a second command. GitHub shows at most 10 error and 10 warning annotations per step, so at most
``max_annotations`` commands are printed (errors first), followed by a ``::notice::`` counting the rest.
https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

from typing import Any

from soundcheck_cli.reporters import ReportWriter, render_whole
from soundcheck_cli.reporters.common import (
    Index,
    build_index,
    clean_text,
    first_per_state,
    message_of,
    redacted,
    source_of,
)
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState

DEFAULT_MAX_ANNOTATIONS = 50
COMMAND = {CheckState.FAILED: "error", CheckState.ERROR: "error", CheckState.NOT_REPORTED: "error",
           CheckState.WARNING: "warning"}
PRIORITY = {CheckState.FAILED: 0, CheckState.ERROR: 1, CheckState.NOT_REPORTED: 2, CheckState.WARNING: 3}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: object) -> str:
    """``::name k=v,...::message`` with every part escaped; properties whose value is None are left out."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def render(report: RunReport, *, root: str | None = None, max_annotations: int = DEFAULT_MAX_ANNOTATIONS,
           redactor: Any = None, **_: Any) -> str:
    return "".join(render_whole(Writer, report, root=root, max_annotations=max_annotations, redactor=redactor))


class Writer(ReportWriter):
    """The commands of a run given in parts (``reporters.get_writer``), in the order of the joined report: per
    state (failed, error, not-reported, warning) its results in part order. Holds the first ``max_annotations``
    commands of each state and the count of the rest; writes at the close. A part's piece is its count and the
    commands of its first ``max_annotations`` results of each state."""

    PIECES = True

    def __init__(self, head: RunReport, write: Any, *, root: str | None = None,
                 max_annotations: int = DEFAULT_MAX_ANNOTATIONS, redactor: Any = None, **_: Any) -> None:
        super().__init__(head, write)
        self.root = root
        self.max = max_annotations
        self.redactor = redactor
        self.kept: dict[CheckState, list[str]] = {state: [] for state in PRIORITY}
        self.total = 0

    def piece(self, part: RunReport) -> tuple[int, dict[CheckState, tuple[str, ...]]]:
        """How many of the part's results did not pass, and per state the commands of its first
        ``max_annotations``: as many as ``take`` can keep, whatever it kept before."""
        wanted = [r for r in part.check_results if r.state in COMMAND]
        listed = first_per_state(wanted, max(0, self.max), dict.fromkeys(PRIORITY, 0))
        if not listed:
            return len(wanted), {}
        part = redacted(RunReport(part.generated_at, part.entities, part.checks, (), tuple(listed), ()),
                        self.redactor)
        index = build_index(part)
        commands: dict[CheckState, list[str]] = {}
        for r in part.check_results:
            commands.setdefault(r.state, []).append(_command(r, index, self.root))
        return len(wanted), {state: tuple(lines) for state, lines in commands.items()}

    def take(self, piece: tuple[int, dict[CheckState, tuple[str, ...]]]) -> None:
        count, commands = piece
        self.total += count
        room = max(0, self.max)
        for state, lines in commands.items():
            kept = self.kept[state]
            kept.extend(lines[: max(0, room - len(kept))])

    def close(self, problems: Any = ()) -> None:
        lines = [line for state in sorted(PRIORITY, key=PRIORITY.__getitem__) for line in self.kept[state]]
        lines = lines[: max(0, self.max)]
        left = self.total - len(lines)
        if left > 0:
            lines.append(command("notice", f"soundcheck: {left} more checks did not pass and are not annotated "
                                           f"(at most {self.max} annotations); see the full report",
                                 title="soundcheck"))
        self.kept = {state: [] for state in PRIORITY}
        if lines:
            self.write("".join(line + "\n" for line in lines))


def _command(r: CheckResult, index: Index, root: str | None) -> str:
    check = index.check(r.check_id)
    source = source_of(index.entity(r.entity_ref), root)
    title = clean_text(f"{check.title if check else r.check_id} ({r.state.value}): {r.entity_ref}")
    message = clean_text(message_of(r, check))
    if r.missing_facts:
        message += "\nmissing facts: " + clean_text("; ".join(r.missing_facts))
    return command(
        COMMAND[r.state], message,
        file=clean_text(source.path) if source else None,
        line=source.line if source else None,
        col=source.column if source else None,
        title=title,
    )
