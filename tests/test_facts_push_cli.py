"""``soundcheck facts push`` through the real CLI in a subprocess (issue 18 item 28): refs the catalog would refuse,
duplicate keys, files that are not regular files, and a refused push that leaves the store as it was."""

from __future__ import annotations

import json
import os
import time

from reliability.cli import run, stored

REF = "ci:default/tests"


def push(tmp_path, *files: str, stdin: str | None = None):
    args = ["facts", "push", *files, "--store", str(tmp_path / "store")]
    if stdin is None:
        return run(args, tmp_path, timeout=30)
    import subprocess

    from reliability.cli import clean_env, command

    return subprocess.run(command(args), input=stdin, cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=30)


def fact(name: str, data) -> dict:
    return {"factRef": REF, "entityRef": f"component:default/{name}", "data": data}


def test_a_refused_push_leaves_the_store_unchanged(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps([fact(f"svc-{i}", {"run": 1}) for i in range(50)]))
    assert push(tmp_path, "good.json").returncode == 0
    bad = [fact(f"svc-{i}", {"run": 2}) for i in range(50)] + [fact("../../etc", {"run": 2})]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    proc = push(tmp_path, "good.json", "bad.json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "invalid entityRef 'component:default/../../etc'" in proc.stderr and "nothing was pushed" in proc.stderr
    assert f"{tmp_path / 'bad.json'}:" in proc.stderr or "bad.json:" in proc.stderr
    facts = stored(tmp_path / "store", REF)
    assert len(facts) == 50 and all(f.data == {"run": 1} for f in facts.values())


def test_refs_the_catalog_refuses_are_refused_with_their_line(tmp_path):
    long_name = "x" * 300
    (tmp_path / "refs.yaml").write_text(
        "- factRef: ci:default/tests\n  entityRef: component:default/ok\n  data: 1\n"
        f"- factRef: ci:default/tests\n  entityRef: component:default/{long_name}\n  data: 1\n"
        "- factRef: ci:default/tests\n  entityRef: \"component:default/pay\\u202Ements\"\n  data: 1\n"
    )
    proc = push(tmp_path, "refs.yaml")
    assert proc.returncode == 2
    assert "refs.yaml:5:" in proc.stderr and "the name has 300 characters (at most 63)" in proc.stderr
    assert "refs.yaml:8:" in proc.stderr and "pay\\u202ements" in proc.stderr and "\u202e" not in proc.stderr
    assert "nothing was pushed (2 invalid facts)" in proc.stderr
    assert not (tmp_path / "store").exists() or stored(tmp_path / "store", REF) == {}


def test_a_duplicate_key_is_an_error_not_the_last_value(tmp_path):
    (tmp_path / "dup.yaml").write_text(
        "factRef: ci:default/tests\nentityRef: component:default/a\ndata:\n  passed: true\n  passed: false\n")
    proc = push(tmp_path, "dup.yaml")
    assert proc.returncode == 2 and "dup.yaml:5:3: duplicate key 'passed' (first at line 4)" in proc.stderr
    proc = push(tmp_path, "-", stdin='{"factRef": "ci:default/tests", "entityRef": "component:default/a", "data": 1, "data": 2}')
    assert proc.returncode == 2 and "<stdin>:1:" in proc.stderr and "duplicate key 'data'" in proc.stderr


def test_pushes_from_a_fifo_or_dev_zero_end_at_once(tmp_path):
    fifo = tmp_path / "facts.json"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        started = time.monotonic()
        proc = push(tmp_path, path)
        assert proc.returncode == 2 and time.monotonic() - started < 20
        assert "is not a regular file (a FIFO, device or socket)" in proc.stderr and "Traceback" not in proc.stderr


def test_a_clean_file_and_stdin_are_pushed(tmp_path):
    (tmp_path / "many.json").write_text(json.dumps([fact(f"svc-{i}", {"n": i}) for i in range(2000)]))
    proc = push(tmp_path, "many.json")
    assert proc.returncode == 0 and "stored 2000 facts" in proc.stdout
    proc = push(tmp_path, "-", stdin="factRef: ci:default/tests\nentityRef: Component:default/svc-1\ndata: {n: -1}\n")
    assert proc.returncode == 0, proc.stderr
    facts = stored(tmp_path / "store", REF)
    assert len(facts) == 2000 and facts["component:default/svc-1"].data == {"n": -1}
    assert facts["component:default/svc-1999"].data == {"n": 1999}
