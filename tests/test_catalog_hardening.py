"""Catalog and config loading through the real CLI (issues 17 and 18): a catalog path that does not exist fails
the run, Backstage placeholders are resolved, non-entity YAML is one line per file, Location targets and
placeholders stay under the catalog root, walks are bounded, FIFOs and devices are refused, NUL bytes and alias
text bombs are located errors. Each test runs ``soundcheck`` in a subprocess, as a user or CI would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENTITY = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  owner: team-a\n"
CONFIG = """\
soundcheck:
  checks:
    - id: has_owner
      rule: {factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: equal, value: team-a}
"""


def soundcheck(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDCHECK_")}
    return subprocess.run([sys.executable, "-m", "soundcheck_cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "app-config.yaml").write_text(CONFIG)
    return tmp_path


def check(ws: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return soundcheck(ws, "check", "-c", "app-config.yaml", "--store", str(ws / "store"), *args, timeout=timeout)


# -- issue 17 item 1: a catalog that does not exist fails the run ---------------------------------------------


def test_an_explicit_catalog_path_that_does_not_exist_is_exit_2_naming_it(ws: Path) -> None:
    (ws / "ok.yaml").write_text(ENTITY.format(name="ok"))
    proc = check(ws, "--catalog", "ok.yaml", "--catalog", "nope.yaml")
    assert proc.returncode == 2, proc.stderr
    assert f'error: catalog path "nope.yaml" ({ws}/nope.yaml) does not exist' in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_config_location_that_does_not_exist_is_exit_2_at_its_config_line(ws: Path) -> None:
    (ws / "app-config.yaml").write_text(CONFIG + "catalog:\n  locations:\n    - type: file\n      target: ./gone.yaml\n")
    proc = check(ws)
    assert proc.returncode == 2, proc.stderr
    assert f'error: {ws}/app-config.yaml:8:15: catalog path "{ws}/gone.yaml" does not exist' in proc.stderr


# -- issue 17 item 12: $text / $json / $yaml placeholders ------------------------------------------------------


def test_placeholders_are_resolved_relative_to_the_entity_file(ws: Path) -> None:
    (ws / "catalog").mkdir()
    (ws / "catalog" / "docs").mkdir()
    (ws / "catalog" / "docs" / "readme.md").write_text("# Hello\n")
    (ws / "catalog" / "docs" / "extra.json").write_text('{"tier": 1, "langs": ["py"]}')
    (ws / "catalog" / "docs" / "owner.txt").write_text("team-a\n")  # any name: not walked as a catalog file
    (ws / "catalog" / "svc.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: svc\n"
        "spec:\n  owner: {$yaml: ./docs/owner.txt}\n  definition:\n    $text: ./docs/readme.md\n"
        "  extra: {$json: docs/extra.json}\n  schema: {$ref: '#/x'}\n")
    proc = soundcheck(ws, "entities", "-c", "app-config.yaml", "--catalog", "catalog", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    [entity] = json.loads(proc.stdout)
    assert entity["entity"]["spec"] == {"owner": "team-a", "definition": "# Hello\n", "extra": {"tier": 1, "langs": ["py"]},
                    "schema": {"$ref": "#/x"}}
    assert "warning" not in proc.stderr


@pytest.mark.parametrize(("value", "files", "message"), [
    ("{$json: ./bad.json}", {"bad.json": '{"a": 1,}'}, "$json: {d}/bad.json:1:9: invalid JSON: Expecting property name"),
    ("{$text: ./missing.md}", {}, '$text: file "./missing.md" ({d}/missing.md) not found'),
    ("{$yaml: ./two.yaml}", {"two.yaml": "a: 1\n---\nb: 2\n"}, "$yaml: expected exactly one YAML document in {d}/two.yaml, found 2"),
    ("{$text: ../outside.md}", {"../outside.md": "secret"}, '$text: "../outside.md" ({p}/outside.md) is outside the catalog root {d}'),
    ("{$text: /etc/passwd}", {}, '$text: "/etc/passwd" (/etc/passwd) is outside the catalog root {d}'),
])
def test_a_placeholder_that_fails_skips_its_entity_with_a_located_warning(ws: Path, value, files, message) -> None:
    catalog = ws / "catalog"
    catalog.mkdir()
    for name, text in files.items():
        (catalog / name).write_text(text)
    (catalog / "svc.yaml").write_text(ENTITY.format(name="svc") + f"  definition: {value}\n")
    (catalog / "ok.yaml").write_text(ENTITY.format(name="ok"))
    proc = check(ws, "--catalog", "catalog")
    assert proc.returncode == 0, proc.stderr
    expected = f'warning: {catalog}/svc.yaml:7:23: Component "svc" skipped: ' + message.format(d=catalog, p=ws)
    assert expected in proc.stderr, proc.stderr
    assert "secret" not in proc.stderr and "root:" not in proc.stderr


def test_a_url_placeholder_is_not_fetched(ws: Path) -> None:
    (ws / "c.yaml").write_text(ENTITY.format(name="svc") + "  definition: {$text: 'https://127.0.0.1:9/x.md'}\n")
    proc = check(ws, "--catalog", "c.yaml")
    assert proc.returncode == 0, proc.stderr
    assert (f'warning: {ws}/c.yaml:7:23: Component "svc": $text URL "https://127.0.0.1:9/x.md" is not read '
            "(nothing is fetched); the value is left empty") in proc.stderr


# -- issue 17 item 13: non-entity YAML in a scanned folder -----------------------------------------------------


def test_an_openapi_file_in_a_catalog_folder_is_one_warning(ws: Path) -> None:
    (ws / "catalog").mkdir()
    (ws / "catalog" / "svc.yaml").write_text(ENTITY.format(name="svc"))
    (ws / "catalog" / "petstore.oas.yaml").write_text("openapi: 3.0.0\ninfo: {title: x}\n---\nopenapi: 3.1.0\n")
    proc = check(ws, "--catalog", "catalog")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {ws}/catalog/petstore.oas.yaml:1:1: not a catalog entity: no apiVersion/kind; skipped"]


# -- issue 18: confinement, walks, special files, NUL bytes, alias text ------------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "../../etc/passwd", "../outside.yaml"])
def test_location_targets_stay_under_the_catalog_root_and_files_are_never_quoted(ws: Path, target: str) -> None:
    (ws / "outside.yaml").write_text(ENTITY.format(name="outside"))
    (ws / "catalog").mkdir()
    (ws / "catalog" / "loc.yaml").write_text(
        f"apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: l}}\nspec:\n  target: {target}\n")
    (ws / "catalog" / "svc.yaml").write_text(ENTITY.format(name="svc"))
    proc = soundcheck(ws, "entities", "-c", "app-config.yaml", "--catalog", "catalog", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(e["entity"]["metadata"]["name"] for e in json.loads(proc.stdout)) == ["l", "svc"]
    assert "is outside the catalog root" in proc.stderr and f"{ws}/catalog/loc.yaml:5:11" in proc.stderr
    assert "root:x" not in proc.stderr


def test_a_symlink_loop_under_a_double_star_glob_ends(ws: Path) -> None:
    catalog = ws / "catalog"
    (catalog / "a").mkdir(parents=True)
    (catalog / "a" / "svc.yaml").write_text(ENTITY.format(name="svc"))
    os.symlink("..", catalog / "a" / "up")
    os.symlink(".", catalog / "a" / "here")
    proc = soundcheck(ws, "validate", "-c", "app-config.yaml", "--catalog", "catalog/**/*.yaml", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "1 entity, 0 warnings" in proc.stdout


def test_a_location_target_of_the_whole_disk_is_refused(ws: Path) -> None:
    (ws / "loc.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\n"
                                 "spec:\n  target: /**/*.yaml\n")
    (ws / "svc.yaml").write_text(ENTITY.format(name="svc"))
    proc = soundcheck(ws, "validate", "-c", "app-config.yaml", "--catalog", "loc.yaml", "--catalog", "svc.yaml", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert 'target "/**/*.yaml" (/**/*.yaml) is outside the catalog root' in proc.stdout
    assert "2 entities" in proc.stdout


def test_a_fifo_in_a_catalog_folder_is_refused_not_waited_for(ws: Path) -> None:
    (ws / "catalog").mkdir()
    (ws / "catalog" / "svc.yaml").write_text(ENTITY.format(name="svc"))
    os.mkfifo(ws / "catalog" / "pipe.yaml")
    proc = check(ws, "--catalog", "catalog", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (f"warning: {ws}/catalog/pipe.yaml: catalog file is not a regular file (a FIFO, device or socket); "
            "skipped") in proc.stderr


@pytest.mark.parametrize(("directive", "target"), [("$include", "pipe.yaml"), ("$file", "pipe"), ("$file", "/dev/zero")])
def test_a_config_directive_reading_a_fifo_or_device_is_exit_2(ws: Path, directive: str, target: str) -> None:
    os.mkfifo(ws / ("pipe.yaml" if target == "pipe.yaml" else "pipe"))
    (ws / "app-config.yaml").write_text(CONFIG + f"app:\n  x:\n    {directive}: {target}\n")
    (ws / "c.yaml").write_text(ENTITY.format(name="svc"))
    proc = check(ws, "--catalog", "c.yaml", timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"error: {ws}/app-config.yaml:7:" in proc.stderr and "is not a regular file" in proc.stderr


def test_a_config_file_that_is_a_device_is_exit_2(ws: Path) -> None:
    (ws / "c.yaml").write_text(ENTITY.format(name="svc"))
    proc = soundcheck(ws, "check", "-c", "/dev/zero", "--catalog", "c.yaml", "--store", str(ws / "store"), timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "error: /dev/zero: config file is not a regular file (a FIFO, device or socket)" in proc.stderr


def test_a_nul_byte_in_a_directive_is_a_located_error(ws: Path) -> None:
    (ws / "app-config.yaml").write_text(CONFIG + 'app:\n  x:\n    $file: "a\\0b"\n')
    (ws / "c.yaml").write_text(ENTITY.format(name="svc"))
    proc = check(ws, "--catalog", "c.yaml")
    assert proc.returncode == 2, proc.stderr
    assert f"error: {ws}/app-config.yaml:7:12: '$file': the value contains a NUL byte" in proc.stderr


def test_a_long_string_under_many_aliases_is_refused_in_a_catalog(ws: Path) -> None:
    big = "x" * 1_000_000
    refs = ", ".join(["*s"] * 100)
    (ws / "c.yaml").write_text(ENTITY.format(name="svc") + f"  s: &s {big}\n  many: [{refs}]\n---\n" + ENTITY.format(name="ok"))
    proc = check(ws, "--catalog", "c.yaml")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {ws}/c.yaml:7:6: " in proc.stderr and "document expands to more than 32 MiB of text" in proc.stderr


def test_a_long_string_under_many_aliases_is_refused_in_a_config(ws: Path) -> None:
    big = "x" * 1_000_000
    refs = ", ".join(["*s"] * 100)
    (ws / "app-config.yaml").write_text(CONFIG + f"app:\n  s: &s {big}\n  many: [{refs}]\n")
    (ws / "c.yaml").write_text(ENTITY.format(name="svc"))
    proc = check(ws, "--catalog", "c.yaml")
    assert proc.returncode == 2, proc.stderr
    assert f"error: {ws}/app-config.yaml:7:" in proc.stderr and "expand to more than 64 MiB of text" in proc.stderr


def test_soundcheck_catalog_root_lets_locations_reach_a_wider_folder(ws: Path) -> None:
    (ws / "services").mkdir()
    (ws / "services" / "svc.yaml").write_text(ENTITY.format(name="svc"))
    (ws / "catalog").mkdir()
    (ws / "catalog" / "all.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\n"
                                             "spec:\n  target: ../services/svc.yaml\n")
    args = ("validate", "-c", "app-config.yaml", "--catalog", "catalog/all.yaml")
    refused = soundcheck(ws, *args)
    assert "is outside the catalog root" in refused.stdout and "1 entity," in refused.stdout
    (ws / "app-config.yaml").write_text(CONFIG.replace("soundcheck:\n", "soundcheck:\n  catalog: {root: .}\n"))
    allowed = soundcheck(ws, *args)
    assert allowed.returncode == 0, allowed.stderr
    assert "2 entities, 0 warnings" in allowed.stdout
