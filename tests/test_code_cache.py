"""``rules.code_cache``: generated check code compiled once and kept on disk; what is read back is used only when it
is whole, for this interpreter and for exactly this source."""

from __future__ import annotations

import marshal
import os
from importlib.util import MAGIC_NUMBER

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.rules import code_cache, codegen
from workspaces import hygiene_config, two_components

SOURCE = "def run(x):\n    return x * 2\n"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(code_cache, "_folder", None)
    monkeypatch.setattr(codegen, "_CODE", {})  # nothing remembered in this process
    code_cache.enable(str(tmp_path / "code"))
    return tmp_path / "code"


def _run_of(code):
    namespace = {}
    exec(code, namespace)  # noqa: S102 - the test's own source
    return namespace["run"]


def test_compiled_code_is_kept_and_read_back(folder):
    code = codegen.compiled_code(SOURCE, "<test>")
    (kept,) = folder.iterdir()
    assert kept.read_bytes().startswith(MAGIC_NUMBER)
    again = code_cache.load(SOURCE)
    assert again is not None and again.co_consts == code.co_consts and _run_of(again)(21) == 42
    assert code_cache.load(SOURCE + "\n") is None  # another source: not found


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other magic", "other source", "not code", "empty"])
def test_a_damaged_or_foreign_file_is_not_used_and_is_rewritten(folder, damage):
    codegen.compiled_code(SOURCE, "<test>")
    (kept,) = folder.iterdir()
    data = kept.read_bytes()
    head = len(MAGIC_NUMBER) + 4 + len(SOURCE.encode())  # magic, source length, source, then the code
    assert data[len(MAGIC_NUMBER) + 4:head] == SOURCE.encode()
    kept.write_bytes({
        "truncated": data[: head + 5],
        "garbage": data[:head] + b"\x00\xff" * 40,
        "other magic": b"\x00\x00\r\n" + data[4:],
        "other source": data[:head - 3] + b"* 3" + data[head:],  # same name and length, another source
        "not code": data[:head] + marshal.dumps({"not": "code"}),
        "empty": b"",
    }[damage])
    assert code_cache.load(SOURCE) is None
    codegen._CODE.clear()
    code = codegen.compiled_code(SOURCE, "<test>")  # compiled again ...
    assert _run_of(code)(2) == 4
    assert code_cache.load(SOURCE) is not None  # ... and the file is whole again


def test_the_folder_is_emptied_when_full(folder, monkeypatch):
    monkeypatch.setattr(code_cache, "MAX_FILES", 3)
    for i in range(5):
        codegen.compiled_code(f"def run(x):\n    return x + {i}\n", "<test>")
    assert 1 <= len(list(folder.iterdir())) <= 3
    assert code_cache.load("def run(x):\n    return x + 4\n") is not None  # the newest is kept


def test_a_folder_that_cannot_be_written_just_means_compiling(tmp_path, monkeypatch):
    monkeypatch.setattr(codegen, "_CODE", {})
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setattr(code_cache, "_folder", None)
    code_cache.enable(str(blocker / "code"))
    try:
        assert _run_of(codegen.compiled_code(SOURCE, "<test>"))(3) == 6
        assert code_cache.load(SOURCE) is None
    finally:
        code_cache.enable(None)


def test_check_keeps_the_code_in_the_user_cache_and_a_later_run_does_not_compile(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(code_cache, "_folder", None)
    (tmp_path / "catalog.yaml").write_text(two_components())
    (tmp_path / "app-config.yaml").write_text(hygiene_config("{{ entity.metadata.name }} has no owner"))
    args = ["check", "-c", str(tmp_path / "app-config.yaml"), "--catalog", str(tmp_path / "catalog.yaml"),
            "--store", str(tmp_path / "store"), "-f", "json"]
    monkeypatch.setattr(codegen, "_CODE", {})
    assert run_cli(args) == 1
    first = capsys.readouterr().out
    kept = sorted(os.listdir(tmp_path / "cache" / "soundcheck" / "code"))
    assert kept and all(name.endswith(".code") for name in kept)

    monkeypatch.setattr(codegen, "_CODE", {})  # a new process: nothing in memory
    compiled = []
    monkeypatch.setattr(codegen, "compile", lambda *a: compiled.append(a) or compile(*a), raising=False)
    assert run_cli(args) == 1
    assert compiled == []  # every check's code came from the folder
    assert _without_time(capsys.readouterr().out) == _without_time(first)
    code_cache.enable(None)


def _without_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "generatedAt" not in line)
