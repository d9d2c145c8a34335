"""``atomic.write_quietly``: a small file replaced whole, or left as it was (no temporary file behind)."""

from __future__ import annotations

import os

from soundcheck_cli.atomic import write_quietly


def test_a_file_is_written_then_replaced_whole(tmp_path):
    target = tmp_path / "cache.txt"
    assert write_quietly(str(target), b"first, and longer")
    assert write_quietly(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["cache.txt"]


def test_a_target_that_cannot_be_written_is_left_as_it_was(tmp_path):
    (tmp_path / "taken").mkdir()
    assert not write_quietly(str(tmp_path / "taken"), b"x")  # a folder of that name
    assert not write_quietly(str(tmp_path / "missing" / "file"), b"x")  # no such folder
    assert (tmp_path / "taken").is_dir() and os.listdir(tmp_path) == ["taken"]
