"""Every code block of docs/custom-collectors.md is exercised. Blocks are found by their info string:

- ``<lang> file=PATH``: written to PATH in a temporary project; the package files must equal the example package's
  (so the tutorial and ``examples/example-pagerduty`` cannot drift apart), then the written package is made
  discoverable through its own pyproject's entry point and used by the commands below;
- ``python file=tests/...``: the plugin test of step 4, imported and run;
- ``text layout``: every path in the tree exists in ``examples/example-pagerduty``;
- ``bash install``: installs that folder, whose pyproject declares the entry point;
- ``text missing-token``: the error ``soundcheck collect`` prints when the token's variable is unset;
- ``console verify``: each ``$ soundcheck ...`` line is run through ``cli.run_cli`` in the project folder (the
  ``export`` line sets the variable), against a local PagerDuty serving the official API examples.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
from plugin_fixtures import (
    EXAMPLE,
    forget_plugin_modules,
    install_plugin,
    no_proxy,
    pagerduty_server,
)

from soundcheck_cli.cli.commands import run_cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "custom-collectors.md"
FENCE = re.compile(r"^```(\S*)[ \t]*(.*?)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, str]]:
    """(language, marker, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(DOC.read_text())]


def block(marker: str) -> str:
    [body] = [b for _, m, b in blocks() if m == marker]
    return body


def files() -> dict[str, str]:
    return {m.removeprefix("file="): b for _, m, b in blocks() if m.startswith("file=")}


KNOWN = {"layout", "install", "missing-token", "verify"}


def test_every_block_is_marked_and_so_exercised_by_this_file() -> None:
    found = blocks()
    assert len(found) == 12
    for lang, marker, _ in found:
        assert marker in KNOWN or marker.startswith("file="), (lang, marker)


def test_package_files_in_the_tutorial_are_the_example_package() -> None:
    written = files()
    for path in ("pyproject.toml", "src/soundcheck_example_pagerduty/collector.py", "src/soundcheck_example_pagerduty/__init__.py"):
        assert written[path] == (EXAMPLE / path).read_text(), path
    entry_points = tomllib.loads(written["pyproject.toml"])["project"]["entry-points"]["soundcheck.collectors"]
    assert entry_points == {"example-pagerduty": "soundcheck_example_pagerduty.collector:ExamplePagerDutyFactCollector"}


def test_layout_matches_the_example_package() -> None:
    lines = block("layout").splitlines()
    assert lines[0] == "example-pagerduty/"
    stack: list[str] = []
    for line in lines[1:]:
        name = re.sub(r"^[│├└─\s]+", "", line)
        depth = (len(line) - len(name)) // 4 - 1  # "├── " is depth 0, "│   └── " depth 1
        stack = stack[:depth] + [name.rstrip("/")]
        path = EXAMPLE.joinpath(*stack)
        assert path.exists(), path


def test_install_command_installs_the_example_folder() -> None:
    args = shlex.split(block("install"))
    assert args[:2] == ["pip", "install"]
    target = Path(__file__).resolve().parent.parent / args[2]
    assert target == EXAMPLE and (target / "pyproject.toml").is_file()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tutorial's files in a project folder, its package discoverable through its pyproject's entry point."""
    root = tmp_path / "project"
    for path, body in files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(body)
    entry_points = tomllib.loads(files()["pyproject.toml"])["project"]["entry-points"]["soundcheck.collectors"]
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    forget_plugin_modules()
    install_plugin(tmp_path / "site", monkeypatch, "soundcheck-example-pagerduty", lines, src=root / "src")
    monkeypatch.chdir(root)
    monkeypatch.delenv("SOUNDCHECK_STORE", raising=False)
    monkeypatch.delenv("PAGERDUTY_TOKEN", raising=False)
    no_proxy(monkeypatch)
    yield root
    forget_plugin_modules()


def test_the_tutorials_plugin_test_passes(project: Path) -> None:
    spec = importlib.util.spec_from_file_location("tutorial_plugin_test", project / "tests" / "test_service_fact.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ExamplePagerDutyFactCollector.__module__ == "soundcheck_example_pagerduty.collector"
    assert str(Path(sys.modules["soundcheck_example_pagerduty"].__file__)).startswith(str(project))
    module.test_collects_the_service()


def test_missing_token_error_is_as_documented(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["collect"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {project / block('missing-token').strip()}" in err.splitlines()


def test_verify_commands(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    commands = [line.removeprefix("$ ") for line in block("verify").splitlines()]
    assert all(c.startswith(("export ", "soundcheck ")) for c in commands)
    with pagerduty_server() as (base_url, requests):
        # The only thing the tutorial does not write: where "PagerDuty" is (app-config.local.yaml is merged on top).
        (project / "app-config.local.yaml").write_text(f"soundcheck:\n  collectors:\n    example-pagerduty:\n      baseUrl: {base_url}\n")
        outputs = {}
        for command in commands:
            args = shlex.split(command)
            if args[0] == "export":
                name, _, _ = args[1].partition("=")
                monkeypatch.setenv(name, "test-read-only-key")
                continue
            code = run_cli(args[1:])
            out, err = capsys.readouterr()
            assert code == 0, (command, out, err)
            outputs[command] = out
    assert [r["path"] for r in requests] == ["/services/PIJ90N7"]
    [row] = [line for line in outputs["soundcheck collectors list"].splitlines() if line.startswith("example-pagerduty")]
    assert "soundcheck-example-pagerduty" in row and " yes " in row
    assert "facts:\n  example-pagerduty:default/service" in outputs["soundcheck collectors show example-pagerduty"]
    assert '       cache: {"duration": {"hours": 2}}' in outputs["soundcheck collectors show example-pagerduty"]
    assert '       frequency: {"hours": 1}' in outputs["soundcheck collectors show example-pagerduty"]
    report = outputs["soundcheck check --track pagerduty_track"]
    assert "pagerduty_track" in report and "payments" in report
