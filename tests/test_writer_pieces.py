"""A report writer's ``add(part)`` split into ``piece(part)`` and ``take(piece)`` (issue 23), so that a run can make
the pieces of its parts in worker processes and hand them, pickled, to the writers of the parent in part order.

For every format but ``json`` (its own split is tested with it): the text written through pickled pieces is the
text written by ``add``, step by step; ``piece`` changes nothing in the writer and writes nothing; a piece made by
a copy of the writer in a forked process serves the writer of the parent; a piece is plain data (text, numbers,
states), never the part's results; and the formats that cap their lists make pieces far smaller than the part.
"""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import pickle
from collections import Counter, defaultdict
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from test_reporters_common import ROOT, sample_report
from test_streamed_writers import OPTIONS, SECRET, many_owners_report, split

from soundcheck_cli import reporters
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.errors import Location
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.redact import Redactor
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckResult, CheckState, Condition
from soundcheck_cli.tracks.certification import certify
from soundcheck_cli.tracks.model import Level, LevelCheck, Track

PIECED = ("table", "markdown", "html", "junit", "sarif", "csv", "github")
CAPPED = ("table", "markdown", "github")  # keep at most a few rows per group: a piece is a few lines
EVERY_RESULT = ("html", "junit", "sarif", "csv")  # write every result: a piece is the part's text


def writer_class(fmt: str) -> Any:
    return importlib.import_module(f"soundcheck_cli.reporters.{fmt}_reporter").Writer


@pytest.mark.parametrize("fmt", PIECED)
def test_every_writer_but_json_makes_pieces_and_adds_through_them(fmt):
    cls = writer_class(fmt)
    assert reporters.get_writer(fmt) is cls
    assert cls.PIECES is True  # a run fans out only over writers that say so
    assert cls.add is reporters.ReportWriter.add  # one path: add(part) is take(piece(part))
    assert cls.piece is not reporters.ReportWriter.piece and cls.take is not reporters.ReportWriter.take


def leaky_report() -> RunReport:
    """``many_owners_report`` with a known secret in listed messages of several parts."""
    report = many_owners_report()
    leaky = {report.check_results[i] for i in (0, 9, 30, 50)}
    results = tuple(r._replace(message=f"token {SECRET} refused", state=CheckState.FAILED) if r in leaky else r
                    for r in report.check_results)
    return RunReport(report.generated_at, report.entities, report.checks, report.tracks, results,
                     report.track_results, report.problems)


def wide_report(entities: int = 300, checks: int = 10, owners: int = 7) -> RunReport:
    """A run of the usual shape at some size: ``entities`` x ``checks`` results, every state, owners shared by many
    entities (one entity in ten has none), two tracks over the first checks, one check owned by a guild."""
    ents = tuple(Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                                   "metadata": {"name": f"service-{(i * 37) % entities:05d}",
                                                "description": "A service " * 5},
                                   "spec": {"type": "service", "lifecycle": "production",
                                            **({"owner": f"team-{i % owners}"} if i % 10 else {})}},
                                  Location(f"catalog/team-{i % owners}/service-{i}.yaml", 1 + i % 40, 1))
                 for i in range(entities))
    rule = Condition(FactRef("catalog", "default", "entity_descriptor"), "$.spec.owner", "exists", True)
    all_checks = tuple(Check(id=f"check_{j:02d}", rule=rule, name=f"Check number {j}",
                             owner_entity_ref="group:default/guild" if j == 3 else None)
                       for j in range(checks))
    tracks = (Track("basics", (Level(1, (LevelCheck("check_00"), LevelCheck("check_01")), "Bronze"),
                               Level(2, (LevelCheck("check_02"),), "Silver"))),
              Track("ops", (Level(1, (LevelCheck("check_03"), LevelCheck("check_04")), "Bronze"),)))
    states = list(CheckState)
    results, by_entity = [], {}
    for j, check in enumerate(all_checks):
        for i, e in enumerate(ents):
            state = states[(i * (j + 3) + j) % len(states)] if (i + j) % 3 else CheckState.PASSED
            r = CheckResult(check.id, str(e.ref), state, f"{e.name}: {check.name} is {state.value} (see the docs)",
                            ("pagerduty:default/service: expired",) if state is CheckState.NOT_REPORTED else ())
            results.append(r)
            by_entity.setdefault(str(e.ref), {})[check.id] = r
    track_results = tuple(certify(t, e, by_entity[str(e.ref)]) for t in tracks for e in ents)
    return RunReport(datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC), ents, all_checks, tracks, tuple(results),
                     track_results)


def steps(fmt: str, head: RunReport, parts: list[RunReport], problems, through_pieces: bool, **options) -> list:
    """What the writer writes at each step: its start, each part, its close."""
    written: list[str] = []
    writer = reporters.get_writer(fmt)(head, written.append, **options)
    out = [written[:]]
    for part in parts:
        del written[:]
        if through_pieces:
            writer.take(pickle.loads(pickle.dumps(writer.piece(part))))
        else:
            writer.add(part)
        out.append(written[:])
    del written[:]
    writer.close(problems)
    out.append(written[:])
    return out


CASES = {
    "sample": (sample_report, {}),
    "owners": (many_owners_report, {}),
    "wide": (lambda: wide_report(60, 6), {}),
    "secret": (leaky_report, {"redactor": Redactor([SECRET])}),
}


@pytest.mark.parametrize("options", sorted(OPTIONS))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", PIECED)
def test_pickled_pieces_write_what_add_writes(fmt, case, options):
    make, extra = CASES[case]
    report = make()
    kwargs = dict(OPTIONS[options], root=ROOT, width=100, **extra)
    for size in (1, 4, 25):
        head, parts = split(report, size)
        by_add = steps(fmt, head, parts, report.problems, False, **kwargs)
        by_pieces = steps(fmt, head, parts, report.problems, True, **kwargs)
        assert by_pieces == by_add, (fmt, size)
        text = "".join(map("".join, by_add))
        assert text == reporters.get(fmt)(RunReport.join(head, parts, report.problems), **kwargs)
        if case == "secret":
            assert "Secret" not in text and "refused" in text


def state(value: Any, memo: set[int] | None = None) -> Any:
    """A comparable picture of ``value`` and everything it holds (a writer's state): containers and objects walked,
    frozen dataclasses and plain values as they are, an open file by its size and position, a callable by its
    identity."""
    memo = set() if memo is None else memo
    if value is None or isinstance(value, (str, bytes, int, float, Enum, datetime)):
        return value
    if dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen:  # type: ignore[union-attr]
        return value
    if id(value) in memo:
        return ("seen", id(value))
    memo.add(id(value))
    if isinstance(value, dict):
        return (type(value).__name__, [(state(k, memo), state(v, memo)) for k, v in value.items()])
    if isinstance(value, (list, tuple, set, frozenset)):
        return (type(value).__name__, [state(v, memo) for v in value])
    if hasattr(value, "fileno") and hasattr(value, "tell"):
        return ("file", "closed") if value.closed else ("file", os.fstat(value.fileno()).st_size, value.tell())
    if callable(value):
        return ("callable", id(value))
    if hasattr(value, "__dict__"):
        return (type(value).__name__, state(vars(value), memo))
    return value


@pytest.mark.parametrize("options", sorted(OPTIONS))
@pytest.mark.parametrize("fmt", PIECED)
def test_a_piece_leaves_the_writer_as_it_was(fmt, options):
    report = many_owners_report(61)
    kwargs = dict(OPTIONS[options], root=ROOT, width=100)
    head, parts = split(report, 9)
    written: list[str] = []
    writer = reporters.get_writer(fmt)(head, written.append, **kwargs)
    twice: list[str] = []
    other = reporters.get_writer(fmt)(head, twice.append, **kwargs)
    start = state(vars(writer))
    for part in parts:
        before, size = state(vars(writer)), len(written)
        writer.piece(part)
        writer.piece(part)
        assert state(vars(writer)) == before  # caps already full after the first parts: still nothing changes
        assert len(written) == size
        writer.take(writer.piece(part))
        other.add(part)
    # the picture sees a change when there is one: every writer but CSV's (which holds nothing) counts
    assert (state(vars(writer)) != start) is (fmt != "csv")
    writer.close(report.problems)
    other.close(report.problems)
    assert "".join(written) == "".join(twice)


_WRITER: Any = None


def _piece_in_child(part: RunReport) -> Any:
    return _WRITER.piece(part)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
@pytest.mark.parametrize("fmt", PIECED)
def test_pieces_made_in_forked_processes_serve_the_parents_writer(fmt):
    """As a fanned-out run makes them: the worker is a copy of the writer as it was at the fork, while the parent's
    writer goes on taking pieces."""
    global _WRITER
    report = leaky_report()
    kwargs = dict(root=ROOT, max_rows=7, limit=2, max_results=9, max_annotations=5, redactor=Redactor([SECRET]))
    head, parts = split(report, 3)
    written: list[str] = []
    _WRITER = reporters.get_writer(fmt)(head, written.append, **kwargs)
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            for piece in pool.imap(_piece_in_child, parts):
                _WRITER.take(piece)
        _WRITER.close(report.problems)
    finally:
        _WRITER = None
    text = "".join(written)
    assert text == reporters.get(fmt)(RunReport.join(head, parts, report.problems), **kwargs)
    assert "Secret" not in text


PLAIN = (str, int, bool, float, type(None), tuple, list, dict, Counter, defaultdict, CheckState)


def walk(value: Any) -> Counter[str]:
    """The types of everything ``value`` holds, by name."""
    seen: Counter[str] = Counter()
    stack = [value]
    while stack:
        item = stack.pop()
        seen[type(item).__name__] += 1
        if type(item) in (tuple, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return seen


@pytest.mark.parametrize("fmt", PIECED)
def test_a_piece_is_plain_data_never_the_results(fmt):
    report = wide_report(150, 10)
    head, parts = split(report, 100)
    writer = reporters.get_writer(fmt)(head, lambda text: None, root=ROOT, show_all=fmt in EVERY_RESULT)
    piece = writer.piece(parts[0])
    types = walk(piece)
    allowed = {t.__name__ for t in PLAIN}
    assert set(types) <= allowed, set(types) - allowed  # no CheckResult (a tuple subclass), TrackResult, Entity...
    assert types["str"] >= 1
    if fmt in EVERY_RESULT:  # every result is written: as text, a block of lines, not a str per result
        assert types["str"] < len(parts[0].check_results) / 10


# pickle.dumps(piece) / pickle.dumps(part) measured for a part of 1,600 entities x 10 checks (16,000 results, 3,200
# track results; the part pickles to 2.4 MB), default options: table 0.022, markdown 0.060, github 0.017. The
# pieces are then at their full size (the capped lists are full: 52 kB, 144 kB, 40 kB) and stay so for any part.
MAX_RATIO = {"table": 0.035, "markdown": 0.09, "github": 0.03}


@pytest.mark.parametrize("fmt", CAPPED)
def test_a_capped_format_makes_a_piece_far_smaller_than_its_part(fmt):
    sizes = []
    for entities in (1600, 3200):
        head, parts = split(wide_report(entities, 10), entities)
        part = parts[0]
        assert len(part.check_results) >= 1000
        writer = reporters.get_writer(fmt)(head, lambda text: None, root=ROOT, width=100)
        sizes.append((len(pickle.dumps(writer.piece(part))), len(pickle.dumps(part))))
    (piece, part), (bigger_piece, bigger_part) = sizes
    assert piece / part < MAX_RATIO[fmt], piece / part
    assert bigger_part > 1.9 * part and bigger_piece < 1.1 * piece  # the piece does not grow with the part


def test_markdown_leaves_out_of_a_piece_only_what_the_run_leaves_out():
    """Owners that differ only in case sort by their first appearance in the run, which a part does not know: in
    the second part ``Team-A`` comes first and fills the cap, but in the run ``team-a`` (seen in the first part)
    comes first, so its rows of the second part count (its groups' sizes, its count)."""
    rule = Condition(FactRef("catalog", "default", "entity_descriptor"), "$.spec.owner", "exists", True)
    checks = tuple(Check(id=f"c{j}", rule=rule) for j in range(4))
    owners = ["team-a", "Team-A", "Team-A", "team-a"]
    ents = tuple(Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                                   "metadata": {"name": f"e{i}"}, "spec": {"owner": owner}})
                 for i, owner in enumerate(owners))
    results = tuple(CheckResult(c.id, str(e.ref), CheckState.FAILED, f"{e.name} failed {c.id}")
                    for c in checks for e in ents)
    report = RunReport(datetime(2026, 12, 7, tzinfo=UTC), ents, checks, (), results, ())
    head, parts = split(report, 2)
    assert [r.entity_ref for r in parts[1].check_results[:2]] == ["component:default/e2", "component:default/e3"]
    options = {"max_rows": 3, "limit": 1}
    written: list[str] = []
    writer = reporters.get_writer("markdown")(head, written.append, **options)
    for part in parts:
        writer.take(pickle.loads(pickle.dumps(writer.piece(part))))
    writer.close()
    text = "".join(written)
    assert text == reporters.get("markdown")(report, **options)
    assert "#### group:default/team-a (8)" in text and "_… and 1 more_" in text


def test_a_full_sarif_writer_formats_no_more_results_and_a_stale_copy_still_serves_it():
    """Once a state holds ``max_results`` results, the writer's pieces leave it out (a big run formats no more);
    a copy of the writer made earlier (a worker's) still makes pieces that write the same."""
    report = many_owners_report(120)
    head, parts = split(report, 40)
    written: list[str] = []
    writer = reporters.get_writer("sarif")(head, written.append, root=ROOT, max_results=9)
    stale = reporters.get_writer("sarif")(head, lambda text: None, root=ROOT, max_results=9)
    writer.add(parts[0])
    assert set(writer.spooled.values()) == {9}  # every state is full after the first part
    count, lines = writer.piece(parts[1])
    assert count > 0 and lines == {}
    stale_count, stale_lines = stale.piece(parts[1])
    assert stale_count == count and sum(n for n, _text in stale_lines.values()) == 9 * len(writer.spooled)
    for part in parts[1:]:
        writer.take(pickle.loads(pickle.dumps(stale.piece(part))))
    writer.close(report.problems)
    assert "".join(written) == reporters.get("sarif")(RunReport.join(head, parts, report.problems), root=ROOT,
                                                       max_results=9)
