"""Size and time of the run history and change events at scale: 10,000 entities x 20 checks, 1 track of 3 levels.

Prints the stored size of one run record and of the latest-state snapshot, and the time of recording a run (first
run: everything is new; second run: 1% of results changed), with events on (jsonl sink). Usage:

    python bench/bench_history.py [ENTITIES] [CHECKS]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from soundcheck_cli.config.model import Settings
from soundcheck_cli.events.config import EventsSettings, SinkSettings
from soundcheck_cli.facts.store import open_store
from soundcheck_cli.history.config import HistorySettings
from soundcheck_cli.history.recorder import record_and_publish
from soundcheck_cli.history.store import RUN_PREFIX, STATE_KEY
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.certification import certify_many
from soundcheck_cli.tracks.model import Level, LevelCheck, Track


def make_report(n: int, m: int, flip: float, when: datetime) -> RunReport:
    states = [CheckState.PASSED, CheckState.PASSED, CheckState.PASSED, CheckState.FAILED, CheckState.WARNING]
    refs = [f"component:default/service-{i:05d}" for i in range(n)]
    columns: dict[str, list[CheckResult]] = {}
    for c in range(m):
        cid = f"check_{c:02d}"
        col = []
        for i, ref in enumerate(refs):
            state = states[(i * 31 + c * 7) % len(states)]
            if flip and (i * 131 + c) % int(1 / flip) == 0:
                state = CheckState.FAILED if state is not CheckState.FAILED else CheckState.PASSED
            col.append(CheckResult(cid, ref, state, f"service-{i} fails {cid}" if state is CheckState.FAILED else ""))
        columns[cid] = col
    ids = list(columns)
    track = Track("t", tuple(Level(o + 1, tuple(LevelCheck(c) for c in ids[o::3])) for o in range(3)))

    class Ent:  # the least of an Entity that certify_many needs
        def __init__(self, ref: str) -> None:
            self.ref = ref

    ents = [Ent(r) for r in refs]
    track_results = certify_many(track, ents, columns, lambda f, x: [True] * n)  # type: ignore[arg-type]
    results = tuple(r for cid in ids for r in columns[cid])
    return RunReport(when, tuple(ents), (), (track,), results, tuple(track_results))  # type: ignore[arg-type]


def stored_size(store, key: str) -> int:
    return len(json.dumps(store.get_meta(key)))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as tmp:
        sink = SinkSettings("jsonl", "jsonl:bench", path=os.path.join(tmp, "events.jsonl"))
        settings = Settings(files=(), history=HistorySettings(keep=20),
                            events=EventsSettings(enabled=True, sinks=(sink,), subscribers=False))
        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        with open_store(os.path.join(tmp, "store")) as store:
            for label, flip, when in (("first run (all new)", 0.0, t0), ("second run (1% changed)", 0.01,
                                                                          t0 + timedelta(hours=1))):
                report = make_report(n, m, flip, when)
                start = time.perf_counter()
                outcome = record_and_publish(store, settings, report)
                took = time.perf_counter() - start
                run_size = stored_size(store, RUN_PREFIX + outcome.run_id)
                print(f"{label}: {len(report.check_results):,} results, {outcome.events:,} events, "
                      f"recorded in {took:.2f}s; run record {run_size / 1024:.0f} KiB, "
                      f"state {stored_size(store, STATE_KEY) / 1024:.0f} KiB")
        print(f"events.jsonl: {os.path.getsize(sink.path or '') / 1024 / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
