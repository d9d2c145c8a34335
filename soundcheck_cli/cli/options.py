"""Typer option types shared by the CLI modules (``cli.py`` imports the others, so they cannot import it)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

StoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--store",
        metavar="FOLDER|URL",
        help="Fact store: a folder, or a postgresql://user@host/db URL (shared store). Default: $SOUNDCHECK_STORE, "
        "else soundcheck.store.url in the config, else .soundcheck/ beside the first config file.",
        show_default=False,
    ),
]
