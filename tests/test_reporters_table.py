"""The ``table`` reporter (the default format): every reason printed whole at any width, big runs summarised per
check with ``--all`` for everything, ``$COLUMNS`` honoured off a terminal, and nothing in the data acting on the
terminal (escape sequences, C1 controls, bidi overrides)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.reporters import table_reporter
from soundcheck_cli.results import RunReport
from soundcheck_cli.rules.model import Check, CheckResult, CheckState, Condition
from soundcheck_cli.safe_text import terminal_safe
from soundcheck_cli.tracks.certification import certify
from soundcheck_cli.tracks.model import Level, LevelCheck, Track
from test_reporters_common import sample_report

REASON = ("{{ entity.metadata.name }} has no description: add metadata.description to its catalog-info.yaml so "
          "that people searching the catalog learn what it does and who to ask")
CONFIG = f"""\
catalog:
  locations: [{{type: file, target: ./catalog.yaml}}]
soundcheck:
  checks:
    - id: has_desc
      name: Has a description
      rule: {{factRef: catalog:default/entity_descriptor, path: $.metadata.description, operator: matches, value: '\\S'}}
      failedMessage: '{REASON}'
    - id: pd_service
      rule: {{factRef: pagerduty:default/service, path: $.status, operator: equal, value: active}}
  tracks:
    - id: hygiene
      levels:
        - {{ordinal: 1, checks: [{{id: has_desc}}]}}
        - {{ordinal: 2, checks: [{{id: pd_service}}]}}
"""


def _workspace(tmp_path: Path, count: int = 15) -> Path:
    docs = [f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i:02d}}}\n"
            "spec: {type: service, owner: team-a}\n" for i in range(count)]
    (tmp_path / "catalog.yaml").write_text("---\n".join(docs))
    (tmp_path / "app-config.yaml").write_text(CONFIG)
    return tmp_path


def _check(tmp_path: Path, *args: str, columns: str | None = "80") -> subprocess.CompletedProcess[str]:
    """``soundcheck check`` as a process whose stdout is a pipe (not a terminal)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PAGERDUTY_TOKEN", "GITHUB_ACTIONS")}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-m", "soundcheck_cli", "check", "-c", "app-config.yaml", "--store",
                           str(tmp_path / "store"), "-q", *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_every_reason_is_printed_whole_on_a_line_at_80_columns_off_a_terminal(tmp_path):
    proc = _check(_workspace(tmp_path), "--all")
    assert proc.returncode == 1, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    for i in range(15):
        reason = REASON.replace("{{ entity.metadata.name }}", f"svc-{i:02d}")
        assert len(reason) > 80
        assert reason in lines  # whole, on a line of its own, at 80 columns
        assert lines[lines.index(reason) - 1] == f"component:default/svc-{i:02d}"
        assert "not reported: pagerduty:default/service (not collected)" in lines
    assert "failed: has_desc (Has a description), 15 entities" in lines
    assert "not-reported: pd_service, 15 entities" in lines  # the state whole, not "not-rep…"
    assert "…" not in proc.stdout


def test_a_group_shows_its_first_ten_entities_and_counts_the_rest(tmp_path):
    proc = _check(_workspace(tmp_path))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    failed = out.split("failed: has_desc (Has a description), 15 entities\n")[1].split("\n\n")[0].splitlines()
    assert [line.strip() for line in failed[0:20:2]] == [f"component:default/svc-{i:02d}" for i in range(10)]
    assert failed[-1] == "  ... and 5 more: use --all or -f json"
    assert "svc-12" not in out.split("Checks that did not pass")[1]
    # the track grid is summarised the same way, after the level counts
    assert "  highest level reached: none 15 · Level 1 0 · Level 2 0" in out
    assert "  ... and 5 more entities: use --all or -f json" in out


def test_columns_is_honoured_off_a_terminal(tmp_path):
    _workspace(tmp_path)
    wide = _check(tmp_path, columns="200").stdout
    narrow = _check(tmp_path, columns="40").stdout
    assert "  Level 1  Level 2  Level reached  Entity" in wide
    assert "  L1 = Level 1, L2 = Level 2" not in wide
    assert "  L1 = Level 1, L2 = Level 2" in narrow and "  L1  L2  Level reached  Entity" in narrow


def _big_report(entities: int, checks: int) -> RunReport:
    ents = tuple(Entity.from_data({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                                   "metadata": {"name": f"service-{i:05d}"}, "spec": {"owner": "team"}})
                 for i in range(entities))
    rule = Condition(FactRef("catalog", "default", "entity_descriptor"), "$.spec.owner", "exists", True)
    all_checks = tuple(Check(id=f"check_{j}", rule=rule) for j in range(checks))
    track = Track("t", (Level(1, tuple(LevelCheck(c.id) for c in all_checks)),))
    results = []
    by_entity: dict[str, dict[str, CheckResult]] = {}
    for j, c in enumerate(all_checks):
        for i, e in enumerate(ents):
            state = CheckState.FAILED if (i + j) % 2 == 0 else CheckState.PASSED
            r = CheckResult(c.id, str(e.ref), state, f"{e.name} fails {c.id}" if state is CheckState.FAILED else "")
            results.append(r)
            by_entity.setdefault(str(e.ref), {})[c.id] = r
    track_results = tuple(certify(track, e, by_entity[str(e.ref)]) for e in ents)
    return RunReport(datetime(2026, 1, 1, tzinfo=timezone.utc), ents, all_checks, (track,), tuple(results),
                     track_results)


def test_ten_thousand_entities_are_summarised_with_counts_per_check():
    report = _big_report(10_000, 2)
    text = table_reporter.render(report, width=80)
    lines = text.splitlines()
    assert len(lines) < 80
    assert "Checks that did not pass: 10,000 results of 2 checks" in lines
    for check_id in ("check_0", "check_1"):
        assert f"failed: {check_id}, 5,000 entities" in lines
    assert lines.count("  ... and 4,990 more: use --all or -f json") == 2
    assert "  ... and 9,990 more entities: use --all or -f json" in lines
    assert "  service-00000 fails check_0" in [line[2:] for line in lines]
    everything = table_reporter.render(report, width=80, show_all=True)
    assert "    service-09999 fails check_1" in everything.splitlines()
    assert "more: use --all" not in everything


def test_escape_sequences_in_data_never_reach_the_terminal():
    report = sample_report()
    evil = ("\x1b[2J\x1b[H cleared \x1b]0;pwned title\x07 \x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ "
            "\x9b31m c1 \u202eevil-bidi\u202c back\r over")
    results = tuple(r._replace(message=evil, entity_ref=r.entity_ref + "\x1b[5m") if r.state is CheckState.FAILED
                    else r for r in report.check_results)
    checks = tuple(c if c.id != "has_docs" else Check(id=c.id, rule=c.rule, name="Docs\x1b]0;t\x07")
                   for c in report.checks)
    report = RunReport(report.generated_at, report.entities, checks, report.tracks, results, report.track_results)
    for color in (False, True):
        text = table_reporter.render(report, color=color)
        ours = re.sub(r"\x1b\[[0-9;]*m", "", text) if color else text  # the reporter's own SGR colouring
        for bad in ("\x1b", "\x9b", "\x07", "\u202e", "\u202c", "\r"):
            assert bad not in ours, repr(bad)
        assert "\\x1b[2J\\x1b[H cleared \\x1b]0;pwned title\\x07" in ours
        assert "\\x9b31m c1 \\u202eevil-bidi\\u202c back\\r over" in ours
        assert "component:default/docs-site\\x1b[5m" in ours
        assert "has_docs (Docs\\x1b]0;t\\x07)" in ours


def test_terminal_safe_keeps_text_newlines_and_tabs():
    assert terminal_safe("plain ünïcode 日本 text\n\tindented") == "plain ünïcode 日本 text\n\tindented"
    assert terminal_safe("a\r\nb\x00c\x7fd\x85e\u2066f") == "a\nb\\x00c\\x7fd\\x85e\\u2066f"
    assert terminal_safe(None) == ""


def test_escape_sequences_from_the_catalog_stay_off_stdout(tmp_path):
    _workspace(tmp_path, 2)
    (tmp_path / "catalog.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        'metadata: {name: svc, title: "\\e[2J\\e]0;pwned\\a\\u202e"}\nspec: {type: service, owner: team-a}\n')
    config = CONFIG.replace(REASON, "title: {{ entity.metadata.title }}")
    (tmp_path / "app-config.yaml").write_text(config)
    proc = _check(tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "    title: \\x1b[2J\\x1b]0;pwned\\x07\\u202e" in proc.stdout.splitlines()
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout


def test_cli_listings_warnings_and_errors_show_control_characters_as_escapes(tmp_path):
    """Issue 18 item 25: what the CLI prints besides the table report -- `entities`, `checks`, warnings, errors --
    shows escape sequences from catalog or config data as visible text, so they cannot act on the terminal."""
    import subprocess
    import sys

    (tmp_path / "catalog.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n"
        "  title: \"\\e]0;owned\\a\\e[2J\"\nspec: {type: service, lifecycle: production, owner: \"team-\\e[31mred\"}\n"
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: \"bad\\e[2Jname\"\n"
        "spec: {type: service, lifecycle: production, owner: x}\n")
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  checks:\n    - id: c1\n      name: \"Has\\e[2J owner\"\n"
        "      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: equal, value: team-a}\n")
    env_cmd = [sys.executable, "-m", "soundcheck_cli"]
    for args in (["entities"], ["checks"], ["validate"]):
        proc = subprocess.run(env_cmd + args + ["-c", "app-config.yaml", "--catalog", "catalog.yaml"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        printed = proc.stdout + proc.stderr
        assert "\x1b" not in printed and "\x07" not in printed, (args, printed)
    proc = subprocess.run(env_cmd + ["checks", "-c", "app-config.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert "Has\\x1b[2J owner" in proc.stdout
    proc = subprocess.run(env_cmd + ["validate", "-c", "app-config.yaml", "--catalog", "catalog.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "bad\\x1b[2Jname" in proc.stdout + proc.stderr  # the invalid name, quoted in a warning, made visible
