"""``soundcheck.catalog`` of the app-config: where the remote catalog is (``catalog.remote`` reads it), and the
root that Location targets and placeholders of a file catalog must stay under (``catalog.loader``).

Apart from ``catalog.remote`` so that reading the settings, and deciding that the catalog comes from files, does
not import the HTTP side of the remote catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from soundcheck_cli.errors import Location, Problems

_KNOWN_KEYS = ("url", "token", "root")


@dataclass(frozen=True)
class CatalogSourceSettings:
    """``soundcheck.catalog`` of the app-config: ``{url, token, root}``. ``*_unset`` record a ``${VAR}`` that was not
    set (the key is then absent, as Backstage's config reader leaves it); they are errors only when used."""

    url: str | None = None
    token: str | None = None
    url_unset: Any = None  # config.env.UnsetValue
    token_unset: Any = None
    url_location: Location | None = None
    token_location: Location | None = None
    location: Location | None = None
    # An absolute folder: Location targets and placeholders may reach anything under it (default: the folder of
    # each catalog path given). Relative to the config file that sets it.
    root: str | None = None


def parse_catalog_source(node: Any, problems: Problems, where: Location | None = None) -> CatalogSourceSettings:
    """``soundcheck.catalog: {url: https://backstage.example.com, token: ${BACKSTAGE_TOKEN}}``."""
    from soundcheck_cli.config.env import unset_keys
    from soundcheck_cli.config.fields import type_name
    from soundcheck_cli.located.nodes import loc_of

    if node is None:
        return CatalogSourceSettings()
    if not isinstance(node, dict):
        problems.error(
            f"soundcheck.catalog must be a mapping (e.g. url: https://backstage.example.com), not {type_name(node)}",
            where,
        )
        return CatalogSourceSettings(location=where)
    for key in node:
        if key not in _KNOWN_KEYS:
            problems.warning(f"soundcheck.catalog.{key} is not a known key (known: {', '.join(_KNOWN_KEYS)})",
                             loc_of(node, key) or where)
    unset = unset_keys(node)
    values: dict[str, str | None] = {}
    for key in _KNOWN_KEYS:
        value = node.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.error(f"soundcheck.catalog.{key} must be a non-empty string, not {type_name(value)}",
                           loc_of(node, key) or where)
            value = None
        values[key] = value.strip() if isinstance(value, str) else None
    url_unset, token_unset = unset.get("url"), unset.get("token")
    root = None
    if values["root"] is not None:
        import os

        declared = loc_of(node, "root")
        base = os.path.dirname(os.path.abspath(declared.path)) if declared and declared.path else os.getcwd()
        root = os.path.normpath(os.path.join(base, os.path.expanduser(values["root"])))
    return CatalogSourceSettings(
        root=root,
        url=values["url"],
        token=values["token"],
        url_unset=url_unset,
        token_unset=token_unset,
        url_location=(url_unset.location if url_unset is not None else None) or loc_of(node, "url") or where,
        token_location=(token_unset.location if token_unset is not None else None) or loc_of(node, "token") or where,
        location=where,
    )


def configured(source: CatalogSourceSettings | None) -> bool:
    """True when the app-config asks for the remote catalog (a url, or a url whose ``${VAR}`` is unset)."""
    return source is not None and (source.url is not None or source.url_unset is not None)
