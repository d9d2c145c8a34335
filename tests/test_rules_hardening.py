"""Issue 18, rules items, through the CLI: a regular expression that backtracks catastrophically cannot hang
``check`` (item 20), ``validate`` reports the rule values ``check`` would fail on (item 27), and message templates
are scanned in linear time (item 29)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.rules.messages import compile_template
from soundcheck_cli.rules.operators import EvaluationError, compile_regex, regex_risk

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: {a}}}
spec: {{type: service, owner: team-a}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: {b}}}
spec: {{type: service, owner: team-a}}
"""


def workspace(tmp_path: Path, checks: str, a: str = "a", b: str = "b") -> list[str]:
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(a=a, b=b))
    (tmp_path / "app-config.yaml").write_text("soundcheck:\n  checks:\n" + checks)
    return ["-c", str(tmp_path / "app-config.yaml"), "--catalog", str(tmp_path / "catalog.yaml")]


def check_json(tmp_path: Path, args: list[str]) -> tuple[int, dict]:
    out = tmp_path / "out.json"
    code = run_cli(["check", *args, "--store", str(tmp_path / "store"), "-f", "json", "-o", str(out), "-q"])
    return code, json.loads(out.read_text())


# --- item 20: bounded regular expressions ---------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_patterns() -> None:
    compile_regex.cache_clear()  # each test counts its own timeouts (a pattern is given up after three)


EXPONENTIAL = "^(a|aa)+$"  # overlapping alternatives: the regex package too backtracks exponentially here


def test_a_catastrophic_regex_gives_error_for_that_entity_and_does_not_hang(tmp_path: Path) -> None:
    checks = ("    - id: named\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.metadata.name, operator: matches,\n"
              f"             value: '{EXPONENTIAL}'}}\n")
    # 60 characters: ~2^42 steps unbounded (hours); the short name matches at once
    args = workspace(tmp_path, checks, a="a" * 59 + "b", b="aaaa")
    start = time.monotonic()
    code, report = check_json(tmp_path, args)
    assert time.monotonic() - start < 20
    assert code == 1  # an error result fails the gate
    states = {r["entityRef"]: (r["state"], r["message"]) for r in report["results"]}
    state, message = states["component:default/" + "a" * 59 + "b"]
    assert state == "error"
    assert "timed out" in message and EXPONENTIAL in message and "60 characters" in message
    assert states["component:default/aaaa"] == ("passed", "")


def test_a_pattern_that_keeps_timing_out_is_not_tried_again() -> None:
    search = compile_regex("^(a|aa)+$x")
    messages = []
    for _ in range(5):
        start = time.monotonic()
        with pytest.raises(EvaluationError) as caught:
            search("a" * 60 + "b")
        messages.append((str(caught.value), time.monotonic() - start))
    assert all("timed out (more than" in m for m, _ in messages[:3])
    assert all("is not tried any more" in m and t < 0.05 for m, t in messages[3:])


def test_validate_warns_about_nested_quantifiers_with_the_location(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    checks = ("    - id: slug\n"
              "      rule:\n"
              "        factRef: catalog:default/entity_descriptor\n"
              "        path: $.metadata.name\n"
              "        operator: matches\n"
              "        value: '^([a-z0-9]+-?)+$'\n")
    args = workspace(tmp_path, checks)
    assert run_cli(["validate", *args]) == 0  # a warning: the search is bounded anyway
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert f"{tmp_path / 'app-config.yaml'}:8:16" in err
    assert "nested quantifiers" in err and "^([a-z0-9]+-?)+$" in err


@pytest.mark.parametrize("pattern, risky", [
    ("^([a-z0-9]+-?)+$", True), ("(a*)*", True), ("(x+x+)+y", True), ("((ab)+c)*", True), ("(a{2,})+", True),
    (r"^[a-z0-9]+(-[a-z0-9]+)*$", False), (r"^ci\.ya?ml$", False), (r"(\+\d)+", False), ("([a+]b)+", False),
    ("(a+)?", False), (r"\w{4,}", False), ("^EP1", False), ("(?:-[a-z]+)*", False), ("(-.+)*", True),
    ("(a[a-z]+)*", True), ("(a|b+)*", True),
])
def test_regex_risk_finds_nested_quantifiers(pattern: str, risky: bool) -> None:
    assert (regex_risk(pattern) is not None) is risky


# --- item 27: validate reports what check would fail on -----------------------------------------------------
def test_validate_reports_operand_errors_with_file_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checks = ("    - id: small\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.n, operator: lessThan,\n"
              "             value: '10'}\n"
              "    - id: pattern\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.n, operator: matches,\n"
              "             value: 5}\n")
    args = workspace(tmp_path, checks)
    assert run_cli(["validate", *args]) == 2
    err = capsys.readouterr().err
    cfg = tmp_path / "app-config.yaml"
    assert f"{cfg}:5:21: check 'small': lessThan needs a number value, got '10'" in err
    assert f"{cfg}:8:21: check 'pattern': matches needs a regular expression string, got 5" in err


def test_validate_rejects_a_nan_collector_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "app-config.yaml"
    args = workspace(tmp_path, "    []\n")
    cfg.write_text("soundcheck:\n  collectors:\n    github:\n      timeout: .nan\n")
    assert run_cli(["validate", *args]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:" in err and "timeout must be a positive number of seconds or a duration, not nan" in err


# --- item 29: linear message scanning -------------------------------------------------------------------------
def test_unclosed_braces_in_a_message_are_scanned_in_linear_time(tmp_path: Path) -> None:
    message = "{{" * 32_000
    checks = ("    - id: owned\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: equal,\n"
              "             value: nobody}\n"
              f"      failedMessage: '{message} {{{{ entity.metadata.name }}}}'\n")
    args = workspace(tmp_path, checks)
    script = ("import sys; from soundcheck_cli.cli.commands import run_cli; "
              f"sys.exit(run_cli(['check', *{args!r}, '--store', {str(tmp_path / 'store')!r}, '-f', 'json', "
              f"'-o', {str(tmp_path / 'out.json')!r}, '-q']))")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20, "quadratic scan"
    assert done.returncode == 1, done.stderr
    results = json.loads((tmp_path / "out.json").read_text())["results"]
    # the first "{{" opens at the start and its text up to "}}" is no placeholder: all stays as written (as before)
    assert {r["message"] for r in results} == {message + " {{ entity.metadata.name }}"}


def test_template_scanning_matches_the_shortest_braces() -> None:
    template = compile_template("x {{{ entity.a }}} {{ nope }} {{ check.id }}{{ entity.a }{{")
    # "{{{ entity.a }}" holds "{ entity.a ", not a placeholder; "}{{" closes nothing
    assert template.render({"a": "A"}, {"id": "c"}) == "x {{{ entity.a }}} {{ nope }} c{{ entity.a }{{"
    assert compile_template("{{ entity.a }}}").render({"a": "A"}, {}) == "A}"


def test_a_timeout_only_decides_where_the_condition_decides(tmp_path: Path) -> None:
    """``all`` stops at its first false condition: a catastrophic condition after it is never searched, and the
    default message (worked out from every condition) does not turn that failure into an error. In ``applicable``
    the timeout makes the result ``error``."""
    long_name = "a" * 59 + "b"
    checks = ("    - id: both\n"
              "      rule:\n"
              "        all:\n"
              "          - {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: equal, value: x}\n"
              "          - {factRef: catalog:default/entity_descriptor, path: $.metadata.name, operator: matches,\n"
              f"             value: '{EXPONENTIAL}'}}\n"
              "    - id: gated\n"
              "      applicable: {factRef: catalog:default/entity_descriptor, path: $.metadata.name,\n"
              f"                   operator: matches, value: '{EXPONENTIAL}y'}}\n"
              "      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: equal, value: x}\n")
    code, report = check_json(tmp_path, workspace(tmp_path, checks, a=long_name, b="aaaa"))
    got = {(r["checkId"], r["entityRef"].split("/")[1]): (r["state"], r["message"]) for r in report["results"]}
    assert got[("both", long_name)] == (
        "failed", 'catalog:default/entity_descriptor: $.spec.owner is "team-a", expected equal "x"')
    state, message = got[("gated", long_name)]
    assert state == "error" and "timed out" in message
    assert got[("gated", "aaaa")][0] == "not-applicable"
