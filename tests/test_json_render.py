"""The fast JSON renderer (pre-encoded result lines) writes exactly what encoding ``to_document`` item by item
with ``json.dumps`` writes (the format of docs/json-output.md, one item per line)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from soundcheck_cli.reporters import json_reporter
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import CheckResult, CheckState
from soundcheck_cli.tracks.model import LevelResult, TrackResult

ODD = ['plain', 'quote " and \\ backslash', "line\nbreak\ttab", "é漢字 ☃", "\u2028\u2029", "\x00\x1f", ""]


def reference(doc: dict[str, Any]) -> str:
    """The renderer as it was before pre-encoding: ``json.dumps`` per item."""
    parts = []
    for key, value in doc.items():
        head = f"  {json.dumps(key)}: "
        if isinstance(value, list) and value:
            items = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
            parts.append(f"{head}[\n{items}\n  ]")
        else:
            parts.append(head + json.dumps(value, ensure_ascii=False))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def make_report() -> RunReport:
    states = list(CheckState)
    results = []
    for i, text in enumerate(ODD * 3):
        results.append(CheckResult(f"check-{i % 4}{text[:2]}", f"component:default/{text or 'x'}{i % 5}",
                                   states[i % len(states)], text if i % 3 else None,  # type: ignore[arg-type]
                                   (f"{text}fact", "b") if i % 2 else ()))
    levels = (
        LevelResult(1, "Bronze", True, tuple(results[:2])),
        LevelResult(2, None, False, tuple(results[2:5])),
        LevelResult(3, "Gold ☃", False, ()),
    )
    tracks = (
        TrackResult("t1", "component:default/a", levels, levels[0]),
        TrackResult('t"2', "component:default/é", levels[1:], None),
    )
    return RunReport(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), (), (), (), tuple(results), tracks, ())


def test_render_is_byte_identical_to_encoding_each_item() -> None:
    report = make_report()
    text = json_reporter.render(report)
    assert text == reference(json_reporter.to_document(report))
    doc = json.loads(text)
    assert len(doc["results"]) == len(report.check_results)
    assert doc["certifications"][1]["highestLevel"] is None


def test_empty_report_renders_empty_lists() -> None:
    report = RunReport(datetime(2024, 1, 2, tzinfo=timezone.utc), (), (), (), (), (), ())
    text = json_reporter.render(report)
    assert text == reference(json_reporter.to_document(report))
    assert json.loads(text)["results"] == []


def test_render_in_blocks_gives_the_same_text_in_pieces_that_end_lines(monkeypatch) -> None:
    report = make_report()
    expected = reference(json_reporter.to_document(report))
    for block in (1, 2, 5, 1000):  # blocks of every size, down to one result (and one certification) each
        monkeypatch.setattr(json_reporter, "BLOCK", block)
        pieces = list(json_reporter.render_chunks(report))
        assert "".join(pieces) == expected == json_reporter.render(report)
        assert all(piece.endswith("\n") for piece in pieces)
        results_pieces = [p for p in pieces if '"checkId"' in p and '"trackId"' not in p]
        assert len(results_pieces) >= min(len(report.check_results), -(-len(report.check_results) // block))


def test_pieces_are_masked_one_by_one_unless_a_secret_spans_lines() -> None:
    from soundcheck_cli.redact import MASK, Redactor

    redactor = Redactor()
    redactor.add("s3cret-token")
    pieces = ["a s3cret-token b\n", "s3cret-\n", "token\n"]
    assert list(redactor.redact_known_chunks(pieces)) == [f"a {MASK} b\n", "s3cret-\n", "token\n"]
    redactor.add("two\nlines")  # could straddle two pieces: joined, then masked whole
    assert list(redactor.redact_known_chunks(["one two\n", "lines s3cret-token\n"])) == [f"one {MASK} {MASK}\n"]


def test_a_known_writer_masks_pushed_pieces_as_redact_known_chunks_does():
    """``Redactor.known_writer``: the same rule for text pushed piece by piece (a report written part by part):
    piece by piece, or whole at ``flush`` when a known secret spans lines."""
    from soundcheck_cli.redact import MASK, Redactor

    cases = ((["s3cret-token"], ["a s3cret-token b\n", "s3cret-\n", "token\n"],
              [f"a {MASK} b\n", "s3cret-\n", "token\n"]),
             (["s3cret-\ntoken", "another-s3cret"], ["one another-s3cret\n", "s3cret-\n", "token\n"],
              [f"one {MASK}\n{MASK}\n"]))
    for secrets, pieces, expected in cases:
        redactor = Redactor(secrets)
        written: list[str] = []
        writer = redactor.known_writer(written.append)
        for piece in pieces:
            writer(piece)
        assert written == (expected if len(expected) > 1 else [])  # held until flush when a secret spans lines
        writer.flush()
        assert written == expected == list(redactor.redact_known_chunks(pieces))
