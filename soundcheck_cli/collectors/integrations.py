"""Backstage's ``integrations`` section, read once for every SCM host, and which repository an entity lives in.

Shared by the ``gitlab``, ``azure``, ``bitbucket`` and ``scm`` collectors (the ``github`` collector keeps its own
``github_repo`` module, whose GitHub rules this one follows). The keys are those of Backstage's integration config
(``@backstage/integration``: ``readGitLabIntegrationConfig``, ``readAzureIntegrationConfig``,
``readBitbucketCloudIntegrationConfig``, ``readBitbucketServerIntegrationConfig``), so an app-config written for
Backstage works unchanged::

    integrations:
      gitlab:
        - host: gitlab.example.com:8443          # a self-hosted instance, port included
          apiBaseUrl: https://gitlab.example.com:8443/api/v4
          token: ${GITLAB_TOKEN}
      azure:
        - host: dev.azure.com
          credentials:
            - organizations: [my-org]
              personalAccessToken: ${AZURE_PAT}
      bitbucketCloud:
        - username: ${BITBUCKET_USERNAME}
          appPassword: ${BITBUCKET_APP_PASSWORD}
      bitbucketServer:
        - host: bitbucket.example.com
          apiBaseUrl: https://bitbucket.example.com/rest/api/1.0
          token: ${BITBUCKET_TOKEN}              # or username + password

Defaults as Backstage's: GitLab ``host`` ``gitlab.com`` and ``apiBaseUrl`` ``https://<host>/api/v4``
(``https://gitlab.com/api/v4`` for gitlab.com); Azure ``host`` ``dev.azure.com``; Bitbucket Cloud
``https://api.bitbucket.org/2.0``; Bitbucket Server ``https://<host>/rest/api/1.0``. Azure and Bitbucket Cloud
take an ``apiBaseUrl`` too (not a Backstage key: for a proxy or a test server; Backstage ignores it).

**Repository of an entity** (``locate``): the annotations a Backstage plugin for that host reads
(``gitlab.com/project-slug`` or ``gitlab.com/project-id`` with ``gitlab.com/instance``; ``dev.azure.com/project-repo``
with ``dev.azure.com/host-org``), else ``backstage.io/source-location`` then ``backstage.io/managed-by-location``.
A URL belongs to an integration only when its ``host[:port]`` is that integration's ``host`` (``gitlab.com``,
``dev.azure.com`` and ``bitbucket.org`` are known without configuration), so a token is only ever sent to the
host it was configured for. ``/-/tree/<ref>/`` (GitLab), ``?version=GB<branch>`` (Azure), ``/src/<ref>/``
(Bitbucket Cloud) and ``?at=refs/heads/<branch>`` (Bitbucket Server) give the ref the ``scm`` collector reads.

Tokens are held in ``Integration`` objects whose ``repr`` never shows them; messages name where a credential
came from (``integrations.gitlab[0].token``), never its value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from soundcheck_cli.collectors.github_repo import read_integrations as read_github_integrations  # noqa: F401

# ``integrations.github`` keeps its reader in ``github_repo`` (tokens, ``apps``, GHE hosts; re-exported here as
# ``read_github_integrations`` so this module is the one place to look for every host's integration config).
GITLAB, AZURE, BITBUCKET_CLOUD, BITBUCKET_SERVER = "gitlab", "azure", "bitbucketCloud", "bitbucketServer"
KINDS = (GITLAB, AZURE, BITBUCKET_CLOUD, BITBUCKET_SERVER)
DEFAULT_HOSTS = {GITLAB: "gitlab.com", AZURE: "dev.azure.com", BITBUCKET_CLOUD: "bitbucket.org"}
LABELS = {GITLAB: "GitLab", AZURE: "Azure DevOps", BITBUCKET_CLOUD: "Bitbucket Cloud", BITBUCKET_SERVER: "Bitbucket Server"}

SOURCE_LOCATION = "backstage.io/source-location"
MANAGED_BY_LOCATION = "backstage.io/managed-by-location"
GITLAB_SLUG = "gitlab.com/project-slug"
GITLAB_ID = "gitlab.com/project-id"
GITLAB_INSTANCE = "gitlab.com/instance"
AZURE_PROJECT_REPO = "dev.azure.com/project-repo"
AZURE_HOST_ORG = "dev.azure.com/host-org"


@dataclass(frozen=True)
class AzureCredential:
    """One ``integrations.azure[].credentials`` item: a personal access token for some organizations (all when
    ``organizations`` is empty), or an Entra ID client (``clientId``...), which this CLI cannot use."""

    organizations: tuple[str, ...] = ()
    personal_access_token: str | None = field(default=None, repr=False)
    kind: str = "PersonalAccessToken"


@dataclass(frozen=True)
class Integration:
    """One entry of ``integrations.<kind>``: where its API is and how to authenticate (secrets hidden from repr)."""

    kind: str
    host: str  # lower-case host[:port]
    api_base_url: str
    source: str  # e.g. "integrations.gitlab[0]", for messages
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # Bitbucket Cloud appPassword / Server password
    credentials: tuple[AzureCredential, ...] = ()

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def has_credentials(self) -> bool:
        if self.kind == AZURE:
            return any(c.personal_access_token for c in self.credentials) or bool(self.token)
        return bool(self.token or (self.username and self.password))

    def auth_headers(self, organization: str | None = None) -> dict[str, str] | None:
        """The ``Authorization`` header for this host (``None`` when no usable credential), as Backstage sends it:
        GitLab and Bitbucket Server tokens as ``Bearer``; Azure personal access tokens and Bitbucket
        username/password pairs as ``Basic``."""
        if self.kind == AZURE:
            pat = None
            for credential in self.credentials:
                if credential.personal_access_token and (
                    not credential.organizations or (organization or "").lower() in {o.lower() for o in credential.organizations}
                ):
                    pat = credential.personal_access_token
                    break
            pat = pat or self.token
            return {"Authorization": "Basic " + _basic("", pat)} if pat else None
        if self.kind == BITBUCKET_CLOUD and self.username and self.token:
            return {"Authorization": "Basic " + _basic(self.username, self.token)}  # API token with the account's email
        if self.username and self.password:
            return {"Authorization": "Basic " + _basic(self.username, self.password)}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return None

    def secrets(self) -> list[str]:
        """Every secret value of this entry (for the redactor)."""
        values = [self.token, self.password, *(c.personal_access_token for c in self.credentials)]
        values += [_basic(self.username or "", v) for v in (self.token, self.password) if v]
        values += [_basic("", c.personal_access_token) for c in self.credentials if c.personal_access_token]
        return [v for v in values if v]


def _basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def normalize_host(value: str) -> str:
    """``GitLab.Example.com:443`` → ``gitlab.example.com:443``; a URL given by mistake keeps only its host[:port]."""
    text = value.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        text = parts.netloc.rsplit("@", 1)[-1]
    return text.rstrip("/")


def _default_api(kind: str, host: str) -> str:
    if kind == GITLAB:
        return f"https://{host}/api/v4"
    if kind == AZURE:
        return f"https://{host}"
    if kind == BITBUCKET_CLOUD:
        return "https://api.bitbucket.org/2.0"
    return f"https://{host}/rest/api/1.0"


def read_integrations(app_config: Any, kind: str) -> list[Integration]:
    """``integrations.<kind>`` of the app-config as ``Integration`` objects (malformed entries are skipped; the
    registry's config check is not the place for Backstage's own section)."""
    node = app_config.get("integrations") if isinstance(app_config, Mapping) else None
    items = node.get(kind) if isinstance(node, Mapping) else None
    out: list[Integration] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, Mapping):
            continue
        host_text = _text(item.get("host")) or DEFAULT_HOSTS.get(kind)
        if kind == BITBUCKET_CLOUD:
            host_text = DEFAULT_HOSTS[kind]  # Bitbucket Cloud has one host; Backstage's config has no host key
        if not host_text:
            continue
        host = normalize_host(host_text)
        api = (_text(item.get("apiBaseUrl")) or _default_api(kind, host)).rstrip("/")
        credentials: list[AzureCredential] = []
        if kind == AZURE:
            for cred in item.get("credentials") or []:
                if not isinstance(cred, Mapping):
                    continue
                orgs = tuple(str(o) for o in cred.get("organizations") or [] if isinstance(o, str))
                if _text(cred.get("personalAccessToken")):
                    credentials.append(AzureCredential(orgs, _text(cred.get("personalAccessToken"))))
                elif cred.get("clientId") or cred.get("managedIdentityClientId"):
                    credentials.append(AzureCredential(orgs, None, "ClientCredentials"))
        password = _text(item.get("appPassword")) if kind == BITBUCKET_CLOUD else _text(item.get("password"))
        out.append(
            Integration(
                kind, host, api, f"integrations.{kind}[{index}]", _text(item.get("token")), _text(item.get("username")),
                password, tuple(credentials),
            )
        )
    return out


def integration_for(app_config: Any, kind: str, host: str) -> Integration | None:
    """The ``integrations.<kind>`` entry for ``host`` (host[:port], case-insensitive), or ``None``."""
    host = normalize_host(host)
    return next((i for i in read_integrations(app_config, kind) if i.host == host), None)


def integration_secrets(app_config: Any) -> list[str]:
    """Every credential of every SCM integration (to mask in whatever is printed)."""
    return [s for kind in KINDS for i in read_integrations(app_config, kind) for s in i.secrets()]


def known_hosts(app_config: Any, kind: str) -> set[str]:
    hosts = {i.host for i in read_integrations(app_config, kind)}
    if kind in DEFAULT_HOSTS:
        hosts.add(DEFAULT_HOSTS[kind])
    return hosts


# -- repositories ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Repo:
    """A repository on a non-GitHub host. ``project`` is GitLab's full path (``group/sub/name``) or numeric id,
    Azure's project, Bitbucket's workspace (Cloud) or project key (Server); ``name`` is the repository (empty for
    GitLab); ``organization`` is Azure's."""

    kind: str
    host: str
    project: str
    name: str = ""
    organization: str = ""
    ref: str | None = None

    def __str__(self) -> str:
        parts = [self.host, self.organization, self.project, self.name]
        return "/".join(p for p in parts if p)


_SEGMENT = re.compile(r"^[^\s/]{1,255}$")


def _segments(path: str) -> list[str]:
    return [unquote(s) for s in path.split("/") if s]


def _ok(*names: str) -> bool:
    return all(_SEGMENT.match(n) and n.strip(".") for n in names)


def parse_url(text: Any, app_config: Any) -> Repo | None:
    """A Backstage location (``url:https://host[:port]/...``) → ``Repo`` when its host is a configured (or the
    public) GitLab, Azure DevOps or Bitbucket host and the path names a repository; ``None`` otherwise."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    value = value[len("url:"):] if value.startswith("url:") else value
    if not value.startswith(("http://", "https://")):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    host = parts.hostname.lower() + (f":{port}" if port else "")
    query = parse_qs(parts.query)
    segments = _segments(parts.path)
    for kind in KINDS:
        if host not in known_hosts(app_config, kind):
            continue
        if kind == GITLAB:
            # https://gitlab.example.com/group/sub/project/-/tree/main/docs ; "/-/" separates the project path
            project, ref = segments, None
            if "-" in segments:
                cut = segments.index("-")
                project, rest = segments[:cut], segments[cut + 1:]
                if len(rest) >= 2 and rest[0] in ("tree", "blob", "raw"):
                    ref = rest[1]
            else:  # older URLs without "/-/": .../group/project/tree/main
                for index in range(2, len(segments) - 1):
                    if segments[index] in ("tree", "blob"):
                        project, ref = segments[:index], segments[index + 1]
                        break
            if project and project[-1].endswith(".git"):
                project = [*project[:-1], project[-1][:-4]]
            if len(project) >= 2 and _ok(*project):
                return Repo(GITLAB, host, "/".join(project), ref=ref)
            return None
        if kind == AZURE:
            # https://dev.azure.com/{org}/{project}/_git/{repo}?path=/&version=GBmain
            if len(segments) >= 4 and segments[2] == "_git" and _ok(segments[0], segments[1], segments[3]):
                version = (query.get("version") or [""])[0]
                ref = version[2:] if version.startswith("GB") and len(version) > 2 else None
                return Repo(AZURE, host, segments[1], segments[3], segments[0], ref)
            return None
        if kind == BITBUCKET_CLOUD:
            # https://bitbucket.org/{workspace}/{repo}/src/{ref}/path
            if len(segments) >= 2 and _ok(segments[0], segments[1]):
                ref = segments[3] if len(segments) >= 4 and segments[2] == "src" else None
                return Repo(BITBUCKET_CLOUD, host, segments[0], segments[1].removesuffix(".git"), ref=ref)
            return None
        # Bitbucket Server: https://host/projects/{KEY}/repos/{slug}/browse?at=refs/heads/main
        if len(segments) >= 4 and segments[0] == "projects" and segments[2] == "repos" and _ok(segments[1], segments[3]):
            at = (query.get("at") or [""])[0]
            ref = at.removeprefix("refs/heads/") or None
            return Repo(BITBUCKET_SERVER, host, segments[1], segments[3], ref=ref)
        return None
    return None


def locate(entity: Any, app_config: Any, kinds: tuple[str, ...] = KINDS) -> Repo | None:
    """The repository of ``entity`` on one of ``kinds`` (module docstring: annotations first, then locations)."""
    annotations = getattr(entity, "annotations", None) or {}
    location = None
    for key in (SOURCE_LOCATION, MANAGED_BY_LOCATION):
        location = parse_url(annotations.get(key), app_config)
        if location is not None:
            break
    if GITLAB in kinds:
        slug, project_id = _text(annotations.get(GITLAB_SLUG)), _text(annotations.get(GITLAB_ID))
        if slug or project_id:
            instance = _text(annotations.get(GITLAB_INSTANCE))
            if instance:
                host = normalize_host(instance)
            elif location is not None and location.kind == GITLAB:
                host = location.host
            else:
                configured = read_integrations(app_config, GITLAB)
                host = configured[0].host if len(configured) == 1 else DEFAULT_HOSTS[GITLAB]
            ref = location.ref if location is not None and location.kind == GITLAB else None
            if project_id and project_id.isdigit():
                return Repo(GITLAB, host, project_id, ref=ref)
            parts = _segments(slug or "")
            if len(parts) >= 2 and _ok(*parts):
                return Repo(GITLAB, host, "/".join(parts), ref=ref)
    if AZURE in kinds and _text(annotations.get(AZURE_PROJECT_REPO)):
        parts = _segments(annotations[AZURE_PROJECT_REPO])
        host_org = _segments(_text(annotations.get(AZURE_HOST_ORG)) or "")
        if location is not None and location.kind == AZURE and not host_org:
            host_org = [location.host, location.organization]
        if len(parts) == 2 and len(host_org) == 2 and _ok(*parts, host_org[1]):
            ref = location.ref if location is not None and location.kind == AZURE else None
            return Repo(AZURE, normalize_host(host_org[0]), parts[0], parts[1], host_org[1], ref)
    if location is not None and location.kind in kinds:
        return location
    return None


def locate_problem(entity: Any, kind_label: str) -> str:
    """Why ``locate`` found nothing, for the not-applicable reason."""
    annotations = getattr(entity, "annotations", None) or {}
    for key in (GITLAB_SLUG, GITLAB_ID, AZURE_PROJECT_REPO):
        if annotations.get(key) is not None:
            return f"the {key} annotation {annotations[key]!r} does not name a {kind_label} repository"
    for key in (SOURCE_LOCATION, MANAGED_BY_LOCATION):
        if annotations.get(key) is not None:
            return (
                f"{key} {annotations[key]!r} is not a repository on a known {kind_label} host "
                f"(add the host under integrations)"
            )
    return f"no {SOURCE_LOCATION} annotation"
