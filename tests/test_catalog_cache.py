"""The warm catalog cache (``catalog.cache``): same entities, sources and warnings as a fresh parse."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from soundcheck_cli.catalog.cache import CACHE_NAME
from soundcheck_cli.catalog.loader import load_catalog
from soundcheck_cli.errors import Problems

GOOD = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: a
spec:
  lifecycle: production
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: b
  namespace: team
spec:
  lifecycle: experimental
"""
BAD = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: c
  annotations:
    x: 12
"""


def _age(path: Path, seconds: float = 10.0) -> None:
    """Move the file's mtime into the past: the cache ignores files modified in the last 2 s ("racy clean")."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def _load(paths: list[Path], cache: Path) -> tuple[list, list[str]]:
    problems = Problems()
    entities = load_catalog([str(p) for p in paths], problems, cache_path=str(cache))
    return entities, [str(p) for p in problems.items]


def test_a_clean_file_is_served_from_the_cache_with_the_same_entities_and_sources(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    _age(good)
    cache = tmp_path / "store" / CACHE_NAME
    cache.parent.mkdir()
    first, warnings1 = _load([good], cache)
    assert cache.is_file() and str(good.resolve()) in json.loads(cache.read_text())["files"]
    # Prove the second load reads the cache: change the cached data without touching the YAML file.
    doc = json.loads(cache.read_text())
    doc["files"][str(good.resolve())][1][0][0]["spec"]["lifecycle"] = "from-cache"
    cache.write_text(json.dumps(doc))
    second, warnings2 = _load([good], cache)
    assert [e.data["spec"]["lifecycle"] for e in second] == ["from-cache", "experimental"]
    assert [str(e.ref) for e in second] == [str(e.ref) for e in first] == ["component:default/a", "component:team/b"]
    assert [str(e.source) for e in second] == [str(e.source) for e in first]
    assert (second[1].source.path, second[1].source.line) == (str(good), 8)
    assert warnings1 == warnings2 == []


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    _age(good, 20)
    cache = tmp_path / CACHE_NAME
    _load([good], cache)
    good.write_text(GOOD.replace("name: a", "name: a2"))
    _age(good, 10)
    entities, _ = _load([good], cache)
    assert [e.name for e in entities] == ["a2", "b"]


def test_files_with_warnings_are_not_cached_and_warn_every_time(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    _age(bad)
    cache = tmp_path / CACHE_NAME
    _, first = _load([bad], cache)
    _, second = _load([bad], cache)
    assert first and first == second
    assert f"{bad}:6" in first[0]
    assert not cache.exists() or str(bad.resolve()) not in json.loads(cache.read_text())["files"]


def test_duplicates_across_cached_files_still_warn(tmp_path: Path) -> None:
    one, two = tmp_path / "1.yaml", tmp_path / "2.yaml"
    one.write_text(GOOD)
    two.write_text(GOOD.split("---")[0])
    _age(one)
    _age(two)
    cache = tmp_path / CACHE_NAME
    _load([one], cache)  # caches 1.yaml alone
    entities, warnings = _load([one, two], cache)
    assert [e.name for e in entities] == ["a", "b"]
    assert len(warnings) == 1 and "duplicate entity component:default/a" in warnings[0]


def test_a_recent_file_is_not_cached_and_a_broken_cache_is_ignored(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    cache = tmp_path / CACHE_NAME
    _load([good], cache)
    assert not cache.exists()
    cache.write_text("{not json")
    entities, warnings = _load([good], cache)
    assert [e.name for e in entities] == ["a", "b"] and warnings == []


def test_a_file_with_placeholders_is_never_cached_so_a_changed_placeholder_file_is_seen(tmp_path: Path) -> None:
    entity = tmp_path / "svc.yaml"
    entity.write_text(GOOD.split("---")[0] + "  definition: {$text: ./readme.md}\n")
    readme = tmp_path / "readme.md"
    readme.write_text("one")
    _age(entity)
    _age(readme)
    cache = tmp_path / CACHE_NAME
    first, _ = _load([entity], cache)
    assert first[0].data["spec"]["definition"] == "one"
    assert not cache.exists() or str(entity.resolve()) not in json.loads(cache.read_text())["files"]
    readme.write_text("two")  # the entity file itself does not change
    second, _ = _load([entity], cache)
    assert second[0].data["spec"]["definition"] == "two"


def test_one_broken_entity_at_the_end_of_a_large_catalog_is_named_on_every_run(tmp_path: Path) -> None:
    """5,000 entities in 50 files, the last file's entity broken (no metadata.name) and a last file that is not
    YAML: ``check`` names both by file:line:col on the first run and on the warm run that serves the 50 clean
    files from the cache, and checks every good entity; no traceback."""
    import subprocess
    import sys

    catalog = tmp_path / "catalog"
    catalog.mkdir()
    for part in range(50):
        docs = [f'{{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {{"name": "s{part}-{i}"}},'
                f' "spec": {{"owner": "team"}}}}' for i in range(100)]
        (catalog / f"part-{part:02d}.yaml").write_text("\n---\n".join(docs) + "\n")
    (catalog / "part-98.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"
                                          "  title: no name\nspec: {}\n")
    (catalog / "part-99.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"
                                          "  name: [broken\n")
    old = time.time() - 60  # settled files: the cache keeps them (catalog.cache.RACY_SECONDS)
    for path in catalog.iterdir():
        os.utime(path, (old, old))
    (tmp_path / "app-config.yaml").write_text(
        "soundcheck:\n  checks:\n    - id: has_owner\n      rule:\n        factRef: catalog:default/entity_descriptor\n"
        "        path: $.spec.owner\n        operator: notEqual\n        value: null\n")
    (tmp_path / "store").mkdir()
    for run in ("cold", "warm"):
        proc = subprocess.run([sys.executable, "-m", "soundcheck_cli", "check", "-c", "app-config.yaml", "--catalog",
                               "catalog", "--store", "store", "-f", "json", "-o", "r.json"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (run, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert "catalog/part-98.yaml:4:3: Component entity skipped: metadata.name is missing" in proc.stderr, run
        assert "catalog/part-99.yaml:5:1: malformed YAML" in proc.stderr and "file skipped" in proc.stderr, run
        assert json.loads((tmp_path / "r.json").read_text())["summary"]["results"]["passed"] == 5000
    assert (tmp_path / "store" / CACHE_NAME).is_file()  # the warm run was served by the cache
