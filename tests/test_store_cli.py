"""``soundcheck store init|migrate|info|export|import`` through ``cli.run_cli`` (and once as real processes),
on folder stores and, with the ``pg_url`` fixture, on PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.facts.locate import open_any
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import open_store

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
REPO = FactRef("github", "default", "repo_details")
PD = FactRef("pagerduty", "default", "service")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SOUNDCHECK_STORE", "SOUNDCHECK_STORE_URL", "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def fill(path: Path) -> None:
    """A folder store with three facts (one expiring) and some meta."""
    with open_store(str(path)) as store:
        store.put_many([
            Fact(REPO, "component:default/a", {"z": 1, "a": [1, 2]}, T0),
            Fact(PD, "component:default/a", {"id": "P1"}, T0, T0 + timedelta(days=1)),
            Fact(REPO, "component:default/b", None, T0 + timedelta(minutes=1)),
        ])
        store.set_meta("history:index", [{"id": "r1"}])
        store.set_meta("etag:github:https://api.github.com/repos/o/a", {"etag": "W/\"1\"", "data": {"k": "v"}})


def snapshot(store) -> tuple[list[tuple], dict[str, object]]:
    facts = sorted((f.entity_ref, str(f.fact_ref), f.timestamp, f.expires_at, json.dumps(f.data)) for f in store.facts())
    return facts, {key: store.get_meta(key) for key in store.meta_keys()}


def snapshot_of(spec: str):
    with open_any(spec, create=False) as store:
        return snapshot(store)


def feed_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))


# -- help ---------------------------------------------------------------------------------------------------------


def test_store_help_lists_the_commands(capsys):
    code, out, _ = cli(capsys, "store", "--help")
    assert code == 0
    for command in ("init", "migrate", "info", "export", "import"):
        assert f"\n  {command} " in out
    code, out, _ = cli(capsys, "store", "import", "--help")
    assert code == 0 and "--replace" in out and "--store" in out and "FILE" in out and "--store" in out


# -- init, migrate, info ------------------------------------------------------------------------------------------


def test_init_is_idempotent(capsys, tmp_path):
    where = tmp_path / "store"
    code, out, _ = cli(capsys, "store", "init", "--store", str(where))
    assert code == 0 and out.strip() == f"{where}: created" and where.is_dir()
    code, out, _ = cli(capsys, "store", "init", "--store", str(where))
    assert code == 0 and out.strip() == f"{where}: already initialised"


def test_migrate_a_folder_store_and_a_missing_one(capsys, tmp_path):
    fill(tmp_path / "store")
    code, out, _ = cli(capsys, "store", "migrate", "--store", str(tmp_path / "store"))
    assert code == 0 and "nothing to migrate (format 2)" in out
    code, _, err = cli(capsys, "store", "migrate", "--store", str(tmp_path / "nowhere"))
    assert code == 2 and "there is no fact store in" in err
    assert not (tmp_path / "nowhere").exists()


def test_info_counts_facts_and_meta(capsys, tmp_path):
    fill(tmp_path / "store")
    code, out, _ = cli(capsys, "store", "info", "--store", str(tmp_path / "store"))
    assert code == 0
    assert f"store:  {tmp_path / 'store'}\n" in out
    assert "kind:   folder (SQLite; format 2)" in out
    assert "facts:  3 (2 entities, 2 fact refs, 1 expired)" in out
    assert "meta:   2 keys (etag: 1, history: 1)" in out


def test_info_of_a_missing_store_is_exit_2_and_creates_nothing(capsys, tmp_path):
    code, out, err = cli(capsys, "store", "info", "--store", str(tmp_path / "nope"))
    assert code == 2 and out == "" and "there is no fact store" in err
    assert not (tmp_path / "nope").exists()


def test_the_store_resolves_as_for_the_facts_commands(capsys, tmp_path, monkeypatch):
    # soundcheck.store.url in the config: a folder relative to the config file
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app-config.yaml").write_text("soundcheck:\n  store:\n    url: ${SOUNDCHECK_STORE_URL}\n")
    monkeypatch.setenv("SOUNDCHECK_STORE_URL", "../shared")
    code, out, _ = cli(capsys, "store", "init", "-c", str(tmp_path / "conf" / "app-config.yaml"))
    assert code == 0 and out.strip() == f"{tmp_path / 'shared'}: created"
    # unset: an error at the config's line, not a silent fallback
    monkeypatch.delenv("SOUNDCHECK_STORE_URL")
    code, _, err = cli(capsys, "store", "info", "-c", str(tmp_path / "conf" / "app-config.yaml"))
    assert code == 2 and "app-config.yaml:3" in err and "SOUNDCHECK_STORE_URL" in err
    # $SOUNDCHECK_STORE wins over the config
    monkeypatch.setenv("SOUNDCHECK_STORE", str(tmp_path / "env-store"))
    code, out, _ = cli(capsys, "store", "init", "-c", str(tmp_path / "conf" / "app-config.yaml"))
    assert code == 0 and out.strip() == f"{tmp_path / 'env-store'}: created"
    # and `facts list` uses the same store
    fill(tmp_path / "env-store")
    code, out, _ = cli(capsys, "facts", "list")
    assert code == 0 and out.strip().endswith("3 facts")


# -- export -------------------------------------------------------------------------------------------------------


def test_export_to_stdout_keeps_stdout_for_the_data(capsys, tmp_path):
    fill(tmp_path / "store")
    for extra in ([], ["-o", "-"]):
        code, out, err = cli(capsys, "store", "export", "--store", str(tmp_path / "store"), *extra)
        assert code == 0
        records = [json.loads(line) for line in out.splitlines()]
        assert records[0]["soundcheck"] == "store-export"
        assert [r["type"] for r in records[1:]] == ["fact"] * 3 + ["meta"] * 2
        assert err.strip() == f"exported 3 facts and 2 meta keys from {tmp_path / 'store'}"


def test_export_to_a_file(capsys, tmp_path):
    fill(tmp_path / "store")
    target = tmp_path / "out" / "dump.jsonl"
    code, out, err = cli(capsys, "store", "export", "--store", str(tmp_path / "store"), "-o", str(target))
    assert code == 0 and err == ""
    assert out.strip() == f"exported 3 facts and 2 meta keys from {tmp_path / 'store'} to {target}"
    assert len(target.read_text(encoding="utf-8").splitlines()) == 6
    assert [p.name for p in target.parent.iterdir()] == ["dump.jsonl"]  # no temporary file left


def test_export_to_an_unwritable_place_is_exit_2(capsys, tmp_path):
    fill(tmp_path / "store")
    (tmp_path / "file").write_text("x")
    code, _, err = cli(capsys, "store", "export", "--store", str(tmp_path / "store"), "-o", str(tmp_path / "file" / "d.jsonl"))
    assert code == 2 and f"cannot write {tmp_path / 'file' / 'd.jsonl'}" in err


# -- import -------------------------------------------------------------------------------------------------------


def test_import_from_a_file_round_trips(capsys, tmp_path):
    fill(tmp_path / "a")
    dump = tmp_path / "dump.jsonl"
    assert cli(capsys, "store", "export", "--store", str(tmp_path / "a"), "-o", str(dump))[0] == 0
    code, out, _ = cli(capsys, "store", "import", str(dump), "--store", str(tmp_path / "b"))
    assert code == 0 and out.strip() == f"imported 3 facts and 2 meta keys into {tmp_path / 'b'}"
    assert snapshot_of(str(tmp_path / "b")) == snapshot_of(str(tmp_path / "a"))
    code, out, _ = cli(capsys, "store", "import", str(dump), "--store", str(tmp_path / "b"))
    assert code == 0 and "imported 0 facts and 2 meta keys; kept the store's own copy of 3 facts" in out
    code, out, _ = cli(capsys, "store", "import", str(dump), "--replace", "--store", str(tmp_path / "b"))
    assert code == 0 and out.startswith("imported 3 facts and 2 meta keys into")


def test_import_from_stdin(capsys, tmp_path, monkeypatch):
    fill(tmp_path / "a")
    code, dump, _ = cli(capsys, "store", "export", "--store", str(tmp_path / "a"))
    assert code == 0
    feed_stdin(monkeypatch, dump)
    code, out, _ = cli(capsys, "store", "import", "-", "--store", str(tmp_path / "b"))
    assert code == 0 and "imported 3 facts and 2 meta keys" in out
    assert snapshot_of(str(tmp_path / "b")) == snapshot_of(str(tmp_path / "a"))


def test_bad_input_is_exit_2_with_file_and_line_and_writes_nothing(capsys, tmp_path, monkeypatch):
    dump = tmp_path / "bad.jsonl"
    dump.write_text('{"soundcheck":"store-export","version":1}\n'
                    '{"type":"fact","entityRef":"component:default/a","factRef":"github:default/x",'
                    '"timestamp":"2026-01-01T00:00:00Z","data":1}\n'
                    '{"type":"fact","entityRef":"component:default/a","factRef":"github:default/y",'
                    '"timestamp":"later","data":1}\n', encoding="utf-8")
    code, out, err = cli(capsys, "store", "import", str(dump), "--store", str(tmp_path / "b"))
    assert code == 2 and out == ""
    assert f"error: {dump}:3: timestamp 'later' is not an ISO-8601 timestamp" in err
    assert "nothing was imported" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()  # the input is read before the store is opened

    feed_stdin(monkeypatch, "hello\n")
    code, _, err = cli(capsys, "store", "import", "-", "--store", str(tmp_path / "b"))
    assert code == 2 and "error: <stdin>:1:1: not valid JSON" in err

    code, _, err = cli(capsys, "store", "import", str(tmp_path / "missing.jsonl"), "--store", str(tmp_path / "b"))
    assert code == 2 and f"cannot read {tmp_path / 'missing.jsonl'}" in err

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = cli(capsys, "store", "import", str(empty), "--store", str(tmp_path / "b"))
    assert code == 2 and f"{empty}:1: the file is empty" in err


def test_export_piped_into_import_as_processes(tmp_path):
    fill(tmp_path / "a")
    env = {k: v for k, v in os.environ.items() if k != "SOUNDCHECK_STORE"}
    exporter = subprocess.run([sys.executable, "-m", "soundcheck_cli", "store", "export", "--store", str(tmp_path / "a")],
                              capture_output=True, cwd=ROOT, env=env, check=False)
    assert exporter.returncode == 0, exporter.stderr
    importer = subprocess.run([sys.executable, "-m", "soundcheck_cli", "store", "import", "-", "--store", str(tmp_path / "b")],
                              input=exporter.stdout, capture_output=True, cwd=ROOT, env=env, check=False)
    assert importer.returncode == 0, importer.stderr
    assert b"imported 3 facts and 2 meta keys" in importer.stdout
    assert snapshot_of(str(tmp_path / "b")) == snapshot_of(str(tmp_path / "a"))


# -- PostgreSQL ---------------------------------------------------------------------------------------------------


def test_disk_to_postgres_to_disk_round_trip_never_shows_the_password(capsys, tmp_path, pg_url):
    password = urlsplit(pg_url).password
    assert password, "the test server's URL carries a password"
    fill(tmp_path / "a")
    outputs: list[str] = []

    def run(*args: str) -> tuple[int, str]:
        code, out, err = cli(capsys, *args)
        outputs.extend([out, err])
        return code, out

    code, out = run("store", "init", "--store", pg_url)
    assert code == 0 and "schema created" in out
    assert run("store", "init", "--store", pg_url)[1].find("already initialised") >= 0
    assert run("store", "migrate", "--store", pg_url)[0] == 0

    dump = tmp_path / "a.jsonl"
    assert run("store", "export", "--store", str(tmp_path / "a"), "-o", str(dump))[0] == 0
    code, out = run("store", "import", str(dump), "--store", pg_url)
    assert code == 0 and out.startswith("imported 3 facts and 2 meta keys into postgresql://") and "***" in out

    code, out = run("store", "info", "--store", pg_url)
    assert code == 0 and "kind:   PostgreSQL" in out and "facts:  3 (2 entities" in out and "meta:   2 keys" in out

    back = tmp_path / "pg.jsonl"
    assert run("store", "export", "--store", pg_url, "-o", str(back))[0] == 0
    code, _ = run("store", "export", "--store", pg_url)  # to stdout as well
    assert code == 0
    assert run("store", "import", str(back), "--store", str(tmp_path / "c"))[0] == 0
    assert snapshot_of(str(tmp_path / "c")) == snapshot_of(str(tmp_path / "a"))
    assert snapshot_of(pg_url) == snapshot_of(str(tmp_path / "a"))

    # errors about the PostgreSQL store do not show it either
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert run("store", "import", str(bad), "--store", pg_url)[0] == 2
    wrong = pg_url.replace(f":{password}@", ":not-the-password@")
    assert run("store", "info", "--store", wrong)[0] == 2

    shown = "\n".join(outputs) + back.read_text(encoding="utf-8") + dump.read_text(encoding="utf-8")
    assert password not in shown and "not-the-password" not in shown


# -- a run killed with SIGKILL -------------------------------------------------------------------------------------


def test_collect_after_a_collect_killed_with_sigkill_proceeds_at_once(tmp_path):
    """``soundcheck collect`` is killed (``kill -9``) while its requests hang: its claims stay in the store. The next
    ``collect`` finds their process gone and collects every fact within seconds, instead of waiting out the
    killed run's 15-minute claims in silence."""
    import signal
    import time

    from reliability.cli import component, run, spawn, write_catalog
    from reliability.fault_server import Faults, FaultServer

    n = 12
    write_catalog(tmp_path / "catalog-info.yaml",
                  [component(f"svc-{i}", {"pagerduty.com/service-id": f"P{i:04d}"}) for i in range(n)])
    store = tmp_path / "store"
    with FaultServer(faults=Faults(latency=30.0), max_seconds=90) as server:
        (tmp_path / "app-config.yaml").write_text(
            "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
            f"      baseUrl: {server.url}\n      frequency: {{hours: 1}}\n      timeout: 60\n"
            "      collects:\n        - type: Service\n")
        env = {"PAGERDUTY_TOKEN": "pd-token-0123456789abcdef"}
        first = spawn(["collect", "--store", str(store)], tmp_path, env)
        try:
            deadline = time.monotonic() + 30
            while len(server.records) < 1 and time.monotonic() < deadline:  # claimed, now fetching
                time.sleep(0.05)
            assert server.records, "the first collect sent no request"
            with open_store(str(store)) as st:
                names = [f"fact/component:default/svc-{i}/pagerduty:default/service" for i in range(n)]
                assert st.claim_holders(names)  # the first run's claims
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(30)
        server.faults = Faults()  # the API answers at once now
        started = time.monotonic()
        second = run(["collect", "--store", str(store)], tmp_path, env, timeout=60)
        took = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert took < 20, took
    with open_store(str(store)) as st:
        collected = {f.entity_ref: f.data for f in st.facts(fact_ref=PD)}
    assert collected == {f"component:default/svc-{i}": {"id": f"P{i:04d}", "name": f"service P{i:04d}",
                                                         "status": "active"} for i in range(n)}, second.stdout
