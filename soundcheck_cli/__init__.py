"""soundcheck: Spotify Soundcheck-style tech-health checks from the command line.

The package is a library core with a thin CLI shell (``soundcheck_cli.cli``). The core never imports
typer or rich; see ``docs/architecture.md`` for the data flow.
"""

__version__ = "0.1.0"
