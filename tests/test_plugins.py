"""Third-party collectors as plugins (issue 5), through the real entry-point machinery and the CLI:

- the public API (``soundcheck_cli.collectors``) has what a plugin needs, and the example plugin uses nothing else;
- end to end: ``examples/example-pagerduty`` made discoverable like an installed package (a ``*.dist-info`` with
  its entry point), then ``soundcheck collect`` + ``soundcheck check --track pagerduty_track`` against a local
  PagerDuty serving the official API examples;
- an invalid plugin config is a located error (exit 2); a broken plugin or two plugins with one id are warnings
  naming the package, and the run goes on; facts of a configured collector that is not installed can be pushed
  and checked.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest
from plugin_fixtures import (
    EXAMPLE,
    install_example,
    install_plugin,
    no_proxy,
    pagerduty_server,
)

import soundcheck_cli.collectors as api
from soundcheck_cli.cli.commands import run_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PAGERDUTY_TOKEN", "SOUNDCHECK_STORE"):
        monkeypatch.delenv(var, raising=False)
    no_proxy(monkeypatch)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  annotations:
    pagerduty.com/service-id: PIJ90N7
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: legacy-billing
  annotations:
    pagerduty.com/service-id: PLEGACY
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: docs-site
spec: {type: website, lifecycle: production, owner: team-a}
"""

CHECKS = """\
  checks:
    - id: requires_service_status_to_be_active
      rule:
        factRef: example-pagerduty:default/service
        path: $.status
        operator: equal
        value: active
    - id: has_an_escalation_policy
      rule:
        factRef: example-pagerduty:default/service
        path: $.escalation_policy.id
        operator: matches
        value: '^P' 
  tracks:
    - id: pagerduty_track
      filter:
        metadata.annotations.pagerduty.com/service-id: [PIJ90N7, PLEGACY]
      levels:
        - ordinal: 1
          checks:
            - id: requires_service_status_to_be_active
            - id: has_an_escalation_policy
"""


def write_config(tmp_path: Path, collector: str, source: str = "example-pagerduty") -> Path:
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    config = tmp_path / "app-config.yaml"
    config.write_text(
        "catalog:\n  locations:\n    - type: file\n      target: catalog-info.yaml\n"
        "soundcheck:\n  collectors:\n" + collector + CHECKS.replace("example-pagerduty:", f"{source}:")
    )
    return config


def example_block(base_url: str, token: str = "  token: pd-secret-token-123\n") -> str:
    return (
        "    example-pagerduty:\n"
        + token.replace("  token", "      token")
        + f"      baseUrl: {base_url}\n"
        "      frequency: {hours: 1}\n"
        "      filter: {kind: Component}\n"
        "      collects:\n"
        "        - type: Service\n"
    )


# -- the public API --------------------------------------------------------------------------------------------------


def test_public_api_exports_what_a_plugin_author_needs() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert issubclass(api.EntityCollector, api.ConfigurableFactCollector)
    assert issubclass(api.ConfigurableFactCollector, api.FactCollector)
    assert api.parse_fact_ref("example-pagerduty:service") == api.FactRef("example-pagerduty", "default", "service")
    assert api.parse_fact_ref({"source": "x", "scope": "s", "name": "n"}) == api.FactRef("x", "s", "n")
    assert api.stringify_fact_ref("x:n") == "x:default/n"
    assert api.stringify_entity_ref({"kind": "Component", "metadata": {"name": "a"}}) == "component:default/a"
    with pytest.raises(ValueError):
        api.parse_fact_ref("no spaces allowed: here/x y")
    with pytest.raises(AttributeError):
        api.NoSuchThing  # noqa: B018


def test_the_example_plugin_imports_only_the_public_api() -> None:
    source = (EXAMPLE / "src" / "soundcheck_example_pagerduty" / "collector.py").read_text()
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("soundcheck_cli")
    }
    assert imported == {"soundcheck_cli.collectors"}


def test_collector_logger_outside_a_run_uses_standard_logging_with_the_target(caplog: pytest.LogCaptureFixture) -> None:
    class Quiet(api.FactCollector):
        id = "quiet"

        async def collect(self, entities, fact_refs=None, refresh=None):
            return []

        def fact_names(self):
            return []

    with caplog.at_level(logging.INFO, logger="soundcheck.collector.quiet"):
        Quiet().logger.info("hello %s", "world")
    [record] = caplog.records
    assert record.name == "soundcheck.collector.quiet" and record.getMessage() == "hello world"
    assert record.target == "quiet"


# -- end to end through the entry point ------------------------------------------------------------------------------


def test_example_plugin_end_to_end_collect_then_check(tmp_path, monkeypatch, capsys) -> None:
    install_example(tmp_path, monkeypatch)
    store = str(tmp_path / "store")
    with pagerduty_server({"PLEGACY": "disabled"}) as (base_url, requests):
        config = str(write_config(tmp_path, example_block(base_url)))

        code, out, err = cli(capsys, "collectors", "list", "-c", config)
        assert code == 0, err
        [row] = [line for line in out.splitlines() if line.startswith("example-pagerduty ")]
        assert "Example PagerDuty" in row and "soundcheck-example-pagerduty" in row and " yes " in row

        code, _, err = cli(capsys, "collect", "-c", config, "--store", store)
        assert code == 0, err
        assert "pd-secret-token-123" not in err

    paths = sorted(r["path"] for r in requests)
    assert paths == ["/services/PIJ90N7", "/services/PLEGACY"]  # docs-site has no annotation: no request
    assert {r["authorization"] for r in requests} == {"Token token=pd-secret-token-123"}
    assert all("include%5B%5D=escalation_policies" in r["query"] for r in requests)

    code, out, err = cli(capsys, "check", "--track", "pagerduty_track", "-c", config, "--store", store, "-f", "json")
    assert code == 1, err  # legacy-billing's service is disabled
    report = json.loads(out)
    states = {(r["entityRef"], r["checkId"]): r["state"] for r in report["results"]}
    assert states == {
        ("component:default/payments", "requires_service_status_to_be_active"): "passed",
        ("component:default/payments", "has_an_escalation_policy"): "passed",
        ("component:default/legacy-billing", "requires_service_status_to_be_active"): "failed",
        ("component:default/legacy-billing", "has_an_escalation_policy"): "passed",
    }

    code, out, err = cli(capsys, "check", "--track", "pagerduty_track", "-e", "payments", "-c", config, "--store", store)
    assert code == 0, err
    code, out, _ = cli(capsys, "facts", "show", "payments", "example-pagerduty:default/service", "-c", config, "--store", store)
    assert code == 0 and json.loads(out)["data"]["name"] == "My Application Service"

    # A second run within the frequency fetches nothing: the facts are fresh.
    with pagerduty_server() as (base_url, again):
        code, _, _ = cli(capsys, "collect", "-c", config, "--store", store)
        assert code == 0 and again == []


def test_example_without_collects_schedules_nothing(tmp_path, monkeypatch, capsys) -> None:
    install_example(tmp_path, monkeypatch)
    config = str(write_config(tmp_path, "    example-pagerduty:\n      token: t0ken-abcdef\n"))
    code, out, err = cli(capsys, "collectors", "show", "example-pagerduty", "-c", config)
    assert code == 0, err
    assert "none: nothing is scheduled (no `collects` entries)" in out
    code, _, err = cli(capsys, "collect", "-c", config, "--store", str(tmp_path / "store"), "--collector", "example-pagerduty")
    assert code == 0, err
    code, out, _ = cli(capsys, "facts", "list", "-c", config, "--store", str(tmp_path / "store"))
    assert out.strip() == "0 facts"


# -- config validation ----------------------------------------------------------------------------------------------


def test_missing_token_is_a_located_error_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    install_example(tmp_path, monkeypatch)
    config = write_config(tmp_path, example_block("http://127.0.0.1:9", token=""))
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "example-pagerduty:" in text)
    store = ["--store", str(tmp_path / "s")]
    for command in (["collect", *store], ["validate"], ["collectors", "show", "example-pagerduty"]):
        code, _, err = cli(capsys, *command, "-c", str(config))
        assert code == 2, command
        # At the block (its first key), the mapping that lacks the key.
        assert f"error: {config}:{line + 1}:7: collector example-pagerduty: token is required" in err.splitlines(), err


def test_token_from_an_unset_variable_names_the_variable(tmp_path, monkeypatch, capsys) -> None:
    install_example(tmp_path, monkeypatch)
    config = write_config(tmp_path, example_block("http://127.0.0.1:9", token="  token: ${PAGERDUTY_TOKEN}\n"))
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "token:" in text)
    code, _, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "s"))
    assert code == 2
    assert (
        f"error: {config}:{line}:7: collector example-pagerduty: token is required "
        "(environment variable PAGERDUTY_TOKEN is not set)"
    ) in err.splitlines()


def test_invalid_entries_are_located(tmp_path, monkeypatch, capsys) -> None:
    install_example(tmp_path, monkeypatch)
    block = example_block("http://127.0.0.1:9") + "        - type: Incidents\n          batchSize: many\n"
    config = write_config(tmp_path, block)
    lines = config.read_text().splitlines()
    type_line = next(i for i, text in enumerate(lines, 1) if "type: Incidents" in text)
    code, _, err = cli(capsys, "validate", "-c", str(config))
    assert code == 2
    assert f"error: {config}:{type_line}:17: collector example-pagerduty: collects[1].type: 'Incidents' is not one of ['Service']" in err
    assert f"error: {config}:{type_line + 1}:22: collector example-pagerduty: collects[1].batchSize must be an integer" in err


# -- broken and conflicting plugins; configured but absent ------------------------------------------------------------


def test_broken_and_duplicate_plugins_warn_naming_the_package_and_the_run_goes_on(tmp_path, monkeypatch, capsys) -> None:
    site = install_example(tmp_path, monkeypatch)
    install_plugin(site, monkeypatch, "acme-broken-collector", "acme-broken = acme_broken:Collector",
                   {"acme_broken": "raise ImportError('needs libacme')\n"})
    install_plugin(site, monkeypatch, "rival-pagerduty", "example-pagerduty = rival_pd:Collector", {"rival_pd": "Collector = 1\n"})
    store = str(tmp_path / "store")
    with pagerduty_server() as (base_url, _):
        config = str(write_config(tmp_path, example_block(base_url)))
        code, out, err = cli(capsys, "collectors", "list", "-c", config)
        assert code == 0
        assert ("warning: collector 'acme-broken' from package acme-broken-collector failed to load "
                "(acme_broken:Collector): ImportError: needs libacme") in err
        assert ("warning: collector id 'example-pagerduty' is claimed by two packages, rival-pagerduty and "
                "soundcheck-example-pagerduty; the one from soundcheck-example-pagerduty") in err
        assert "acme-broken-collector (failed to load)" in out
        # rival-pagerduty sorts first and wins the id: its object is not a collector, so example-pagerduty is
        # unavailable with a warning, and the rest of the run goes on.
        code, _, err = cli(capsys, "collect", "-c", config, "--store", store)
        assert code == 0, err
        assert "rival-pagerduty" in err and "is not a FactCollector subclass" in err
    code, out, _ = cli(capsys, "check", "-c", config, "--store", store, "-f", "json")
    assert code == 1
    assert {r["state"] for r in json.loads(out)["results"]} == {"not-reported"}


def test_facts_of_a_configured_collector_that_is_not_installed_can_be_pushed_and_checked(tmp_path, capsys) -> None:
    # acme-oncall: a plugin nobody installed; the checks read its fact (pushed from elsewhere).
    block = "    acme-oncall:\n      token: t0ken-abcdef\n      collects:\n        - type: Service\n"
    config = str(write_config(tmp_path, block, source="acme-oncall"))
    store = str(tmp_path / "store")
    code, out, _ = cli(capsys, "validate", "-c", config)
    assert code == 0
    assert "collector acme-oncall is configured but not installed" in out  # validate lists warnings on stdout
    code, _, err = cli(capsys, "collect", "-c", config, "--store", store)
    assert code == 0
    assert "collector acme-oncall is configured but not installed; its facts can still be pushed" in err
    facts = [
        {"factRef": "acme-oncall:default/service", "entityRef": f"component:default/{name}",
         "data": {"id": sid, "name": name, "status": status, "escalation_policy": {"id": "PT20YPA"}}}
        for name, sid, status in (("payments", "PIJ90N7", "active"), ("legacy-billing", "PLEGACY", "active"))
    ]
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    code, out, err = cli(capsys, "facts", "push", str(tmp_path / "facts.json"), "-c", config, "--store", store)
    assert code == 0 and out.strip() == "stored 2 facts", err
    code, out, err = cli(capsys, "check", "--track", "pagerduty_track", "-c", config, "--store", store, "-f", "json")
    assert code == 0, err
    assert {r["state"] for r in json.loads(out)["results"]} == {"passed"}
    code, out, _ = cli(capsys, "collectors", "list", "-c", config)
    assert code == 0
    assert any(line.startswith("acme-oncall") and "(not installed)" in line and " yes " in line for line in out.splitlines())
