"""read_fact_files (``soundcheck facts push``): JSON and YAML, one fact or a list, dict factRef, located errors."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from soundcheck_cli.errors import ConfigError, Problems
from soundcheck_cli.facts.push import read_files as read_fact_files
from soundcheck_cli.facts.model import FactRef

CI = FactRef("custom", "default", "github_actions_test")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def errors_of(paths: list[str]) -> list[str]:
    problems = Problems()
    with pytest.raises(ConfigError) as info:
        read_fact_files(paths, problems)
    messages = [str(p) for p in info.value.problems]
    assert messages[-1].startswith("nothing was pushed")
    assert info.value.exit_code == 2
    return messages[:-1]


def test_single_json_fact(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fact.json",
        json.dumps(
            {
                "factRef": "custom:default/github_actions_test",
                "entityRef": "Component:default/payments-api",
                "data": {"passed": True, "coverage": 81.5, "suites": ["unit", "e2e"], "flaky": None},
                "timestamp": "2026-01-05T10:00:00Z",
            },
            indent="\t",  # tab-indented JSON is valid JSON but not valid YAML indentation
        ),
    )
    problems = Problems()
    (fact,) = read_fact_files([path], problems)
    assert problems.items == []
    assert fact.fact_ref == CI
    assert fact.entity_ref == "component:default/payments-api"  # normalised: kind lower-cased
    assert fact.data == {"passed": True, "coverage": 81.5, "suites": ["unit", "e2e"], "flaky": None}
    assert type(fact.data) is dict and type(fact.data["suites"]) is list
    assert fact.timestamp == datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    assert fact.expires_at is None


def test_yaml_list_with_dict_fact_ref_default_timestamp_and_scalar_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "facts.yaml",
        """\
- factRef: {source: custom, name: github_actions_test}
  entityRef: Component:default/x
  data: {count: 0x1F, big: 1_000, octal: 0o17, ratio: 1.5e3, yes: true, nothing: ~, when: 2026-01-05T10:00:00Z}
- factRef:
    source: custom
    scope: ci
    name: tests/unit
  entityRef: component:payments-api
  data: [1, "two", false]
  expiresAt: 2026-01-06T10:00:00+01:00
""",
    )
    before = datetime.now(timezone.utc)
    problems = Problems()
    first, second = read_fact_files([path], problems)
    assert problems.items == []
    assert first.fact_ref == CI
    assert first.data == {"count": 31, "big": 1000, "octal": 15, "ratio": 1500.0, "yes": True, "nothing": None, "when": "2026-01-05T10:00:00Z"}
    assert first.timestamp >= before and first.entity_ref == "component:default/x"
    assert second.fact_ref == FactRef("custom", "ci", "tests/unit")
    assert second.entity_ref == "component:default/payments-api"
    assert second.data == [1, "two", False]
    assert second.expires_at == datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc)


def test_json_list_and_several_yaml_documents_and_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.json", json.dumps([{"factRef": f"custom:default/f{i}", "entityRef": "component:default/x", "data": i} for i in range(3)]))
    b = write(tmp_path, "b.yaml", "factRef: custom:default/y\nentityRef: component:default/x\ndata: 1\n---\nfactRef: custom:default/z\nentityRef: component:default/x\ndata: 2\n")
    facts = read_fact_files([a, b], Problems())
    assert [str(f.fact_ref) for f in facts] == ["custom:default/f0", "custom:default/f1", "custom:default/f2", "custom:default/y", "custom:default/z"]


def test_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"factRef": "custom:default/x", "entityRef": "component:default/y", "data": "ok"}'))
    (fact,) = read_fact_files(["-"], Problems())
    assert fact.data == "ok"


def test_stdin_errors_are_located_in_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("factRef: nope\nentityRef: component:default/y\ndata: 1\n"))
    assert errors_of(["-"]) == ["<stdin>:1:10: invalid factRef 'nope': expected source:scope/name (e.g. custom:default/github_actions_test)"]


def test_every_invalid_fact_is_reported_with_its_location(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "facts.yaml",
        """\
- factRef: custom:default/ok
  entityRef: component:default/x
  data: 1
- factRef: not-a-ref
  entityRef: component:default/x
  data: 1
- factRef: custom:default/x
  entityRef: nokind
  data: 1
- factRef: custom:default/x
  entityRef: component:default/x
- entityRef: component:default/x
  data: 1
- factRef: {source: "a:b", name: x}
  entityRef: 42
  data: 1
  timestamp: yesterday
- just a string
- factRef: {scope: s}
  entityRef: component:default/x
  data: 1
  expiresAt: 12
""",
    )
    assert errors_of([path]) == [
        f"{path}:4:12: invalid factRef 'not-a-ref': expected source:scope/name (e.g. custom:default/github_actions_test)",
        f"{path}:8:14: invalid entityRef 'nokind': expected kind:namespace/name (e.g. component:default/payments-api)",
        f"{path}:10:3: fact has no 'data'",
        f"{path}:12:3: fact has no 'factRef'",
        f"{path}:14:21: factRef source must be a non-empty string without spaces and no ':' or '/'",
        f"{path}:15:14: entityRef must be a string such as component:default/payments-api",
        f"{path}:17:14: invalid timestamp 'yesterday': expected an ISO-8601 date-time such as 2026-01-05T10:00:00Z",
        f"{path}:18:3: a fact must be a mapping with factRef, entityRef and data",
        f"{path}:19:12: factRef has no 'source' (expected {{source, scope, name}})",
        f"{path}:19:12: factRef has no 'name' (expected {{source, scope, name}})",
        f"{path}:22:14: invalid expiresAt 12: expected an ISO-8601 date-time such as 2026-01-05T10:00:00Z",
    ]


def test_nothing_is_returned_when_any_fact_is_invalid(tmp_path: Path) -> None:
    good = write(tmp_path, "good.json", '{"factRef": "custom:default/x", "entityRef": "component:default/y", "data": 1}')
    bad = write(tmp_path, "bad.json", '{"factRef": "custom:default/x", "entityRef": "component:default/y"}')
    problems = Problems()
    with pytest.raises(ConfigError) as info:
        read_fact_files([good, bad], problems)
    assert [str(p) for p in info.value.problems] == [
        f"{bad}:1:1: fact has no 'data'",
        "nothing was pushed (1 invalid fact); fix the errors above and push again",
    ]
    assert [str(p) for p in problems.errors] == [str(p) for p in info.value.problems]


def test_json_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{\n  "factRef": "custom:default/x",\n  "data": 1,\n}\n')
    assert errors_of([path]) == [f"{path}:4:1: invalid JSON: Expecting property name enclosed in double quotes"]


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "factRef: custom:default/x\ndata: [1, 2\nentityRef: x\n")
    (message,) = errors_of([path])
    assert message.startswith(f"{path}:3:")
    assert "invalid YAML" in message


def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    assert errors_of([missing]) == [f"{missing}: cannot read fact file: {missing} not found"]


def test_unsupported_tag_and_non_json_float_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "f.yaml", "factRef: custom:default/x\nentityRef: component:default/y\ndata: {a: !!python/object x, b: .inf}\n")
    assert errors_of([path]) == [
        f"{path}:3:11: unsupported YAML tag 'tag:yaml.org,2002:python/object': fact files hold JSON values only",
        f"{path}:3:33: '.inf' is not a JSON number",
    ]


def test_warnings_unknown_keys_duplicates_and_empty_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "f.yaml",
        """\
- factRef: custom:default/x
  entityRef: component:default/y
  data: 1
  colour: red
- factRef: custom:default/x
  entityRef: Component:default/y
  data: 2
""",
    )
    empty = write(tmp_path, "empty.yaml", "# nothing yet\n")
    problems = Problems()
    facts = read_fact_files([path, empty], problems)
    assert [f.data for f in facts] == [2]
    assert [str(p) for p in problems.warnings] == [
        f"{path}:4:3: unknown key 'colour' in fact (ignored); expected one of factRef, entityRef, data, timestamp, expiresAt",
        f"{path}:5:3: fact custom:default/x for component:default/y is given more than once (also at {path}:1:3); the last one is used",
        f"{empty}:1:1: fact file is empty: no facts in it",
    ]


def test_yaml_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("factRef: custom:default/x\nentityRef: component:default/y\ndata: *a9")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    (message,) = errors_of([path])
    assert message == f"{path}:7:5: fact file is too large: more than 1,000,000 values once YAML aliases are expanded"


def test_fact_from_facts_show_output_round_trips(tmp_path: Path) -> None:
    problems = Problems()
    original = {
        "factRef": "soundcheck:default/track/pagerduty_track",
        "entityRef": "component:default/x",
        "data": {"highestLevel": {"ordinal": 1, "name": "Basic"}},
        "timestamp": "2026-01-05T10:00:00.000Z",
        "expiresAt": "2026-01-05T12:00:00.000Z",
    }
    path = write(tmp_path, "shown.json", json.dumps([original]))
    (fact,) = read_fact_files([path], problems)
    assert fact.to_json() == original


BLOCK_NESTING = "\n" + "\n".join("  " * (i + 1) + "a:" for i in range(250)) + " 1"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("recursive.yaml", "&a [1, *a]", "3:7: fact file contains a recursive YAML alias (a value that contains itself)"),
        ("flow.yaml", "[" * 300 + "]" * 300, "3:207: fact file is nested more than 200 levels deep"),
        ("very-deep-flow.yaml", "[" * 5000 + "]" * 5000, "3:207: fact file is nested more than 200 levels deep"),
        ("block.yaml", BLOCK_NESTING, "BLOCK: fact file is nested more than 200 levels deep"),
    ],
    ids=["recursive-alias", "flow-300", "flow-5000", "block-250"],
)
def test_pathological_yaml_is_a_located_error(tmp_path: Path, name: str, data: str, message: str) -> None:
    path = write(tmp_path, name, f"factRef: custom:default/x\nentityRef: component:default/y\ndata: {data}\n")
    # Every message names the line (issue 7: the bad-input corpus); block nesting is found where the 201st level is.
    assert errors_of([path]) == [f"{path}:{message}".replace("BLOCK", "204:403")]


def test_deeply_nested_json_is_a_located_error(tmp_path: Path) -> None:
    text = '{"factRef": "custom:default/x", "entityRef": "component:default/y", "data": ' + "[" * 5000 + "]" * 5000 + "}"
    path = write(tmp_path, "deep.json", text)
    assert errors_of([path]) == [f"{path}:1:276: fact file is nested more than 200 levels deep"]


def test_yaml_flow_mapping_that_looks_like_json(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", "{factRef: custom:default/x, entityRef: component:default/y, data: [1]}\n")
    (fact,) = read_fact_files([path], Problems())
    assert fact.data == [1]


def test_a_long_yaml_list_read_in_pieces_gives_what_json_gives(tmp_path: Path) -> None:
    # facts.push reads a top-level YAML list YAML_PIECE_ITEMS items at a time (bounded memory); the facts are the
    # same as the same list in JSON, and a problem in a later piece is still reported with its line.
    from soundcheck_cli.facts import push

    n = push.YAML_PIECE_ITEMS * 2 + 7
    items = [{"factRef": "ci:default/t", "entityRef": f"component:default/s-{i}", "timestamp": "2026-01-05T10:00:00Z",
              "data": {"n": i, "tags": ["a", f"b{i}"], "note": "x: y"}} for i in range(n)]
    lines = ["# pushed by CI"]
    for item in items:
        lines += [f"- factRef: {item['factRef']}", f"  entityRef: {item['entityRef']}",
                  f"  timestamp: '{item['timestamp']}'", f"  data: {json.dumps(item['data'])}"]
    yaml_path = write(tmp_path, "many.yaml", "\n".join(lines) + "\n")
    json_path = write(tmp_path, "many.json", json.dumps(items))
    from_yaml = read_fact_files([yaml_path], Problems())
    assert from_yaml == read_fact_files([json_path], Problems()) and len(from_yaml) == n
    lines[-4 * 3] = "- factRef: ci:default/t\n  oops: 1"  # an unknown key in the last piece
    path = write(tmp_path, "late.yaml", "\n".join(lines) + "\n")
    problems = Problems()
    read_fact_files([path], problems)
    assert [p.location.line for p in problems.warnings] == [len(lines) - 11 + 1]
