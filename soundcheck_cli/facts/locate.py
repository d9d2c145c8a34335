"""Where the fact store is, and opening it: a folder (``DiskFactStore``) or a ``postgresql://`` URL.

The one place that decides which store a command uses (``store_spec``); first match wins:

1. ``--store`` (a folder or a URL);
2. the environment variable ``SOUNDCHECK_STORE``;
3. ``soundcheck.store.url`` in the app-config (``${ENV}`` secrets welcome; a folder path is accepted too, relative
   to that config file);
4. ``.soundcheck/`` beside the first config file, else ``./.soundcheck``.

A folder comes back as an absolute path, a URL as given. ``explicit_store`` says whether 1 or 2 applies (then a
command needs no config to find its store). A store spec is shown to people only through ``describe`` (the
password of a URL is masked). Opening, ``store init`` and ``store migrate`` of either kind are here too; the
store modules themselves decide nothing about where they live.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.errors import Location, Problems, StoreError
from soundcheck_cli.facts.interface import FactStore
from soundcheck_cli.facts.spec import describe, is_url

__all__ = ["STORE_DIRNAME", "STORE_ENV", "StoreSettings", "describe", "explicit_store", "init_store",
           "is_url", "migrate_store", "open_any", "parse_store_settings", "store_spec"]

STORE_ENV = "SOUNDCHECK_STORE"
STORE_DIRNAME = ".soundcheck"


@dataclass(frozen=True)
class StoreSettings:
    """``soundcheck.store`` of the app-config."""

    url: str | None = None
    location: Location | None = None


def parse_store_settings(node: Any, problems: Problems, where: Location | None = None) -> StoreSettings:
    """``soundcheck.store: {url: postgresql://... | folder}``; problems are reported with their location."""
    from soundcheck_cli.config.env import unset_keys
    from soundcheck_cli.config.fields import type_name
    from soundcheck_cli.located.nodes import loc_of

    if node is None:
        return StoreSettings()
    if not isinstance(node, dict):
        problems.error(f"soundcheck.store must be a mapping (e.g. url: postgresql://...), not {type_name(node)}", where)
        return StoreSettings()
    for key in node:
        if key != "url":
            problems.warning(f"soundcheck.store.{key} is not a known key (known: url)", loc_of(node, key) or where)
    unset = unset_keys(node).get("url")
    if unset is not None:
        # Falling back to the local folder store here would silently split the facts between two stores.
        problems.error(f"soundcheck.store.url is unset: environment variable {unset.names} is not set",
                       unset.location or where)
        return StoreSettings(location=where)
    url = node.get("url")
    if url is None:
        return StoreSettings(location=where)
    if not isinstance(url, str) or not url.strip():
        problems.error(f"soundcheck.store.url must be a non-empty string, not {type_name(url)}", loc_of(node, "url") or where)
        return StoreSettings(location=where)
    return StoreSettings(url=url.strip(), location=loc_of(node, "url") or where)


def explicit_store(store: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the store is given without a config: ``--store`` or ``$SOUNDCHECK_STORE`` (rules 1 and 2)."""
    env = os.environ if environ is None else environ
    return bool(store or env.get(STORE_ENV))


def store_spec(
    store: str | None,
    config_files: Sequence[str] = (),
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
    configured: str | None = None,
) -> str:
    """The store a command uses (see the module docstring): a ``postgresql://`` URL as given, or an absolute folder.

    ``store``: the ``--store`` option; ``configured``: ``soundcheck.store.url`` of the loaded config; relative
    paths of ``--store`` and ``$SOUNDCHECK_STORE`` are taken from ``cwd``, one of the config from its file."""
    base = cwd if cwd is not None else os.getcwd()
    env = os.environ if environ is None else environ
    chosen = store or env.get(STORE_ENV) or None
    from_config = False
    if not chosen and configured:
        chosen, from_config = configured, True
    if chosen and is_url(chosen):
        return chosen
    if chosen:
        if from_config and config_files:
            base = os.path.dirname(os.path.join(base, config_files[0]))
        return os.path.normpath(os.path.join(base, os.path.expanduser(chosen)))
    if config_files:
        return os.path.normpath(os.path.join(os.path.dirname(os.path.join(base, config_files[0])), STORE_DIRNAME))
    return os.path.normpath(os.path.join(base, STORE_DIRNAME))


def open_any(spec: str, *, create: bool = True) -> FactStore:
    """Open the store ``spec`` names (``store_spec``'s result). ``create``: a folder store is created if missing;
    a PostgreSQL store never creates its schema here (``soundcheck store init`` does), it says so instead."""
    if is_url(spec):
        from soundcheck_cli.facts.pg_store import open_pg_store

        return open_pg_store(spec)
    from soundcheck_cli.facts.store import open_store

    if not create and not os.path.isdir(spec):
        raise StoreError(f"there is no fact store in {spec} (run `soundcheck collect` or `soundcheck store init`)",
                         Location(spec))
    return open_store(spec)


def init_store(spec: str) -> str:
    """``soundcheck store init``: create the store (folder, or the PostgreSQL schema) if missing; idempotent.
    Returns one line saying what was done."""
    if is_url(spec):
        from soundcheck_cli.facts.pg_store import open_pg_store

        with open_pg_store(spec, require_schema=False) as store:
            created = store.init_schema()
            version = store.schema_version()
        state = "created" if created else "already initialised"
        return f"{describe(spec)}: schema {state} (version {version})"
    from soundcheck_cli.facts.store import DB_NAME

    existed = os.path.exists(os.path.join(spec, DB_NAME))
    with open_any(spec):
        pass
    return f"{spec}: {'already initialised' if existed else 'created'}"


def migrate_store(spec: str) -> str:
    """``soundcheck store migrate``: bring the store to this version's schema or format; idempotent.

    A folder of format 1 (diskcache, soundcheck before the store had its own SQLite schema) is converted into
    ``facts.sqlite3`` (``facts.store.migrate_folder``); its old files are left in place."""
    if is_url(spec):
        from soundcheck_cli.facts.pg_store import open_pg_store

        with open_pg_store(spec, require_schema=False) as store:
            applied = store.migrate()
            version = store.schema_version()
        done = f"applied migration(s) {', '.join(map(str, applied))}" if applied else "nothing to migrate"
        return f"{describe(spec)}: {done} (schema version {version})"
    from soundcheck_cli.facts.store import FORMAT_VERSION, LEGACY_DB_NAME, migrate_folder

    if not os.path.isdir(spec):
        raise StoreError(f"there is no fact store in {spec} (run `soundcheck collect` or `soundcheck store init`)",
                         Location(spec))
    converted = migrate_folder(spec)
    if converted is not None:
        facts, meta = converted
        return (f"{spec}: converted format 1 (diskcache) to format {FORMAT_VERSION}: {facts} facts, {meta} meta keys; "
                f"the old files ({LEGACY_DB_NAME}, {LEGACY_DB_NAME}-wal/-shm if any, and its two-letter side folders) "
                "are left as they were: delete them once satisfied")
    with open_any(spec, create=False):
        pass  # opening checks the format
    return f"{spec}: nothing to migrate (format {FORMAT_VERSION})"
