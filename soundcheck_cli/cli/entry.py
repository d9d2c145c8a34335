"""The ``soundcheck`` console script and ``python -m soundcheck_cli``.

``soundcheck --version`` is answered here, before the CLI framework is imported: it needs nothing else (typer and
its vendored click take 35-45 ms to import; the version, 12 ms in all). Any other command line, ``--help``
included, goes to ``cli.commands.main``.
"""

from __future__ import annotations

import os
import sys

from soundcheck_cli import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        _print(f"soundcheck {__version__}\n")
        return
    from soundcheck_cli.cli.commands import main as cli_main

    cli_main(args)


def _print(text: str) -> None:
    """Write to stdout; a reader that went away (``soundcheck --version | false``) ends the run quietly with exit
    code 1, as the CLI does, not with a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush must not fail too
        except (OSError, ValueError):
            pass
        raise SystemExit(1) from None
