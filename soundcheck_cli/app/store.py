"""Which fact store a command that needs no catalog uses (``facts list``, ``history``, ``store ...``), and opening
it: ``--store`` > ``$SOUNDCHECK_STORE`` > the config's ``soundcheck.store.url`` > ``.soundcheck/`` beside the first
config file, decided by ``facts.locate.store_spec``."""

from __future__ import annotations

from typing import Any

from soundcheck_cli.errors import UsageError


def resolve_store_spec(config: list[str] | None, store: str | None) -> str:
    """The store a command without a catalog uses: ``--store`` > ``$SOUNDCHECK_STORE`` > the config's
    ``soundcheck.store.url`` > ``.soundcheck/`` beside the first config file (``facts.locate.store_spec``).

    The config is loaded only when neither ``--store`` nor ``$SOUNDCHECK_STORE`` is given. A URL's password is
    registered with the global redactor, so it is masked in anything printed.
    """
    from soundcheck_cli import app as core
    from soundcheck_cli.facts.locate import explicit_store, store_spec

    common = core.CommonOptions(config_paths=tuple(config or ()), store_path=store)
    if explicit_store(store, common.environ):
        files: list[str] = []
        try:
            files = core.resolve_config_paths(common)
        except UsageError:
            pass
        spec = store_spec(store, files, common.cwd, common.environ)
    else:
        settings, _ = core.load_settings(common)
        spec = core.store_spec_for(common, settings)
    _register_password(spec)
    return spec


def open_store(config: list[str] | None, store: str | None, *, create: bool = True) -> Any:
    """Open the store ``resolve_store_spec`` names. ``create=False``: a missing folder is an error, not created."""
    from soundcheck_cli.facts.locate import open_any

    return open_any(resolve_store_spec(config, store), create=create)


def _register_password(spec: str) -> None:
    from urllib.parse import parse_qs, urlsplit

    from soundcheck_cli.facts.locate import is_url
    from soundcheck_cli.redact import GLOBAL

    if not is_url(spec):
        return
    try:
        parts = urlsplit(spec)
        GLOBAL.add(parts.password)
        for value in parse_qs(parts.query).get("password", []):
            GLOBAL.add(value)
    except ValueError:
        pass
