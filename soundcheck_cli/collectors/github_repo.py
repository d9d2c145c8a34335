"""Which GitHub repository an entity lives in, and which token and API base URL reach it.

Shared by the ``github`` and ``scm`` collectors.

**Repository** (``repo_for_entity``), as Backstage's GitHub plugins find it:

1. the ``github.com/project-slug`` annotation (``org/repo``); its host is that of the entity's source location when
   that is a known GitHub host (GitHub Enterprise), else ``github.com``;
2. else ``backstage.io/source-location`` (``url:https://github.com/org/repo/tree/main/``), then
   ``backstage.io/managed-by-location`` (``url:https://ghe.example.com/org/repo/blob/main/catalog-info.yaml``).
   A URL is a GitHub repository only when its host is a known GitHub host: ``github.com`` or a host listed under
   ``integrations.github`` (or the collector's own ``host``), so a URL on another host never receives a GitHub
   token. ``/tree/<ref>/`` and ``/blob/<ref>/`` give the ref the SCM collector reads from.

**Credentials** (``resolve_credentials``) for a host, first match wins:

1. the collector block's own ``token`` (for the block's ``host``, default ``github.com``), with its ``apiBaseUrl``;
2. Backstage's ``integrations.github: [{host, token, apiBaseUrl}]`` entry for that host
   (backstage.io/docs/integrations/github/locations);
   or, when the entry has ``apps`` (Backstage's GitHub App shape), an installation token of that app for the
   repository's owner (``github_app``);
3. ``GITHUB_TOKEN`` then ``GH_TOKEN`` from the environment, for ``github.com`` (and for the host of
   ``GITHUB_SERVER_URL``, which GitHub Actions sets on GitHub Enterprise Server).

The API base URL defaults as Backstage's ``readGithubIntegrationConfig`` does: ``https://api.github.com`` for
``github.com``, ``https://<host>/api/v3`` otherwise. No token means no request: Soundcheck's GitHub collector does
not call the API unauthenticated (its 60 requests an hour would stall every collector sharing the address).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from soundcheck_cli.collectors.github_app import GithubApp, read_apps

DEFAULT_HOST = "github.com"
DEFAULT_API_BASE = "https://api.github.com"
SLUG_ANNOTATION = "github.com/project-slug"
SOURCE_LOCATION = "backstage.io/source-location"
MANAGED_BY_LOCATION = "backstage.io/managed-by-location"
TOKEN_ENV_VARS = ("GITHUB_TOKEN", "GH_TOKEN")

# GitHub owner and repository names: letters, digits, '-', '_' and '.' (never '.' or '..' alone).
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class RepoRef:
    """A GitHub repository: ``host`` (lower-case, e.g. ``github.com``), ``owner``, ``name``, and the ref (branch,
    tag or sha) named by a source-location URL, if any."""

    host: str
    owner: str
    name: str
    ref: str | None = None

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        return f"{self.host}/{self.slug}"


@dataclass(frozen=True)
class GithubIntegration:
    """One ``integrations.github`` entry of the app-config."""

    host: str
    token: str | None = field(default=None, repr=False)
    api_base_url: str | None = None
    apps: tuple[GithubApp, ...] = ()  # ``apps``: GitHub App logins (github_app)


@dataclass(frozen=True)
class Credentials:
    """How to reach one host: the token, the REST API base URL and where the token came from (for messages)."""

    host: str
    token: str | None = field(repr=False)
    api_base_url: str
    source: str
    app: GithubApp | None = None  # log in as this GitHub App's installation for ``owner`` (``token``: the fallback)
    owner: str | None = None


def _valid_name(text: str) -> bool:
    return bool(_NAME.match(text)) and text.strip(".") != ""


def parse_slug(text: Any, host: str = DEFAULT_HOST) -> RepoRef | None:
    """``org/repo`` (the ``github.com/project-slug`` annotation) → ``RepoRef``; ``None`` when malformed."""
    if not isinstance(text, str):
        return None
    parts = text.strip().strip("/").split("/")
    if len(parts) != 2 or not all(_valid_name(p) for p in parts):
        return None
    owner, name = parts
    name = name.removesuffix(".git")
    return RepoRef(host.lower(), owner, name) if _valid_name(name) else None


def parse_location(text: Any, known_hosts: set[str] | frozenset[str] | None = None) -> RepoRef | None:
    """A Backstage location (``url:https://github.com/org/repo/tree/main/sub/``, with or without the ``url:``
    prefix) → ``RepoRef`` when it points into a repository on a known GitHub host; ``None`` otherwise."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if value.startswith("url:"):
        value = value[len("url:") :]
    elif ":" in value.split("/", 1)[0] and not value.startswith(("http://", "https://")):
        return None  # another location type (file:, github-discovery: ...)
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if parts.port:
        host = f"{host}:{parts.port}"
    hosts = {DEFAULT_HOST, *(h.lower() for h in (known_hosts or ()))}
    if host not in hosts:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) < 2:
        return None
    owner, name = segments[0], segments[1]
    name = name.removesuffix(".git")
    if not (_valid_name(owner) and _valid_name(name)):
        return None
    ref = segments[3] if len(segments) >= 4 and segments[2] in ("tree", "blob") else None
    return RepoRef(host, owner, name, ref)


def repo_for_entity(entity: Any, known_hosts: set[str] | frozenset[str] | None = None) -> RepoRef | None:
    """The repository of a catalog entity (see the module docstring for the order), or ``None``."""
    annotations = getattr(entity, "annotations", None) or {}
    location = None
    for key in (SOURCE_LOCATION, MANAGED_BY_LOCATION):
        location = parse_location(annotations.get(key), known_hosts)
        if location is not None:
            break
    slug = annotations.get(SLUG_ANNOTATION)
    if slug is not None:
        repo = parse_slug(slug, location.host if location else DEFAULT_HOST)
        if repo is not None:
            if location is not None and location.slug.lower() == repo.slug.lower():
                return RepoRef(repo.host, repo.owner, repo.name, location.ref)
            return repo
    return location


def repo_problem(entity: Any) -> str:
    """Why ``repo_for_entity`` found nothing, for the not-applicable reason."""
    annotations = getattr(entity, "annotations", None) or {}
    if annotations.get(SLUG_ANNOTATION) is not None:
        return f"the {SLUG_ANNOTATION} annotation {annotations[SLUG_ANNOTATION]!r} is not of the form org/repo"
    for key in (SOURCE_LOCATION, MANAGED_BY_LOCATION):
        if annotations.get(key) is not None:
            return (
                f"no {SLUG_ANNOTATION} annotation, and {key} {annotations[key]!r} is not a repository on a known "
                "GitHub host (github.com or a host under integrations.github)"
            )
    return f"no {SLUG_ANNOTATION} or {SOURCE_LOCATION} annotation"


def default_api_base(host: str) -> str:
    return DEFAULT_API_BASE if host == DEFAULT_HOST else f"https://{host}/api/v3"


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def read_integrations(app_config: Any) -> list[GithubIntegration]:
    """``integrations.github`` of the app-config (malformed entries are skipped; the host defaults to github.com)."""
    node = app_config.get("integrations") if isinstance(app_config, Mapping) else None
    items = node.get("github") if isinstance(node, Mapping) else None
    out: list[GithubIntegration] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        host = (_text(item.get("host")) or DEFAULT_HOST).lower()
        api = _text(item.get("apiBaseUrl"))
        out.append(GithubIntegration(host, _text(item.get("token")), api.rstrip("/") if api else None, read_apps(item)))
    return out


def block_host(block: Mapping[str, Any]) -> str:
    return (_text(block.get("host")) or DEFAULT_HOST).lower()


def known_hosts(block: Mapping[str, Any], app_config: Any) -> frozenset[str]:
    """Hosts treated as GitHub: github.com, the integrations' hosts and the block's ``host``."""
    hosts = {DEFAULT_HOST, block_host(block)}
    hosts.update(i.host for i in read_integrations(app_config))
    return frozenset(hosts)


def _env_hosts(environ: Mapping[str, str]) -> set[str]:
    hosts = {DEFAULT_HOST}
    server = _text(environ.get("GITHUB_SERVER_URL"))
    if server:
        name = urlsplit(server).hostname
        if name:
            hosts.add(name.lower())
    return hosts


def resolve_credentials(
    host: str, block: Mapping[str, Any], app_config: Any, environ: Mapping[str, str] | None = None, owner: str | None = None
) -> Credentials:
    """The token and API base URL for ``host`` (see the module docstring); ``token`` is ``None`` when none. With
    ``owner`` and an ``integrations.github[].apps`` entry allowing it, the credentials name that GitHub App (the
    integration's token, if any, stays as the fallback for an owner without an installation)."""
    environ = os.environ if environ is None else environ
    host = host.lower()
    integration = next((i for i in read_integrations(app_config) if i.host == host), None)
    api = None
    if block_host(block) == host:
        api = _text(block.get("apiBaseUrl"))
    api = (api or (integration.api_base_url if integration else None) or default_api_base(host)).rstrip("/")
    token = _text(block.get("token")) if block_host(block) == host else None
    if token:
        return Credentials(host, token, api, "the collector's token")
    if integration is not None and owner:
        app = next((a for a in integration.apps if a.allows(owner)), None)
        if app is not None:
            return Credentials(
                host, integration.token, api, f"integrations.github (host {host}) app {app.app_id}", app=app, owner=owner
            )
    if integration is not None and integration.token:
        return Credentials(host, integration.token, api, f"integrations.github (host {host})")
    if host in _env_hosts(environ):
        for name in TOKEN_ENV_VARS:
            value = _text(environ.get(name))
            if value:
                return Credentials(host, value, api, name)
    return Credentials(host, None, api, "none")


def any_token(block: Mapping[str, Any], app_config: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Whether any source gives a token for any host (else the collector cannot run at all)."""
    environ = os.environ if environ is None else environ
    if _text(block.get("token")) or any(i.token or i.apps for i in read_integrations(app_config)):
        return True
    return any(_text(environ.get(name)) for name in TOKEN_ENV_VARS)


def no_token_message(collector_id: str, host: str = DEFAULT_HOST) -> str:
    return (
        f"collector {collector_id}: no GitHub token for {host}, facts cannot be collected (set integrations.github"
        f"[].token for host {host} in the app-config, the collector's token, or GITHUB_TOKEN / GH_TOKEN); "
        "the GitHub API is never called without a token"
    )
