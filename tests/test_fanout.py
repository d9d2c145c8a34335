"""``check`` fanned out over worker processes (``app.fanout``, issue 23): the same reports, exit code and history
as a run in one process, errors raised as they would be there, and the fan-out used only where it can pay.

The runs use chunks of one entity (``evaluation.CHUNK``) so that the bundled sample has many chunks, and set
``SOUNDCHECK_WORKERS`` so that the test does not depend on the machine's cores. ``fanout.pieces`` is watched to
know that a run was really fanned out."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from soundcheck_cli import evaluation
from soundcheck_cli.app import fanout
from soundcheck_cli.cli.commands import run_cli
from test_streaming_check import _history

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "sample-config" / "app-config.yaml")
FORMATS = ("json", "csv", "junit", "sarif", "html", "markdown", "table", "github")


@pytest.fixture
def fanned(monkeypatch):
    """Counts the runs that were fanned out (and with how many workers)."""
    seen: list[int] = []
    original = fanout.pieces

    def watching(stream, consumers, workers):
        seen.append(workers)
        yield from original(stream, consumers, workers)

    monkeypatch.setattr(fanout, "pieces", watching)
    monkeypatch.setattr(evaluation, "CHUNK", 1)
    return seen


def _run(tmp_path: Path, name: str, capsys, monkeypatch, workers: str, *extra: str,
         store: str | None = None) -> tuple[int, str, str, Path]:
    monkeypatch.setenv(fanout.ENV, workers)
    folder = tmp_path / name
    folder.mkdir()
    args = ["check", "-c", SAMPLE, "--store", store or str(folder / "store")]
    for fmt in FORMATS:
        args += ["-f", fmt, "-o", str(folder / f"r.{fmt}")]
    code = run_cli(args + list(extra))
    out = capsys.readouterr()
    return code, out.out, out.err, folder


def _report(folder: Path, fmt: str) -> str:
    text = (folder / f"r.{fmt}").read_text()
    if fmt == "json":
        doc = json.loads(text)
        doc.pop("generatedAt")
        return json.dumps(doc, indent=1)  # results in their order: the order is part of what is compared
    return re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?Z?", "<time of the run>", text)


@pytest.mark.parametrize("workers", ["2", "3"])
def test_a_fanned_out_run_writes_what_one_process_writes(tmp_path, capsys, monkeypatch, fanned, workers):
    one = _run(tmp_path, "one", capsys, monkeypatch, "0", "-f", "table")  # and a table on standard output
    assert fanned == []
    many = _run(tmp_path, "many", capsys, monkeypatch, workers, "-f", "table")
    assert fanned == [int(workers)]
    assert many[0] == one[0] == 1  # the sample has failing checks: the same gate verdict
    assert "results for" in one[1] and many[1] == one[1]
    for fmt in FORMATS:
        assert _report(many[3], fmt) == _report(one[3], fmt), fmt
    assert json.loads((many[3] / "r.json").read_text())["summary"]["results"]["failed"] > 0
    assert _history(many[3]) == _history(one[3])


def test_the_evaluations_warnings_come_back_from_the_workers_in_order(tmp_path, capsys, monkeypatch, fanned):
    """An exemption that has expired is a warning raised while a chunk is evaluated: it must reach the report and
    the terminal as in one process."""
    config = tmp_path / "exempt.yaml"
    config.write_text(
        "soundcheck:\n  exemptions:\n"
        "    - {checkId: has_owner, entityRef: component:default/payments-api, reason: old, expires: '2020-01-01'}\n"
        "    - {checkId: has_description, entityRef: component:platform/search-indexer, reason: old,"
        " expires: '2020-02-01'}\n")
    one = _run(tmp_path, "one", capsys, monkeypatch, "0", "-c", str(config))
    many = _run(tmp_path, "many", capsys, monkeypatch, "2", "-c", str(config))
    assert fanned == [2]
    problems = json.loads((one[3] / "r.json").read_text())["problems"]
    assert sum("2020-0" in p["message"] for p in problems) == 2
    assert json.loads((many[3] / "r.json").read_text())["problems"] == problems
    assert many[2] == one[2]


def test_a_workers_error_is_the_error_of_the_run(tmp_path, capsys, monkeypatch, fanned):
    """A store that fails in a worker: the same message and exit code as in one process, the report files left
    empty and nothing recorded."""
    from soundcheck_cli.errors import Location, StoreError
    from soundcheck_cli.facts.store import DiskFactStore

    original = DiskFactStore.load_entities

    def failing(self, keys):
        if any("search" in key for key in keys):
            raise StoreError("database disk image is malformed", Location(self.directory))
        return original(self, keys)

    monkeypatch.setattr(DiskFactStore, "load_entities", failing)
    one = _run(tmp_path, "one", capsys, monkeypatch, "0")
    many = _run(tmp_path, "many", capsys, monkeypatch, "2")
    assert fanned == [2]
    assert many[0] == one[0] == 2
    assert "database disk image is malformed" in many[2]
    assert many[2].replace(str(many[3]), "X") == one[2].replace(str(one[3]), "X")
    for fmt in FORMATS:
        assert (many[3] / f"r.{fmt}").read_text() == ""
    assert _history_runs(many[3]) == 0


def _history_runs(folder: Path) -> int:
    from soundcheck_cli.facts.store import open_store
    from soundcheck_cli.history.store import History

    with open_store(str(folder / "store")) as store:
        return len(History(store).runs())


def test_a_worker_that_dies_stops_the_run_with_a_clear_message(tmp_path, capsys, monkeypatch, fanned):
    from soundcheck_cli.facts.store import DiskFactStore

    original = DiskFactStore.load_entities
    parent = os.getpid()

    def dying(self, keys):
        if os.getpid() != parent and any("search" in key for key in keys):
            os._exit(9)
        return original(self, keys)

    monkeypatch.setattr(DiskFactStore, "load_entities", dying)
    code, _out, err, folder = _run(tmp_path, "many", capsys, monkeypatch, "2")
    assert fanned == [2]
    assert code == 3
    assert "ended with exit code 9 before it sent the results of chunk" in err
    assert f"{fanout.ENV}=0" in err
    assert "Traceback" not in err
    for fmt in FORMATS:
        assert (folder / f"r.{fmt}").read_text() == ""
    assert _history_runs(folder) == 0


def test_a_bad_worker_count_is_a_usage_error(tmp_path, capsys, monkeypatch, fanned):
    code, _out, err, folder = _run(tmp_path, "bad", capsys, monkeypatch, "two")
    assert code == 2
    assert "$SOUNDCHECK_WORKERS must be a whole number of worker processes (0: none), not 'two'" in err


def test_the_fan_out_is_used_only_where_it_can_pay(tmp_path, capsys, monkeypatch, fanned):
    """One worker asked for, a format whose pieces would be the results themselves (``PIECES`` false), or events
    on (the recorder keeps every result): the run stays in one process, with the same answers."""
    from soundcheck_cli.reporters import FORMATS as ALL, ReportWriter, get_writer

    _run(tmp_path, "one-worker", capsys, monkeypatch, "1")
    assert fanned == []
    assert all(get_writer(fmt).PIECES for fmt in ALL)  # every format's pieces are plain data
    assert not ReportWriter.PIECES  # a writer (a plugin's, a future format) that does not split: one process

    class Stream:
        count = 8

    monkeypatch.setenv(fanout.ENV, "2")
    assert fanout.worker_count(Stream(), [ReportWriter(None, print)]) == 0
    assert fanout.worker_count(Stream(), [get_writer("json")(_head(), print)]) == 2
    Stream.count = 1
    assert fanout.worker_count(Stream(), [get_writer("json")(_head(), print)]) == 0  # one chunk: nothing to share
    events = tmp_path / "events.yaml"
    events.write_text("soundcheck:\n  events:\n    enabled: true\n    sinks:\n      - type: stdout\n")
    _run(tmp_path, "events", capsys, monkeypatch, "2", "-c", str(events))
    assert fanned == []
    _run(tmp_path, "fanned", capsys, monkeypatch, "2")
    assert fanned == [2]


def _head():
    from datetime import datetime, timezone

    from soundcheck_cli.results import RunReport

    return RunReport(datetime(2026, 1, 1, tzinfo=timezone.utc), (), (), (), (), ())


def test_a_run_with_its_facts_in_postgresql_fans_out_on_connections_of_its_own(tmp_path, capsys, monkeypatch,
                                                                              fanned, pg_url):
    """Each worker opens its own connection; the parent's stays usable for recording the run afterwards."""
    assert run_cli(["store", "init", "--store", pg_url]) == 0
    one = _run(tmp_path, "one", capsys, monkeypatch, "0", store=pg_url)
    many = _run(tmp_path, "many", capsys, monkeypatch, "2", store=pg_url)
    assert fanned == [2]
    assert many[0] == one[0] == 1
    assert _report(many[3], "json") == _report(one[3], "json")
    from soundcheck_cli.facts.locate import open_any
    from soundcheck_cli.history.store import History

    with open_any(pg_url) as store:
        runs = History(store).runs()
    assert len(runs) == 2 and runs[0].counts == runs[1].counts


def _catalog(folder: Path, n: int, broken: bool = False) -> Path:
    docs = [f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}}}\n"
            f"spec: {{type: service, owner: team-a, lifecycle: production}}" for i in range(n)]
    catalog = folder / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    for k in range(3):  # three files, shared out between the parsing processes
        (catalog / f"services-{k}.yaml").write_text("\n---\n".join(docs[k::3]) + "\n")
    if broken:  # a file with a warning is never cached: parsed by every load, its warning given by each
        (catalog / "broken.yaml").write_text(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: 'Not A Name!'}\nspec: {}\n")
    for name in catalog.iterdir():
        os.utime(name, (1_700_000_000, 1_700_000_000))  # not "racy": cacheable
    config = folder / "app-config.yaml"
    config.write_text(
        "soundcheck:\n  checks:\n    - id: has_owner\n      rule:\n        factRef: catalog:default/entity_descriptor\n"
        "        path: $.spec.owner\n        operator: equal\n        value: team-a\n")
    return config


def test_a_big_catalog_without_a_cache_is_parsed_apart_by_every_core(tmp_path, capsys, monkeypatch):
    """The cache is filled by throwaway processes (a share of the files each) before this one loads the catalog
    from it: the same entities and the same warnings (once), whether the catalog was parsed apart or here."""
    import soundcheck_cli.app as core
    from soundcheck_cli.catalog import loader

    seen: list[bool] = []
    original = loader.load_catalog

    def watching(paths, problems, **options):
        parts = options.get("cache_parts", ())  # filled before this process parses anything?
        seen.append(len(parts) == 2 and all(os.path.exists(part) for part in parts))
        return original(paths, problems, **options)

    monkeypatch.setattr(core, "PARSE_APART", 1)
    monkeypatch.setattr(loader, "load_catalog", watching)
    outputs = []
    for workers, name in (("2", "apart"), ("0", "here")):
        monkeypatch.setenv(fanout.ENV, workers)
        config = _catalog(tmp_path / name, 30, broken=True)
        (tmp_path / name / "store").mkdir()
        code = run_cli(["check", "-c", str(config), "--catalog", str(tmp_path / name / "catalog"),
                        "--store", str(tmp_path / name / "store"), "-f", "json", "-o", str(tmp_path / name / "r.json")])
        err = capsys.readouterr().err
        assert code == 0
        assert err.count("skipped: metadata.name") == 1, err
        doc = json.loads((tmp_path / name / "r.json").read_text())
        outputs.append((doc["summary"], [r["entityRef"] for r in doc["results"]], err.replace(name, "X")))
        cached = json.loads((tmp_path / name / "store" / "catalog-cache.json").read_text())["files"]
        assert sorted(os.path.basename(path) for path in cached) == [f"services-{k}.yaml" for k in range(3)]
        assert not [n for n in os.listdir(tmp_path / name / "store") if ".part" in n]  # the parts taken, removed
    assert seen == [True, False]  # parsed apart with a second process allowed; here with SOUNDCHECK_WORKERS=0
    assert outputs[0] == outputs[1]
    assert outputs[0][0]["results"]["passed"] == 30


def test_a_throwaway_parse_that_fails_leaves_the_load_to_this_process(tmp_path, capsys, monkeypatch):
    import soundcheck_cli.app as core

    def failing(*args):
        raise MemoryError("the parse ran out of memory")

    monkeypatch.setattr(core, "PARSE_APART", 1)
    monkeypatch.setattr(core, "_fill_catalog_cache", failing)
    monkeypatch.setenv(fanout.ENV, "2")
    config = _catalog(tmp_path, 12)
    (tmp_path / "store").mkdir()
    code = run_cli(["check", "-c", str(config), "--catalog", str(tmp_path / "catalog"),
                    "--store", str(tmp_path / "store"), "-f", "json", "-o", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["results"]["passed"] == 12
    assert (tmp_path / "store" / "catalog-cache.json").exists()  # written by this process's own load


def test_a_process_running_other_threads_does_not_fork(tmp_path, capsys, monkeypatch, fanned):
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        code, _out, _err, _folder = _run(tmp_path, "threads", capsys, monkeypatch, "2")
    finally:
        stop.set()
        other.join()
    assert code == 1 and fanned == []
    _run(tmp_path, "alone", capsys, monkeypatch, "2")
    assert fanned == [2]


def test_a_disk_that_fills_up_mid_write_of_a_fanned_out_run_leaves_no_cut_report(tmp_path):
    """Two chunks (more than ``CHUNK`` entities), two processes, a file size limit (``RLIMIT_FSIZE``: writes past it
    fail with EFBIG as on a full disk): the run fails with 2 naming the report, every report is left empty, and
    nothing is recorded."""
    import resource
    import signal
    import subprocess
    import sys

    config = _catalog(tmp_path, evaluation.CHUNK + 100)
    (tmp_path / "store").mkdir()
    limit = 256 * 1024

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.Popen([sys.executable, "-m", "soundcheck_cli", "check", "-c", str(config), "--catalog",
                             "catalog", "--store", "store", "-f", "json", "-o", "r.json", "-f", "csv", "-o", "r.csv",
                             "-q"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=small_disk, env={**os.environ, fanout.ENV: "2"})
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert any(f"cannot write {name}: {os.strerror(27)}" in err for name in ("r.json", "r.csv")), err
    assert "Traceback" not in err
    assert (tmp_path / "r.json").stat().st_size == 0 and (tmp_path / "r.csv").stat().st_size == 0
    assert _history_runs(tmp_path) == 0


def test_the_default_is_two_processes_within_the_cores_and_a_containers_cpu_quota(tmp_path, monkeypatch):
    monkeypatch.delenv(fanout.ENV, raising=False)
    assert 1 <= fanout.processes() <= fanout.DEFAULT_PROCESSES == 2
    for text, cpus in (("max 100000\n", None), ("50000 100000\n", 1), ("150000 100000\n", 2), ("400000 100000", 4)):
        (tmp_path / "cpu.max").write_text(text)
        assert fanout.cgroup_cpus(str(tmp_path / "cpu.max")) == cpus
    assert fanout.cgroup_cpus(str(tmp_path / "missing")) is None
    monkeypatch.setattr(fanout, "cgroup_cpus", lambda: 1)  # a container with one CPU
    assert fanout.processes() == 1
    monkeypatch.setenv(fanout.ENV, "3")  # asked for: as many as asked
    assert fanout.processes() == 3
