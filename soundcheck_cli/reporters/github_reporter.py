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

from soundcheck_cli.reporters.common import build_index, clean_text, message_of, redacted, source_of
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckState

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
    report = redacted(report, redactor)
    index = build_index(report)
    wanted = [r for r in report.check_results if r.state in COMMAND]
    wanted.sort(key=lambda r: PRIORITY[r.state])  # stable: report order within a state
    lines: list[str] = []
    for r in wanted[: max(0, max_annotations)]:
        check = index.check(r.check_id)
        source = source_of(index.entity(r.entity_ref), root)
        title = clean_text(f"{check.title if check else r.check_id} ({r.state.value}): {r.entity_ref}")
        message = clean_text(message_of(r, check))
        if r.missing_facts:
            message += "\nmissing facts: " + clean_text("; ".join(r.missing_facts))
        lines.append(command(
            COMMAND[r.state], message,
            file=clean_text(source.path) if source else None,
            line=source.line if source else None,
            col=source.column if source else None,
            title=title,
        ))
    left = len(wanted) - len(lines)
    if left > 0:
        lines.append(command("notice", f"soundcheck: {left} more checks did not pass and are not annotated "
                                       f"(at most {max_annotations} annotations); see the full report",
                             title="soundcheck"))
    return "".join(line + "\n" for line in lines)
