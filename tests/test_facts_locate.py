"""Which fact store a command uses (``facts.locate``): --store, $SOUNDCHECK_STORE, soundcheck.store.url, defaults."""

from __future__ import annotations

import os

import pytest

from soundcheck_cli.cli.commands import run_cli
from soundcheck_cli.config.loader import load_config_files
from soundcheck_cli.config.settings import build_settings
from soundcheck_cli.errors import Problems, StoreError
from soundcheck_cli.facts.locate import describe, explicit_store, is_url, open_any, parse_store_settings, store_spec

URL = "postgresql://app:s3cret-pw@db.example.com:5432/soundcheck"


def _settings(tmp_path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "app.yaml"
    path.write_text(text, encoding="utf-8")
    problems = Problems()
    tree = load_config_files([str(path)], env or {}, problems)
    return build_settings(tree, [str(path)], problems), problems


def test_store_spec_order_option_then_env_then_config_then_default(tmp_path):
    cfg = [str(tmp_path / "conf" / "app.yaml")]
    cwd = str(tmp_path)
    assert store_spec("here", cfg, cwd, {"SOUNDCHECK_STORE": URL}, "postgresql://other/db") == str(tmp_path / "here")
    assert store_spec(None, cfg, cwd, {"SOUNDCHECK_STORE": URL}, "postgresql://other/db") == URL
    assert store_spec(None, cfg, cwd, {}, "postgresql://other/db") == "postgresql://other/db"
    assert store_spec(None, cfg, cwd, {}, None) == str(tmp_path / "conf" / ".soundcheck")
    assert store_spec(None, [], cwd, {}, None) == str(tmp_path / ".soundcheck")


def test_folder_rules_relative_paths_and_empty_variables(tmp_path):
    """Moved from the former ``facts.store.default_store_path`` (one resolver now: ``store_spec``)."""
    cwd = str(tmp_path / "work")
    env = {"SOUNDCHECK_STORE": "/var/lib/soundcheck"}
    configs = ["conf/app-config.yaml", "other/app-config.local.yaml"]
    assert store_spec("mystore", configs, cwd, env) == os.path.join(cwd, "mystore")
    assert store_spec("~/facts", configs, cwd, env) == os.path.expanduser("~/facts")
    assert store_spec(None, configs, cwd, env) == "/var/lib/soundcheck"
    assert store_spec(None, configs, cwd, {"SOUNDCHECK_STORE": "rel"}) == os.path.join(cwd, "rel")
    assert store_spec(None, configs, cwd, {}) == os.path.join(cwd, "conf", ".soundcheck")
    assert store_spec(None, ["/etc/sc/app-config.yaml"], cwd, {}) == "/etc/sc/.soundcheck"
    assert store_spec(None, [], cwd, {"SOUNDCHECK_STORE": ""}) == os.path.join(cwd, ".soundcheck")
    assert store_spec(None, [], cwd, {}) == os.path.join(cwd, ".soundcheck")
    assert store_spec(None, [], cwd, {}, "configured") == os.path.join(cwd, "configured")
    assert explicit_store("x", {}) and explicit_store(None, env)
    assert not explicit_store(None, {"SOUNDCHECK_STORE": ""}) and not explicit_store("", {})


def test_locate_and_the_store_modules_do_not_import_each_other():
    """``facts.locate`` is the one resolver: the store modules decide nothing about where they live."""
    import subprocess
    import sys

    code = ("import sys; import soundcheck_cli.facts.pg_store, soundcheck_cli.facts.store; "
            "print('soundcheck_cli.facts.locate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_folder_in_the_config_is_relative_to_that_config_file(tmp_path):
    cfg = [str(tmp_path / "conf" / "app.yaml")]
    assert store_spec(None, cfg, "/elsewhere", {}, "../facts") == str(tmp_path / "facts")


def test_urls_are_recognised_case_insensitively_and_never_turned_into_paths(tmp_path):
    assert is_url("postgresql://u@h/db") and is_url("POSTGRES://u@h/db")
    assert not is_url("./postgresql") and not is_url("/var/postgresql://x")
    assert store_spec("postgres://u@h/db", [], str(tmp_path), {}) == "postgres://u@h/db"


@pytest.mark.parametrize(
    "spec",
    [URL, URL + "?sslmode=require", "postgresql://app:s3cret-pw@/soundcheck?host=/run/pg",
     "postgresql://db.example.com/soundcheck?user=app&password=s3cret-pw"],
)
def test_describe_masks_the_password(spec):
    shown = describe(spec)
    assert "s3cret-pw" not in shown
    assert "***" in shown
    assert shown.startswith("postgresql://")


def test_describe_leaves_folders_and_password_free_urls_alone():
    assert describe("/srv/facts") == "/srv/facts"
    assert describe("postgresql://app@db/soundcheck") == "postgresql://app@db/soundcheck"


def test_store_url_from_the_config_with_an_env_secret(tmp_path):
    settings, problems = _settings(tmp_path, "soundcheck:\n  store:\n    url: ${STORE_URL}\n", {"STORE_URL": URL})
    assert problems.errors == []
    assert settings.store.url == URL


def test_store_url_with_a_missing_variable_is_a_located_error_not_a_silent_fallback(tmp_path):
    _, problems = _settings(tmp_path, "soundcheck:\n  store:\n    url: ${STORE_URL}\n")
    [error] = problems.errors
    assert "STORE_URL" in error.message
    assert error.location is not None and error.location.line == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("soundcheck:\n  store: postgresql://x/y\n", "soundcheck.store must be a mapping"),
        ("soundcheck:\n  store:\n    url: 5\n", "soundcheck.store.url must be a non-empty string"),
    ],
)
def test_bad_store_settings_are_located_errors(tmp_path, text, expected):
    _, problems = _settings(tmp_path, text)
    [error] = problems.errors
    assert expected in error.message
    assert error.location is not None and error.location.line in (2, 3)


def test_unknown_store_keys_are_warnings(tmp_path):
    problems = Problems()
    from soundcheck_cli.located.nodes import LocatedDict

    settings = parse_store_settings(LocatedDict({"url": "x", "pool": 3}), problems)
    assert settings.url == "x"
    assert [w.message for w in problems.warnings] == ["soundcheck.store.pool is not a known key (known: url)"]


def test_open_any_without_create_refuses_a_missing_folder(tmp_path):
    with pytest.raises(StoreError, match="there is no fact store"):
        open_any(str(tmp_path / "nope"), create=False)
    assert not os.path.exists(tmp_path / "nope")


def test_an_unreachable_database_store_is_exit_4_without_the_password(tmp_path, capsys, monkeypatch):
    # Port 9 on 127.0.0.1 (discard) is closed here: the connection is refused at once, retried for the bound
    # (SOUNDCHECK_STORE_RETRY_SECONDS, 30 s by default), then the store is unreachable: exit 4, not 2 (issue 18).
    monkeypatch.setenv("SOUNDCHECK_STORE_RETRY_SECONDS", "0.5")
    code = run_cli(["facts", "list", "--store", "postgresql://app:s3cret-pw@127.0.0.1:9/db?connect_timeout=2"])
    out = capsys.readouterr()
    assert code == 4 and "cannot be reached" in out.err
    assert "s3cret-pw" not in out.out + out.err
    assert "127.0.0.1" in out.err


def test_with_a_database_store_the_catalog_cache_lives_in_the_user_cache_folder(tmp_path):
    from soundcheck_cli.app import CommonOptions, _catalog_cache_path, load_settings

    (tmp_path / "app.yaml").write_text("soundcheck:\n  store:\n    url: postgresql://app@db.example.com/sc\n")
    cache_home = tmp_path / "cache"
    options = CommonOptions(config_paths=("app.yaml",), cwd=str(tmp_path), environ={"XDG_CACHE_HOME": str(cache_home)})
    settings, _ = load_settings(options)
    path = _catalog_cache_path(options, settings)
    assert path is not None and path.startswith(str(cache_home / "soundcheck" / "catalog-cache-"))
    assert (cache_home / "soundcheck").is_dir()
    other = CommonOptions(config_paths=("app.yaml",), cwd=str(tmp_path / "elsewhere"),
                          environ={"XDG_CACHE_HOME": str(cache_home)})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "app.yaml").write_text((tmp_path / "app.yaml").read_text())
    assert _catalog_cache_path(other, load_settings(other)[0]) != path  # one cache per set of config files
    # A folder store keeps it beside the facts, and only once that folder exists (no store created as a side effect).
    folder = CommonOptions(config_paths=("app.yaml",), cwd=str(tmp_path), store_path="facts", environ={})
    assert _catalog_cache_path(folder, settings) is None
    (tmp_path / "facts").mkdir()
    assert _catalog_cache_path(folder, settings) == str(tmp_path / "facts" / "catalog-cache.json")
