"""Start-up (issue 7): a ``check`` on a file catalog runs without the modules only other commands need, and the
config loader's C-parser path reads a config exactly as the pure-Python round-trip loader does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from soundcheck_cli.config import loader
from soundcheck_cli.errors import Problems

# Imported by other commands (collect, a remote catalog, event delivery), never by a file-catalog check.
NOT_FOR_CHECK = ("logging", "soundcheck_cli.catalog.remote", "soundcheck_cli.collectors.base",
                 "soundcheck_cli.collectors.catalog")

CONFIG = """\
soundcheck:
  checks:
    - id: owned
      rule:
        factRef: catalog:default/entity_descriptor
        path: $.spec.owner
        operator: equal
        value: team-a
  tracks:
    - id: basics
      levels:
        - ordinal: 1
          checks: [{id: owned}]
"""
CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc}
spec: {type: service, lifecycle: production, owner: team-a}
"""


def test_a_file_catalog_check_imports_only_what_it_uses(tmp_path):
    (tmp_path / "app-config.yaml").write_text(CONFIG)
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    script = textwrap.dedent(f"""
        import json, sys
        from soundcheck_cli.cli.commands import run_cli
        code = run_cli(["check", "--store", "store", "-f", "json", "-o", "out.json", "-q"])
        print(json.dumps({{"code": code, "loaded": [m for m in {NOT_FOR_CHECK!r} if m in sys.modules]}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=True)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"code": 0, "loaded": []}
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["summary"]["results"]["passed"] == 1  # the catalog fact was there for the check


def _snapshot(value):
    """A converted config with every value, type and position, for comparing two loads."""
    if isinstance(value, dict):
        return ("map", value.loc, [(k, _snapshot(v), value.key_locs.get(k), value.value_locs.get(k))
                                   for k, v in value.items()], sorted(value.unset))
    if isinstance(value, list):
        return ("seq", value.loc, [_snapshot(v) for v in value], list(value.item_locs))
    return (type(value).__name__, value)


def _load(path, monkeypatch, *, fast: bool):
    if not fast:
        compose = loader.reader.compose
        monkeypatch.setattr(loader.reader, "compose", lambda text, display, **kw: compose(text, display, **{**kw, "fast": False}))
    problems = Problems()
    tree = loader.load_config_files([str(path)], {"TOKEN": "t0k3n"}, problems)
    monkeypatch.undo()
    return _snapshot(tree), [str(p) for p in problems.items]


def test_the_c_parser_path_reads_a_config_as_the_pure_loader_does(tmp_path, monkeypatch):
    path = tmp_path / "app-config.yaml"
    path.write_text(textwrap.dedent("""\
        base: &base {a: 1, b: [x, 'y', "z"]}
        soundcheck:
          merged:
            <<: *base
            b: override
          scalars: [1, 0x1f, 1.5, .inf, true, no, null, ~, 2024-01-02, '007', 1e3]
          tagged: !custom text
          token: ${TOKEN}
          missing: ${NOT_SET_ANYWHERE}
          block: |
            two
            lines
          "quoted key": 1
          123: numeric key
          shared: *base
        """))
    calls = []
    compose = loader.reader.compose
    monkeypatch.setattr(loader.reader, "compose", lambda text, display, **kw: calls.append(kw.get("fast", True)) or compose(text, display, **kw))
    fast = _load(path, monkeypatch, fast=True)
    assert calls == [True]  # the C parser read it
    assert fast == _load(path, monkeypatch, fast=False)
    assert fast[1]  # the unsupported tag warning, from both


def test_a_yaml_version_directive_is_left_to_the_pure_loader(tmp_path):
    path = tmp_path / "app-config.yaml"
    path.write_text("%YAML 1.1\n---\nsoundcheck:\n  flag: yes\n")
    tree = loader.load_config_files([str(path)], {})
    assert tree["soundcheck"]["flag"] is True  # YAML 1.1: yes is a boolean
