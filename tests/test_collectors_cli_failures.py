"""Issue 17 through the CLI (``run_cli``), against vendor APIs served on 127.0.0.1 from recorded shapes:

- item 2: a collector skipped for missing credentials fails ``collect`` (exit 1, named), unless it is switched
  off with ``enabled: false``;
- item 6: ``collect -q`` shows failures (never silent with exit 1), and the summary groups failures by cause
  with counts and examples, failures first;
- item 9: ``validate`` finds an unknown collector key whether or not the ``${VAR}`` it holds is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector_harness import VendorServer, write_workspace
from soundcheck_cli.cli.commands import run_cli

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "pagerduty" / "openapi-examples.json").read_text())
SERVICE = RECORDED["/services/{id}"]["responses"]["200"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PD_TOKEN", "PAGERDUTY_TOKEN", "DD_API_KEY", "DD_APP_KEY", "GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def pagerduty(known: set[str]) -> Any:
    """PagerDuty's /services/{id}: the recorded service for ``known`` ids, PagerDuty's 404 error otherwise."""

    def route(method: str, path: str, query: Any, headers: Any) -> tuple[int, Any]:
        service_id = path.rsplit("/", 1)[-1]
        if path.startswith("/services/") and service_id in known:
            body = json.loads(json.dumps(SERVICE))
            body["service"]["id"] = service_id
            return 200, body
        return 404, {"error": {"message": "Not Found", "code": 2100}}

    return route


def entities(n: int) -> list[dict[str, Any]]:
    return [{"name": f"svc-{i}", "annotations": {"pagerduty.com/service-id": f"P{i:06d}"}} for i in range(n)]


def test_missing_token_fails_collect_and_names_the_collector(capsys, tmp_path) -> None:
    config = write_workspace(tmp_path, """
        pagerduty:
          token: ${PD_TOKEN}
          collects: [{type: Service}]
    """, entities(2))
    code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1
    assert "error: " in err and "collector pagerduty: no token provided" in err and "PD_TOKEN" in err
    assert "pagerduty: skipped" in err


def test_enabled_false_switches_a_collector_off_without_failing(capsys, tmp_path) -> None:
    config = write_workspace(tmp_path, """
        pagerduty:
          enabled: false
          token: ${PD_TOKEN}
          collects: [{type: Service}]
    """, entities(2))
    code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 0, err
    assert "pagerduty: disabled" in err and "no token" not in err


def test_enabled_must_be_a_boolean(capsys, tmp_path) -> None:
    config = write_workspace(tmp_path, """
        pagerduty:
          enabled: nope
          collects: [{type: Service}]
    """, entities(1))
    code, out, err = cli(capsys, "validate", "-c", str(config))
    assert code == 2 and "app-config.yaml:8:" in err and "enabled must be true or false" in err


def test_one_disabled_block_of_two_is_not_collected(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PD_TOKEN", "t0ken-value")
    with VendorServer(pagerduty({"P000000", "P000001"})) as api:
        config = write_workspace(tmp_path, f"""
            pagerduty:
              - baseUrl: {api.url}
                token: ${{PD_TOKEN}}
                collects: [{{type: Service}}]
              - enabled: false
                baseUrl: {api.url}
                collects: [{{type: Service, factName: other}}]
        """, entities(2))
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 0, err
    assert "pagerduty: 2 collected" in err
    assert sorted(api.paths()) == sorted(p for p in api.paths() if p.startswith("/services/P00000"))
    assert len(api.requests) == 2


def test_quiet_collect_shows_the_failures_it_exits_1_for(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PD_TOKEN", "t0ken-value")

    def route(method: str, path: str, query: Any, headers: Any) -> tuple[int, Any]:
        return 403, {"error": {"message": "Access Denied", "code": 2010}}

    with VendorServer(route) as api:
        config = write_workspace(tmp_path, f"""
            pagerduty:
              baseUrl: {api.url}
              token: ${{PD_TOKEN}}
              collects: [{{type: Service}}]
        """, entities(3))
        code, out, err = cli(capsys, "collect", "-q", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1
    assert "collect pagerduty" not in err  # no progress
    assert "pagerduty: 0 collected" in err and "3 failed" in err
    assert "failed: " in err and "(3 facts)" in err  # one cause, counted once, with examples
    assert "catalog:" not in err  # quiet shows only what is wrong
    assert "t0ken-value" not in err + out


def test_quiet_collect_shows_missing_credentials(capsys, tmp_path) -> None:
    config = write_workspace(tmp_path, """
        pagerduty:
          token: ${PD_TOKEN}
          collects: [{type: Service}]
    """, entities(1))
    code, out, err = cli(capsys, "collect", "-q", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1 and "no token provided" in err and "PD_TOKEN" in err


def test_summary_groups_failures_by_cause_and_shows_failures_before_other_reasons(capsys, tmp_path, monkeypatch) -> None:
    """23 services PagerDuty does not know (one cause, 23 service ids), one it knows, 30 entities without the
    annotation and one service answering 403: the 403 failure is shown although it arrived among many other reasons.
    (Had no service been found at all, the block would be a configuration error: test_collectors_not_found.py.)"""
    monkeypatch.setenv("PD_TOKEN", "t0ken-value")

    def route(method: str, path: str, query: Any, headers: Any) -> tuple[int, Any]:
        if path.endswith("/P000007"):
            return 403, {"error": {"message": "Access Denied", "code": 2010}}
        if path.endswith("/P000024"):
            return 200, {"service": {"id": "P000024", "name": "known", "status": "active"}}
        return 404, {"error": {"message": "Not Found", "code": 2100}}

    ents = entities(25) + [{"name": f"plain-{i}"} for i in range(30)]
    with VendorServer(route) as api:
        config = write_workspace(tmp_path, f"""
            pagerduty:
              baseUrl: {api.url}
              token: ${{PD_TOKEN}}
              collects: [{{type: Service}}]
        """, ents)
        code, out, err = cli(capsys, "collect", "-c", str(config), "--store", str(tmp_path / "store"))
    assert code == 1
    lines = [line.strip() for line in err.splitlines()]
    pd_lines = lines[lines.index(next(x for x in lines if x.startswith("pagerduty:"))):]
    assert pd_lines[0].startswith("pagerduty: 1 collected, 23 absent")
    assert pd_lines[1].startswith("failed: ") and "(1 fact) [component:default/svc-7" in pd_lines[1]
    absent = [x for x in pd_lines if x.startswith("absent: ")]
    assert len(absent) == 1 and "(23 facts)" in absent[0] and "and 20 more]" in absent[0]
    assert "P000000" not in absent[0].split(" [", 1)[0]  # the service id is taken out of the cause
    not_applicable = [x for x in pd_lines if x.startswith("not-applicable: ")]
    assert len(not_applicable) == 1 and "(30 facts)" in not_applicable[0]


def test_validate_finds_a_misspelt_key_whether_or_not_its_variable_is_set(capsys, tmp_path, monkeypatch) -> None:
    config = write_workspace(tmp_path, """
        pagerduty:
          tokne: ${PD_TOKEN}
          collects: [{type: Service}]
    """, entities(1))
    code, out, err = cli(capsys, "validate", "-c", str(config))
    assert code == 2 and f"{config}:8:" in err and "unknown key 'tokne'" in err
    monkeypatch.setenv("PD_TOKEN", "t0ken-value")
    code_set, out_set, err_set = cli(capsys, "validate", "-c", str(config))
    assert code_set == 2 and "unknown key 'tokne'" in err_set and "t0ken-value" not in err_set


def test_validate_finds_a_misspelt_entry_key_holding_an_unset_variable(capsys, tmp_path) -> None:
    config = write_workspace(tmp_path, """
        http:
          collects:
            - factName: x
              url: https://example.com/x
              headres: {Authorization: "Bearer ${NOPE_TOKEN}"}
    """, entities(1))
    code, out, err = cli(capsys, "validate", "-c", str(config))
    assert code == 2 and "unknown key 'headres'" in err
