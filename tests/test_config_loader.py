"""Tests for ``soundcheck_cli.config.loader`` (with ``config.env`` and ``config.merge``).

Each case writes small files into a temporary directory and loads them by relative path, so expected messages
read exactly as a user sees them: ``file:line:col: message``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundcheck_cli.config import loader
from soundcheck_cli.config.env import missing_env, substitute, unset_keys
from soundcheck_cli.config.loader import load_config_files
from soundcheck_cli.located.nodes import LocatedDict, LocatedList, loc_of, to_plain
from soundcheck_cli.errors import ConfigError, Location, Problems

FIXTURES = Path(__file__).parent / "fixtures" / "config"


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def load(tmp_path, monkeypatch):
    """``load(files, paths=("app.yaml",), env=None) -> (tree, problems)``, run inside ``tmp_path``."""
    monkeypatch.chdir(tmp_path)

    def run(files: dict[str, str | bytes], paths=("app.yaml",), env: dict[str, str] | None = None):
        _write(tmp_path, files)
        problems = Problems()
        tree = load_config_files(list(paths), env or {}, problems)
        return tree, problems

    return run


def _messages(problems: Problems, kind: str = "errors") -> list[str]:
    return [str(p) for p in getattr(problems, kind)]


# --------------------------------------------------------------------------------------------------------------
# Errors, each with its exact located message

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi")
)
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB

ERROR_CASES = [
    ("indentation", {"app.yaml": "a: 1\n b: 2\n"}, ["app.yaml:2:3: invalid YAML: mapping values are not allowed here"]),
    (
        "unclosed flow",
        {"app.yaml": "a: [1, 2\nb: 3\n"},
        ["app.yaml:2:2: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 1, column 4)"],
    ),
    (
        "duplicate key",
        {"app.yaml": "a: 1\na: 2\n"},
        ['app.yaml:2:1: invalid YAML: found duplicate key "a" with value "2" (original value: "1")'],
    ),
    ("tab", {"app.yaml": "a: 1\n\tb: 1\n"}, ["app.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token"]),
    ("undefined alias", {"app.yaml": "a: *nope\n"}, ["app.yaml:1:4: invalid YAML: found undefined alias 'nope'"]),
    (
        "two documents",
        {"app.yaml": "a: 1\n---\nb: 2\n"},
        ["app.yaml:2:1: invalid YAML: expected a single document in the stream, but found another document"],
    ),
    ("missing file", {}, ["app.yaml: config file not found"]),
    ("directory", {"app.yaml/x": ""}, ["app.yaml: config file is a directory"]),
    ("not utf-8", {"app.yaml": b"a: 1\nb: \xff\n"}, ["app.yaml:2: file is not valid UTF-8 text"]),
    ("top-level list", {"app.yaml": "- a\n- b\n"}, ["app.yaml:1:1: the top level of a config file must be a mapping, not a list"]),
    ("top-level scalar", {"app.yaml": "hello\n"}, ["app.yaml:1:1: the top level of a config file must be a mapping, not a string"]),
    ("complex key", {"app.yaml": "? [1]\n: 2\n"}, ["app.yaml:1:3: mapping keys must be strings"]),
    ("binary value", {"app.yaml": "a: !!binary aGk=\n"}, ["app.yaml:1:4: unsupported YAML value of type bytes"]),
    ("alias bomb", {"app.yaml": BOMB}, ["app.yaml:7:12: YAML aliases expand to more than 1000000 values (an alias bomb?)"]),
    ("recursive alias", {"app.yaml": "a: &x [1, *x]\n"}, ["app.yaml:1:11: recursive YAML alias '*x'"]),
    ("too deep", {"app.yaml": "a: " + "[" * 201 + "]" * 201 + "\n"}, ["app.yaml:1:203: nesting deeper than 200 levels"]),
    (
        "include missing",
        {"app.yaml": "a:\n  $include: sub/nope.yaml\n"},
        ["app.yaml:2:13: '$include': file sub/nope.yaml not found"],
    ),
    (
        "include missing, nested relative",
        {"app.yaml": "a:\n  $include: sub/b.yaml\n", "sub/b.yaml": "b:\n  $include: ../nope.json\n"},
        ["sub/b.yaml:2:13: '$include': file nope.json not found"],
    ),
    (
        "include cycle",
        {"app.yaml": "a:\n  $include: b.yaml\n", "b.yaml": "b:\n  $include: ./app.yaml\n"},
        ["b.yaml:2:13: '$include' cycle: app.yaml -> b.yaml -> app.yaml"],
    ),
    (
        "include self",
        {"app.yaml": "a:\n  $include: c.yaml\n", "c.yaml": "x: {$include: c.yaml}\n"},
        ["c.yaml:1:15: '$include' cycle: app.yaml -> c.yaml -> c.yaml"],
    ),
    (
        "include bad YAML is located in the included file",
        {"app.yaml": "a:\n  $include: b.yaml\n", "b.yaml": "x: 1\n y: 2\n"},
        ["b.yaml:2:3: invalid YAML: mapping values are not allowed here"],
    ),
    (
        "include unsupported type",
        {"app.yaml": "a:\n  $include: notes.txt\n", "notes.txt": "x"},
        ["app.yaml:2:13: '$include': unsupported file type '.txt' (expected .yaml, .yml or .json)"],
    ),
    (
        "include unknown key path",
        {"app.yaml": "a:\n  $include: b.yaml#x.y\n", "b.yaml": "x:\n  z: 1\n"},
        ["app.yaml:2:13: '$include': no value at 'x.y' in b.yaml"],
    ),
    (
        "include key path through a scalar",
        {"app.yaml": "a:\n  $include: b.yaml#x.y\n", "b.yaml": "x: 1\n"},
        ["app.yaml:2:13: '$include': value at 'x' in b.yaml is not a mapping"],
    ),
    (
        "include path with unset variable",
        {"app.yaml": "a:\n  $include: ${CONF_DIR}/b.yaml\n"},
        ["app.yaml:2:13: '$include': environment variable CONF_DIR not set"],
    ),
    (
        "directive with adjacent keys",
        {"app.yaml": "a:\n  $include: b.yaml\n  other: 1\n"},
        ["app.yaml:2:3: '$include' must be the only key in its mapping (also found 'other')"],
    ),
    ("directive value not a string", {"app.yaml": "a:\n  $file: [x]\n"}, ["app.yaml:2:10: '$file' value must be a string"]),
    ("file missing", {"app.yaml": "a:\n  $file: secret.txt\n"}, ["app.yaml:2:10: '$file': file secret.txt not found"]),
]


@pytest.mark.parametrize("files, expected", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_error_messages(load, files, expected):
    _, problems = load(files)
    assert _messages(problems) == expected


def test_every_file_is_reported_and_raise_without_problems(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, {"a.yaml": "x: [\n", "b.yaml": "- 1\n"})
    with pytest.raises(ConfigError) as info:
        load_config_files(["a.yaml", "b.yaml", "c.yaml"], {})
    assert [str(p) for p in info.value.problems] == [
        "a.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>'",
        "b.yaml:1:1: the top level of a config file must be a mapping, not a list",
        "c.yaml: config file not found",
    ]
    assert "Traceback" not in str(info.value)


def test_unsupported_tag_is_a_warning_and_reads_the_string(load):
    tree, problems = load({"app.yaml": "a: !custom text\n"})
    assert tree == {"a": "text"}
    assert _messages(problems, "warnings") == ["app.yaml:1:4: unsupported YAML tag '!custom' (value read as a string)"]
    assert problems.errors == []


def test_bounds_also_cover_includes_repeated_through_aliases(load, monkeypatch):
    # Each file is small, but aliases of one $include multiply what the merged tree expands to.
    monkeypatch.setattr(loader, "MAX_NODES", 50)
    items = "".join(f"- {i}\n" for i in range(30))
    _, problems = load({"app.yaml": "a: &i {$include: big.yaml}\nb: [*i, *i]\n", "big.yaml": items})
    assert _messages(problems) == ["app.yaml:1:1: config expands to more than 50 values"]


def test_alias_bomb_is_refused_before_anything_is_built(load, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the document was composed/converted")

    monkeypatch.setattr(loader._Loader, "_convert", must_not_run)
    monkeypatch.setattr(loader.reader, "compose", must_not_run)
    _, problems = load({"app.yaml": BOMB})
    assert [p.location for p in problems.errors] == [Location("app.yaml", 7, 12)]


# --------------------------------------------------------------------------------------------------------------
# Values and positions


def test_empty_file_is_an_empty_mapping(load):
    tree, problems = load({"app.yaml": "# only a comment\n"})
    assert tree == {} and isinstance(tree, LocatedDict)
    assert problems.items == []


def test_positions_of_keys_values_and_items(load):
    tree, _ = load({"app.yaml": "app:\n  title: x\n  list:\n    - one\n    - {k: v}\n"})
    app = tree["app"]
    assert tree.key_locs["app"] == Location("app.yaml", 1, 1)
    assert app.key_locs["title"] == Location("app.yaml", 2, 3)
    assert app.value_locs["title"] == Location("app.yaml", 2, 10)
    assert isinstance(app["list"], LocatedList)
    assert app["list"].item_locs == [Location("app.yaml", 4, 7), Location("app.yaml", 5, 7)]
    assert loc_of(app["list"][1], "k") == Location("app.yaml", 5, 11)


def test_scalars_are_plain_python_values(load):
    tree, _ = load({"app.yaml": "i: 0x10\nf: 1.5\nb: true\nn: ~\ny: yes\nd: 2024-01-02\ns: 'q'\n1: one\n"})
    assert tree == {"i": 16, "f": 1.5, "b": True, "n": None, "y": "yes", "d": "2024-01-02", "s": "q", "1": "one"}
    assert [type(v) for v in tree.values()] == [int, float, bool, type(None), str, str, str, str]
    json.dumps(tree)  # JSON-serialisable


def test_merge_keys_keep_positions_of_the_merged_mapping(load):
    tree, _ = load({"app.yaml": "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n"})
    assert tree["m"] == {"y": 2, "x": 1}
    assert tree["m"].value_locs["x"] == Location("app.yaml", 1, 14)


def test_aliases_share_converted_values(load):
    tree, _ = load({"app.yaml": "a: &a {k: [1, 2]}\nb: *a\n"})
    assert tree["a"] == tree["b"] == {"k": [1, 2]}


# --------------------------------------------------------------------------------------------------------------
# ${VAR} substitution (Backstage's substitution.ts)

SUBSTITUTIONS = [
    ("${A}", {"A": "x"}, ("x", ())),
    ("${ A }", {"A": " x "}, ("x", ())),  # name and value trimmed
    ("pre-${A}-post", {"A": "x"}, ("pre-x-post", ())),
    ("$${A}", {"A": "x"}, ("${A}", ())),  # escaped
    ("$${A} and ${A}", {"A": "x"}, ("${A} and x", ())),
    ("${A}", {}, (None, ("A",))),
    ("token ${A}", {}, (None, ("A",))),  # partial: the whole value is unset
    ("${A}${B}${A}", {}, (None, ("A", "B"))),
    ("${A}", {"A": ""}, ("", ())),  # set but empty is set
    ("no vars $ {A} ${", {}, ("no vars $ {A} ${", ())),
]


@pytest.mark.parametrize("text, env, expected", SUBSTITUTIONS)
def test_substitute(text, env, expected):
    assert substitute(text, env) == expected


@settings(max_examples=50)
@given(st.text().filter(lambda t: "${" not in t), st.dictionaries(st.text(), st.text()))
def test_substitute_leaves_text_without_placeholders_alone(text, env):
    assert substitute(text, env) == (text, ())


@settings(max_examples=50)
@given(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True), st.text(alphabet="ab${} ", max_size=12))
def test_escaped_placeholders_are_literal_whatever_the_environment(name, value):
    assert substitute(f"$${{{name}}}", {name: value}) == (f"${{{name}}}", ())


def test_unset_variable_leaves_the_key_unset_and_remembers_why(load):
    text = "c:\n  token: ${TOKEN}\n  header: Bearer ${TOKEN}\n  both: ${A}-${B}\n  esc: $${TOKEN}\n  set: ${SET}\n"
    tree, problems = load({"app.yaml": text}, env={"SET": "yes"})
    c = tree["c"]
    assert c == {"esc": "${TOKEN}", "set": "yes"}
    assert missing_env(c, "token") == "TOKEN"
    assert missing_env(c, "header") == "TOKEN"
    assert missing_env(c, "both") == "A, B"
    assert missing_env(c, "set") is None and missing_env(c, "never-written") is None
    assert unset_keys(c)["token"].location == Location("app.yaml", 2, 3)
    assert problems.items == []  # reported only by whoever needs the value


def test_unset_list_items_are_dropped(load):
    tree, _ = load({"app.yaml": "l: [a, '${X}', b]\n"})
    assert tree["l"] == ["a", "b"]
    assert tree["l"].item_locs == [Location("app.yaml", 1, 5), Location("app.yaml", 1, 16)]


def test_environ_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOUNDCHECK_TEST_VAR", "from-os")
    _write(tmp_path, {"app.yaml": "v: ${SOUNDCHECK_TEST_VAR}\n"})
    assert load_config_files(["app.yaml"]) == {"v": "from-os"}


# --------------------------------------------------------------------------------------------------------------
# $include, $file, $env


def test_include_mapping_list_scalar_and_json_keep_their_own_positions(load):
    tree, problems = load(
        {
            "app.yaml": "m:\n  $include: sub/m.yaml\nl:\n  $include: sub/l.yaml\ns: {$include: sub/s.yaml}\nj:\n  $include: sub/j.json\n",
            "sub/m.yaml": "k: v\n",
            "sub/l.yaml": "- one\n- two\n",
            "sub/s.yaml": "42\n",
            "sub/j.json": '{\n  "a": [1, {"b": true}]\n}\n',
        }
    )
    assert problems.items == []
    assert to_plain(tree) == {"m": {"k": "v"}, "l": ["one", "two"], "s": 42, "j": {"a": [1, {"b": True}]}}
    assert tree["m"].value_locs["k"] == Location("sub/m.yaml", 1, 4)
    assert tree["l"].item_locs == [Location("sub/l.yaml", 1, 3), Location("sub/l.yaml", 2, 3)]
    assert tree["j"]["a"].item_locs[1] == Location("sub/j.json", 2, 12)
    assert tree.value_locs["s"] == Location("app.yaml", 5, 4)


def test_nested_includes_resolve_relative_to_the_including_file(load):
    tree, problems = load(
        {
            "app.yaml": "a:\n  $include: one/a.yaml\n",
            "one/a.yaml": "b:\n  $include: ../two/b.yaml\nf:\n  $file: ./secret.txt\n",
            "two/b.yaml": "c: deep\n",
            "one/secret.txt": "s3cret\n\n",
        }
    )
    assert problems.items == []
    assert tree == {"a": {"b": {"c": "deep"}, "f": "s3cret"}}  # $file: trailing whitespace trimmed
    assert tree["a"]["b"].value_locs["c"] == Location("two/b.yaml", 1, 4)


def test_include_key_path_and_substitution_inside_included_files(load):
    tree, _ = load(
        {"app.yaml": "a:\n  $include: b.yaml#x.y\n", "b.yaml": "x:\n  y:\n    t: ${T}\n    u: ${U}\n"}, env={"T": "tv"}
    )
    assert tree == {"a": {"t": "tv"}}
    assert missing_env(tree["a"], "u") == "U"


def test_include_of_an_unset_key_is_unset(load):
    tree, problems = load({"app.yaml": "a:\n  $include: b.yaml#x\n", "b.yaml": "x: ${NOPE}\n"})
    assert tree == {} and missing_env(tree, "a") == "NOPE"
    assert problems.items == []


def test_include_path_is_substituted(load):
    tree, _ = load({"app.yaml": "a:\n  $include: ${DIR}/b.yaml\n", "conf/b.yaml": "k: 1\n"}, env={"DIR": "conf"})
    assert tree == {"a": {"k": 1}}


def test_env_directive(load):
    tree, problems = load({"app.yaml": "a: {$env: SET}\nb:\n  $env: UNSET\n"}, env={"SET": " v "})
    assert tree == {"a": "v"}
    assert missing_env(tree, "b") == "UNSET"
    assert problems.items == []


def test_other_dollar_keys_are_ordinary_keys(load):
    tree, problems = load({"app.yaml": "a:\n  $schema: x\n  b: 1\n"})
    assert tree == {"a": {"$schema": "x", "b": 1}} and problems.items == []


def test_checks_list_included_from_the_fixture():
    problems = Problems()
    tree = load_config_files([str(FIXTURES / "app-config.yaml")], {}, problems)
    assert problems.errors == []
    checks = tree["soundcheck"]["checks"]
    assert isinstance(checks, LocatedList) and len(checks) == 4
    assert checks.item_locs[0] == Location(str(FIXTURES / "soundcheck" / "checks.yaml"), 1, 3)
    assert checks[3]["id"] == "is_level_one_certified"
    assert loc_of(checks[3], "id") == Location(str(FIXTURES / "soundcheck" / "extra-check.json"), 2, 9)


# --------------------------------------------------------------------------------------------------------------
# Merging several files (Backstage: later wins, mappings merge, lists and scalars replace)


def test_merge_mappings_lists_and_scalars(load):
    tree, problems = load(
        {
            "a.yaml": "app:\n  title: A\n  keep: yes\n  list: [1, 2, 3]\n  map: {x: 1}\nonly_a: 1\n",
            "b.yaml": "app:\n  title: B\n  list: [9]\n  map: {y: 2}\nonly_b: 2\n",
        },
        paths=("a.yaml", "b.yaml"),
    )
    assert problems.items == []
    assert to_plain(tree) == {
        "app": {"title": "B", "keep": "yes", "list": [9], "map": {"x": 1, "y": 2}},
        "only_a": 1,
        "only_b": 2,
    }
    app = tree["app"]
    assert app.value_locs["title"] == Location("b.yaml", 2, 10)  # the winner's position
    assert app.value_locs["keep"] == Location("a.yaml", 3, 9)
    assert app["list"].item_locs == [Location("b.yaml", 3, 10)]
    assert app["map"].value_locs == {"x": Location("a.yaml", 5, 12), "y": Location("b.yaml", 4, 12)}


def test_merge_scalar_replaces_mapping_and_mapping_replaces_scalar(load):
    tree, _ = load({"a.yaml": "x: {k: 1}\ny: 1\n", "b.yaml": "x: 2\ny: {k: 3}\n"}, paths=("a.yaml", "b.yaml"))
    assert tree == {"x": 2, "y": {"k": 3}}


def test_merge_unset_in_a_later_file_does_not_hide_an_earlier_value(load):
    files = {"a.yaml": "t: abc\nu: ${MISSING}\n", "b.yaml": "t: ${MISSING}\nu: set\n"}
    tree, _ = load(files, paths=("a.yaml", "b.yaml"))
    assert tree == {"t": "abc", "u": "set"}
    assert missing_env(tree, "t") is None and missing_env(tree, "u") is None
    tree, _ = load(files, paths=("b.yaml",))
    assert missing_env(tree, "t") == "MISSING"


def test_merge_fixture_override():
    problems = Problems()
    tree = load_config_files([str(FIXTURES / "app-config.yaml"), str(FIXTURES / "override.yaml")], {}, problems)
    pagerduty = tree["soundcheck"]["collectors"]["pagerduty"]
    assert pagerduty["token"] == "from-override"
    assert to_plain(pagerduty["collects"]) == [{"type": "Incidents"}]  # lists replace
    assert pagerduty["frequency"] == {"minutes": 10}  # mappings merge
    assert tree["app"]["title"] == "Overridden title"
    assert loc_of(pagerduty, "token") == Location(str(FIXTURES / "override.yaml"), 7, 14)


def test_no_files_is_an_empty_mapping():
    assert load_config_files([], {}) == {}


def test_timestamps_stay_text_and_a_number_python_cannot_read_is_a_located_error(load):
    tree, problems = load({"app.yaml": "a: 2024-01-02 10:00:00\nb: " + "1" * 5000 + "\nc: 0x" + "f" * 5000 + "\n"})
    assert tree["a"] == "2024-01-02 10:00:00"  # Backstage's YAML 1.2 core schema has no timestamps
    assert tree["c"] == int("f" * 5000, 16)  # only base 10 has Python's 4,300-digit limit
    assert _messages(problems) == ["app.yaml:2:4: number too long (5000 characters; at most 4300 digits)"]
