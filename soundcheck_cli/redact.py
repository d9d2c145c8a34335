"""Masking secrets in everything the tool prints, logs or exports.

A ``Redactor`` knows every secret value of a run (collector ``token``/``apiKey``/``password``... values, the
HTTP collector's ``secrets:`` values, anything registered by a plugin) and replaces each occurrence in a string
with ``***``: the value as it is and in every form an output format may have escaped it into (URL-encoded,
JSON-escaped, HTML/XML-escaped, CSV-quoted; ``encodings``), and each line of a multi-line value on its own, so
that a secret is masked whatever joins, escapes or folds its lines. Reporters mask the report's text *before*
escaping it (``reporters.common.redacted``); the encoded forms are the second line of defence, for text masked
after it was escaped (what the CLI prints and writes goes through ``redact_known`` once more).

Independently of the known values it masks what is a secret by position: the value of an ``Authorization``
header, ``Token token=...`` / ``Bearer ...`` credentials, and the value of URL query parameters with a
secret-sounding name (``?api_key=...``, ``&token=...``), so that a secret the redactor was never told about
still does not leak through a URL or a header dump.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values are not masked: masking "1" or "on" everywhere would garble every message and protect nothing.
MIN_SECRET_LENGTH = 4

# Config keys whose values are secrets (compared case-insensitively, ignoring ``_`` and ``-``).
SECRET_KEYS = frozenset(
    {
        "token",
        "apikey",
        "appkey",  # Datadog's application key (``appKey``, header DD-APPLICATION-KEY)
        "applicationkey",
        "apitoken",
        "accesstoken",
        "authtoken",
        "password",
        "secret",
        "clientsecret",
        "privatekey",
        "authorization",
        "webhooksecret",
        "routingkey",
        "integrationkey",
        "apppassword",  # Backstage's integrations.bitbucketCloud[].appPassword
        "personalaccesstoken",  # Backstage's integrations.azure[].credentials[].personalAccessToken; the jira collector's bearer PAT
        "serviceaccounttoken",  # Backstage's kubernetes.clusterLocatorMethods[].clusters[] (the kubernetes collector)
    }
)

_QUERY_NAME = r"(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|password|secret|client[_-]?secret|sig|signature|key)"
_QUERY_RE = re.compile(rf"([?&;]{_QUERY_NAME}=)([^&#\s]+)", re.IGNORECASE)
# ``Authorization: <anything>`` in a header dump, and credential schemes wherever they appear.
_AUTH_HEADER_RE = re.compile(r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)([^'\"\r\n,}]+)", re.IGNORECASE)
# 12+ characters: real credentials are long, and prose such as "a Bearer token" must stay readable.
_SCHEME_RE = re.compile(r"\b(Token token=|Bearer |Basic )([A-Za-z0-9._~+/=\-]{12,})", re.IGNORECASE)


def encodings(value: str) -> set[str]:
    r"""``value`` and the forms the output formats escape it into: URL-encoded (path, query, form), a JSON string's
    body (``\\``, ``\"``, ``\n``; ASCII-only or not), HTML/XML text and attribute escapes (``&amp;``, ``&quot;``,
    ``&#x27;``/``&#39;``, ElementTree's ``&#10;`` for a newline in an attribute), and a CSV-quoted field's body
    (``""``)."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(json.dumps(value)[1:-1])
    for escaped in (html.escape(value, quote=False), html.escape(value, quote=True)):
        for apostrophe in ("&#x27;", "&#39;", "'"):  # html.escape, other escapers, ElementTree (leaves it)
            form = escaped.replace("&#x27;", apostrophe)
            forms.add(form)
            forms.add(form.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#09;"))
    forms.add(value.replace('"', '""'))
    return forms


def _norm_key(key: Any) -> str:
    return str(key).replace("_", "").replace("-", "").lower()


def is_secret_key(key: Any) -> bool:
    """True for config keys that hold secrets (``token``, ``apiKey``, ``client_secret``...)."""
    return _norm_key(key) in SECRET_KEYS


class Redactor:
    """Knows the secret values of a run and masks them in any text."""

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in secrets:
            self.add(value)

    def add(self, value: Any) -> None:
        """Register one secret value (ignored when empty or shorter than ``MIN_SECRET_LENGTH``)."""
        if value is None or isinstance(value, (bool, dict, list)):
            return
        text = str(value).strip()
        if len(text) < MIN_SECRET_LENGTH:
            return
        # Each line of a multi-line value too (a PEM key, a token pasted with a newline): a format that escapes,
        # indents or folds the newline, or a reader of one line, still finds every line masked.
        pieces = {text} | {line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_SECRET_LENGTH}
        forms: set[str] = set()
        for piece in pieces:
            forms |= encodings(piece)
        new = forms - self._values
        if new:
            self._values |= new
            self._pattern = None

    def add_from_config(self, node: Any) -> None:
        """Register every secret in a config tree: values under secret keys and the HTTP collector's ``secrets``."""
        if isinstance(node, Mapping):
            for key, value in node.items():
                if _norm_key(key) == "secrets":
                    self._add_secrets_node(value)
                elif is_secret_key(key) and not isinstance(value, (Mapping, list)):
                    self.add(value)
                else:
                    self.add_from_config(value)
        elif isinstance(node, list):
            for item in node:
                self.add_from_config(item)

    def _add_secrets_node(self, node: Any) -> None:
        # ``secrets: [{key, value}]`` (Soundcheck's HTTP integration) or ``secrets: {name: value}``.
        if isinstance(node, list):
            for item in node:
                if isinstance(item, Mapping) and "value" in item:
                    self.add(item.get("value"))
                else:
                    self._add_secrets_node(item)
        elif isinstance(node, Mapping):
            for value in node.values():
                self._add_secrets_node(value)
        else:
            self.add(node)

    @classmethod
    def from_config(cls, app_config: Any) -> Redactor:
        redactor = cls()
        redactor.add_from_config(app_config)
        return redactor

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._values:
            # Longest first so that a secret containing another secret is masked whole.
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))
        return self._pattern

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds a known secret (in any of its forms): one scan, no copy."""
        pattern = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def redact(self, text: Any) -> str:
        """``text`` with every known secret, credential and secret query value replaced by ``***``."""
        out = str(text)
        pattern = self._compiled()
        if pattern is not None:
            out = pattern.sub(MASK, out)
        out = _QUERY_RE.sub(lambda m: m.group(1) + MASK, out)
        out = _AUTH_HEADER_RE.sub(lambda m: m.group(1) + MASK, out)
        out = _SCHEME_RE.sub(lambda m: m.group(1) + MASK, out)
        return out

    __call__ = redact

    def redact_known(self, text: str) -> str:
        """Only the known secret values (fast on a large report; no positional patterns)."""
        pattern = self._compiled()
        return pattern.sub(MASK, text) if pattern is not None else text

    def redact_known_chunks(self, chunks: Iterable[str]) -> Iterator[str]:
        """``redact_known`` over text that comes in pieces each ending with a newline: piece by piece, unless a
        known secret spans lines (then the pieces are joined first, so that it is masked whole)."""
        if self.spans_lines():
            yield self.redact_known("".join(chunks))
            return
        for chunk in chunks:
            yield self.redact_known(chunk)

    def spans_lines(self) -> bool:
        """Whether a known secret spans lines: text in pieces that end with a newline is then masked whole."""
        return any("\n" in value for value in self._values)

    def known_writer(self, write: Callable[[str], None]) -> KnownWriter:
        """``redact_known_chunks`` for text that is pushed piece by piece (a report written part by part)."""
        return KnownWriter(self, write)

    def redact_headers(self, headers: Mapping[str, Any]) -> dict[str, str]:
        """A copy of ``headers`` for logging: credentials masked by name, known secrets masked anywhere."""
        out: dict[str, str] = {}
        for name, value in headers.items():
            lowered = str(name).lower()
            bare = lowered.removeprefix("x-")  # X-Api-Key, X-Auth-Token...
            if lowered in {"authorization", "proxy-authorization", "cookie", "set-cookie"} or is_secret_key(bare):
                out[str(name)] = MASK
            else:
                out[str(name)] = self.redact(value)
        return out

    def redact_data(self, data: Any) -> Any:
        """A deep copy of JSON-like ``data`` with secrets masked in every string (for exports)."""
        if isinstance(data, Mapping):
            return {k: (MASK if is_secret_key(k) and isinstance(v, str) else self.redact_data(v)) for k, v in data.items()}
        if isinstance(data, list):
            return [self.redact_data(v) for v in data]
        if isinstance(data, str):
            return self.redact(data)
        return data


NULL_REDACTOR = Redactor()


# The process-wide redactor: every config loaded registers its secrets here (``app.load_settings``), and the
# CLI masks with it whatever it prints -- reports, warnings and error messages alike.
GLOBAL = Redactor()


class KnownWriter:
    """``write`` with the redactor's known secrets masked in each piece it is given (each ends with a newline); when
    a known secret spans lines, the pieces are kept and masked whole at ``flush`` (``Redactor.redact_known_chunks``'s
    rule)."""

    def __init__(self, redactor: Redactor, write: Callable[[str], None]) -> None:
        self.redactor = redactor
        self.target = write
        self.pieces: list[str] | None = [] if redactor.spans_lines() else None

    def __call__(self, text: str) -> None:
        if self.pieces is not None:
            self.pieces.append(text)
        else:
            self.target(self.redactor.redact_known(text))

    def flush(self) -> None:
        if self.pieces:
            self.target(self.redactor.redact_known("".join(self.pieces)))
            self.pieces = []
