"""Secrets never reach a report in any format, escaped or not (issue 18, item 24).

The secrets hold the characters the formats escape -- ``&`` (HTML, XML, Markdown), ``\\`` (JSON, SARIF,
Markdown), ``"`` (JSON, XML attributes, HTML, CSV), ``<`` -- and a newline (a token pasted over two lines). Each
secret is made of fragments that occur nowhere else, so finding any fragment in an output means some form of
the secret leaked, whatever escaping the format applied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from soundcheck_cli import reporters
from soundcheck_cli.errors import Location, Problem, Severity
from soundcheck_cli.redact import MASK, Redactor, encodings
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckState
from test_reporters_common import ROOT, sample_report

SECRETS = {
    "amp": "Qa7Ampfrag&Wb3Ampfrag",
    "backslash": "Qa7Bslfrag\\Wb3Bslfrag",
    "quote": 'Qa7Quofrag"Wb3Quofrag',
    "lt": "Qa7Ltfrag<Wb3Ltfrag>Zx1Ltfrag",
    "newline": "Qa7Nlfrag-first-line\nWb3Nlfrag-second-line",
    "all": 'Qa7Allfrag&Wb3Allfrag\\Ec5Allfrag"Rd4Allfrag<Tf6Allfrag\'Yg8Allfrag\nUh9Allfrag',
}
FRAGMENTS = {name: [part for part in secret.replace("&", " ").replace("\\", " ").replace('"', " ").replace("<", " ")
                    .replace(">", " ").replace("'", " ").split() if "frag" in part]
             for name, secret in SECRETS.items()}


def _leaky_report(secret: str) -> RunReport:
    """The sample report with the secret in a failing and a warning message, a check name and a warning."""
    report = sample_report()
    results = tuple(r._replace(message=f"API said: token {secret} is invalid") if r.state in
                    (CheckState.FAILED, CheckState.WARNING, CheckState.ERROR) else r for r in report.check_results)
    checks = tuple(Check(id=c.id, rule=c.rule, name=f"uses {secret}", description=c.description)
                   if c.id == "has_docs" else c for c in report.checks)
    problems = (Problem(f"collector said {secret}", Location("catalog/x.yaml", 1, 1), Severity.WARNING),)
    by_id = {(r.check_id, r.entity_ref): r for r in results}
    track_results = tuple(_with_results(tr, by_id) for tr in report.track_results)
    return RunReport(report.generated_at, report.entities, checks, report.tracks, results, track_results, problems)


def _with_results(tr, by_id):
    from dataclasses import replace

    levels = tuple(replace(lv, checks=tuple(by_id[(c.check_id, c.entity_ref)] for c in lv.checks)) for lv in tr.levels)
    highest = next((lv for lv, old in zip(levels, tr.levels) if old is tr.highest_level), None)
    return replace(tr, levels=levels, highest_level=highest)


@pytest.mark.parametrize("name", sorted(SECRETS))
@pytest.mark.parametrize("fmt", reporters.FORMATS)
def test_no_form_of_a_secret_reaches_any_format(fmt, name):
    secret = SECRETS[name]
    report = _leaky_report(secret)
    # without the redactor the secret is there (so the test can see a leak) ...
    plain = reporters.get(fmt)(report, root=ROOT, show_all=True, redactor=Redactor())
    assert any(fragment in plain for fragment in FRAGMENTS[name])
    # ... with it, no fragment of it in any escaping, and the mask in its place
    text = reporters.get(fmt)(report, root=ROOT, show_all=True, redactor=Redactor([secret]))
    for fragment in FRAGMENTS[name]:
        assert fragment not in text, (fmt, fragment)
    # the mask itself as the format writes it (Markdown escapes "*"; workflow commands keep it)
    assert MASK in text or "\\*\\*\\*" in text


def test_the_redactor_masks_every_escaped_form_and_every_line():
    secret = SECRETS["all"]
    redactor = Redactor([secret])
    escaped = {
        "json": json.dumps(secret)[1:-1],
        "json-ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
        "html": secret.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace("'", "&#x27;"),
        "xml-attribute": secret.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
                               .replace("\n", "&#10;"),
        "csv": secret.replace('"', '""'),
    }
    for name, form in escaped.items():
        assert form in encodings(secret) or form == secret, name
        masked = redactor.redact_known(f"before {form} after")
        for fragment in FRAGMENTS["all"]:
            assert fragment not in masked, (name, fragment, masked)
    # each line alone, as a format that folds or quotes lines separately prints it
    for line in secret.splitlines():
        assert redactor.redact_known(f"> {line}") == f"> {MASK}"


def test_a_report_without_secrets_is_returned_as_is():
    from soundcheck_cli.reporters.common import redacted

    report = sample_report()
    assert redacted(report, Redactor(["NotInTheReport-123"])) is report
    assert redacted(report, Redactor()) is report


def test_secrets_from_the_config_stay_out_of_every_format_through_the_cli(tmp_path):
    """End to end: the token is registered from the config (``${PD_TOKEN}``); the catalog quotes it in a
    description that a check's failedMessage prints."""
    secret = SECRETS["all"]
    (tmp_path / "catalog.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata: {{name: leaky, description: {json.dumps('token ' + secret)}}}\nspec: {{type: service}}\n")
    (tmp_path / "app-config.yaml").write_text(
        "catalog:\n  locations: [{type: file, target: ./catalog.yaml}]\n"
        "soundcheck:\n  collectors:\n    pagerduty:\n      token: ${PD_TOKEN}\n"
        "  checks:\n    - id: owned\n      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner,"
        " operator: matches, value: 'x'}\n      failedMessage: 'no owner; {{ entity.metadata.description }}'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS",)}
    env["PD_TOKEN"] = secret
    args = []
    for fmt in reporters.FORMATS:
        if fmt != "table":
            args += ["-f", fmt, "-o", str(tmp_path / f"out.{fmt}")]
    proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", "check", "-c", "app-config.yaml", "--store",
                           str(tmp_path / "store"), *args, "-f", "table"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr}
    outputs.update({fmt: (tmp_path / f"out.{fmt}").read_text() for fmt in reporters.FORMATS if fmt != "table"})
    assert "no owner; token ***" in proc.stdout
    for where, text in outputs.items():
        for fragment in FRAGMENTS["all"]:
            assert fragment not in text, (where, fragment)
