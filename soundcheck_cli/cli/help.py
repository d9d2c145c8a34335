"""Plain (non-rich) help for the CLI, with every command's full summary.

Typer's rich help imports ``typer.rich_utils`` (rich.markdown, markdown-it, pygments: ~150 ms), which alone is over
the issue 7 start-up budget (``soundcheck --help`` <= 150 ms). The CLI therefore uses click's plain formatter
(``rich_markup_mode=None``). Click's command list cuts each summary to its first sentence and the line width
(``Command.get_short_help_str``); ``SummaryGroup`` lists the whole first paragraph instead, wrapped, as the rich help
did, so no help text is lost.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

PLAIN_HELP: dict[str, Any] = {"rich_markup_mode": None}


def summary(command: Any) -> str:
    """A command's ``short_help``, else the first paragraph of its help (whitespace folded)."""
    text = command.short_help or command.help or ""
    return " ".join(text.strip().split("\n\n")[0].split())


class SummaryGroup(TyperGroup):
    """A Typer group whose command list shows each command's whole first help paragraph."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
