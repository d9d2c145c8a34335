"""``located.yaml``, the one YAML reader: its scalars are ruamel's safe-loaded values (JSON types; timestamps as
text), its fast and located paths give the same nodes, and what would crash a composer is refused first."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from soundcheck_cli.located import yaml as reader

SCALARS = ["1", "-7", "+3", "0", "012", "0o17", "0x1F", "0b101", "1_000", "1.5", "-.5", ".5", "1e3", "1.0e-2",
           ".inf", "-.Inf", "+.INF", "true", "False", "TRUE", "null", "~", "Null", "", "yes", "no", "on", "text",
           "'quoted'", '"007"', "1:30", "0.1_5"]


@pytest.mark.parametrize("text", SCALARS)
def test_scalars_read_as_ruamels_safe_loader_reads_them(text: str) -> None:
    [root] = reader.compose(f"k: {text}\n", "f.yaml")
    [(_, node)] = root.value
    expected = YAML(typ="safe", pure=True).load(f"k: {text}\n")["k"]
    got = reader.scalar_value(node)
    assert (type(got), got) == (type(expected), expected)


def test_yaml_1_1_booleans_under_a_version_directive() -> None:
    [root] = reader.compose("%YAML 1.1\n---\na: yes\nb: off\nc: 0x10\n", "f.yaml")
    assert [reader.scalar_value(v) for _, v in root.value] == [True, False, 16]


def test_nan_and_timestamps() -> None:
    [root] = reader.compose("a: .nan\nb: 2024-01-02 10:00:00\n", "f.yaml")
    nan, stamp = (reader.scalar_value(v) for _, v in root.value)
    assert nan != nan and stamp == "2024-01-02 10:00:00"


def test_a_number_python_will_not_read_keeps_its_text() -> None:
    [root] = reader.compose("a: " + "9" * 5000 + "\n", "f.yaml")
    [(_, node)] = root.value
    assert reader.scalar_value(node) == "9" * 5000 and reader.number_too_long(node)


@pytest.mark.parametrize("fast", [True, False])
def test_both_paths_give_the_same_nodes(fast: bool) -> None:
    text = "a: &x {b: [1, 2.5, c]}\nd: *x\n---\n- e\n"
    roots = reader.compose(text, "f.yaml", fast=fast)
    plain = [reader.LocatedConverter("f.yaml", 100, 10).convert(r) for r in roots]
    assert plain == [{"a": {"b": [1, 2.5, "c"]}, "d": {"b": [1, 2.5, "c"]}}, ["e"]]


def test_syntax_errors_carry_the_pure_parsers_message_and_position() -> None:
    with pytest.raises(reader.YamlError) as info:
        reader.compose("a: 1\n b: 2\n", "f.yaml")
    assert (str(info.value.location), info.value.problem) == ("f.yaml:2:3", "mapping values are not allowed here")


def test_nesting_past_the_c_composers_stack_is_refused_by_a_flat_scan() -> None:
    # 100,000 levels of compact sequences crashed the C composer (a segfault) before this scan existed.
    with pytest.raises(reader.YamlLimit) as info:
        reader.compose("- " * 100_000 + "x\n", "f.yaml")
    assert info.value.kind == "depth" and info.value.location.line == 1
    assert reader.plain_documents("- " * 100_000 + "x\n", max_nodes=10, max_depth=10) is None
