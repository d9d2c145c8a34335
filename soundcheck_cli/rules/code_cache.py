"""A folder of compiled generated code, so that a run does not compile again what an earlier run compiled.

The engine generates Python source for each check (``codegen.generate_run``); compiling it costs ~3 ms per check,
the same on every run of the same config. With a folder set (``enable``; the CLI sets the user's cache folder),
``codegen.compiled_code`` asks ``load`` first and gives what it compiled to ``save``.

A file holds the interpreter's bytecode magic number, the source itself and ``marshal.dumps`` of the code object
(``__pycache__`` files keep the magic number and a hash of the source): a file from another Python version, for
another source (file names are a checksum, which may collide: the source compared byte for byte decides), cut
short or damaged is not used (it is compiled again and rewritten). Files are written to a temporary name and renamed,
so a reader never sees half of one. Anything that goes wrong with the folder just means compiling, as before.
"""

from __future__ import annotations

import marshal
import os
import struct
import zlib
from importlib.util import MAGIC_NUMBER
from types import CodeType

from soundcheck_cli.atomic import write_quietly

MAX_FILES = 512  # distinct generated sources kept; beyond that the folder is emptied and filled again

_folder: str | None = None


def enable(folder: str | None) -> None:
    """Keep compiled code in ``folder`` (made when needed); None: keep nothing on disk."""
    global _folder
    _folder = folder


def enabled() -> bool:
    return _folder is not None


_LENGTH = struct.Struct("<I")  # the source's length in bytes, after the magic number


def _encoded(source: str) -> bytes:
    return source.encode("utf-8", "surrogatepass")


def _path(folder: str, encoded: bytes) -> str:
    return os.path.join(folder, f"{zlib.crc32(encoded):08x}{zlib.adler32(encoded):08x}{len(encoded):x}.code")


def load(source: str) -> CodeType | None:
    """The code compiled from ``source`` by an earlier run, or None."""
    folder = _folder
    if folder is None:
        return None
    encoded = _encoded(source)
    try:
        with open(_path(folder, encoded), "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    start = len(MAGIC_NUMBER) + _LENGTH.size
    head = start + len(encoded)
    if (data[: len(MAGIC_NUMBER)] != MAGIC_NUMBER or len(data) < head
            or _LENGTH.unpack_from(data, len(MAGIC_NUMBER))[0] != len(encoded) or data[start:head] != encoded):
        return None
    try:
        code = marshal.loads(data[head:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def save(source: str, code: CodeType) -> None:
    """Keep ``code`` (compiled from ``source``) for later runs; errors are ignored."""
    folder = _folder
    if folder is None:
        return
    encoded = _encoded(source)
    try:
        data = MAGIC_NUMBER + _LENGTH.pack(len(encoded)) + encoded + marshal.dumps(code)
        os.makedirs(folder, exist_ok=True)
        with os.scandir(folder) as entries:
            if sum(1 for _ in entries) >= MAX_FILES:
                _empty(folder)
    except (OSError, ValueError):
        return
    write_quietly(_path(folder, encoded), data)


def _empty(folder: str) -> None:
    for name in os.listdir(folder):
        if name.endswith((".code", ".tmp")):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
