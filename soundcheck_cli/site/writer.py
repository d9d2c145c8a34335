"""The output folder: everything is written into a temporary sibling folder, which replaces ``DIR`` only when the
whole site is written, so a run that fails half-way leaves the previous site (or nothing) in place, never half a
site that looks complete.

``DIR`` is replaced only when it is absent, empty, or a site this command wrote before (it holds ``MARKER``):
``soundcheck site -o ~`` must not delete a home folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile

MARKER = ".soundcheck-site"


class NotASite(Exception):
    """``DIR`` exists, is not empty and was not written by ``soundcheck site``."""


class SiteWriter:
    def __init__(self, target: str) -> None:
        self.target = os.path.abspath(target)
        self.tmp: str | None = None
        self._dirs: set[str] = set()

    def check_target(self) -> None:
        if os.path.lexists(self.target):
            if not os.path.isdir(self.target) or os.path.islink(self.target):
                raise NotASite(f"{self.target} exists and is not a folder")
            if os.listdir(self.target) and not os.path.isfile(os.path.join(self.target, MARKER)):
                raise NotASite(f"{self.target} is not empty and was not written by `soundcheck site` (no {MARKER} "
                               "file): choose another folder, or empty it first")

    def __enter__(self) -> SiteWriter:
        self.check_target()
        parent = os.path.dirname(self.target)
        os.makedirs(parent, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(self.target)}.tmp-", dir=parent)
        return self

    def write(self, path: str, text: str) -> None:
        """Write ``text`` at ``path`` (relative to the site's root, ``/``-separated)."""
        assert self.tmp is not None
        folder, _, _ = path.rpartition("/")
        if folder and folder not in self._dirs:
            os.makedirs(os.path.join(self.tmp, folder), exist_ok=True)
            self._dirs.add(folder)
        with open(os.path.join(self.tmp, path), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        self.write(MARKER, "written by `soundcheck site`; this folder is replaced whole by the next run\n")
        os.chmod(self.tmp, 0o755)  # mkdtemp makes it private; a site is meant to be served
        old = None
        if os.path.lexists(self.target):
            self.check_target()  # again: it may have changed while the site was being written
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(self.target)}.old-", dir=os.path.dirname(self.target))
            os.rmdir(old)
            os.rename(self.target, old)
        try:
            os.rename(self.tmp, self.target)
        except OSError:
            if old is not None:
                os.rename(old, self.target)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
