"""The ``soundcheck`` console script and ``python -m soundcheck_cli``.

``soundcheck --version`` and ``soundcheck --help`` are answered here, before the CLI framework is imported: typer
(with its vendored click) takes 85-110 ms to import on a 2-core machine, which alone is most of the 150 ms start-up
budget (issue 7). The version needs nothing. The top-level help text depends only on the installed code and the
terminal's width, so the first ``--help`` renders it through typer as usual and keeps the text in the user's cache
folder (``user_cache``); later ones print that text. The cache key holds everything the text is made from: the
soundcheck and Python versions, the size and modification time of the CLI modules and of typer, and the width
inputs (``COLUMNS``/``LINES`` and the terminal's size). Any other command line goes to ``cli.main``.
"""

from __future__ import annotations

import os
import sys

from soundcheck_cli import __version__

HELP_ARGS = (["--help"], ["-h"])
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        _print(f"soundcheck {__version__}\n")
        return
    if args in HELP_ARGS:
        _help()
        return
    from soundcheck_cli.cli.commands import main as cli_main

    cli_main(args)


def _help() -> None:
    key = help_cache_key()
    path = _help_path(key)
    text = _cached(path, key) if path else None
    if text is None:
        text = render_help()
        if text is not None and path:
            _store(path, key, text)
    if text is None:  # the CLI said something else than help (an error): let it speak for itself
        from soundcheck_cli.cli.commands import main as cli_main

        cli_main(["--help"])
        return
    _print(text)


def _print(text: str) -> None:
    """Write to stdout; a reader that went away (``soundcheck --help | head -1``) ends the run quietly with exit
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


def render_help() -> str | None:
    """The top-level help exactly as the CLI prints it (typer through ``cli.run_cli``); None if it fails."""
    import io

    from soundcheck_cli.cli.commands import run_cli

    real, buffer = sys.stdout, io.StringIO()
    sys.stdout = buffer
    try:
        code = run_cli(["--help"])
    finally:
        sys.stdout = real
    return buffer.getvalue() if code == 0 else None


def help_cache_key() -> str:
    """Everything the help text depends on, as one line."""
    parts = [__version__, sys.version.split()[0], sys.implementation.name]
    try:
        names = sorted(n for n in os.listdir(_PACKAGE_DIR) if n.endswith(".py"))
    except OSError:
        names = []
    for name in names:
        if name.startswith("cli") or name in ("__init__.py", "entry.py"):
            parts.append(_stamp(os.path.join(_PACKAGE_DIR, name)))
    for folder in sys.path:
        init = os.path.join(folder or ".", "typer", "__init__.py")
        if os.path.isfile(init):
            parts.append(_stamp(init))
            break
    for var in ("COLUMNS", "LINES", "TERMINAL_WIDTH"):
        parts.append(f"{var}={os.environ.get(var, '')}")
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # what shutil.get_terminal_size asks too
        parts.append(f"tty={size.columns}x{size.lines}")
    except (AttributeError, ValueError, OSError):
        parts.append("tty=none")
    return "|".join(parts).replace("\n", " ")


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _help_path(key: str) -> str | None:
    import zlib

    from soundcheck_cli.user_cache import user_cache_dir

    directory = user_cache_dir()
    if directory is None:
        return None
    return os.path.join(directory, f"help-{zlib.crc32(key.encode('utf-8', 'surrogatepass')):08x}.txt")


def _cached(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            stored_key = handle.readline().rstrip("\n")
            return handle.read() if stored_key == key else None
    except (OSError, UnicodeDecodeError):
        return None


def _store(path: str, key: str, text: str) -> None:
    """Write atomically (a temporary file renamed over): a concurrent ``--help`` reads the old text or the new."""
    from soundcheck_cli.atomic import write_quietly

    write_quietly(path, (key + "\n" + text).encode("utf-8"))
