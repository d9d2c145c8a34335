"""Small files replaced whole: written under a temporary name in the same folder, then renamed over the target
(``os.replace``), so a reader sees the old content or the new, never half of one. For the caches a run keeps
(compiled check code), where a file that cannot be written only means no cache."""

from __future__ import annotations

import os
from _thread import get_ident


def write_quietly(path: str, data: bytes) -> bool:
    """Replace ``path`` with ``data``; False, with no temporary file left behind, when it cannot be written."""
    temp = f"{path}.{os.getpid()}.{get_ident()}.tmp"
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
        return True
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
        return False
