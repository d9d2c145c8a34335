"""Tests for ``soundcheck_cli.catalog.loader``: files, folders, globs, Locations, validation, duplicates, robustness."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from soundcheck_cli.catalog import loader as loader_module
from soundcheck_cli.catalog.loader import default_catalog_paths, load_catalog, parse_documents
from soundcheck_cli.errors import CatalogError, Location, Problems, Severity

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"
ORG = FIXTURES / "org"

ENTITY = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(paths: list[str | Path], base_dir: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Refs (in load order) and problem texts."""
    problems = Problems()
    entities = load_catalog([str(p) for p in paths], problems, base_dir=None if base_dir is None else str(base_dir))
    assert all(p.severity is Severity.WARNING for p in problems.items), "the loader only ever warns"
    return [str(e.ref) for e in entities], [str(p) for p in problems.items]


ORG_REFS = [
    "location:default/org-root",
    "group:default/team-a",
    "group:platform/team-b",
    "system:default/payments",
    "component:default/billing",
    "component:default/payments-api",
    "api:default/payments",
    "location:default/nested",
    "component:default/extra",
    "location:default/back-to-root",
]


def org_warnings(root: str) -> list[str]:
    return [
        f"{root}/more/extra.yaml:16:11: Location cycle: {root}/all.yaml -> {root}/nested/location.yaml -> "
        f"{root}/more/extra.yaml -> {root}/all.yaml; not followed",
        f'{root}/all.yaml:12:7: Location "org-root": URL target '
        '"https://github.com/example/repo/blob/main/catalog-info.yaml" is skipped (only file targets are loaded, '
        "nothing is fetched)",
    ]


# ---------------------------------------------------------------------------------------------------------------
# Locations (fixture tree: relative targets, a glob target, a nested Location, a cycle back to the root, a URL)


def test_location_tree_is_followed_in_load_order_with_cycle_and_url_warnings():
    refs, warnings = load([ORG / "all.yaml"])
    assert refs == ORG_REFS
    assert warnings == org_warnings(str(ORG))


def test_folder_of_the_same_tree_loads_each_file_once_in_the_same_order():
    refs, warnings = load([ORG])
    assert refs == ORG_REFS
    assert warnings == org_warnings(str(ORG))  # no duplicate warnings: files reached twice are loaded once


def test_relative_paths_resolve_against_base_dir_and_keep_relative_display(monkeypatch):
    monkeypatch.chdir(FIXTURES)
    refs, warnings = load(["all.yaml"], base_dir="org")
    assert refs == ORG_REFS
    assert warnings == org_warnings("org")


def test_relative_paths_without_base_dir_are_relative_to_cwd(monkeypatch):
    monkeypatch.chdir(ORG)
    refs, warnings = load(["./all.yaml"])
    assert refs == ORG_REFS
    assert warnings[0].startswith("more/extra.yaml:16:11: Location cycle: all.yaml -> nested/location.yaml ->")


def test_location_entities_are_kept_and_sources_point_at_documents():
    problems = Problems()
    entities = load_catalog([str(ORG / "all.yaml")], problems)
    by_ref = {str(e.ref): e for e in entities}
    assert by_ref["location:default/org-root"].source == Location(str(ORG / "all.yaml"), 2, 1)  # after the comment
    assert by_ref["group:platform/team-b"].source == Location(str(ORG / "teams.yaml"), 11, 1)
    assert by_ref["api:default/payments"].source == Location(str(ORG / "services/payments-api/catalog-info.yaml"), 15, 1)


def test_single_target_is_relative_to_the_location_file_not_the_cwd(tmp_path, monkeypatch):
    write(tmp_path / "catalog/loc.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec:\n  target: ./svc.yaml\n")
    write(tmp_path / "catalog/svc.yaml", ENTITY.format(name="svc"))
    write(tmp_path / "svc.yaml", ENTITY.format(name="wrong-one"))
    monkeypatch.chdir(tmp_path)
    assert load(["catalog/loc.yaml"]) == (["location:default/l", "component:default/svc"], [])


def test_target_and_targets_are_both_followed(tmp_path):
    write(tmp_path / "loc.yaml", "apiVersion: a/b\nkind: Location\nmetadata: {name: l}\nspec:\n  target: a.yaml\n  targets: [b.yaml]\n")
    write(tmp_path / "a.yaml", ENTITY.format(name="a"))
    write(tmp_path / "b.yaml", ENTITY.format(name="b"))
    assert load([tmp_path / "loc.yaml"])[0] == ["location:default/l", "component:default/a", "component:default/b"]


def test_two_locations_pointing_at_one_file_load_it_once_without_warning(tmp_path):
    loc = "apiVersion: a/b\nkind: Location\nmetadata: {{name: {name}}}\nspec: {{target: ./shared.yaml}}\n"
    write(tmp_path / "one.yaml", loc.format(name="one"))
    write(tmp_path / "two.yaml", loc.format(name="two"))
    write(tmp_path / "shared.yaml", ENTITY.format(name="shared"))
    refs, warnings = load([tmp_path / "one.yaml", tmp_path / "two.yaml"])
    assert refs == ["location:default/one", "component:default/shared", "location:default/two"]
    assert warnings == []


def test_location_pointing_at_its_own_file_is_a_cycle(tmp_path):
    path = write(tmp_path / "self.yaml", "apiVersion: a/b\nkind: Location\nmetadata: {name: s}\nspec:\n  target: ./self.yaml\n")
    refs, warnings = load([path])
    assert refs == ["location:default/s"]
    assert warnings == [f"{path}:5:11: Location cycle: {path} -> {path}; not followed"]


def test_glob_target_matching_its_own_location_file_is_skipped_silently(tmp_path):
    write(tmp_path / "all.yaml", "apiVersion: a/b\nkind: Location\nmetadata: {name: all}\nspec:\n  target: ./*.yaml\n")
    write(tmp_path / "svc.yaml", ENTITY.format(name="svc"))
    assert load([tmp_path / "all.yaml"]) == (["location:default/all", "component:default/svc"], [])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("spec:\n  target: ./missing.yaml\n", '{f}:6:11: Location "l": target "./missing.yaml" ({d}/missing.yaml) does not exist'),
        ("spec:\n  target: ./none/*.yaml\n", '{f}:6:11: Location "l": target "./none/*.yaml" ({d}/none/*.yaml) matches no .yaml or .yml files'),
        ("spec:\n  target: 42\n", '{f}:6:11: Location "l": target must be a path, found 42; ignored'),
        ("spec:\n  targets: ./a.yaml\n", '{f}:6:12: Location "l": spec.targets must be a list of paths; ignored'),
        ("spec:\n  type: file\n", '{f}:6:3: Location "l" has no spec.target or spec.targets; nothing to follow'),
        ("spec:\n  type: github-discovery\n  target: x\n", '{f}:6:9: Location "l": Location type "github-discovery" is not supported (only file and url); its targets are skipped'),
        ("spec:\n  type: url\n  target: http://example.com/c.yaml\n", '{f}:7:11: Location "l": URL target "http://example.com/c.yaml" is skipped (only file targets are loaded, nothing is fetched)'),
    ],
)
def test_location_target_problems_are_located_warnings(tmp_path, spec, expected):
    path = write(tmp_path / "loc.yaml", "apiVersion: a/b\nkind: Location\nmetadata:\n  name: l\n" + spec)
    refs, warnings = load([path])
    assert refs == ["location:default/l"]  # the Location itself is still an entity
    assert warnings == [expected.format(f=path, d=tmp_path)]


def test_url_type_location_with_relative_target_reads_the_file(tmp_path):
    write(tmp_path / "loc.yaml", "apiVersion: a/b\nkind: Location\nmetadata: {name: l}\nspec: {type: url, target: ./c.yaml}\n")
    write(tmp_path / "c.yaml", ENTITY.format(name="c"))
    assert load([tmp_path / "loc.yaml"]) == (["location:default/l", "component:default/c"], [])


def test_location_nesting_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_LOCATION_DEPTH", 2)
    for i in range(4):
        write(tmp_path / f"l{i}.yaml", f"apiVersion: a/b\nkind: Location\nmetadata: {{name: l{i}}}\nspec:\n  target: l{i + 1}.yaml\n")
    refs, warnings = load([tmp_path / "l0.yaml"])
    assert refs == ["location:default/l0", "location:default/l1", "location:default/l2"]
    assert warnings == [f'{tmp_path}/l2.yaml:5:11: Location "l2": Locations are nested more than 2 deep; "l3.yaml" is not followed']


def test_invalid_location_entity_is_not_followed(tmp_path):
    path = write(tmp_path / "loc.yaml", "apiVersion: a/b\nkind: Location\nmetadata: {name: bad name}\nspec: {target: c.yaml}\n")
    write(tmp_path / "c.yaml", ENTITY.format(name="c"))
    refs, warnings = load([path])
    assert refs == []
    assert len(warnings) == 1 and warnings[0].startswith(f'{path}:3:18: Location "bad name" skipped:')


# ---------------------------------------------------------------------------------------------------------------
# Files, folders, globs


def test_folder_is_walked_recursively_sorted_skipping_hidden_dirs_node_modules_and_other_files(tmp_path):
    write(tmp_path / "z.yaml", ENTITY.format(name="z"))
    write(tmp_path / "a.yml", ENTITY.format(name="a"))
    write(tmp_path / "B.YAML", ENTITY.format(name="b-upper"))
    write(tmp_path / "sub/deeper/c.yaml", ENTITY.format(name="c"))
    write(tmp_path / "sub/b.yaml", ENTITY.format(name="b"))
    write(tmp_path / "notes.txt", "not: yaml: at all")
    write(tmp_path / "README.md", "# readme")
    write(tmp_path / ".git/x.yaml", ENTITY.format(name="in-git"))
    write(tmp_path / ".github/workflows/ci.yml", "on: push\n")
    write(tmp_path / "node_modules/pkg/catalog-info.yaml", ENTITY.format(name="in-node-modules"))
    write(tmp_path / ".hidden.yaml", ENTITY.format(name="hidden-file"))
    refs, warnings = load([tmp_path])
    assert refs == [
        "component:default/b-upper",
        "component:default/a",
        "component:default/z",
        "component:default/b",
        "component:default/c",
    ]
    assert warnings == []


def test_glob_path_with_recursive_pattern(tmp_path):
    write(tmp_path / "services/a/catalog-info.yaml", ENTITY.format(name="a"))
    write(tmp_path / "services/b/deep/catalog-info.yaml", ENTITY.format(name="b"))
    write(tmp_path / "services/b/notes.md", "hello")
    write(tmp_path / "other.yaml", ENTITY.format(name="other"))
    assert load(["services/**/catalog-info.yaml"], base_dir=tmp_path)[0] == ["component:default/a", "component:default/b"]
    assert load(["services/*/catalog-info.yaml"], base_dir=tmp_path)[0] == ["component:default/a"]
    assert load(["services/**"], base_dir=tmp_path)[0] == ["component:default/a", "component:default/b"]
    assert load([f"{tmp_path}/*.yaml"])[0] == ["component:default/other"]


def test_glob_match_may_be_a_json_file(tmp_path):
    write(tmp_path / "c.json", '{"apiVersion": "a/b", "kind": "Component", "metadata": {"name": "json-one"}}')
    assert load(["*.json"], base_dir=tmp_path) == (["component:default/json-one"], [])


def test_explicit_file_with_any_extension_is_read(tmp_path):
    path = write(tmp_path / "catalog.txt", ENTITY.format(name="txt"))
    assert load([path]) == (["component:default/txt"], [])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("nothing/*.yaml", 'catalog path "nothing/*.yaml" matches no .yaml or .yml files'),
        ("empty", 'catalog path "empty" contains no .yaml or .yml files'),
        ("", 'catalog path "" is empty; ignored'),
    ],
)
def test_paths_matching_nothing_warn_and_the_rest_loads(tmp_path, path, expected):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "ok.yaml", ENTITY.format(name="ok"))
    assert load([path, "ok.yaml"], base_dir=tmp_path) == (["component:default/ok"], [expected])


def test_same_file_given_twice_loads_once_without_warning(tmp_path):
    path = write(tmp_path / "c.yaml", ENTITY.format(name="c"))
    assert load([path, tmp_path, "*.yaml"], base_dir=tmp_path) == (["component:default/c"], [])


def test_unreadable_and_non_utf8_files_are_skipped_with_warnings(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("metadata:\n  name: caf\xe9\n".encode("latin-1"))
    write(tmp_path / "ok.yaml", ENTITY.format(name="ok"))
    refs, warnings = load([tmp_path])
    assert refs == ["component:default/ok"]
    assert warnings == [f"{bad}:2: catalog file is not UTF-8 text (byte 21); skipped"]


def test_utf8_bom_is_tolerated(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + ENTITY.format(name="bom").encode())
    assert load([path]) == (["component:default/bom"], [])


def test_oversized_file_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_FILE_BYTES", 2 * 1024 * 1024)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (3 * 1024 * 1024))
    assert load([big]) == ([], [f"{big}: catalog file is larger than 2 MiB; skipped"])


# ---------------------------------------------------------------------------------------------------------------
# Multi-document YAML and robustness


def test_multi_document_file_skips_empty_documents_and_keeps_order(tmp_path):
    text = "---\n" + ENTITY.format(name="one") + "---\n---\n# only a comment\n---\n~\n---\n" + ENTITY.format(name="two") + "...\n"
    path = write(tmp_path / "multi.yaml", text)
    problems = Problems()
    entities = load_catalog([str(path)], problems)
    assert [e.name for e in entities] == ["one", "two"]
    assert [e.source for e in entities] == [Location(str(path), 2, 1), Location(str(path), 12, 1)]
    assert problems.items == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apiVersion: a/b\nkind: [Component\n", "{f}:3:1: malformed YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence); file skipped"),
        ("apiVersion: a/b\n  kind: x\n", "{f}:2:7: malformed YAML: mapping values are not allowed here; file skipped"),
        ("a: b\n\tc: d\n", "{f}:2:1: malformed YAML: found character '\\t' that cannot start any token (while scanning for the next token); file skipped"),
        ("a: *nope\n", "{f}:1:4: malformed YAML: found undefined alias 'nope'; file skipped"),
    ],
)
def test_malformed_yaml_skips_that_file_with_position_and_the_rest_loads(tmp_path, text, expected):
    bad = write(tmp_path / "a-bad.yaml", text)
    write(tmp_path / "b-good.yaml", ENTITY.format(name="good"))
    assert load([tmp_path]) == (["component:default/good"], [expected.format(f=bad)])


def test_malformed_document_skips_the_whole_file_including_valid_documents_before_it(tmp_path):
    bad = write(tmp_path / "c.yaml", ENTITY.format(name="before") + "---\nkind: [\n")
    assert load([bad]) == ([], [f"{bad}:7:1: malformed YAML: expected the node content, but found '<stream end>' (while parsing a flow node); file skipped"])


def test_duplicate_mapping_key_skips_only_that_document(tmp_path):
    path = write(tmp_path / "c.yaml", ENTITY.format(name="first") + "  name: again\n---\n" + ENTITY.format(name="second"))
    refs, warnings = load([path])
    assert refs == ["component:default/second"]
    assert warnings == [f'{path}:5:3: duplicate key "name" (first at line 4); document skipped']


def test_alias_bomb_is_bounded_and_fast(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    bomb = "apiVersion: a/b\nkind: Component\nmetadata: {name: bomb}\nspec:\n" + "".join(f"  {line}\n" for line in lines)
    path = write(tmp_path / "bomb.yaml", bomb + "---\n" + ENTITY.format(name="after"))
    started = time.perf_counter()
    refs, warnings = load([path])
    assert time.perf_counter() - started < 5
    assert refs == ["component:default/after"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}:")
    assert warnings[0].endswith(f"document expands to more than {loader_module.MAX_NODES} YAML nodes (through aliases?); skipped")


def test_recursive_alias_is_bounded(tmp_path):
    path = write(tmp_path / "rec.yaml", "apiVersion: a/b\nkind: Component\nmetadata: {name: r}\nspec: &s\n  again: *s\n")
    refs, warnings = load([path])
    assert refs == []
    assert len(warnings) == 1 and "document is nested more than 100 levels deep; skipped" in warnings[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # deeper than MAX_DEPTH but within the parser's reach: the document is refused by the converter
        pytest.param("spec: " + "[a, " * 150 + "]" * 150 + "\n", "{f}:1:404: document is nested more than 100 levels deep; skipped", id="converter"),
        # a run of brackets is refused before parsing (ruamel's scanner is quadratic in flow nesting)
        pytest.param("spec:\n  x: " + "[" * 5000 + "]" * 5000 + "\n", "{f}:2:6: YAML is nested more than 100 levels deep; file skipped", id="bracket-run"),
        # block nesting deep enough to exhaust ruamel's pure-Python composer: the C composer reads it, the converter refuses
        pytest.param("".join(" " * i + "a:\n" for i in range(1200)), "{f}:102:102: document is nested more than 100 levels deep; skipped", id="composer-recursion"),
        # compact nesting deep enough to overflow the C composer's stack: refused by the flat event scan before it
        pytest.param("- " * 100_000 + "x\n", "{f}:1:10001: YAML is nested more than 100 levels deep; file skipped", id="c-composer-stack"),
    ],
)
def test_deep_nesting_is_a_warning_not_a_crash(tmp_path, text, expected):
    path = write(tmp_path / "deep.yaml", text)
    write(tmp_path / "ok.yaml", ENTITY.format(name="ok"))
    started = time.perf_counter()
    assert load([tmp_path]) == (["component:default/ok"], [expected.format(f=path)])
    assert time.perf_counter() - started < 3


def test_aliases_merge_keys_and_scalar_types_follow_yaml_1_2_and_stay_json(tmp_path):
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: typed\n"
        "spec:\n  defaults: &d {owner: team-a, lifecycle: production}\n  <<: *d\n  lifecycle: experimental\n"
        "  same: *d\n  yes_is_a_string: yes\n  count: 3\n  ratio: 0.5\n  flag: true\n  nothing: null\n"
        "  created: 2024-01-02\n  custom: !Ref something\n  200: ok\n"
    )
    problems = Problems()
    [entity] = load_catalog([str(write(tmp_path / "t.yaml", text))], problems)
    assert problems.items == []
    spec = entity.data["spec"]
    assert spec["owner"] == "team-a"  # merged in
    assert spec["lifecycle"] == "experimental"  # explicit key beats the merge
    assert spec["same"] == {"owner": "team-a", "lifecycle": "production"}
    assert spec["yes_is_a_string"] == "yes"
    assert (spec["count"], spec["ratio"], spec["flag"], spec["nothing"]) == (3, 0.5, True, None)
    assert spec["created"] == "2024-01-02"
    assert spec["custom"] == "something"
    assert spec["200"] == "ok"
    assert type(entity.data) is dict and type(spec["same"]) is dict  # plain containers, not Located ones


def test_parse_documents_keeps_positions(tmp_path):
    problems = Problems()
    docs = parse_documents("---\na: 1\nb:\n  - x\n  - y\n", "f.yaml", problems)
    assert docs is not None and len(docs) == 1
    node = docs[0].content
    assert docs[0].location == Location("f.yaml", 2, 1)
    assert node.key_loc("b") == Location("f.yaml", 3, 1)
    assert node["b"].item_loc(1) == Location("f.yaml", 5, 5)


# ---------------------------------------------------------------------------------------------------------------
# Validation (Backstage entity schema + FieldFormatEntityPolicy); positions are in the entity written below.

HEAD = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "{f}:1:1: entity skipped: document is not a mapping (found a list); a catalog entity needs apiVersion, kind and metadata"),
        ("just text\n", '{f}:1:1: entity skipped: document is not a mapping (found a string); a catalog entity needs apiVersion, kind and metadata'),
        ("kind: Component\nmetadata: {name: x}\n", '{f}:1:1: Component "x" skipped: apiVersion is missing'),
        ("apiVersion: 1\nkind: Component\nmetadata: {name: x}\n", '{f}:1:13: Component "x" skipped: apiVersion must be a string, found 1 (number)'),
        ("apiVersion: v1\nkind: Component\nmetadata: {name: x}\n", '{f}:1:13: Component "x" skipped: apiVersion "v1" is not valid; expected group/version such as "backstage.io/v1alpha1"'),
        ("apiVersion: a/b/c\nkind: Component\nmetadata: {name: x}\n", '{f}:1:13: Component "x" skipped: apiVersion "a/b/c" is not valid; expected group/version such as "backstage.io/v1alpha1"'),
        ("apiVersion: a/b\nmetadata: {name: x}\n", '{f}:1:1: entity "x" skipped: kind is missing'),
        ("apiVersion: a/b\nkind: [Component]\nmetadata: {name: x}\n", '{f}:2:7: entity "x" skipped: kind must be a string, found a list'),
        ("apiVersion: a/b\nkind: My Kind\nmetadata: {name: x}\n", '{f}:2:7: My Kind "x" skipped: kind "My Kind" is not valid; expected letters and digits starting with a letter, at most 63 characters, such as "Component"'),
        ("apiVersion: a/b\nkind: Component\n", "{f}:1:1: Component entity skipped: metadata is missing (it needs at least a name)"),
        ("apiVersion: a/b\nkind: Component\nmetadata: x\n", '{f}:3:11: Component entity skipped: metadata must be a mapping, found "x" (string)'),
        (HEAD + "  title: t\n", "{f}:4:3: Component entity skipped: metadata.name is missing"),
        (HEAD + "  name: 42\n", "{f}:4:9: Component entity skipped: metadata.name must be a string, found 42 (number)"),
        (HEAD + "  name: ''\n", '{f}:4:9: Component entity skipped: metadata.name "" is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'),
        (HEAD + "  name: my service\n", '{f}:4:9: Component "my service" skipped: metadata.name "my service" is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'),
        (HEAD + "  name: -svc\n", '{f}:4:9: Component "-svc" skipped: metadata.name "-svc" is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'),
        (HEAD + "  name: svc.\n", '{f}:4:9: Component "svc." skipped: metadata.name "svc." is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'),
        (HEAD + "  name: svc/x\n", '{f}:4:9: Component "svc/x" skipped: metadata.name "svc/x" is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'),
        (HEAD + f"  name: {'a' * 64}\n", f'{{f}}:4:9: Component "{"a" * 59}…" skipped: metadata.name "{"a" * 59}…" is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service" (it has 64 characters)'),
        (HEAD + "  name: x\n  namespace: Team A\n", '{f}:5:14: Component "x" skipped: metadata.namespace "Team A" is not valid; expected 1-63 characters of [A-Za-z0-9] separated by any of [-_.], such as "my-service"'),
        (HEAD + "  name: x\n  namespace:\n", "{f}:5:3: Component \"x\" skipped: metadata.namespace must be a string, found null"),
        (HEAD + "  name: x\n  title: 5\n", '{f}:5:10: Component "x" skipped: metadata.title must be a string, found 5 (number)'),
        (HEAD + "  name: x\n  description: [a]\n", '{f}:5:16: Component "x" skipped: metadata.description must be a string, found a list'),
        (HEAD + "  name: x\n  labels: [a]\n", '{f}:5:11: Component "x" skipped: metadata.labels must be a mapping of strings, found a list'),
        (HEAD + "  name: x\n  labels:\n    tier: 1\n", '{f}:6:11: Component "x" skipped: metadata.labels.tier must be a string, found 1 (number); quote it'),
        (HEAD + "  name: x\n  annotations: text\n", '{f}:5:16: Component "x" skipped: metadata.annotations must be a mapping of strings, found "text" (string)'),
        (HEAD + "  name: x\n  annotations:\n    pagerduty.com/service-id: 12345\n", '{f}:6:31: Component "x" skipped: metadata.annotations.pagerduty.com/service-id must be a string, found 12345 (number); quote it'),
        (HEAD + "  name: x\n  annotations:\n    backstage.io/techdocs-ref: {a: b}\n", '{f}:6:32: Component "x" skipped: metadata.annotations.backstage.io/techdocs-ref must be a string, found a mapping'),
        (HEAD + "  name: x\n  tags: java\n", '{f}:5:9: Component "x" skipped: metadata.tags must be a list of strings, found "java" (string)'),
        (HEAD + "  name: x\n  tags:\n    - java\n    - 3\n", '{f}:7:7: Component "x" skipped: metadata.tags[1] must be a string, found 3 (number)'),
        (HEAD + "  name: x\nspec: service\n", '{f}:5:7: Component "x" skipped: spec must be a mapping, found "service" (string)'),
    ],
)
def test_invalid_entity_is_a_located_warning_and_the_rest_loads(tmp_path, text, expected):
    bad = write(tmp_path / "a.yaml", text)
    write(tmp_path / "b.yaml", ENTITY.format(name="good"))
    refs, warnings = load([tmp_path])
    assert refs == ["component:default/good"]
    assert warnings == [expected.format(f=bad)]


def test_every_issue_of_an_entity_is_reported(tmp_path):
    path = write(tmp_path / "c.yaml", "apiVersion: v1\nkind: Component\nmetadata:\n  name: x y\n  tags: [1]\n")
    refs, warnings = load([path])
    assert refs == []
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{path}:1:13", f"{path}:4:9", f"{path}:5:10"]


@pytest.mark.parametrize(
    "name",
    ["a", "A", "1", "my-service", "my_service.v2", "a--b", "a" * 63, "Payments-API"],
)
def test_valid_names_load(tmp_path, name):
    assert load([write(tmp_path / "c.yaml", ENTITY.format(name=f'"{name}"'))]) == ([f"component:default/{name}"], [])


def test_namespace_defaults_to_default_and_is_kept_when_given(tmp_path):
    path = write(tmp_path / "c.yaml", ENTITY.format(name="a") + "---\n" + ENTITY.format(name="b") + "  namespace: Team-X\n")
    problems = Problems()
    a, b = load_catalog([str(path)], problems)
    assert a.data["metadata"]["namespace"] == "default" and a.namespace == "default"
    assert b.data["metadata"]["namespace"] == "Team-X" and b.ref.key == "component:team-x/b"


# ---------------------------------------------------------------------------------------------------------------
# Duplicates and determinism


def test_duplicate_refs_case_insensitive_keep_the_first_and_name_both_places(tmp_path):
    first = write(tmp_path / "a.yaml", ENTITY.format(name="svc") + "spec: {owner: first}\n")
    second = write(tmp_path / "b.yaml", "# a comment\n" + ENTITY.format(name="SVC").replace("Component", "component"))
    problems = Problems()
    entities = load_catalog([str(tmp_path)], problems)
    assert [e.data["spec"].get("owner") for e in entities] == ["first"]
    assert [str(p) for p in problems.items] == [
        f"{second}:2:1: duplicate entity component:default/SVC: already loaded from {first}:1:1; this one is ignored"
    ]


def test_same_name_in_other_namespace_or_kind_is_not_a_duplicate(tmp_path):
    path = write(
        tmp_path / "c.yaml",
        ENTITY.format(name="x") + "---\n" + ENTITY.format(name="x") + "  namespace: other\n---\n"
        + ENTITY.format(name="x").replace("Component", "API"),
    )
    assert load([path]) == (["component:default/x", "component:other/x", "api:default/x"], [])


def test_load_order_is_deterministic_regardless_of_creation_order(tmp_path):
    for name in ["m", "b", "z", "a"]:
        write(tmp_path / f"{name}.yaml", ENTITY.format(name=name))
    first = load([tmp_path])
    os.utime(tmp_path / "a.yaml")  # touching files does not change anything
    assert load([tmp_path]) == first
    assert first[0] == [f"component:default/{n}" for n in "abmz"]


def test_order_of_given_paths_is_the_load_order(tmp_path):
    write(tmp_path / "a.yaml", ENTITY.format(name="a"))
    write(tmp_path / "b.yaml", ENTITY.format(name="b"))
    assert load(["b.yaml", "a.yaml"], base_dir=tmp_path)[0] == ["component:default/b", "component:default/a"]


# ---------------------------------------------------------------------------------------------------------------
# default_catalog_paths


def test_default_paths_prefer_catalog_locations_from_config(tmp_path):
    write(tmp_path / "catalog-info.yaml", ENTITY.format(name="x"))
    assert default_catalog_paths(("/abs/one.yaml", "/abs/two.yaml"), str(tmp_path)) == ["/abs/one.yaml", "/abs/two.yaml"]


def test_default_paths_fall_back_to_catalog_info_in_cwd(tmp_path):
    write(tmp_path / "catalog-info.yaml", ENTITY.format(name="x"))
    assert default_catalog_paths((), str(tmp_path)) == [str(tmp_path / "catalog-info.yaml")]


def test_default_paths_are_empty_when_nothing_is_found(tmp_path):
    (tmp_path / "catalog-info.yaml").mkdir()  # a folder of that name is not the file
    assert default_catalog_paths((), str(tmp_path)) == []


def test_a_catalog_path_that_does_not_exist_is_an_error_after_the_others_loaded(tmp_path):
    write(tmp_path / "ok.yaml", ENTITY.format(name="ok"))
    problems = Problems()
    with pytest.raises(CatalogError) as info:
        load_catalog(["missing.yaml", "ok.yaml", "gone/"], problems, base_dir=str(tmp_path))
    assert [str(p) for p in info.value.problems] == [
        f'catalog path "missing.yaml" ({tmp_path}/missing.yaml) does not exist',
        f'catalog path "gone/" ({tmp_path}/gone) does not exist',
    ]


def test_a_walk_stops_at_its_entry_budget_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_WALK_ENTRIES", 12)  # 8 folders, then 4 of their files
    for i in range(8):
        write(tmp_path / f"d{i}" / "c.yaml", ENTITY.format(name=f"c{i}"))
    refs, warnings = load([tmp_path])
    assert refs == [f"component:default/c{i}" for i in range(4)]
    assert warnings == [f'catalog path "{tmp_path}": stopped after listing 12 folder entries (a symlink loop or a '
                        "very large folder?); the files found so far are loaded"]


def test_a_deep_folder_tree_is_walked_without_recursion(tmp_path):
    folders = []
    deep = tmp_path
    for _ in range(1200):
        deep = deep / "d"
        deep.mkdir()
        folders.append(deep)
    try:
        write(deep / "c.yaml", ENTITY.format(name="deep"))
        assert load([tmp_path]) == (["component:default/deep"], [])
    finally:  # pytest's recursive clean-up of old temporary folders would overflow on this tree
        (deep / "c.yaml").unlink(missing_ok=True)
        for folder in reversed(folders):
            folder.rmdir()
