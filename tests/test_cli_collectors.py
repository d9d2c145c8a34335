"""``soundcheck collectors list``, ``soundcheck collectors show ID`` and ``soundcheck facts schema FACTREF``, through
``cli.run_cli`` on the sample config, on a config using the example plugin, and without any config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_fixtures import install_example

from soundcheck_cli.cli.commands import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "sample-config" / "app-config.yaml")

EXAMPLE_CONFIG = """\
soundcheck:
  collectors:
    example-pagerduty:
      token: t0ken-abcdef
      frequency: {hours: 1}
      filter: {kind: Component}
      cache: {duration: {hours: 2}}
      collects:
        - type: Service
        - type: Service
          filter: {kind: API}
          exclude: {metadata.name: legacy}
          frequency: {cron: '0 * * * *'}
          initialDelay: {seconds: 10}
          batchSize: 5
          cache: false
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGERDUTY_TOKEN", raising=False)


def test_list_shows_builtins_with_package_and_configured_flag(capsys) -> None:
    code, out, err = cli(capsys, "collectors", "list", "-c", SAMPLE)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PACKAGE", "CONFIGURED", "DESCRIPTION"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert {"catalog", "pagerduty", "http"} <= set(rows)
    assert "soundcheck-cli (built in)" in rows["pagerduty"] and "  yes  " in rows["pagerduty"]
    assert "no (always runs)" in rows["catalog"] and "  no  " in rows["http"]
    assert "PagerDuty service details" in rows["pagerduty"]
    assert lines[-1].endswith("installed, 1 configured")


def test_list_as_json_and_without_any_config(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./app-config.yaml: the installed collectors, unconfigured
    code, out, err = cli(capsys, "collectors", "list", "-f", "json")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["pagerduty"] == {
        "id": "pagerduty", "name": "PagerDuty", "description": rows["pagerduty"]["description"],
        "package": "soundcheck-cli", "builtin": True, "installed": True, "loaded": True, "configured": False,
        "configLocation": None, "alwaysOn": False,
    }
    assert rows["catalog"]["alwaysOn"] is True


def test_show_prints_facts_schemas_and_effective_collection_configs(capsys, tmp_path, monkeypatch) -> None:
    install_example(tmp_path, monkeypatch)
    config = tmp_path / "app-config.yaml"
    config.write_text(EXAMPLE_CONFIG)
    code, out, err = cli(capsys, "collectors", "show", "example-pagerduty", "-c", str(config), "-f", "json")
    assert code == 0, err
    info = json.loads(out)
    assert info["package"] == "soundcheck-example-pagerduty" and info["builtin"] is False
    assert info["configured"] is True and info["configLocation"] == f"{config}:3:5"
    assert info["factNames"] == ["example-pagerduty:default/service"]
    assert info["configSchema"]["$defs"]["block"]["required"] == ["token"]
    assert info["dataSchemas"]["example-pagerduty:default/service"]["title"] == "Service Details"
    inherited, own = info["collectionConfigs"]
    assert inherited == {
        "factRefs": ["example-pagerduty:default/service"], "filter": {"kind": "Component"}, "exclude": None,
        "frequency": {"hours": 1}, "initialDelay": None, "batchSize": None, "cache": {"duration": {"hours": 2}},
    }
    assert own == {
        "factRefs": ["example-pagerduty:default/service"], "filter": {"kind": "API"},
        "exclude": {"metadata.name": "legacy"}, "frequency": {"cron": "0 * * * *"}, "initialDelay": {"seconds": 10},
        "batchSize": 5, "cache": False,
    }

    code, out, err = cli(capsys, "collectors", "show", "example-pagerduty", "-c", str(config))
    assert code == 0, err
    assert out.startswith("example-pagerduty: Example PagerDuty\n")
    assert "  package:    soundcheck-example-pagerduty\n" in out
    assert f"  configured: yes, at {config}:3:5\n" in out
    assert "facts:\n  example-pagerduty:default/service\n" in out
    assert '  2. example-pagerduty:default/service\n       filter: {"kind": "API"}\n' in out
    assert '       frequency: {"cron": "0 * * * *"}\n' in out and "       cache: false\n" in out
    # Summaries of the schemas (one line per property); the full JSON schemas with --schema.
    assert "config (properties):\n" in out and "data of example-pagerduty:default/service (properties):\n" in out
    assert "config schema:\n  {" not in out and "--schema" in out
    assert len(out.splitlines()) < 80
    code, full, err = cli(capsys, "collectors", "show", "example-pagerduty", "-c", str(config), "--schema")
    assert code == 0, err
    assert "config schema:\n  {\n" in full and "data schema of example-pagerduty:default/service:\n  {\n" in full
    assert len(full.splitlines()) > len(out.splitlines())


def test_show_of_an_unconfigured_builtin_and_of_unknown_ids(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "collectors", "show", "pagerduty")
    assert code == 0, err
    assert "configured: no" in out and "none (not configured)" in out
    code, _, err = cli(capsys, "collectors", "show", "nope")
    assert code == 2 and "unknown collector: nope; installed: " in err
    code, _, err = cli(capsys, "collectors", "list", "-f", "xml")
    assert code == 2 and "unknown format 'xml'" in err


def test_show_of_a_configured_but_absent_collector_says_so(capsys, tmp_path) -> None:
    config = tmp_path / "app-config.yaml"
    config.write_text(EXAMPLE_CONFIG.replace("example-pagerduty:", "acme-oncall:"))
    code, _, err = cli(capsys, "collectors", "show", "acme-oncall", "-c", str(config))
    assert code == 2
    assert "unknown collector: acme-oncall (it is configured, but no installed package provides it)" in err


def test_facts_schema_finds_the_collector_of_a_fact(capsys, tmp_path, monkeypatch) -> None:
    code, out, err = cli(capsys, "facts", "schema", "pagerduty:default/service", "-c", SAMPLE)
    assert code == 0, err
    schema = json.loads(out)
    assert schema["title"] == "Service Details" and "status" in schema["properties"]
    assert err == "pagerduty:default/service: data schema from collector pagerduty (soundcheck-cli)\n"
    code, out, _ = cli(capsys, "facts", "schema", "catalog:entity_descriptor", "-c", SAMPLE, "-q")
    assert code == 0 and json.loads(out)["title"] == "Entity descriptor"

    install_example(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "facts", "schema", "example-pagerduty:default/service")
    assert code == 0, err
    assert json.loads(out)["required"] == ["id", "name", "status"]


def test_facts_schema_errors(capsys) -> None:
    code, _, err = cli(capsys, "facts", "schema", "github:default/unknown_fact", "-c", SAMPLE)
    assert code == 2 and "no installed collector describes github:default/unknown_fact" in err
    code, _, err = cli(capsys, "facts", "schema", "not a ref", "-c", SAMPLE)
    assert code == 2 and err.startswith("error: ")
