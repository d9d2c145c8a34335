"""Where the fact store is, and opening it: a folder (``DiskFactStore``) or a ``postgresql://`` URL.

Which store a command uses, first match wins:

1. ``--store`` (a folder or a URL);
2. the environment variable ``SOUNDCHECK_STORE``;
3. ``soundcheck.store.url`` in the app-config (``${ENV}`` secrets welcome; a folder path is accepted too);
4. ``.soundcheck/`` beside the first config file, else ``./.soundcheck``.

A store spec is shown to people only through ``describe`` (the password of a URL is masked).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from soundcheck_cli.errors import Location, Problems, StoreError
from soundcheck_cli.facts.interface import FactStore

URL_SCHEMES = ("postgresql", "postgres")
_URL_RE = re.compile(r"^(postgresql|postgres)://", re.IGNORECASE)


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


def is_url(spec: str) -> bool:
    return bool(_URL_RE.match(spec))


def store_spec(
    store: str | None,
    config_files: Sequence[str] = (),
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
    configured: str | None = None,
) -> str:
    """The store a command uses: a ``postgresql://`` URL as given, or an absolute folder path (see module doc)."""
    from soundcheck_cli.facts.store import STORE_ENV, default_store_path

    env = os.environ if environ is None else environ
    chosen = store or env.get(STORE_ENV) or configured or None
    if chosen and is_url(chosen):
        return chosen
    if chosen and not store and not env.get(STORE_ENV) and config_files:
        # A folder written in the config is relative to that config file, as other config paths are.
        base = os.path.dirname(os.path.join(cwd or os.getcwd(), config_files[0]))
        return os.path.normpath(os.path.join(base, os.path.expanduser(chosen)))
    return default_store_path(chosen, config_files, cwd, environ=env)


def describe(spec: str) -> str:
    """The spec as it may be shown: a URL's password (and any ``password=`` parameter) masked."""
    if not is_url(spec):
        return spec
    try:
        parts = urlsplit(spec)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{host}"
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "postgresql://***"


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
    existed = os.path.isdir(spec)
    with open_any(spec):
        pass
    return f"{spec}: {'already initialised' if existed else 'created'}"


def migrate_store(spec: str) -> str:
    """``soundcheck store migrate``: bring the store's schema to this version's; idempotent."""
    if is_url(spec):
        from soundcheck_cli.facts.pg_store import open_pg_store

        with open_pg_store(spec, require_schema=False) as store:
            applied = store.migrate()
            version = store.schema_version()
        done = f"applied migration(s) {', '.join(map(str, applied))}" if applied else "nothing to migrate"
        return f"{describe(spec)}: {done} (schema version {version})"
    with open_any(spec, create=False):
        pass  # opening checks the record format; a folder store has no migrations yet
    return f"{spec}: nothing to migrate (format {_disk_format()})"


def _disk_format() -> int:
    from soundcheck_cli.facts.store import FORMAT_VERSION

    return FORMAT_VERSION
