"""End-to-end tests of the CLI on the bundled sample (offline, no tokens) and on small broken inputs.

They call ``cli.run_cli(argv)`` in-process (the same function the console script calls) and assert exit codes
and output; one test runs the real console entry point as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from soundcheck_cli.cli.commands import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "sample-config" / "app-config.yaml")
PD_ENTITIES = ["component:default/payments-api", "component:default/checkout-web", "component:default/auth-service"]


@pytest.fixture(autouse=True)
def _no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PAGERDUTY_TOKEN", "SOUNDCHECK_STORE", "GITHUB_ACTIONS", "GITHUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sample(store: Path, *args: str) -> list[str]:
    return [*args, "-c", SAMPLE, "--store", str(store)]


def test_help_documents_exit_codes(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    assert "Exit codes" in out and "collect" in out and "check" in out


def test_version(capsys):
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.startswith("soundcheck ")


def test_no_config_found_is_a_usage_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "check")
    assert code == 2
    assert "no config found" in err and "-c/--config" in err


def test_pagerduty_track_without_token_is_not_reported_and_exits_1(capsys, tmp_path):
    code, out, err = cli(capsys, *sample(tmp_path / "store", "check", "--track", "pagerduty_track"))
    assert code == 1
    assert "not-reported" in out
    assert "pagerduty:default/service" in out
    assert "Traceback" not in err


def test_run_on_sample_shows_both_tracks_and_every_state(capsys, tmp_path):
    code, out, err = cli(capsys, *sample(tmp_path / "store", "run", "-f", "json"))
    assert code == 1
    doc = json.loads(out)
    assert doc["schemaVersion"] == 1
    states = {r["state"] for r in doc["results"]}
    assert {"passed", "failed", "not-applicable", "not-reported", "warning"} <= states
    assert {t["id"] for t in doc["tracks"]} == {"pagerduty_track", "basic_hygiene"}
    # the deliberately broken entity is a located warning, and the rest was processed
    assert "broken/catalog-info.yaml:" in err
    cert = {(c["trackId"], c["entityRef"]): c["highestLevel"] for c in doc["certifications"]}
    assert cert[("basic_hygiene", "component:default/payments-api")]["ordinal"] == 3
    assert cert[("basic_hygiene", "component:default/docs-site")] is None
    # groups are not selected by the hygiene track's filter
    assert ("basic_hygiene", "group:default/payments-team") not in cert


def test_table_output_lists_levels_and_failing_checks(capsys, tmp_path):
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "check", "--track", "basic_hygiene"))
    assert code == 1
    assert "Basic Catalog Hygiene" in out and "Bronze" in out and "Gold" in out
    assert "docs-site has no owner" in out


def _push(capsys, tmp_path: Path, status_by_entity: dict[str, str]) -> None:
    facts = [
        {"factRef": "pagerduty:default/service", "entityRef": ref, "data": {"id": "P1", "status": status}}
        for ref, status in status_by_entity.items()
    ]
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "facts", "push", str(path)))
    assert code == 0, out
    assert f"stored {len(facts)} fact" + ("s" if len(facts) != 1 else "") + "\n" in out


def test_pushed_facts_pass_and_fail_the_pagerduty_check(capsys, tmp_path):
    _push(capsys, tmp_path, {PD_ENTITIES[0]: "active", PD_ENTITIES[1]: "disabled", PD_ENTITIES[2]: "active"})
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "check", "--track", "pagerduty_track", "-f", "json"))
    doc = json.loads(out)
    by_entity = {r["entityRef"]: r["state"] for r in doc["results"]}
    assert by_entity[PD_ENTITIES[0]] == "passed"
    assert by_entity[PD_ENTITIES[1]] == "failed"
    assert by_entity["component:default/ledger-worker"] == "not-reported"
    assert code == 1


def test_all_passing_selection_exits_0(capsys, tmp_path):
    _push(capsys, tmp_path, {ref: "active" for ref in PD_ENTITIES})
    args = ["check", "--track", "pagerduty_track", "--entity", "payments-api", "--entity", "auth-service"]
    code, out, _ = cli(capsys, *sample(tmp_path / "store", *args))
    assert code == 0, out


def test_output_file_and_stdout_formats(capsys, tmp_path):
    target = tmp_path / "out" / "report.json"
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "check", "-f", "json", "-o", str(target), "-f", "table"))
    assert code == 1
    assert json.loads(target.read_text())["schemaVersion"] == 1
    assert "Basic Catalog Hygiene" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "--track", "nope"], "nope"),
        (["check", "--entity", "component:default/does-not-exist"], "unknown entity"),
        (["check", "-f", "yaml"], "unknown format"),
        (["check", "--no-such-option"], "No such option"),
    ],
)
def test_usage_errors_exit_2(capsys, tmp_path, args, message):
    code, out, err = cli(capsys, *sample(tmp_path / "store", *args))
    assert code == 2
    assert message in err + out
    assert "Traceback" not in err


def test_malformed_config_is_located_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "app-config.yaml"
    bad.write_text("soundcheck:\n  checks:\n    - id: x\n      rule: [unclosed\n")
    code, _, err = cli(capsys, "check", "-c", str(bad), "--store", str(tmp_path / "s"))
    assert code == 2
    assert f"{bad}:" in err and "Traceback" not in err


def test_unknown_operator_is_located(capsys, tmp_path):
    cfg = tmp_path / "app-config.yaml"
    cfg.write_text(
        "soundcheck:\n  checks:\n    - id: c1\n      rule:\n        factRef: catalog:default/entity_descriptor\n"
        "        path: $.kind\n        operator: equalz\n        value: x\n"
    )
    code, _, err = cli(capsys, "validate", "-c", str(cfg), "--catalog", str(ROOT / "catalog-fixtures"))
    assert code == 2
    assert f"{cfg}:7:" in err and "equalz" in err


def test_validate_sample_lists_warnings_and_exits_0(capsys, tmp_path):
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "validate"))
    assert code == 0
    assert "broken/catalog-info.yaml:" in out
    assert "ok:" in out


def test_entities_filter(capsys, tmp_path):
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "entities", "--filter", "spec.lifecycle=production",
                                       "--filter", "kind=component"))
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("component:")}
    assert listed == {"component:default/payments-api", "component:default/checkout-web",
                      "component:default/auth-service", "component:default/ledger-worker"}


def test_checks_and_tracks_listing(capsys, tmp_path):
    code, out, _ = cli(capsys, "checks", "-c", SAMPLE)
    assert code == 0 and "requires_service_status_to_be_active" in out
    code, out, _ = cli(capsys, "tracks", "-c", SAMPLE)
    assert code == 0 and "pagerduty_track" in out and "1. Bronze: has_owner, has_description" in out


def test_facts_push_invalid_file_is_located(capsys, tmp_path):
    bad = tmp_path / "facts.yaml"
    bad.write_text("- factRef: 'not a ref'\n  entityRef: component:default/x\n  data: {}\n")
    code, _, err = cli(capsys, *sample(tmp_path / "store", "facts", "push", str(bad)))
    assert code == 2
    assert f"{bad}:1:" in err


def test_facts_show_and_clear(capsys, tmp_path):
    _push(capsys, tmp_path, {PD_ENTITIES[0]: "active"})
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "facts", "show", PD_ENTITIES[0], "pagerduty:default/service"))
    assert code == 0 and json.loads(out)["data"]["status"] == "active"
    code, out, _ = cli(capsys, *sample(tmp_path / "store", "facts", "clear", "--yes"))
    assert code == 0 and "deleted 1 fact\n" in out
    code, _, err = cli(capsys, *sample(tmp_path / "store", "facts", "show", PD_ENTITIES[0]))
    assert code == 2 and "no facts stored" in err


def test_collect_without_token_keeps_going_and_stores_catalog_facts(capsys, tmp_path):
    code, _, err = cli(capsys, *sample(tmp_path / "store", "collect"))
    assert "no token provided" in err
    code2, out, _ = cli(capsys, *sample(tmp_path / "store", "facts", "list"))
    assert code2 == 0 and "catalog:default/entity_descriptor" in out


def test_console_script_subprocess(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PAGERDUTY_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "soundcheck_cli", "check", "--track", "pagerduty_track", "-q",
         "-c", SAMPLE, "--store", str(tmp_path / "s")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 1
    assert "not-reported" in proc.stdout
    assert proc.stderr == ""


def test_common_options_may_come_before_the_command(capsys, tmp_path):
    code, out, _ = cli(capsys, "-c", SAMPLE, "--store", str(tmp_path / "s"), "tracks")
    assert code == 0 and "pagerduty_track" in out


def test_tokens_never_reach_reports_or_errors(capsys, tmp_path, monkeypatch):
    secret = "tok-SECRET-1234567"
    monkeypatch.setenv("PAGERDUTY_TOKEN", secret)
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: leaky\n"
        f"  annotations:\n    leak: {secret}\nspec:\n  owner: x\n"
    )
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PAGERDUTY_TOKEN}\n"
        "  checks:\n    - id: leak\n      rule:\n        factRef: catalog:default/entity_descriptor\n"
        "        path: $.spec.owner\n        operator: equal\n        value: nobody\n"
        "      failedMessage: 'annotation says {{ entity.metadata.annotations.leak }}'\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "check", "-f", "json", "-f", "table", "--store", str(tmp_path / "s"))
    assert code == 1
    assert secret not in out + err
    assert "annotation says ***" in out
    code, out, err = cli(capsys, "check", "--entity", secret, "--store", str(tmp_path / "s"))
    assert code == 2 and "unknown entity" in err and secret not in err


def test_validate_reports_collector_config_errors_with_location(capsys, tmp_path):
    cfg = tmp_path / "app-config.yaml"
    cfg.write_text("soundcheck:\n  collectors:\n    pagerduty:\n      token: abc\n      collects: 12\n")
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec: {}\n")
    code, out, err = cli(capsys, "validate", "-c", str(cfg), "--catalog", str(tmp_path / "catalog-info.yaml"))
    assert code == 2
    assert f"{cfg}:5:" in err and "pagerduty" in err


def test_help_lists_each_command_with_its_whole_summary(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    flat = " ".join(out.split())
    # click alone would cut this one to its first sentence; the rich help showed it whole
    assert "Collect, then check: one step for CI. The exit code is the check's (collection problems are reported)." in flat
    code, out, _ = cli(capsys, "facts", "--help")
    assert code == 0 and "push" in out and "clear" in out


