"""``soundcheck facts push`` at size (issue 23): files read a piece at a time (``facts.push``) give exactly what the
whole-file located reading gives, a problem anywhere is reported with its line and leaves the store unchanged
(folder and PostgreSQL), and memory does not grow with the file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reliability.cli import clean_env, command, run, stored
from soundcheck_cli.errors import ConfigError, Problems
from soundcheck_cli.facts import push as fact_push
from soundcheck_cli.facts.io import read_located
from soundcheck_cli.facts.push import read_files as read_fact_files

REF = "ci:default/tests"


def items(n: int, start: int = 0, **extra) -> list[dict]:
    return [{"factRef": REF, "entityRef": f"component:default/svc-{i}", "timestamp": "2026-12-07T10:00:00Z",
             "data": {"n": i, "note": "a }, {\"factRef\": x", "nested": [{"a": [1, {"b": "}, ]"}]}, {}], **extra}}
            for i in range(start, start + n)]


def located_messages(path: str) -> list[str]:
    problems = Problems()
    read_located(path, path, problems)
    return [str(p) for p in problems.errors]


def pushed_messages(path: str) -> list[str]:
    problems = Problems()
    with pytest.raises(ConfigError) as info:
        read_fact_files([path], problems)
    messages = [str(p) for p in info.value.problems]
    assert messages[-1].startswith("nothing was pushed")
    return messages[:-1]


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pieces of ~300 bytes read 97 bytes at a time: every cut decision is exercised, with candidates ("}, {")
    # inside strings and nested lists that must not be taken.
    monkeypatch.setattr(fact_push, "PIECE_BYTES", 300)
    monkeypatch.setattr(fact_push, "READ_BYTES", 97)
    monkeypatch.setattr(fact_push, "YAML_PIECE_ITEMS", 7)


@pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "indented"])
def test_json_read_in_pieces_gives_the_whole_file(tmp_path: Path, small_pieces: None, indent: int | None) -> None:
    values = items(200)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(values, indent=indent))
    facts = read_fact_files([str(path)], Problems())
    assert [f.data for f in facts] == [v["data"] for v in values]
    assert [f.entity_ref for f in facts] == [v["entityRef"] for v in values]


@pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "indented"])
def test_a_problem_in_a_later_piece_is_located_as_in_the_whole_file(tmp_path: Path, small_pieces: None,
                                                                   indent: int | None) -> None:
    values = items(120)
    values[97]["entityRef"] = "component:default/../../etc"
    values[98]["timestamp"] = "yesterday"
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(values, indent=indent))
    text = path.read_text()
    line = text.count("\n", 0, text.index("../../etc")) + 1
    expected = located_messages(str(path))
    assert len(expected) == 2 and f"{path}:{line}:" in expected[0]
    assert pushed_messages(str(path)) == expected


@pytest.mark.parametrize(
    ("name", "breakage"),
    [("comma", lambda text: text[:-3] + ",]"), ("bracket", lambda text: text[:-1]),
     ("value", lambda text: text.replace('"n": 150,', '"n": 150 "x": 1,')),
     ("garbage", lambda text: text + " garbage")],
)
def test_bad_json_late_in_a_file_is_located_as_in_the_whole_file(tmp_path: Path, small_pieces: None, name: str,
                                                                 breakage) -> None:
    path = tmp_path / "facts.json"
    path.write_text(breakage(json.dumps(items(160), indent=1)))
    expected = located_messages(str(path))
    assert len(expected) == 1 and "invalid JSON" in expected[0]
    assert pushed_messages(str(path)) == expected


def test_not_utf8_late_in_a_file_names_its_line(tmp_path: Path, small_pieces: None) -> None:
    path = tmp_path / "facts.json"
    text = json.dumps(items(50), indent=1).encode()
    at = text.index(b"svc-40")
    path.write_bytes(text[:at] + b"\xff" + text[at:])
    line = text.count(b"\n", 0, at) + 1
    assert pushed_messages(str(path)) == [f"{path}:{line}: cannot read fact file: not UTF-8 text (invalid start byte "
                                          f"at byte {at})"]


YAML_SCALARS = """\
- factRef: ci:default/scalars
  entityRef: component:default/a
  timestamp: 2026-01-05T10:00:00Z
  data:
    ints: [0x1F, 0o17, 017, 1_000, +5, -3, 0]
    floats: [1.5e3, .5, 1., -2.5, 6.0e+2]
    bools: [true, True, FALSE, false]
    not_bools: [yes, on, y, No, off]
    nulls: [~, null, Null, NULL]
    empty:
    times: [2026-01-05, 2026-01-05T10:00:00Z, 2026-01-05 10:00:00 +01:00]
    strings: ['1', "true", "x: y", a:b, <<x, =x, 1.2.3, 0x, -, .x]
    block: |
      two
      lines
    folded: >
      one
      line
    flow: {a: [1, {b: 2}], c: "d"}
    "quoted key": 1
    200: ok
    true: key
- {factRef: "ci:default/flow", entityRef: Component:default/B, data: [1, two, 3.0], timestamp: "2026-01-05T10:00:00Z"}
"""


def test_yaml_read_from_events_gives_what_the_located_reading_gives(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text(YAML_SCALARS)
    fast = read_fact_files([str(path)], Problems())
    located = [fact for fact, _ in read_located(str(path), str(path), Problems())]
    assert fast == located
    data = fast[0].data
    assert data["ints"] == [31, 15, 17, 1000, 5, -3, 0] and data["not_bools"] == ["yes", "on", "y", "No", "off"]
    assert data["nulls"] == [None, None, None, None] and data["empty"] is None
    assert data["times"][0] == "2026-01-05" and data["strings"][:3] == ["1", "true", "x: y"]
    assert fast[1].entity_ref == "component:default/B" and fast[1].data == [1, "two", 3.0]


def test_yaml_problems_in_a_later_piece_are_located_as_in_the_whole_file(tmp_path: Path, small_pieces: None) -> None:
    lines = []
    for i in range(60):
        lines += [f"- factRef: {REF}", f"  entityRef: component:default/s-{i}", "  data:", f"    n: {i}"]
    lines[45 * 4 + 1] = "  entityRef: nokind"
    lines[50 * 4 + 3] = "    n: .inf"
    lines[55 * 4 + 3] = "    n: !!python/object x"
    path = tmp_path / "facts.yaml"
    path.write_text("\n".join(lines) + "\n")
    expected = located_messages(str(path))
    assert len(expected) == 3
    pushed = pushed_messages(str(path))
    # The same messages, in the file's order (the whole-file reading lists YAML value errors before fact errors).
    assert sorted(pushed) == sorted(expected)
    assert [m.split(":")[1] for m in pushed] == ["182", "204", "224"]
    assert pushed[0].startswith(f"{path}:182:14: invalid entityRef 'nokind'")


def test_yaml_anchors_and_duplicates_keep_their_messages(tmp_path: Path, small_pieces: None) -> None:
    # Anchors send the whole file to the located reading; a fact given twice is named at both places.
    path = tmp_path / "facts.yaml"
    path.write_text("- factRef: ci:default/t\n  entityRef: component:default/a\n  data: &d {n: 1}\n"
                    "- factRef: ci:default/t\n  entityRef: component:default/b\n  data: *d\n")
    facts = read_fact_files([str(path)], Problems())
    assert [f.data for f in facts] == [{"n": 1}, {"n": 1}]
    values = items(30)
    values.append(dict(values[3], data={"n": "again"}))
    json_path = tmp_path / "dup.json"
    json_path.write_text(json.dumps(values, indent=1))
    problems = Problems()
    facts = read_fact_files([str(json_path)], problems)
    assert len(facts) == 30 and facts[-1].data == {"n": "again"}
    (warning,) = [str(p) for p in problems.warnings]
    assert warning.startswith(f"{json_path}:") and "is given more than once (also at" in warning


# -- through the CLI, at size -----------------------------------------------------------------------------------


def push(tmp_path: Path, path: Path, store: str) -> subprocess.CompletedProcess[str]:
    return run(["facts", "push", str(path), "--store", store], tmp_path, timeout=120)


def write_json(path: Path, values: list[dict]) -> None:
    with path.open("w") as out:
        json.dump(values, out, indent=1)


def test_a_broken_fact_at_the_end_of_100k_facts_leaves_the_store_unchanged(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    first = tmp_path / "first.json"
    write_json(first, items(10))
    assert push(tmp_path, first, store).returncode == 0
    values = items(100_000)
    values[-1]["entityRef"] = "component:default/bad name"
    big = tmp_path / "big.json"
    write_json(big, values)
    text = big.read_text()
    line = text.count("\n", 0, text.index("bad name")) + 1
    proc = push(tmp_path, big, store)
    assert proc.returncode == 2, proc.stderr
    assert f"{big}:{line}:" in proc.stderr and "invalid entityRef 'component:default/bad name'" in proc.stderr
    assert "nothing was pushed (1 invalid fact)" in proc.stderr and "Traceback" not in proc.stderr
    facts = stored(tmp_path / "store", REF)
    assert len(facts) == 10 and facts["component:default/svc-9"].data["n"] == 9


def test_yaml_error_at_the_end_of_a_large_file_leaves_the_store_unchanged(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    lines = []
    for i in range(20_000):
        lines += [f"- factRef: {REF}", f"  entityRef: component:default/s-{i}", "  data: {n: %d}" % i]
    path = tmp_path / "facts.yaml"
    path.write_text("\n".join(lines) + "\n- factRef: [unclosed\n")
    proc = push(tmp_path, path, store)
    assert proc.returncode == 2 and "invalid YAML" in proc.stderr and f"{path}:60002:" in proc.stderr, proc.stderr
    assert "nothing was pushed" in proc.stderr
    assert not (tmp_path / "store").exists() or stored(tmp_path / "store", REF) == {}


def test_a_file_over_the_size_bound_is_refused_at_once(tmp_path: Path) -> None:
    # A sparse file: over the bound without writing a gigabyte. Refused by its size before anything is read.
    path = tmp_path / "huge.json"
    with path.open("wb") as out:
        out.truncate(fact_push.fio.MAX_FILE_BYTES + 1)
    proc = push(tmp_path, path, str(tmp_path / "store"))
    assert proc.returncode == 2 and f"{path}: cannot read fact file: {path} is larger than 1024 MiB" in proc.stderr


# The CLI with its peak memory printed last on standard error, read from the process itself: ``wait4``'s
# ``ru_maxrss`` counts the memory of the (v)forked parent, pytest's, before the exec.
PEAK = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        sys.stderr.write("".join(line for line in status if line.startswith("VmHWM")))
atexit.register(peak)
sys.argv = ["soundcheck", *sys.argv[1:]]
runpy.run_module("soundcheck_cli", run_name="__main__")
"""


def run_measured(args: list[str], cwd: Path) -> tuple[int, str, int]:
    """Exit code, standard error and peak RSS (KiB) of one CLI process."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak memory is read from /proc (Linux)")
    proc = subprocess.run([command([])[0], "-c", PEAK, *args], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=180)
    err, _, peak = proc.stderr.rpartition("VmHWM:")
    return proc.returncode, err, int(peak.split()[0])


def test_a_large_file_that_is_no_list_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    # 40 MB of NUL bytes (sparse): neither a JSON list nor YAML; refused without holding it in memory.
    for name in ("zeros.json", "zeros.yaml"):
        path = tmp_path / name
        with path.open("wb") as out:
            out.truncate(40 * 1024 * 1024)
        code, err, peak = run_measured(["facts", "push", str(path), "--store", str(tmp_path / "store")], tmp_path)
        assert code == 2 and "Traceback" not in err and f"error: {path}:" in err, err
        assert peak < 80 * 1024, peak  # KiB: not the file's 40 MB (twice, decoded) on top of the ~40 MB start


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    # 10k and 120k facts (3 and 36 MB): the larger push needs little more memory (before, it held every fact, its
    # parsed JSON and its rows at once: 300 MB at 270k facts).
    peaks = {}
    for n in (10_000, 120_000):
        path = tmp_path / f"f{n}.json"
        write_json(path, items(n))
        code, err, peaks[n] = run_measured(["facts", "push", str(path), "--store", str(tmp_path / f"s{n}")], tmp_path)
        assert code == 0, err
    # Less than 300 bytes per extra fact (the duplicate check keeps a hash of each, ~100 bytes); before: ~1 KB.
    assert (peaks[120_000] - peaks[10_000]) * 1024 < 300 * 110_000, peaks


# -- PostgreSQL -------------------------------------------------------------------------------------------------


def test_postgres_push_is_all_or_nothing_and_keeps_the_last_of_a_key(tmp_path: Path, pg_url: str) -> None:
    from soundcheck_cli.facts.locate import init_store
    from soundcheck_cli.facts.model import FactRef
    from soundcheck_cli.facts.pg_store import open_pg_store

    init_store(pg_url)
    good = tmp_path / "good.json"
    values = items(12_000)
    values.append(dict(values[5], data={"n": "last"}))
    write_json(good, values)
    proc = push(tmp_path, good, pg_url)
    assert proc.returncode == 0 and "stored 12000 facts" in proc.stdout, proc.stderr
    bad = tmp_path / "bad.json"
    values = items(12_000, data_extra=1)
    values[-1]["timestamp"] = "not a time"
    write_json(bad, values)
    proc = push(tmp_path, bad, pg_url)
    assert proc.returncode == 2 and "invalid timestamp 'not a time'" in proc.stderr and f"{bad}:" in proc.stderr
    with open_pg_store(pg_url) as store:
        facts = {f.entity_ref: f for f in store.facts(fact_ref=FactRef.parse(REF))}
    assert len(facts) == 12_000 and facts["component:default/svc-5"].data == {"n": "last"}
    assert all("data_extra" not in f.data for f in facts.values())


def test_a_fact_holding_a_long_list_of_objects_is_read_in_one_piece(tmp_path: Path, small_pieces: None) -> None:
    # Every "}, {" of the inner list is a candidate cut inside the fact; the piece grows past them all.
    values = items(3)
    values[1]["data"] = {"runs": [{"id": i, "ok": i % 2 == 0} for i in range(3000)]}
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(values))
    facts = read_fact_files([str(path)], Problems())
    assert [f.data for f in facts] == [v["data"] for v in values]


def test_a_list_with_no_fact_in_it_is_refused_with_a_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fact_push, "LOCATED_MAX_BYTES", 4096)
    monkeypatch.setattr(fact_push, "PIECE_BYTES", 512)
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(list(range(20_000))))
    assert pushed_messages(str(path)) == [f"{path}:1: cannot read fact file: no fact ends in 4,096 bytes (a fact file is a "
                                          "list of JSON objects, each smaller than that)"]
