"""The ``github`` collector: repository details, branch protection, languages, rulesets and security alerts.

Configured like Soundcheck's GitHub integration (``soundcheck.collectors.github``); the token comes from
Backstage's ``integrations.github`` (see ``github_repo``)::

    integrations:
      github:
        - host: github.com
          token: ${GITHUB_TOKEN}
    soundcheck:
      collectors:
        github:
          frequency: {cron: '0 * * * *'}
          filter: {kind: Component}
          cache: {duration: {hours: 2}}
          collects:
            - {factName: repo_details, type: RepositoryDetails, cache: true}
            - type: BranchProtections           # github:default/branch_protections

Each ``collects`` type is one fact ``github:default/<factName>``; ``factName`` defaults to the snake_case of the
type. Requests follow GitHub's REST API (docs.github.com/rest, API version 2022-11-28):

- ``RepositoryDetails``: ``GET /repos/{owner}/{repo}``; data = the repository object.
- ``BranchProtections``: ``GET /repos/{o}/{r}/branches/{branch}/protection`` for the default branch (or the
  entry's ``branch``); data = the protection object plus ``branch`` and ``protected: true``. GitHub answers
  404 ``{"message": "Branch not protected"}`` for an unprotected branch: that is the fact
  ``{branch, protected: false}``, not an error.
- ``RepositoryLanguages``: ``GET /repos/{o}/{r}/languages``; data = ``{language: bytes}`` as GitHub returns it.
- ``BranchRules``: ``GET /repos/{o}/{r}/rules/branches/{branch}`` (the rulesets that apply to the branch);
  data = ``{branch, rules: [...], types: [sorted rule types]}``.
- ``DependabotAlerts`` / ``CodeScanningAlerts`` / ``SecretScanningAlerts``: ``GET /repos/{o}/{r}/dependabot/alerts``,
  ``.../code-scanning/alerts``, ``.../secret-scanning/alerts`` with ``state=open&per_page=100``, following the
  ``Link: <...>; rel="next"`` header; data = ``{enabled: true, open, bySeverity, truncated}`` (code scanning adds
  ``byRuleSeverity``; secret scanning alerts have no severity and give ``bySecretType`` and ``byValidity``).
  When the feature is off for the repository (GitHub answers 403/404 "... disabled ...", "no analysis found")
  the fact is ``{enabled: false, reason}``.
- ``SecurityAdvisories``: ``GET /repos/{o}/{r}/security-advisories?per_page=100`` (the repository's security
  advisories, every state, ``Link`` pages); data = ``{enabled: true, count, open (triage + draft), byState,
  bySeverity, ghsaIds, truncated}``.

**GitHub App login.** ``integrations.github[].apps`` (Backstage's shape: ``appId``, ``privateKey``,
``allowedInstallationOwners``) logs in as the app's installation for the repository's owner (``github_app``).

**Conditional requests.** Every GET remembers the response's ``ETag`` (and the part of the body the fact needs)
in the store's meta area, key ``etag:github:<url>``, and sends ``If-None-Match`` next time; a ``304 Not Modified``
reuses the remembered data. GitHub does not count 304s against the rate limit ("Best practices for using the
REST API"). ``--refresh`` skips the ETag. The shared HTTP client honours ``x-ratelimit-remaining``/``-reset`` and
``Retry-After`` (secondary rate limits). A 401 stops the requests of that token; the token is never printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.entity_collector import (
    EntityCollector,
    collector_config_schema,
)
from soundcheck_cli.collectors.github_repo import (
    Credentials,
    RepoRef,
    any_token,
    known_hosts,
    no_token_message,
    repo_for_entity,
    repo_problem,
    resolve_credentials,
)
from soundcheck_cli.http.client import (
    HttpClient,
    HttpError,
    NotFound,
    http_options,
    json_body,
    next_link,
    same_origin,
    path_segment,
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.collectors.shared_requests import SharedRequests
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Problems
from soundcheck_cli.facts.model import FactRef

API_VERSION = "2022-11-28"
JSON_ACCEPT = "application/vnd.github+json"
RAW_ACCEPT = "application/vnd.github.raw"
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 alerts: beyond that the counts are marked truncated
ETAG_PREFIX = "etag:"

TYPES = (
    "RepositoryDetails",
    "BranchProtections",
    "RepositoryLanguages",
    "BranchRules",
    "DependabotAlerts",
    "CodeScanningAlerts",
    "SecretScanningAlerts",
    "SecurityAdvisories",
)
SEVERITIES = ("critical", "high", "medium", "low")
_ALERT_PATHS = {
    "DependabotAlerts": "dependabot/alerts",
    "CodeScanningAlerts": "code-scanning/alerts",
    "SecretScanningAlerts": "secret-scanning/alerts",
    "SecurityAdvisories": "security-advisories",
}
# How GitHub says a security feature is off for a repository (403/404 bodies of the alert endpoints).
_FEATURE_OFF = re.compile(r"disabled|not enabled|must be enabled|no analysis found|not available", re.IGNORECASE)


def snake_case(name: str) -> str:
    """``RepositoryDetails`` → ``repository_details`` (the default factName of a type)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


DEFAULT_FACT_NAMES = {kind: snake_case(kind) for kind in TYPES}

# Keys every block of the github and scm collectors may carry to pick a token and server.
GITHUB_BLOCK_PROPERTIES: dict[str, Any] = {
    "token": {"type": "string"},
    "host": {"type": "string", "minLength": 1},
    "apiBaseUrl": {"type": "string", "pattern": "^https?://"},
}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "github collector",
    block_properties=GITHUB_BLOCK_PROPERTIES,
    entry_properties={
        "type": {"enum": list(TYPES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "branch": {"type": "string", "minLength": 1},
    },
    entry_required=("type",),
)


def error_message(response: httpx.Response | None) -> str:
    """GitHub's ``{"message": ...}`` of an error response ('' when there is none)."""
    body = json_body(response)
    message = body.get("message") if isinstance(body, Mapping) else None
    return str(message)[:200] if message else ""


@dataclass(frozen=True)
class Page:
    """One GET's result: the reduced data, the ``rel="next"`` URL and whether it came from a 304."""

    data: Any
    next_url: str | None
    not_modified: bool


class GithubApiCollector(EntityCollector):
    """What the ``github`` and ``scm`` collectors share: one HTTP client per (block, API base URL), credentials per
    host, conditional GETs with ETags kept in the store's meta, ``Link`` pagination and the "token rejected"
    memory."""

    def __init__(self) -> None:
        super().__init__()
        self._rejected: dict[tuple[int, str], str] = {}
        self._app_tokens: Any = None  # github_app.AppTokens, created when an app is configured
        self.not_modified = 0  # 304 answers (data reused from the store)
        # Identical GETs of one ``collect_outcomes`` call share one request (``conditional_get``): the repository
        # object is what RepositoryDetails stores and what BranchProtections/BranchRules read the default branch
        # from, so without this every repository was fetched twice per run (issue 17 item 15).
        self._flights = SharedRequests()

    def set_config(self, config: Any) -> None:
        self._rejected = {}
        super().set_config(config)

    def validate_block(self, block: Mapping[str, Any], index: int, problems: Problems) -> None:
        super().validate_block(block, index, problems)
        if block.get("apiBaseUrl") is not None and not str(block["apiBaseUrl"]).startswith(("https://", "http://")):
            problems.error("apiBaseUrl must be an http(s) URL such as https://ghe.example.com/api/v3", loc_of(block, "apiBaseUrl"))

    def github_disabled_reason(self) -> str | None:
        blocks = self.blocks()
        if self.entries and blocks and not any(any_token(b, self.context.app_config) for b in blocks):
            return no_token_message(self.id)
        return None

    def repo_of(self, entity: Entity, entry: EntryConfig) -> RepoRef | None:
        return repo_for_entity(entity, known_hosts(entry.block, self.context.app_config))

    def credentials(self, repo: RepoRef, entry: EntryConfig) -> Credentials:
        return resolve_credentials(repo.host, entry.block, self.context.app_config, owner=repo.owner)

    def gh_client(self, entry: EntryConfig, creds: Credentials) -> HttpClient:
        """The client for ``entry``'s block and ``creds``' server (so a rate-limit pause on one GitHub host does
        not stop requests to another)."""
        key: Any = (entry.block_index, creds.api_base_url, None if creds.app else creds.token)
        client = self._clients.get(key)
        if client is None:
            settings = self.client_settings(entry)
            headers = {"Accept": JSON_ACCEPT, "X-GitHub-Api-Version": API_VERSION}
            if creds.app is None:
                headers["Authorization"] = f"Bearer {creds.token}"  # an app's token is set per request
            client = HttpClient(
                settings,
                http_options(self.context),
                base_url=creds.api_base_url,
                headers=headers,
                name=self.id,
            )
            self._clients[key] = client
        return client

    async def app_token(self, client: HttpClient, creds: Credentials) -> str:
        """The installation token of ``creds.app`` for ``creds.owner`` (minted, then refreshed before it expires);
        the integration's token when the app is not installed there."""
        if self._app_tokens is None:
            from soundcheck_cli.collectors.github_app import AppTokens

            options = http_options(self.context)
            self._app_tokens = AppTokens(options.wall_clock, options.redactor.add)
        assert creds.app is not None and creds.owner is not None
        token = await self._app_tokens.token(client, creds.api_base_url, creds.app, creds.owner)
        if token:
            return token
        if creds.token:
            return creds.token
        raise HttpError(
            f"GitHub App {creds.app.app_id} is not installed for {creds.owner} on {creds.host} "
            "(and integrations.github has no token for that host)"
        )

    def rejected(self, entry: EntryConfig, creds: Credentials) -> str | None:
        return self._rejected.get((entry.block_index, creds.host))

    def reject(self, entry: EntryConfig, creds: Credentials) -> str:
        reason = (
            f"GitHub rejected the token for {creds.host} (HTTP 401 Bad credentials); it came from {creds.source}: "
            "check it and its expiry"
        )
        self._rejected[(entry.block_index, creds.host)] = reason
        return reason

    # -- conditional GET ------------------------------------------------------------------------------------------
    async def collect_outcomes(
        self,
        entities: list[Entity],
        fact_refs: list[FactRef] | None = None,
        refresh: list[FactRef] | None = None,
    ) -> list[Outcome]:
        try:
            return await super().collect_outcomes(entities, fact_refs, refresh)
        finally:
            self._flights.clear()  # shared answers live for one batch only (bounded memory, never stale)

    async def conditional_get(
        self,
        client: HttpClient,
        creds: Credentials,
        url: str,
        reduce: Callable[[httpx.Response], Any],
        *,
        refresh: bool = False,
        accept: str | None = None,
    ) -> Page:
        """GET ``url`` (relative to the API base, or an absolute URL on the same server) sending the remembered
        ``If-None-Match``; ``reduce(response)`` is what is kept and returned. A 304 returns the kept data.

        Within one ``collect_outcomes`` call, the same GET (same client, URL, ``reduce``, ``Accept`` and refresh)
        is sent once and its answer (or error) shared by every fact that needs it."""
        key = (id(client), url, reduce, accept, refresh)
        return await self._flights.share(
            key, lambda: self._conditional_get(client, creds, url, reduce, refresh=refresh, accept=accept))

    async def _conditional_get(
        self,
        client: HttpClient,
        creds: Credentials,
        url: str,
        reduce: Callable[[httpx.Response], Any],
        *,
        refresh: bool = False,
        accept: str | None = None,
    ) -> Page:
        absolute = url if "://" in url else f"{creds.api_base_url}/{url.lstrip('/')}"
        if not same_origin(absolute, creds.api_base_url):
            # A Link header pointing elsewhere would carry the token to another server.
            raise HttpError(f"refusing to follow {absolute}: not on {creds.api_base_url}")
        store = self.context.store
        key = f"{ETAG_PREFIX}{self.id}:{accept or JSON_ACCEPT}:{absolute}"
        cached = store.get_meta(key) if store is not None and not refresh else None
        if not (isinstance(cached, Mapping) and isinstance(cached.get("etag"), str) and "data" in cached):
            cached = None
        headers = {"If-None-Match": cached["etag"]} if cached else {}
        if accept:
            headers["Accept"] = accept
        auth = {"Authorization": f"Bearer {await self.app_token(client, creds)}"} if creds.app is not None else {}
        response = await client.request("GET", absolute, headers={**headers, **auth} or None)
        if response.status_code == 304:
            if cached is not None:
                self.not_modified += 1
                return Page(cached["data"], cached.get("next"), True)
            response = await client.request("GET", absolute, headers={**({"Accept": accept} if accept else {}), **auth} or None)
        data = reduce(response)
        next_url = next_link(response)
        etag = response.headers.get("etag")
        if store is not None and etag:
            store.set_meta(key, {"etag": etag, "data": data, "next": next_url})
        return Page(data, next_url, False)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise HttpError(f"GET {response.request.url.path}: the response is not valid JSON") from None


def _json_object(response: httpx.Response) -> Any:
    body = _json(response)
    if not isinstance(body, Mapping):
        raise HttpError(f"GET {response.request.url.path}: unexpected response (not a JSON object)")
    return body


def _json_list(response: httpx.Response) -> Any:
    body = _json(response)
    if not isinstance(body, list):
        raise HttpError(f"GET {response.request.url.path}: unexpected response (not a JSON list)")
    return body


def _alert_summary(kind: str, alert: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields of one alert the counts need (kept in the ETag cache instead of the whole alert)."""
    if kind == "DependabotAlerts":
        advisory = alert.get("security_advisory") or {}
        vulnerability = alert.get("security_vulnerability") or {}
        return {"severity": advisory.get("severity") or vulnerability.get("severity")}
    if kind == "SecurityAdvisories":
        return {"severity": alert.get("severity"), "state": alert.get("state"), "ghsa": alert.get("ghsa_id")}
    if kind == "CodeScanningAlerts":
        rule = alert.get("rule") or {}
        return {"severity": rule.get("security_severity_level") or rule.get("severity"), "ruleSeverity": rule.get("severity")}
    return {"secretType": alert.get("secret_type"), "validity": alert.get("validity")}


def summarize_alerts(kind: str, alerts: list[Mapping[str, Any]], truncated: bool) -> dict[str, Any]:
    """Open-alert counts: ``{enabled, open, bySeverity, truncated}`` (+ ``byRuleSeverity`` for code scanning,
    ``bySecretType``/``byValidity`` instead of severities for secret scanning)."""
    if kind == "SecurityAdvisories":
        return summarize_advisories(alerts, truncated)
    out: dict[str, Any] = {"enabled": True, "open": len(alerts)}

    def count(field: str, initial: tuple[str, ...] = ()) -> dict[str, int]:
        counts = {name: 0 for name in initial}
        for alert in alerts:
            value = alert.get(field)
            if isinstance(value, str) and value:
                counts[value.lower()] = counts.get(value.lower(), 0) + 1
        return counts

    if kind == "SecretScanningAlerts":
        out["bySecretType"] = count("secretType")
        out["byValidity"] = count("validity")
    else:
        out["bySeverity"] = count("severity", SEVERITIES)
        if kind == "CodeScanningAlerts":
            out["byRuleSeverity"] = count("ruleSeverity")
    out["truncated"] = truncated
    return out


ADVISORY_STATES = ("triage", "draft", "published", "closed", "withdrawn")


def summarize_advisories(advisories: list[Mapping[str, Any]], truncated: bool) -> dict[str, Any]:
    """Repository security advisories: ``{enabled: true, count, open, byState, bySeverity, ghsaIds, truncated}``;
    ``open`` counts those not yet published or closed (``triage``, ``draft``), the ones a team still has to act on."""
    by_state = {state: 0 for state in ADVISORY_STATES}
    by_severity = {severity: 0 for severity in SEVERITIES}
    for advisory in advisories:
        state, severity = advisory.get("state"), advisory.get("severity")
        if isinstance(state, str) and state:
            by_state[state.lower()] = by_state.get(state.lower(), 0) + 1
        if isinstance(severity, str) and severity:
            by_severity[severity.lower()] = by_severity.get(severity.lower(), 0) + 1
    return {
        "enabled": True,
        "count": len(advisories),
        "open": by_state["triage"] + by_state["draft"],
        "byState": by_state,
        "bySeverity": by_severity,
        "ghsaIds": sorted(a["ghsa"] for a in advisories if isinstance(a.get("ghsa"), str)),
        "truncated": truncated,
    }


class GithubCollector(GithubApiCollector):
    id = "github"
    name = "GitHub"
    description = "GitHub repository details, branch protection, languages, rulesets and security alert counts."
    default_fact_names = DEFAULT_FACT_NAMES

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def disabled_reason(self) -> str | None:
        return self.github_disabled_reason()

    # -- collection -----------------------------------------------------------------------------------------------
    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        kind = self.fact_type(fact_ref)
        if kind is None:
            return Outcome.not_applicable(ref, fact_ref, f"collector github does not produce {fact_ref}")
        repo = self.repo_of(entity, entry)
        if repo is None:
            return Outcome.not_applicable(ref, fact_ref, repo_problem(entity))
        creds = self.credentials(repo, entry)
        if not creds.token and creds.app is None:
            return Outcome.not_applicable(ref, fact_ref, no_token_message(self.id, repo.host))
        rejected = self.rejected(entry, creds)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        client = self.gh_client(entry, creds)
        base = f"/repos/{path_segment(repo.owner)}/{path_segment(repo.name)}"
        try:
            if kind == "RepositoryDetails":
                data = (await self.conditional_get(client, creds, base, _json_object, refresh=refresh)).data
            elif kind == "RepositoryLanguages":
                data = (await self.conditional_get(client, creds, f"{base}/languages", _json_object, refresh=refresh)).data
            elif kind == "BranchProtections":
                data = await self._protection(client, creds, base, entry, refresh)
            elif kind == "BranchRules":
                data = await self._rules(client, creds, base, entry, refresh)
            else:
                data = await self._alerts(kind, client, creds, base, refresh)
        except NotFound as exc:
            detail = error_message(exc.response)
            return Outcome.absent(
                ref, fact_ref, f"GitHub has no repository {repo} (or the token may not see it): HTTP 404 {detail}".rstrip()
            )
        except HttpError as exc:
            if exc.status == 401:
                return Outcome.failed(ref, fact_ref, self.reject(entry, creds))
            if exc.status == 403:
                detail = error_message(exc.response)
                suffix = f": {detail}" if detail else ""
                return Outcome.failed(ref, fact_ref, f"the token may not read {kind} of {repo} (HTTP 403){suffix}")
            raise
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

    async def _branch(self, client: HttpClient, creds: Credentials, base: str, entry: EntryConfig, refresh: bool) -> str:
        branch = entry.entry.get("branch")
        if isinstance(branch, str) and branch.strip():
            return branch.strip()
        details = (await self.conditional_get(client, creds, base, _json_object, refresh=refresh)).data
        default = details.get("default_branch") if isinstance(details, Mapping) else None
        if not isinstance(default, str) or not default:
            raise HttpError(f"GET {base}: the repository has no default_branch")
        return default

    async def _protection(self, client: HttpClient, creds: Credentials, base: str, entry: EntryConfig, refresh: bool) -> Any:
        branch = await self._branch(client, creds, base, entry, refresh)
        url = f"{base}/branches/{path_segment(branch)}/protection"
        try:
            page = await self.conditional_get(client, creds, url, _json_object, refresh=refresh)
        except NotFound as exc:
            # docs.github.com/rest/branches/branch-protection#get-branch-protection: 404 "Branch not protected".
            if error_message(exc.response).lower().startswith("branch not protected"):
                return {"branch": branch, "protected": False}
            raise
        return {**page.data, "branch": branch, "protected": True}

    async def _rules(self, client: HttpClient, creds: Credentials, base: str, entry: EntryConfig, refresh: bool) -> Any:
        branch = await self._branch(client, creds, base, entry, refresh)
        rules, _ = await self._all_pages(client, creds, f"{base}/rules/branches/{path_segment(branch)}?per_page={PER_PAGE}",
                                         _json_list, refresh)
        types = sorted({r["type"] for r in rules if isinstance(r, Mapping) and isinstance(r.get("type"), str)})
        return {"branch": branch, "rules": rules, "types": types}

    async def _all_pages(
        self, client: HttpClient, creds: Credentials, url: str, reduce: Callable[[httpx.Response], Any], refresh: bool
    ) -> tuple[list[Any], bool]:
        """Every item of a paginated list (following ``Link: rel="next"``), and whether it was cut at MAX_PAGES."""
        items: list[Any] = []
        next_url: str | None = url
        pages = 0
        while next_url:
            if pages >= MAX_PAGES:
                return items, True
            page = await self.conditional_get(client, creds, next_url, reduce, refresh=refresh)
            items.extend(page.data)
            next_url = page.next_url
            pages += 1
        return items, False

    async def _alerts(self, kind: str, client: HttpClient, creds: Credentials, base: str, refresh: bool) -> Any:
        def reduce(response: httpx.Response) -> list[dict[str, Any]]:
            return [_alert_summary(kind, a) for a in _json_list(response) if isinstance(a, Mapping)]

        state = "" if kind == "SecurityAdvisories" else "state=open&"  # advisories: every state, counted by state
        url = f"{base}/{_ALERT_PATHS[kind]}?{state}per_page={PER_PAGE}"
        try:
            alerts, truncated = await self._all_pages(client, creds, url, reduce, refresh)
        except HttpError as exc:
            message = error_message(exc.response)
            if exc.status in (403, 404) and _FEATURE_OFF.search(message):
                return {"enabled": False, "reason": message}
            raise
        return summarize_alerts(kind, alerts, truncated)
