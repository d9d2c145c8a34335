"""The bad-input corpus (issue 7): every malformed config, catalog and fact file in ``tests/corpus`` must end the
real CLI with the expected exit code and a message naming ``file:line``, never with a traceback or exit 3.

Each case is a folder under ``tests/corpus/cases/`` described in ``tests/corpus/cases.yaml`` (the format is at the
top of that file). The folder is copied to ``tmp_path`` (nothing is written into the repository) and the command
runs in-process through ``cli.run_cli``, as the console script does, with a throw-away store.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from soundcheck_cli.cli.commands import run_cli

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES: list[dict[str, Any]] = YAML(typ="safe").load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
COMMANDS = {
    "validate": ["validate"],
    "check": ["check"],
    "collect": ["collect", "--collector", "catalog", "--quiet"],
    "push": ["facts", "push"],
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SOUNDCHECK_STORE", "SOUNDCHECK_DEBUG", "GITHUB_ACTIONS", "SOUNDCHECK_CORPUS_UNSET", "PD_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    # The process-wide redactor learns secrets from each config loaded; one case's token must not mask another's text.
    from soundcheck_cli.redact import GLOBAL

    monkeypatch.setattr(GLOBAL, "_values", set())
    monkeypatch.setattr(GLOBAL, "_pattern", None)


def _argv(case: dict[str, Any], folder: Path, store: Path) -> list[str]:
    argv = list(COMMANDS[case["command"]])
    if case["command"] == "push":
        name = case.get("facts") or next(p.name for p in sorted(folder.iterdir()) if p.name.startswith("facts."))
        argv.append(str(folder / name))
    config = folder / case.get("config", "app-config.yaml")
    if not config.exists() and "config" not in case:
        config = folder / "_base-app-config.yaml"
        shutil.copy(CORPUS / "_base" / "app-config.yaml", config)
    argv += ["-c", str(config), "--store", str(store)]
    if case["command"] != "push":
        catalog = folder / "catalog.yaml"
        if not catalog.exists():
            catalog = folder / "_base-catalog.yaml"
            shutil.copy(CORPUS / "_base" / "catalog.yaml", catalog)
        argv += ["--catalog", str(catalog)]
    return argv


def _location_pattern(at: str, folder: Path) -> str:
    """``FILE:LINE`` -> a regex for ``<abs path>:LINE[:COL]: ``; ``FILE:*`` -> any line; ``FILE`` -> no line."""
    name, _, line = at.partition(":")
    path = re.escape(str(folder / name))
    if not line:
        return path + r": "
    return path + ":" + (r"\d+" if line == "*" else line) + r"(?::\d+)?: "


def test_the_corpus_is_big_enough_and_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 100
    assert len(set(ids)) == len(ids)
    folders = {p.name for p in (CORPUS / "cases").iterdir() if p.is_dir()}
    assert folders == set(ids), "every case folder is listed in cases.yaml, and every listed case has a folder"
    for case in CASES:
        assert case["command"] in COMMANDS and case["exit"] in (0, 2), case["id"]
        assert ":" in case["at"] or case.get("why"), f"{case['id']}: a location without a line needs a reason"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_case(case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "case"
    shutil.copytree(CORPUS / "cases" / case["id"], folder)
    for name, value in (case.get("env") or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    code = run_cli(_argv(case, folder, tmp_path / "store"))
    out, err = capsys.readouterr()
    output = out + err

    assert "Traceback" not in output
    assert "internal error" not in output, output
    assert code != 3
    assert code == case["exit"], f"exit {code}, expected {case['exit']}:\n{output}"
    # The expected message, on one line, right after the location it names (errors, or warnings for exit 0).
    kind = "error" if case["exit"] == 2 else "warning"
    pattern = rf"^{kind}: " + _location_pattern(case["at"], folder) + r".*" + case["message"]
    assert re.search(pattern, output, re.MULTILINE), f"no line matching {pattern!r} in:\n{output}"
    # And every problem printed names at least its file: none is left without a location.
    for line in output.splitlines():
        if line.startswith(("error: ", "warning: ")) and "nothing was pushed" not in line:
            assert re.match(r"(error|warning): /", line), f"problem without a location: {line!r}"
