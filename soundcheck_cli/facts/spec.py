"""Store specs as text: telling a ``postgresql://`` URL from a folder, and showing one without its password.

Used by ``facts.locate`` (which store) and ``facts.pg_store`` (its messages); imports nothing of either, so neither
imports the other.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_RE = re.compile(r"^(postgresql|postgres)://", re.IGNORECASE)


def is_url(spec: str) -> bool:
    """Whether ``spec`` is a database URL (any other spec is a folder)."""
    return bool(_URL_RE.match(spec))


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
