"""Entities from a running Backstage catalog: ``--catalog-url URL`` or ``soundcheck.catalog.url``.

Request (Backstage's catalog OpenAPI description, ``GET /entities/by-query``, plugin ``catalog-backend``):

- ``GET {base}/api/catalog/entities/by-query?limit=N[&filter=...]``, then ``?limit=N&cursor=C`` with the
  ``pageInfo.nextCursor`` of each response until a response has none. The cursor carries the filter (Backstage
  ignores ``filter`` next to ``cursor``), so later pages send only ``limit`` and ``cursor``.
- ``Authorization: Bearer <token>`` when there is a token: ``soundcheck.catalog.token`` (``${ENV}`` welcome),
  else the environment variable ``BACKSTAGE_TOKEN``; no header without one (a guest-readable catalog).
- The response is ``{items: [Entity], totalItems, pageInfo: {nextCursor?, prevCursor?}}``.

Behaviour: 429 (``Retry-After``), 5xx, timeouts and connection errors are retried with capped backoff
(``http.client``); 401/403 (the token), 404 (not a Backstage backend), other 4xx, a body that is not
JSON or not of that shape are a ``CatalogError`` (exit code 2) that never shows the token. Every item is validated
as a file entity is (``catalog.validation``): an invalid one is skipped with a warning located
``https://host/api/catalog (component:default/name)``; a duplicate ref keeps the first, as the file loader does.
Entities keep the server's order (Backstage orders by uid: stable from run to run).

Server-side filter (``server_filters``): when every consumer of the entities in a command (the tracks of
``check``, the collectors of ``collect``) has an equality filter that Backstage's ``filter`` syntax can express,
the request carries it, so only those entities travel. What is sent always selects a superset of what the
client-side filters select (they still run, unchanged); anything that cannot be expressed widens the request,
down to no filter at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.catalog.model import DEFAULT_NAMESPACE, Entity
from soundcheck_cli.catalog.source import CatalogSourceSettings
from soundcheck_cli.catalog.validation import entity_label, validate_entity
from soundcheck_cli.errors import (
    CatalogError,
    ConfigError,
    Location,
    Problems,
    UsageError,
)

TOKEN_ENV = "BACKSTAGE_TOKEN"
API_PATH = "/api/catalog"
QUERY_PATH = "/entities/by-query"
PAGE_SIZE = 500  # Backstage's default is 20; 500 keeps a 10,000-entity catalog to 20 requests
MAX_PAGES = 100_000  # a server that never stops paging is an error, not a hang
MAX_ATTEMPTS = 5
MAX_WAIT = 120.0  # longest Retry-After honoured (seconds)
# Longest query string of filters sent (URL-encoded); beyond it the whole catalog is read instead, as proxies and
# Node's HTTP parser (16 KiB of headers by default) refuse long request lines.
MAX_FILTER_QUERY = 6000

Log = Callable[[str, str], None]  # (level, text), as ``HttpOptions.log``


# --------------------------------------------------------------------------------------------------------------
# Where to read (the settings it comes from: ``catalog.source``)


@dataclass(frozen=True)
class RemoteCatalog:
    """Where to read: the catalog API's base (``.../api/catalog``), what may be shown of it, and the token."""

    api_base: str
    display: str  # api_base without user info: what messages and locations show
    token: str | None = None


def normalise_url(url: str) -> tuple[str, str]:
    """``(api_base, display)`` for a Backstage URL given with or without a trailing ``/`` or ``/api/catalog``.
    Raises ``ValueError`` with the reason when it is not an ``http(s)://host`` URL."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        hostname, port = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise ValueError("expected an http(s):// URL such as https://backstage.example.com")
    if parts.query or parts.fragment:
        raise ValueError("expected the catalog's base URL, without a query or a fragment")
    path = parts.path.rstrip("/")
    for suffix in (QUERY_PATH, "/entities"):
        if path.endswith(API_PATH + suffix):
            path = path[: -len(suffix)]
    if not path.endswith(API_PATH):
        path += API_PATH
    api_base = urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))
    host = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 literal keeps its brackets
    display = urlunsplit((parts.scheme.lower(), host + (f":{port}" if port else ""), path, "", ""))
    return api_base, display


def _register_password(url: str) -> None:
    from soundcheck_cli.redact import GLOBAL

    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        return
    if password:
        GLOBAL.add(password)


def resolve_source(
    cli_url: str | None,
    settings_source: CatalogSourceSettings | None,
    environ: Mapping[str, str],
) -> RemoteCatalog:
    """The catalog to read, from ``--catalog-url`` (wins) or ``soundcheck.catalog.url``; the token from
    ``soundcheck.catalog.token`` or ``$BACKSTAGE_TOKEN``. Registers the token with the global redactor."""
    from soundcheck_cli.redact import GLOBAL

    source = settings_source or CatalogSourceSettings()
    for url in (cli_url, source.url):
        if url:
            _register_password(url)
    if cli_url is not None:
        if not cli_url.strip():
            raise UsageError("--catalog-url: expected the Backstage URL, e.g. https://backstage.example.com")
        try:
            api_base, display = normalise_url(cli_url)
        except ValueError as exc:
            raise UsageError(f"--catalog-url {GLOBAL.redact(cli_url)}: {exc}") from None
    else:
        if source.url is None:
            unset = source.url_unset
            names = unset.names if unset is not None else "?"
            raise ConfigError(f"soundcheck.catalog.url is unset: environment variable {names} is not set",
                              source.url_location)
        try:
            api_base, display = normalise_url(source.url)
        except ValueError as exc:
            raise ConfigError(f"soundcheck.catalog.url {GLOBAL.redact(source.url)}: {exc}", source.url_location) from None
    if source.token_unset is not None:
        # Falling back to $BACKSTAGE_TOKEN here would silently use another credential than the one configured.
        raise ConfigError(f"soundcheck.catalog.token is unset: environment variable {source.token_unset.names} "
                          "is not set", source.token_location)
    token = source.token
    if token is None:
        env = (environ.get(TOKEN_ENV) or "").strip()
        token = env or None
    if token is not None:
        GLOBAL.add(token)
    return RemoteCatalog(api_base, display, token)


# --------------------------------------------------------------------------------------------------------------
# Server-side filter (pure)

# Paths Backstage does not index generically (``buildEntitySearch``: relations and status are left out, relations
# are indexed as ``relations.<type>=<targetRef>`` instead); a filter on them cannot be sent as it is.
_UNINDEXED = ("relations", "status", "attachments", "metadata.etag")
MAX_SEARCH_LENGTH = 200  # Backstage indexes keys and values of at most 200 characters
_ASCII_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")


def _key_text(parts: tuple[str, ...]) -> str | None:
    """The Backstage search key of a clause's dot path, or ``None`` when it cannot be sent faithfully."""
    key = ".".join(parts).strip().lower()
    if not key or len(key) > MAX_SEARCH_LENGTH or not _ASCII_PRINTABLE.match(key):
        return None  # non-ASCII: Python's and JavaScript's lower-casing may differ
    if "," in key or "=" in key or key != ".".join(parts).lower():
        return None  # the filter syntax splits on ',' and '='; surrounding spaces are trimmed by Backstage only
    if any(key == p or key.startswith(p + ".") for p in _UNINDEXED):
        return None
    return key


def _value_text(value: str) -> str | None:
    """A filter value as Backstage compares it (lower-cased, trimmed), or ``None`` when the comparison could differ
    from soundcheck's."""
    if not value or len(value) > MAX_SEARCH_LENGTH or "," in value or not _ASCII_PRINTABLE.match(value):
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    # A float entity value (1.0) reads "1.0" in Python and "1" in JavaScript: a value that is a float's text is not
    # sent. Integers print alike in both.
    return None if str(number) == value and not value.lstrip("+-").isdigit() else value


def _filter_sets(flt: EntityFilter) -> list[dict[str, frozenset[str]]] | None:
    """One Backstage filter set per alternative of ``flt`` (``None``: some alternative matches every entity).

    A clause that cannot be sent is left out of its set, which widens the set: still a superset."""
    sets: list[dict[str, frozenset[str]]] = []
    for clauses in flt.alternatives:
        conditions: dict[str, frozenset[str]] = {}
        for parts, accepted in clauses:
            key = _key_text(parts)
            values = [_value_text(v) for v in accepted]
            if key is None or not values or any(v is None for v in values):
                continue
            # Two clauses on one key (``Kind`` and ``kind``) require both client-side; Backstage groups the
            # conditions of a set by key into one any-of, which selects more: still a superset.
            conditions[key] = conditions.get(key, frozenset()) | frozenset(v for v in values if v is not None)
        if not conditions:
            return None
        sets.append(conditions)
    return sets


def _subsumes(wide: dict[str, frozenset[str]], narrow: dict[str, frozenset[str]]) -> bool:
    """True when every entity ``narrow`` selects is selected by ``wide`` (each condition of ``wide`` is implied)."""
    return all(key in narrow and narrow[key] <= values for key, values in wide.items())


def _render(conditions: dict[str, frozenset[str]]) -> str:
    return ",".join(f"{key}={value}" for key in sorted(conditions) for value in sorted(conditions[key]))


def server_filters(consumers: Iterable[tuple[EntityFilter | None, EntityFilter | None]]) -> tuple[str, ...] | None:
    """Backstage ``filter`` parameter values selecting a superset of what ``consumers`` select, or ``None`` to read
    every entity.

    ``consumers`` are the ``(filter, exclude)`` pairs of everything that uses entities in a command. A consumer
    without a filter (or with an ``exclude`` only) needs every entity: ``None``. ``exclude`` is otherwise ignored
    (removing it only widens). Each alternative of a filter becomes one filter set (``key=value`` conditions
    joined with ``,``; several values of one key are any-of); the sets are any-of. No consumer at all also gives
    ``None`` (nothing to narrow to), and so does a query string over ``MAX_FILTER_QUERY`` characters.
    """
    sets: list[dict[str, frozenset[str]]] = []
    seen_any = False
    for flt, _exclude in consumers:
        seen_any = True
        if flt is None:
            return None
        found = _filter_sets(flt)
        if found is None:
            return None
        sets.extend(found)
    if not seen_any or not sets:
        return None  # no consumer; or only filters that match nothing (``filter: []``): keep it simple, read all
    kept: list[dict[str, frozenset[str]]] = []
    for i, candidate in enumerate(sets):
        covered = any(
            _subsumes(other, candidate) and (not _subsumes(candidate, other) or j < i)
            for j, other in enumerate(sets) if j != i
        )
        if not covered:
            kept.append(candidate)
    rendered = tuple(sorted(dict.fromkeys(_render(c) for c in kept)))
    length = sum(len("&filter=") + len(quote(text, safe="")) for text in rendered)
    return rendered if length <= MAX_FILTER_QUERY else None


def consumer_filters(
    settings: Any,
    command: str,
    collector_configs: Sequence[tuple[EntityFilter | None, EntityFilter | None]] | None = None,
) -> list[tuple[EntityFilter | None, EntityFilter | None]] | None:
    """The ``(filter, exclude)`` pairs of what uses entities in ``command`` (pure; ``None``: no narrowing).

    - ``check``: the tracks (a check inside tracks is reported for the entities its tracks select); a check in no
      track is reported for every entity (not-applicable outside its filter), so it needs them all.
    - ``collect``: the collectors' collection configs (``collector_configs``: worked out by the caller, ``app``,
      from the collector registry, which this package never imports; ``None`` when they could not be known, e.g.
      a collector failed to configure).
    - ``run``: both. Anything else (``entities``, ``validate``): every entity.
    """
    pairs: list[tuple[EntityFilter | None, EntityFilter | None]] = []
    if command in ("check", "run"):
        in_tracks = {lc.id for t in settings.tracks for level in t.levels for lc in level.checks}
        if any(c.id not in in_tracks for c in settings.checks):
            return None
        pairs.extend((t.filter, t.exclude) for t in settings.tracks)
    if command in ("collect", "run"):
        if collector_configs is None:
            return None
        pairs.extend(collector_configs)
    if command not in ("check", "collect", "run"):
        return None
    return pairs


# --------------------------------------------------------------------------------------------------------------
# Fetching


def _ref_text(item: Any) -> str | None:
    """``kind:namespace/name`` of a raw item when it has the strings to make one."""
    if not isinstance(item, dict):
        return None
    kind = item.get("kind")
    meta = item.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        return None
    if not isinstance(namespace, str) or not namespace:
        namespace = DEFAULT_NAMESPACE
    return f"{kind.lower()}:{namespace}/{name}"


class _Collector:
    """Validates and de-duplicates items page by page, as the file loader does for documents."""

    def __init__(self, catalog: RemoteCatalog, problems: Problems) -> None:
        self.catalog = catalog
        self.problems = problems
        self.entities: list[Entity] = []
        self.by_key: dict[str, Entity] = {}
        self.count = 0

    def add(self, item: Any) -> None:
        self.count += 1
        ref = _ref_text(item)
        where = Location(f"{self.catalog.display} ({ref or f'item {self.count}'})")
        issues = validate_entity(item, where)
        if issues:
            label = entity_label(item)
            for issue in issues:
                self.problems.warning(f"{label} skipped: {issue.message}", issue.location or where)
            return
        entity = Entity.from_data(item, where)
        first = self.by_key.get(entity.ref.key)
        if first is not None:
            self.problems.warning(
                f"duplicate entity {entity.ref}: already read as {first.source}; this one is ignored", where)
            return
        self.by_key[entity.ref.key] = entity
        self.entities.append(entity)


def _page(catalog: RemoteCatalog, body: Any, shown: str) -> tuple[list[Any], str | None, int | None]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        found = "a JSON object without an 'items' list" if isinstance(body, dict) else f"JSON {type(body).__name__}"
        raise CatalogError(
            f"{shown}: the response is not a Backstage entities query result ({found}; expected "
            "{items: [...], totalItems, pageInfo}); is this the URL of a Backstage backend?")
    info = body.get("pageInfo")
    if info is not None and not isinstance(info, dict):
        raise CatalogError(f"{shown}: pageInfo in the response must be an object")
    cursor = (info or {}).get("nextCursor")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise CatalogError(f"{shown}: pageInfo.nextCursor in the response must be a non-empty string")
    total = body.get("totalItems")
    return body["items"], cursor, total if isinstance(total, int) and not isinstance(total, bool) else None


async def fetch_entities(
    catalog: RemoteCatalog,
    problems: Problems,
    *,
    filters: Sequence[str] | None = None,
    page_size: int = PAGE_SIZE,
    log: Log | None = None,
    verbose: bool = False,
    http: Any = None,
) -> list[Entity]:
    """Read every entity ``filters`` select (``None``: all) from ``catalog``; see the module doc.

    ``http``: an ``HttpOptions`` (tests inject a mock transport and a sleep that does not wait).
    """
    from dataclasses import replace

    from soundcheck_cli.http.client import (
        ClientSettings,
        HttpClient,
        HttpError,
        HttpOptions,
        NotFound,
        RetryPolicy,
    )
    from soundcheck_cli.redact import GLOBAL

    options = replace(http or HttpOptions(), verbose=verbose, log=log, redactor=GLOBAL)
    settings = ClientSettings(concurrency=1, retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, max_wait=MAX_WAIT))
    headers = {"Accept": "application/json"}
    if catalog.token:
        headers["Authorization"] = f"Bearer {catalog.token}"
    url = catalog.api_base + QUERY_PATH
    shown = f"the Backstage catalog at {catalog.display}"
    out = _Collector(catalog, problems)
    cursor: str | None = None
    seen: set[str] = set()
    async with HttpClient(settings, options, headers=headers, name="backstage-catalog") as client:
        for page in range(1, MAX_PAGES + 1):
            params: list[tuple[str, str]] = [("limit", str(page_size))]
            if cursor is None:
                params.extend(("filter", f) for f in filters or ())
            else:
                params.append(("cursor", cursor))
            try:
                response = await client.get(url, params=params)
            except NotFound:
                raise CatalogError(
                    f"{shown}: {QUERY_PATH} was not found (HTTP 404); is this the URL of a Backstage backend "
                    "(backend.baseUrl)? Give its base URL, e.g. https://backstage.example.com") from None
            except HttpError as exc:
                raise _http_error(catalog, shown, exc) from None
            try:
                body = response.json()
            except (ValueError, UnicodeDecodeError):
                kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
                raise CatalogError(
                    f"{shown}: the response is not JSON ({kind}); is this the URL of the Backstage backend "
                    "(backend.baseUrl) rather than of its web app?") from None
            items, next_cursor, total = _page(catalog, body, shown)
            for item in items:
                out.add(item)
            if log is not None and verbose:
                of = f"/{total}" if total is not None else ""
                log("info", f"{shown}: page {page}, {out.count}{of} entities read")
            if next_cursor is None:
                return out.entities
            if next_cursor in seen:
                raise CatalogError(f"{shown}: the server returned a cursor it had already returned (page {page}); "
                                   "stopping rather than reading the same pages forever")
            seen.add(next_cursor)
            cursor = next_cursor
    raise CatalogError(f"{shown}: more than {MAX_PAGES} pages; stopping")


def _http_error(catalog: RemoteCatalog, shown: str, exc: Any) -> CatalogError:
    from soundcheck_cli.redact import GLOBAL

    status = getattr(exc, "status", None)
    if status in (401, 403):
        if catalog.token is None:
            return CatalogError(f"{shown} requires a token ({status}): set {TOKEN_ENV} or soundcheck.catalog.token")
        return CatalogError(f"{shown} refused the token ({status}): set {TOKEN_ENV} or soundcheck.catalog.token "
                            "to a token this catalog accepts (e.g. a static token of backend.auth.externalAccess)")
    if status is not None:
        detail = _error_message(getattr(exc, "response", None))
        return CatalogError(GLOBAL.redact(f"{shown} answered HTTP {status}" + (f": {detail}" if detail else "")))
    return CatalogError(GLOBAL.redact(f"{shown} could not be read: {exc}"))


def _error_message(response: Any) -> str:
    """Backstage's error body ``{error: {name, message}, response: {statusCode}}``: ``name: message``, short."""
    from soundcheck_cli.http.client import json_body  # imported late like the rest of http.client here

    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return ""
    name = error.get("name")
    text = f"{name}: {error['message']}" if isinstance(name, str) and name else error["message"]
    return text[:300]


def load_remote_catalog(catalog: RemoteCatalog, problems: Problems, **options: Any) -> list[Entity]:
    """``fetch_entities`` (same keyword options) from synchronous code (the CLI): runs its own event loop."""
    import asyncio  # here, not at the top: every config load imports this module, and asyncio costs ~30 ms

    return asyncio.run(fetch_entities(catalog, problems, **options))

