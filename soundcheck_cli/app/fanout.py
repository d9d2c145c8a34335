"""A run's chunks evaluated in worker processes, their pieces handed over in chunk order (issue 23).

``check`` evaluates a run entity chunk by entity chunk (``evaluation.EvaluationStream``) and hands each part to
its *consumers*: the report writers, the gate's tally, the summary counts and the history's recorder. Each
consumer's ``add(part)`` is ``take(piece(part))`` (``reporters.ReportWriter``): ``piece`` does the work that grows
with the results (formatting the report's text, encoding the history's states and messages, counting) and
returns plain data; ``take`` merges it into the consumer. A chunk's results depend on its own entities only, so
the chunks and their pieces can be made anywhere, in any order, as long as the pieces are *taken* in chunk order:
the reports and the history are then byte for byte those of a run in one process.

``pieces(stream, consumers, workers)`` forks ``workers - 1`` processes (the documented ``fork`` start method of
``multiprocessing``: a worker inherits the loaded config, catalog and compiled checks, nothing is pickled on the
way in). Chunk ``i`` is made by worker ``i % workers``, worker 0 being this process; a forked worker sends each
chunk's pieces through its own pipe, and this process takes every piece in chunk order. A worker is at most one
chunk ahead (a pipe holds 64 kB), so the run's memory stays bounded.

What it buys, measured (``bench/bench_check.py``, 100,000 entities x 20 checks, 2 cores): see
``docs/scaling.md``. It is used only where it can pay: on a machine with 2 or more usable cores, with every
consumer's piece plain data (``PIECES``; a piece that is the part itself would have to be pickled, which costs
as much as evaluating it), for runs of ``MIN_CHUNKS`` chunks or more, and where ``fork`` exists (Linux; macOS's
``fork`` is unsafe with its system frameworks, Windows has none), in a process running no other thread. Two
processes by default (``processes``); ``SOUNDCHECK_WORKERS`` sets the number (``0`` or ``1``: one process).

Errors keep their meaning: a worker's error (a store that cannot be read) is raised in the parent as it was
raised in the worker; a worker that dies without saying why stops the run (exit code 3); the parent's error (a full
disk) or Ctrl-C stops every worker. Workers ignore Ctrl-C (the parent stops them) and never touch the parent's
store connection, files or terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

MIN_CHUNKS = 2
ENV = "SOUNDCHECK_WORKERS"


def processes() -> int:
    """How many processes may work at once: ``$SOUNDCHECK_WORKERS``, else ``DEFAULT_PROCESSES`` within the cores
    this process may use and its cgroup's CPU quota; 1 where ``fork`` is missing or unsafe: on macOS, and in a
    process running other threads (a lock one of them holds at the fork would stay held in the worker). A bad
    value is a ``UsageError``."""
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return 1
    threading = sys.modules.get("threading")  # not imported: no other thread was started from Python
    if threading is not None and threading.active_count() > 1:
        return 1
    wanted = os.environ.get(ENV, "").strip()
    if wanted:
        try:
            return max(1, int(wanted))
        except ValueError:
            from soundcheck_cli.errors import UsageError

            raise UsageError(f"${ENV} must be a whole number of worker processes (0: none), not {wanted!r}") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpus()
    return min(DEFAULT_PROCESSES, cores, quota if quota is not None else cores)


# Processes by default, at most: each one more holds another chunk's work and the pages of the shared heap it
# writes to (~200 MB at 100,000 entities), and a container's memory limit is rarely sized by its node's cores.
# Two measured best on 2 cores; ``$SOUNDCHECK_WORKERS`` asks for more.
DEFAULT_PROCESSES = 2


def cgroup_cpus(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """The CPUs a cgroup v2 quota allows this process (``cpu.max``: "<quota> <period>", rounded up), or None when
    there is no quota (``max``) or no such file: in a container limited to one CPU, a second process only waits."""
    try:
        with open(path, encoding="ascii") as handle:
            quota, period = handle.read().split()[:2]
        if quota == "max":
            return None
        return max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return None


def worker_count(stream: Any, consumers: Sequence[Any]) -> int:
    """How many worker processes make ``stream``'s pieces: 0 means none (the run is evaluated in this process)."""
    if stream.count < MIN_CHUNKS or not all(getattr(c, "PIECES", False) for c in consumers):
        return 0
    n = processes()
    return 0 if n < 2 else min(n, stream.count)


def apart(target: Any, calls: Sequence[tuple[Any, ...]]) -> int:
    """Run ``target(*args)`` for each ``args`` of ``calls`` in forked processes at once, and wait for them: for work
    whose only product is files and whose memory should not stay in this process (``app.load_workspace``: a
    catalog parsed cold). Returns how many succeeded (0 when no second process is allowed); the caller does
    what is missing itself. Ctrl-C stops them."""
    if processes() < 2 or not calls:
        return 0
    import multiprocessing

    _flush_std()
    context = multiprocessing.get_context("fork")
    started = []
    try:
        for args in calls:
            process = context.Process(target=_apart, args=(target, args), daemon=True)
            process.start()
            started.append(process)
        for process in started:
            process.join()
    finally:
        for process in started:
            if process.is_alive():
                process.terminate()
                process.join()
    return sum(process.exitcode == 0 for process in started)


def _flush_std() -> None:
    """Write out this process's buffered standard output and error before a fork: a forked child flushes its copy
    of those buffers when it ends, which would print their text twice."""
    for handle in (sys.stdout, sys.stderr):
        try:
            handle.flush()
        except (OSError, ValueError):
            pass


def _apart(target: Any, args: tuple[Any, ...]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        target(*args)
    except BaseException:
        os._exit(1)  # the parent does the work itself and meets the error there, with its message


class WorkerDied(Exception):
    """A worker process ended without sending its pieces or an error (killed: by the out-of-memory killer, by a
    user). Not a ``SoundcheckError``: the CLI ends with exit code 3 and this message."""


def _ending(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (SIGKILL: often the out-of-memory killer)" if name == "SIGKILL" else ""
        return f"was killed by {name}{hint}"
    return f"ended with exit code {exitcode}"


def owner(chunk: int, workers: int) -> int:
    """Which worker makes a chunk: 0 is this process, the others are forked; chunks go round. This process also
    takes every piece, yet an even share measured best at 100,000 entities x 20 checks on 2 cores (6.8-7.1 s
    against 8.2-8.8 s when it made one chunk in three): its own pieces are never pickled nor read from a pipe."""
    return chunk % workers


def pieces(stream: Any, consumers: Sequence[Any], workers: int) -> Iterator[tuple[list[Any], int]]:
    """For each chunk of ``stream``, in chunk order: the consumers' pieces of its part and its number of entities.
    Chunk ``i`` is made by worker ``owner(i, workers)``; worker 0 is this process (its pieces are never pickled),
    the others are forked. The warnings the workers' evaluation raised are appended to ``stream.problems`` in chunk
    order, as the one process run appends them."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    _flush_std()
    ends: list[Any] = [None]
    forked: list[Any] = []
    try:
        for index in range(1, workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(stream, consumers, index, workers, send),
                                      name=f"soundcheck-check-{index}", daemon=True)
            process.start()
            send.close()  # the parent's copy: the worker's end is then the only writer, and its death is EOF
            ends.append(receive)
            forked.append(process)
        for chunk in range(stream.count):
            index = owner(chunk, workers)
            if index == 0:
                yield _made(stream, consumers, chunk)
                continue
            try:
                kind, *message = ends[index].recv()
            except EOFError:
                process = forked[index - 1]
                process.join(5)
                raise WorkerDied(f"worker process {process.name} {_ending(process.exitcode)} before it sent "
                                 f"the results of chunk {chunk}; run again, or with {ENV}=0 to evaluate in one "
                                 "process") from None
            if kind == "error":
                raise message[0]
            made, entities, warnings = message
            stream.problems.extend(warnings)
            yield made, entities
    finally:
        for process in forked:
            if process.is_alive():
                process.terminate()
        for process in forked:
            process.join()
        for end in ends[1:]:
            end.close()


def _made(stream: Any, consumers: Sequence[Any], chunk: int) -> tuple[list[Any], int]:
    """Chunk ``chunk`` evaluated, its consumers' pieces and its number of entities (the part itself dropped)."""
    part = stream.part(chunk)
    return [consumer.piece(part) for consumer in consumers], len(part.entities)


def _work(stream: Any, consumers: Sequence[Any], index: int, workers: int, send: Any) -> None:
    """A forked worker: the pieces of the chunks it owns (``owner``), or the error that stopped it, sent to the
    parent."""
    import pickle
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    stream.on_close = None  # the parent's to call (its store), never a worker's
    try:
        if stream.in_worker is not None:
            stream.in_worker()
        for chunk in (c for c in range(stream.count) if owner(c, workers) == index):
            before = len(stream.problems)
            made, entities = _made(stream, consumers, chunk)
            send.send(("pieces", made, entities, stream.problems[before:]))
            del made
    except BaseException as exc:  # sent to the parent, which raises it where the one-process run would
        try:
            try:
                send.send(("error", exc))
            except (pickle.PicklingError, TypeError, AttributeError):  # an error that does not pickle: its text
                send.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        except OSError:
            pass  # the parent is gone (it stopped the run): nobody to tell
    finally:
        stream.close()
        send.close()
