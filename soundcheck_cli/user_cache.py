"""The user's cache folder for soundcheck: ``$XDG_CACHE_HOME/soundcheck``, else ``~/.cache/soundcheck``.

What lives there can always be rebuilt (the catalog parse cache of a database store, the checks' compiled code); a
folder that cannot be made just means no cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def user_cache_dir(environ: Mapping[str, str] | None = None, *, create: bool = True) -> str | None:
    """The folder (made when ``create``), or None when it cannot be made."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "soundcheck")
    if create:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError:
            return None
    return directory
