"""What the CLI tells its user (issue 17): a run that evaluated nothing, an empty config, why a gate failed, the
summary when the report goes elsewhere, counts in words, real placeholders and every exit code in ``--help``, and
the common options accepted by every command. Through ``run_cli``, as the console script runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from soundcheck_cli.cli.commands import run_cli
from workspaces import hygiene_config, two_components

ONE_ENTITY = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: only, description: fine}
spec: {type: service, owner: team-a}
"""


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SOUNDCHECK_STORE", "GITHUB_ACTIONS", "PAGERDUTY_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def workspace(tmp_path: Path, catalog: str | None = None, config: str | None = None) -> list[str]:
    (tmp_path / "catalog.yaml").write_text(two_components() if catalog is None else catalog)
    (tmp_path / "app-config.yaml").write_text(hygiene_config() if config is None else config)
    return ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]


# --- a run that evaluated nothing (item 1) ------------------------------------------------------------------------
NO_CHECKS = """\
catalog:
  locations: [{type: file, target: ./catalog.yaml}]
soundcheck:
  collectors: {}
"""


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_run_with_no_check_to_evaluate_fails_and_says_so(tmp_path, capsys, command):
    base = workspace(tmp_path, config=NO_CHECKS)
    code, _, err = cli(capsys, command, *base, "-q")
    assert code == 1
    assert "nothing was evaluated: no check or track is defined" in err and "--allow-empty" in err
    code, _, err = cli(capsys, command, *base, "-q", "--allow-empty")
    assert code == 0
    assert "nothing was evaluated" in err  # still said, but accepted


def test_a_track_whose_filter_selects_no_entity_is_an_empty_run(tmp_path, capsys):
    config = hygiene_config().replace("    - id: hygiene\n", "    - id: hygiene\n      filter: {kind: API}\n")
    config = config.replace("  checks:\n", "  checks:\n", 1)
    base = workspace(tmp_path, config=config)
    code, _, err = cli(capsys, "check", *base, "--track", "hygiene", "-f", "json", "-q")
    assert code == 1
    assert "nothing was evaluated: the filters of the checks and tracks selected none of the entities" in err


def test_an_empty_catalog_is_an_empty_run(tmp_path, capsys):
    base = workspace(tmp_path, catalog="# nothing yet\n")
    code, _, err = cli(capsys, "check", *base)
    assert code == 1 and "nothing was evaluated: no entity was selected" in err


@pytest.mark.parametrize("text", ["", "# just a comment\n", "catalog:\n  locations: []\n"])
def test_validate_reports_a_config_without_a_soundcheck_section(tmp_path, capsys, text):
    base = workspace(tmp_path, config=text)
    code, out, err = cli(capsys, "validate", *base, "--catalog", str(tmp_path / "catalog.yaml"))
    assert code == 2, out + err
    assert "ok:" not in out
    assert f"error: {tmp_path / 'app-config.yaml'}:1: no `soundcheck:` section in the config file" in err


def test_validate_of_a_good_config_counts_in_words(tmp_path, capsys):
    base = workspace(tmp_path, catalog=ONE_ENTITY)
    code, out, _ = cli(capsys, "validate", *base)
    assert code == 0
    assert out.strip() == "ok: 1 config file, 2 checks, 1 track, 0 collectors, 1 entity, 0 warnings"


# --- why a gate failed (item 3) -----------------------------------------------------------------------------------


def test_min_level_failure_names_the_entities_and_their_levels(tmp_path, capsys):
    base = workspace(tmp_path)
    code, _, err = cli(capsys, "check", *base, "--fail-on", "never", "--min-level", "hygiene=1")
    assert code == 1
    assert ("track hygiene: 1 entity below level 1 (--min-level hygiene=1): component:default/b (no level)"
            in err)
    assert "component:default/a" not in err  # a reached level 2
    code, _, err = cli(capsys, "check", *base, "--fail-on", "never", "--min-level", "hygiene=2", "-f", "json",
                       "-o", str(tmp_path / "r.json"))
    assert code == 1
    assert "track hygiene: 1 entity below level 2 (--min-level hygiene=2): component:default/b (no level)" in err


def test_min_level_above_the_top_level_is_a_usage_error(tmp_path, capsys):
    base = workspace(tmp_path)
    code, out, err = cli(capsys, "check", *base, "--min-level", "hygiene=3")
    assert code == 2 and out == ""
    assert "error: --min-level hygiene=3: track 'hygiene' has no level 3 (its levels are 1, 2)" in err


# --- the summary when stdout carries no table (item 5) ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["junit", "json", "sarif", "csv", "markdown", "html"])
def test_a_report_to_a_file_still_prints_the_one_line_summary(tmp_path, capsys, fmt):
    base = workspace(tmp_path)
    code, out, err = cli(capsys, "check", *base, "-f", fmt, "-o", str(tmp_path / f"report.{fmt}"))
    assert code == 1 and out == ""
    assert err.splitlines()[0] == "4 results for 2 entities: 2 passed, 2 failed"
    assert "gate failed (--fail-on failed): 2 failed results" in err
    assert (tmp_path / f"report.{fmt}").stat().st_size > 0


def test_a_machine_format_on_stdout_keeps_stdout_clean(tmp_path, capsys):
    base = workspace(tmp_path)
    code, out, err = cli(capsys, "check", *base, "-f", "json")
    assert code == 1
    assert len(json.loads(out)["results"]) == 4  # nothing else on stdout
    assert err.startswith("4 results for 2 entities")


def test_quiet_passing_run_to_a_file_prints_nothing(tmp_path, capsys):
    base = workspace(tmp_path, catalog=ONE_ENTITY)
    code, out, err = cli(capsys, "check", *base, "-q", "-f", "junit", "-o", str(tmp_path / "r.xml"))
    assert (code, out, err) == (0, "", "")


# --- words, placeholders, exit codes (item 7) ---------------------------------------------------------------------


def test_counts_of_one_are_singular(tmp_path, capsys):
    base = workspace(tmp_path, catalog=ONE_ENTITY)
    code, out, _ = cli(capsys, "entities", *base)
    assert code == 0 and out.splitlines()[-1] == "1 entity"
    code, out, _ = cli(capsys, "tracks", *base)
    assert code == 0 and out.splitlines()[-1] == "1 track"
    path = tmp_path / "fact.json"
    path.write_text(json.dumps({"factRef": "ci:default/tests", "entityRef": "component:default/only",
                                "data": {"passed": True}}))
    code, out, _ = cli(capsys, "facts", "push", str(path), *base)
    assert code == 0 and out == "stored 1 fact\n"
    code, out, _ = cli(capsys, "facts", "list", *base)
    assert code == 0 and out.splitlines()[-1] == "1 fact"


def _commands() -> list[list[str]]:
    return [["check"], ["collect"], ["run"], ["validate"], ["entities"], ["checks"], ["tracks"], ["history"],
            ["diff"], ["exemptions"], ["facts", "list"], ["facts", "show"], ["facts", "clear"], ["facts", "push"],
            ["facts", "schema"], ["collectors", "list"], ["collectors", "show"], ["store", "init"],
            ["store", "migrate"], ["store", "info"], ["store", "export"], ["store", "import"],
            ["exemptions", "add"], ["exemptions", "revoke"], ["exemptions", "audit"], ["results", "push"],
            ["results", "list"], ["results", "delete"], ["campaigns"]]


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_help_has_real_placeholders_and_every_exit_code(capsys, command):
    code, out, _ = cli(capsys, *command, "--help")
    assert code == 0
    options = out.split("\nOptions:\n", 1)[1]
    assert not re.search(r"<[a-z]+(\[[a-z]+\])?>", options), options  # no <list[str]>, <str>, <int>
    text = " ".join(out.split())
    assert "3 internal error" in text and "2 usage or configuration error" in text


def test_check_help_names_what_each_option_takes(capsys):
    _, out, _ = cli(capsys, "check", "--help")
    for placeholder in ("--track ID", "--entity REF", "--format FORMAT", "--output FILE", "--config FILE",
                        "--catalog PATH", "--catalog-url URL", "--min-level TRACK=N"):
        assert placeholder in out


# --- the common options, on every command (item 8) ----------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["checks"], ["tracks"], ["history"], ["diff"], ["exemptions"], ["store", "info"], ["facts", "list"],
    ["collectors", "list"], ["entities"], ["validate"], ["check"]], ids=" ".join)
@pytest.mark.parametrize("before", [False, True], ids=["after", "before"])
def test_every_command_takes_config_catalog_and_store(tmp_path, capsys, command, before):
    base = workspace(tmp_path)
    common = [*base, "--catalog", str(tmp_path / "catalog.yaml")]
    argv = [*common, *command] if before else [*command, *common]
    if command == ["store", "info"]:
        assert run_cli(["checks", *base]) == 0  # nothing to do with the store yet: make sure it exists
        run_cli(["check", *base])
    capsys.readouterr()
    code, _, err = cli(capsys, *argv)
    assert "No such option" not in err and code in (0, 1), err


def test_facts_show_and_push_take_the_catalog_options_too(tmp_path, capsys):
    base = workspace(tmp_path, catalog=ONE_ENTITY)
    path = tmp_path / "fact.json"
    path.write_text(json.dumps({"factRef": "ci:default/tests", "entityRef": "component:default/only", "data": {}}))
    catalog = ["--catalog", str(tmp_path / "catalog.yaml"), "--catalog-url", "https://backstage.example.com"]
    code, _, err = cli(capsys, "facts", "push", str(path), *base, *catalog)
    assert code == 0, err
    code, out, err = cli(capsys, "facts", "show", "only", "ci:default/tests", *base, *catalog)
    assert code == 0 and json.loads(out)["entityRef"] == "component:default/only", err
    code, _, err = cli(capsys, "collectors", "list", "--store", str(tmp_path / "store"))
    assert code == 0 and "No such option" not in err


# --- collection progress on a non-terminal (item 7) --------------------------------------------------------------


def test_progress_lines_show_the_percentage_of_the_count_they_show(tmp_path):
    import os
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        (tmp_path / "catalog.yaml").write_text("".join(
            f"---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: s{i}}}\n"
            f"spec: {{type: service, owner: t}}\n" for i in range(3)))
        (tmp_path / "app-config.yaml").write_text(
            "catalog:\n  locations: [{type: file, target: ./catalog.yaml}]\nsoundcheck:\n  collectors:\n"
            "    http:\n      concurrency: 1\n      batchSize: 1\n      collects:\n        - factName: health\n"
            f"          url: http://127.0.0.1:{server.server_address[1]}/{{{{ entity.metadata.name }}}}\n")
        env = {k: v for k, v in os.environ.items() if k not in ("SOUNDCHECK_STORE", "GITHUB_ACTIONS")}
        proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", "collect", "--collector", "http", "--store",
                               str(tmp_path / "store"), "-c", str(tmp_path / "app-config.yaml")],
                              capture_output=True, text=True, env=env, timeout=120)
    finally:
        server.shutdown()
        thread.join()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "collect http: 3 entity facts to check" in lines
    progress = [line for line in lines if "%)" in line]
    assert progress == ["collect http: 1/3 (33%)", "collect http: 2/3 (66%)"]
