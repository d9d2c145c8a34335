"""``soundcheck exemptions add|revoke|audit`` and the expiry notices in every output (issue 21), through the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.facts.model import utcnow
from workspaces import hygiene_config, two_components


def setup(tmp_path: Path, exemptions: str | None = "[]\n") -> list[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "catalog.yaml").write_text(two_components())
    include = "  exemptions:\n    $include: ./exemptions.yaml\n" if exemptions is not None else ""
    (tmp_path / "app-config.yaml").write_text(hygiene_config() + include)
    if exemptions is not None:
        (tmp_path / "exemptions.yaml").write_text("# exemptions, edited by `soundcheck exemptions add`\n" + exemptions)
    return ["-c", str(tmp_path / "app-config.yaml"), "--store", str(tmp_path / "store")]


def day(offset: int) -> str:
    return (utcnow() + timedelta(days=offset)).date().isoformat()


def states(capsys, common: list[str]) -> dict[tuple[str, str], str]:
    capsys.readouterr()
    run_cli(["check", *common, "-f", "json"])
    doc = json.loads(capsys.readouterr().out)
    return {(r["checkId"], r["entityRef"]): r["state"] for r in doc["results"]}


def test_add_renew_revoke_edit_the_file_and_keep_an_audit_trail(tmp_path, capsys):
    common = setup(tmp_path)
    key = ("has_owner", "component:default/b")
    assert states(capsys, common)[key] == "failed"
    assert run_cli(["exemptions", "add", "--check", "has_owner", "--entity", "b", "--reason", "vendor: owned by them",
                    "--expires", day(60), "--by", "alice", *common]) == 0
    text = (tmp_path / "exemptions.yaml").read_text()
    assert text.startswith("# exemptions, edited") and '"vendor: owned by them"' in text  # comments kept
    assert states(capsys, common)[key] == "exempt"
    assert run_cli(["exemptions", "add", "--check", "has_owner", "--entity", "component:default/b", "--reason",
                    "renewed", "--expires", day(90), "--by", "bob", *common]) == 0
    assert (tmp_path / "exemptions.yaml").read_text().count("checkId") == 1  # a renewal replaces the entry
    assert run_cli(["exemptions", "revoke", "--check", "has_owner", "--entity", "b", "--by", "carol",
                    "--reason", "owner set", *common]) == 0
    assert "checkId" not in (tmp_path / "exemptions.yaml").read_text()
    assert states(capsys, common)[key] == "failed"
    capsys.readouterr()
    assert run_cli(["exemptions", "audit", "-f", "json", *common]) == 0
    trail = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["by"]) for e in trail] == [("added", "alice"), ("renewed", "bob"), ("revoked", "carol")]
    assert trail[0]["reason"] == "vendor: owned by them" and trail[2]["reason"] == "owner set"
    assert all(e["at"].endswith("Z") for e in trail)


def test_add_refuses_bad_input_and_inline_lists(tmp_path, capsys):
    common = setup(tmp_path)
    base = ["exemptions", "add", "--entity", "b", "--reason", "x", *common]
    assert run_cli([*base, "--check", "no_such"]) == 2
    assert "unknown check 'no_such'" in capsys.readouterr().err
    assert run_cli([*base, "--check", "has_owner", "--expires", "2020-01-01"]) == 2
    assert "already past" in capsys.readouterr().err
    assert run_cli(["exemptions", "revoke", "--check", "has_owner", "--entity", "a", *common]) == 2
    assert "not exempted" in capsys.readouterr().err
    # Exemptions written inline in the app-config are not rewritten by the CLI.
    common = setup(tmp_path / "inline", exemptions=None)
    config = tmp_path / "inline" / "app-config.yaml"
    config.write_text(config.read_text() + "  exemptions:\n    - {checkId: has_desc, entityRef: b, reason: r}\n")
    before = config.read_text()
    assert run_cli(["exemptions", "add", "--check", "has_owner", "--entity", "b", "--reason", "x", *common]) == 2
    assert "does not rewrite" in capsys.readouterr().err and config.read_text() == before


def test_expiring_and_expired_exemptions_are_shown_in_every_output(tmp_path, capsys):
    common = setup(tmp_path, f"""\
- {{checkId: has_owner, entityRef: b, reason: soon, expires: '{day(5)}'}}
- {{checkId: has_desc, entityRef: b, reason: lapsed, expires: '{day(-3)}'}}
""")
    outputs = {}
    for fmt in ("table", "markdown", "json"):
        capsys.readouterr()
        run_cli(["check", *common, "-f", fmt])
        outputs[fmt] = capsys.readouterr()
    for fmt, captured in outputs.items():
        assert "expires on" in captured.out and "expired on" in captured.out, fmt
    # stdout carries a machine format: the person at the terminal reads the notices on stderr too
    assert "expires on" in outputs["json"].err and "expired on" in outputs["json"].err
    problems = json.loads(outputs["json"].out)["problems"]
    assert any("exemptions.yaml:" in (p["location"] or "") for p in problems)
    # --expiring-within 3: the one expiring in 5 days is no longer announced
    capsys.readouterr()
    run_cli(["check", *common, "--expiring-within", "3"])
    out = capsys.readouterr().out
    assert "expires on" not in out and "expired on" in out
    capsys.readouterr()
    assert run_cli(["exemptions", *common]) == 0
    listed = capsys.readouterr().out
    assert "1 expired, 1 expiring within 14 days" in listed
