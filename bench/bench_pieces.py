"""What a fanned-out ``check`` moves between processes per part (issue 23): for one part of ``--entities`` x
``--checks`` (``bench_eval``'s workload, evaluated with its 3-level track), per report format, the time of
``Writer.piece(part)`` (in the worker), of ``pickle.dumps`` + ``loads`` of the piece (the pipe), of
``Writer.take(piece)`` (in the parent), and the pickled size; against ``pickle.dumps`` + ``loads`` of the part
itself (what a worker would send if the parent formatted it). Best of ``--repeat``; default options.

    python bench/bench_pieces.py                      # 5,000 entities x 20 checks: one part of check's
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_eval import NOW, make_workload, make_tracks  # noqa: E402

from soundcheck_cli import reporters  # noqa: E402
from soundcheck_cli.config.model import Settings  # noqa: E402
from soundcheck_cli.evaluation import evaluate  # noqa: E402
from soundcheck_cli.results import RunReport  # noqa: E402

FORMATS = ("table", "markdown", "github", "csv", "junit", "sarif", "html")


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=5000)
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    entities, facts, checks = make_workload(args.entities, args.checks)
    settings = Settings(files=("<bench>",), checks=tuple(checks), tracks=tuple(make_tracks(checks)))
    report = evaluate(settings, entities, facts, now=NOW)
    head = RunReport(report.generated_at, report.entities, report.checks, report.tracks, (), ())
    part = report.part()
    print(f"one part: {len(part.entities):,} entities, {len(part.check_results):,} check results, "
          f"{len(part.track_results):,} track results")
    part_round, data = best(lambda: pickle.loads(pickle.dumps(part)), args.repeat)
    size = len(pickle.dumps(part))
    print(f"{'part':10} {'':>9} {part_round * 1000:9.1f} ms {'':>9}   {size / 1e6:7.2f} MB  (dumps+loads of the part)")
    print(f"{'format':10} {'piece':>9} {'pickle':>12} {'take':>9}   {'size':>7}")
    for fmt in FORMATS:
        cls = reporters.get_writer(fmt)
        with tempfile.TemporaryFile("w", encoding="utf-8") as sink:
            writer = cls(head, sink.write)
            piece_time, piece = best(lambda: writer.piece(part), args.repeat)  # noqa: B023
            round_time, copy = best(lambda: pickle.loads(pickle.dumps(piece)), args.repeat)  # noqa: B023
            takes = []
            for _ in range(args.repeat):  # a fresh writer each time: take merges into the writer's state
                fresh = cls(head, sink.write)
                started = time.perf_counter()
                fresh.take(copy)
                takes.append(time.perf_counter() - started)
                fresh.close(())
            writer.close(())
        piece_size = len(pickle.dumps(piece))
        print(f"{fmt:10} {piece_time * 1000:6.1f} ms {round_time * 1000:9.1f} ms {min(takes) * 1000:6.1f} ms   "
              f"{piece_size / 1e6:7.3f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
