"""Run a job in a forked child process, beside this one: a second core for work that only writes files.

``check`` uses it to render and write its report files while this process records the run in the history; at
10,000 entities x 20 checks each takes about half a second. The child starts from a copy-on-write snapshot of
this process, so nothing is copied or pickled on the way in; on the way out it sends back only the error it
ended with, if any, which ``Child.wait`` raises here as if the job had run in this process.

``start`` returns None, and the caller runs the job itself, when this process cannot fork safely: no ``os.fork``
(Windows), other threads running (the child would inherit their locks, held by nobody), or
``SOUNDCHECK_NO_FORK`` set.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

NO_FORK_ENV = "SOUNDCHECK_NO_FORK"


class ChildFailed(RuntimeError):
    """The child ended without saying why (killed by a signal, or its error could not be sent back)."""


def can_fork() -> bool:
    return (hasattr(os, "fork") and threading.active_count() == 1
            and not os.environ.get(NO_FORK_ENV))


class Child:
    """A started job; ``wait`` once."""

    def __init__(self, pid: int, reader: int) -> None:
        self.pid = pid
        self._reader = reader

    def wait(self) -> None:
        """Wait for the job to end; raise the exception it ended with, if any (a ``SoundcheckError`` as itself)."""
        chunks: list[bytes] = []
        try:
            while chunk := os.read(self._reader, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self._reader)
            _, status = os.waitpid(self.pid, 0)
        if chunks:
            error = pickle.loads(b"".join(chunks))
            raise error
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
            raise ChildFailed(f"the background job {how}")


def start(job: Callable[[], Any]) -> Child | None:
    """Run ``job()`` in a forked child; None when this process cannot fork safely (the caller runs it then).

    The job must not write to this process's stdout or stderr: its output goes to files it opens or was given."""
    if not can_fork():
        return None
    for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice, once by each process
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the job, send back its error, and end without the interpreter's teardown
        code = 0
        try:
            os.close(reader)
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - every ending goes back to the parent
                code = 1
                _send(writer, exc)
        finally:
            os._exit(code)
    os.close(writer)
    return Child(pid, reader)


def _send(fd: int, exc: BaseException) -> None:
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)  # an exception whose class cannot be rebuilt goes back as text
    except Exception:  # noqa: BLE001
        data = pickle.dumps(ChildFailed(f"{type(exc).__name__}: {exc}"))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
