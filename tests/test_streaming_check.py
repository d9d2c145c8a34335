"""``check`` evaluates, reports and records entity chunk by entity chunk (issue 23): the answers do not depend on the
chunk size. Each test runs the bundled sample with the default chunk (every entity in one part) and with parts of
one or two entities, and compares what a user sees: the reports, the exit code, the history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from soundcheck_cli import evaluation
from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.history.store import History

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "sample-config" / "app-config.yaml")


def _check(tmp_path: Path, name: str, capsys, *extra: str) -> tuple[int, str, Path]:
    folder = tmp_path / name
    folder.mkdir()
    code = run_cli(["check", "-c", SAMPLE, "--store", str(folder / "store"), "-f", "json", "-o",
                    str(folder / "r.json"), "-f", "csv", "-o", str(folder / "r.csv"), "-f", "table", "--all", *extra])
    return code, capsys.readouterr().out, folder


def _json(folder: Path) -> dict:
    doc = json.loads((folder / "r.json").read_text())
    doc.pop("generatedAt")
    doc["results"] = sorted(doc["results"], key=lambda r: (r["checkId"], r["entityRef"]))
    doc["certifications"] = sorted(doc["certifications"], key=lambda c: (c["trackId"], c["entityRef"]))
    return doc


def _csv(folder: Path) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO((folder / "r.csv").read_text(), newline="")))
    return [rows[0]] + sorted(rows[1:])


def _history(folder: Path) -> tuple:
    from soundcheck_cli.facts.store import open_store

    with open_store(str(folder / "store")) as store:
        history = History(store)
        runs = history.runs()
        record = history.load(runs[-1])
        return (len(runs), runs[-1].counts, runs[-1].entities, record.states.checks, record.states.levels,
                record.messages, history.state().checks)


@pytest.mark.parametrize("size", [1, 2])
def test_the_answers_do_not_depend_on_the_chunk_size(tmp_path, capsys, monkeypatch, size):
    whole_code, whole_table, whole = _check(tmp_path, "whole", capsys)
    monkeypatch.setattr(evaluation, "CHUNK", size)
    code, table, parts = _check(tmp_path, "parts", capsys)
    assert code == whole_code == 1  # the sample has failing checks
    assert table == whole_table  # counts, the track grids, failures sorted by entity, the summary line
    assert "results for" in table
    assert _json(parts) == _json(whole)
    assert _json(parts)["summary"]["results"]["failed"] > 0
    assert _csv(parts) == _csv(whole)
    assert _history(parts) == _history(whole)


def test_a_run_reads_its_facts_chunk_by_chunk(tmp_path, monkeypatch):
    """With parts of 2 entities, the store is asked for each chunk's facts (``load_entities``), never for all."""
    from soundcheck_cli import app
    from soundcheck_cli.facts.store import DiskFactStore

    asked: list[list[str]] = []
    original = DiskFactStore.load_entities

    def counting(self, keys):
        asked.append(list(keys))
        return original(self, keys)

    monkeypatch.setattr(DiskFactStore, "load_entities", counting)
    monkeypatch.setattr(DiskFactStore, "load_all", lambda self: pytest.fail("check read every fact at once"))
    monkeypatch.setattr(evaluation, "CHUNK", 2)
    options = app.CommonOptions(config_paths=(SAMPLE,), store_path=str(tmp_path / "store"))
    workspace = app.load_workspace(options)
    report = app.check(workspace, app.CheckOptions())
    entities = len(report.entities)
    assert entities > 2
    assert [len(keys) for keys in asked] == [2] * (entities // 2) + ([entities % 2] if entities % 2 else [])
    assert sorted(k for keys in asked for k in keys) == sorted(str(e.ref).lower() for e in report.entities)


def test_check_reports_its_progress_part_by_part(tmp_path, monkeypatch):
    """``check_and_report(progress=...)`` hears the entities evaluated after each part, up to all of them."""
    from soundcheck_cli import app
    from soundcheck_cli.app.reports import check_and_report

    monkeypatch.setattr(evaluation, "CHUNK", 2)
    workspace = app.load_workspace(app.CommonOptions(config_paths=(SAMPLE,), store_path=str(tmp_path / "store")))
    heard: list[tuple[int, int]] = []
    check_and_report(workspace, app.CheckOptions(), formats=["json"], outputs=[str(tmp_path / "r.json")],
                     progress=lambda done, total: heard.append((done, total)))
    total = len(workspace.entities)
    assert [done for done, _ in heard] == list(range(2, total, 2)) + [total]
    assert {t for _, t in heard} == {total}


def _big_catalog(folder: Path, n: int) -> None:
    docs = [f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}}}\n"
            f"spec: {{type: service, owner: team-a, lifecycle: production}}" for i in range(n)]
    (folder / "catalog-info.yaml").write_text("\n---\n".join(docs) + "\n")
    (folder / "app-config.yaml").write_text(
        "soundcheck:\n  checks:\n    - id: has_owner\n      rule:\n        factRef: catalog:default/entity_descriptor\n"
        "        path: $.spec.owner\n        operator: equal\n        value: team-a\n")


def test_a_long_check_draws_its_progress_on_a_terminal_only(tmp_path):
    """More than one chunk of entities: a progress bar on standard error when it is a terminal (a pty here), and
    nothing of it when standard error is a pipe (a CI log)."""
    import os
    import subprocess
    import sys

    _big_catalog(tmp_path, evaluation.CHUNK + 1)
    cmd = [sys.executable, "-m", "soundcheck_cli", "check", "-c", "app-config.yaml", "--store", "store",
           "-f", "json", "-o", "r.json"]
    master, slave = os.openpty()
    try:
        proc = subprocess.run(cmd, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                              timeout=120, env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"check: entities" in seen
    piped = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "check: entities" not in piped.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["results"]["passed"] == evaluation.CHUNK + 1
