"""The config loader refuses a run of opening brackets (a nesting bomb) from the text up to the run, before
ruamel's scanner, quadratic in flow nesting, reads the rest: same message and location as scanning the whole
text, and no false alarm for brackets inside strings or comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundcheck_cli.config.loader import MAX_DEPTH, _Loader, load_config_files
from soundcheck_cli.errors import ConfigError, Problems

BOMBS = {
    "flow run": "soundcheck:\n  checks: " + "[" * 400 + "]" * 400 + "\n",
    "inside block nesting": "a:\n  b:\n    c: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
    "spaced brackets": "x: " + "[ " * 300 + "\n",
    "braces and brackets": "x: " + "{a: [" * 150 + "\n",
    "unclosed": "x: " + "[" * 300,
}


def full_scan(text: str, path: str) -> list[str]:
    """What the event scan over the whole text reports (the loader's answer without the pre-check)."""
    problems = Problems()
    assert _Loader._scan_events(text, path, problems) is False
    return [f"{p.location}: {p.message}" for p in problems.items]


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bracket_run_is_refused_as_the_whole_scan_refuses_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / "app-config.yaml"
    text = BOMBS[name]
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config_files([str(path)])
    shown = [f"{p.location}: {p.message}" for p in info.value.problems]
    assert shown == full_scan(text, str(path))
    assert f"nesting deeper than {MAX_DEPTH} levels" in shown[0]


@pytest.mark.parametrize("text", [
    'x: "' + "[" * 300 + '"\n',  # a string
    "x: '" + "{" * 300 + "'\n",
    "# " + "[" * 300 + "\nx: 1\n",  # a comment
    "x: |\n  " + "[" * 300 + "\n",  # a block scalar
])
def test_brackets_in_scalars_and_comments_are_no_nesting(tmp_path: Path, text: str) -> None:
    path = tmp_path / "app-config.yaml"
    path.write_text(text)
    config = load_config_files([str(path)])
    assert config is not None


def test_nesting_up_to_the_bound_loads(tmp_path: Path) -> None:
    path = tmp_path / "app-config.yaml"
    path.write_text("x: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "\n")
    assert load_config_files([str(path)]) is not None
