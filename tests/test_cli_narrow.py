"""``cli._app_for``: a command line runs with the app narrowed to its command (typer builds only that one), and
says exactly what the whole app says."""

from __future__ import annotations

import pytest

from soundcheck_cli.cli import commands as cli


def _names() -> list[str]:
    commands = [c.name or cli.typer.main.get_command_name(c.callback.__name__) for c in cli.app.registered_commands]
    return commands + [g.name for g in cli.app.registered_groups]


def test_every_command_narrows_to_itself():
    names = _names()
    assert {"check", "collect", "run", "facts", "store", "collectors", "history"} <= set(names)
    for name in names:
        narrowed = cli._app_for([name, "--help"])
        assert narrowed is not cli.app
        assert len(narrowed.registered_commands) + len(narrowed.registered_groups) == 1
    for argv in ([], ["--version"], ["-h"], ["chek"], ["--store", "x"]):
        assert cli._app_for(argv) is cli.app


@pytest.mark.parametrize("argv", [[name, "--help"] for name in _names()] + [
    ["check", "--no-such-option"], ["facts", "nope"], ["store", "init", "--help"], ["check", "-f"]])
def test_a_narrowed_app_says_what_the_whole_app_says(argv, monkeypatch, capsys):
    code = cli.run_cli(argv)
    narrowed = capsys.readouterr()
    monkeypatch.setattr(cli, "_app_for", lambda _argv: cli.app)
    assert cli.run_cli(argv) == code
    whole = capsys.readouterr()
    assert (narrowed.out, narrowed.err) == (whole.out, whole.err)
    assert narrowed.out or narrowed.err
