"""The command-line shell: Typer commands (``commands``), the commands of each area (``collectors``, ``history``,
``store``), shared options and help, the progress display, and the console script (``entry``).

It parses, calls ``soundcheck_cli.app``, prints and decides the exit code; nothing else. The core never imports
this package. This module stays empty so that ``soundcheck --version`` imports no CLI framework.
"""
