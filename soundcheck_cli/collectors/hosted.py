"""``HostedCollector``: what the GitLab, Azure DevOps and Bitbucket collectors share.

- the entity's repository and the integration for its host (``integrations.locate`` / ``read_integrations``);
- one HTTP client per (block, integration), with that host's ``Authorization`` header, so a rate-limit pause or a
  rejected token on one host never stops another;
- every credential of ``integrations.*`` (``appPassword``, ``personalAccessToken`` and their Basic-encoded forms
  too) added to the run's redactor before the first request;
- ``get_json`` / ``all_pages``: JSON GETs, following ``Link: <...>; rel="next"`` (GitLab, Bitbucket Server's
  ``nextPageStart`` and Bitbucket Cloud's ``next`` are handled by their collectors) only on the same origin;
- ``RateLimit-Remaining: 0`` (GitLab's headers, no ``X-`` prefix, which the shared client does not read) pauses
  that host's requests until ``RateLimit-Reset``; 429 + ``Retry-After`` is the shared client's;
- the first request to a host goes alone (the others wait for its answer), and a 401 is remembered per host: a
  refused credential costs one request; the "rejected" message names where it came from, the other facts of that
  host fail with it without asking again;
- ``outcome_for_error``: 404 → absent, 401/403 → a failed fact with the host's own message, never the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.entity_collector import EntityCollector
from soundcheck_cli.collectors.integrations import (
    LABELS,
    Integration,
    Repo,
    integration_for,
    integration_secrets,
    locate,
    locate_problem,
    read_integrations,
)
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.collectors.shared_requests import SharedRequests
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpClient, HttpError, NotFound, http_options, json_body, next_link, same_origin

MAX_PAGES = 50


def api_message(response: httpx.Response | None) -> str:
    """The host's own error text: GitLab ``{"message"}`` / ``{"error", "error_description"}``, Azure
    ``{"message"}``, Bitbucket ``{"error": {"message"}}`` / Server ``{"errors": [{"message"}]}`` ('' if none)."""
    body = json_body(response)
    if not isinstance(body, Mapping):
        return str(body)[:200] if isinstance(body, str) else ""
    message: Any = body.get("message")
    error = body.get("error")
    if not message and isinstance(error, Mapping):
        message = error.get("message")
    elif not message and isinstance(error, str):
        message = f"{error}: {body['error_description']}" if body.get("error_description") else error
    errors = body.get("errors")
    if not message and isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        message = errors[0].get("message")
    return str(message)[:200] if message else ""


class HostedCollector(EntityCollector):
    """Base of the per-host collectors; subclasses set ``kinds`` (the integration kinds they read)."""

    kinds: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._host_rejected: dict[tuple[int, str], str] = {}
        self._resume_at: dict[str, float] = {}
        self._secrets_added = False
        # The first request to a host goes alone; the others wait for its answer, so a token the host refuses
        # (or a host that is down) costs one request, not one per fact in flight.
        self._gates: dict[str, asyncio.Event] = {}
        self._refused: dict[str, str] = {}
        self.default_refs = SharedRequests()  # this batch's memo requests (a repository's default branch...)
        self.default_ref_values: dict[str, str | None] = {}  # repository -> its default branch, once answered

    def set_config(self, config: Any) -> None:
        self._host_rejected, self._resume_at, self._secrets_added, self._gates, self._refused = {}, {}, False, {}, {}
        self.default_refs, self.default_ref_values = SharedRequests(), {}
        super().set_config(config)

    def _mask_secrets(self) -> None:
        if not self._secrets_added:
            redactor = http_options(self.context).redactor
            for secret in integration_secrets(self.context.app_config):
                redactor.add(secret)
            self._secrets_added = True

    async def collect_outcomes(
        self, entities: list[Entity], fact_refs: list[FactRef] | None = None, refresh: list[FactRef] | None = None
    ) -> list[Outcome]:
        try:
            return await super().collect_outcomes(entities, fact_refs, refresh)
        finally:
            # pending tasks belong to this batch; answers (default_ref_values), a host's open gate (an Event already
            # set never waits again, so later batches do not pay the first request's round trip) and a refused
            # host stay for the run
            self.default_refs.clear()

    async def memo(self, key: str, factory: Any) -> Any:
        """``await factory()`` once per ``key`` and run (e.g. a repository's default branch): the facts of a batch
        asking at the same time share one request, later batches the answer."""
        if key in self.default_ref_values:
            return self.default_ref_values[key]
        value = await self.default_refs.share(key, factory)
        self.default_ref_values[key] = value
        return value

    # -- hosts ----------------------------------------------------------------------------------------------------
    def label(self) -> str:
        return " / ".join(LABELS[k] for k in self.kinds)

    def disabled_reason(self) -> str | None:
        """No integration with a credential for any of ``kinds``: nothing can be collected (no anonymous calls)."""
        if not self.entries:
            return None
        if any(i.has_credentials() for kind in self.kinds for i in read_integrations(self.context.app_config, kind)):
            return None
        where = ", ".join(f"integrations.{k}" for k in self.kinds)
        return f"collector {self.id}: no {self.label()} credentials in the app-config ({where}); the API is never called without them"

    def repo(self, entity: Entity) -> Repo | None:
        return locate(entity, self.context.app_config, self.kinds)

    def repo_problem(self, entity: Entity) -> str:
        return locate_problem(entity, self.label())

    def integration(self, repo: Repo) -> Integration | None:
        return integration_for(self.context.app_config, repo.kind, repo.host)

    def no_credentials(self, repo: Repo) -> str:
        return (
            f"no {LABELS[repo.kind]} credentials for {repo.host}: add an integrations.{repo.kind} entry with host "
            f"{repo.host} and its credentials to the app-config"
        )

    def host_client(self, entry: EntryConfig, integration: Integration, organization: str | None = None) -> HttpClient:
        self._mask_secrets()
        key: Any = (entry.block_index, integration.kind, integration.host, organization)
        client = self._clients.get(key)
        if client is None:
            client = HttpClient(
                self.client_settings(entry),
                http_options(self.context),
                base_url=integration.api_base_url,
                headers={"Accept": "application/json", **(integration.auth_headers(organization) or {})},
                name=self.id,
            )
            self._clients[key] = client
        return client

    def host_rejected(self, entry: EntryConfig, integration: Integration) -> str | None:
        return self._host_rejected.get((entry.block_index, integration.host))

    def host_reject(self, entry: EntryConfig, integration: Integration, status: int, detail: str) -> str:
        reason = (
            f"{integration.label} rejected the credentials for {integration.host} (HTTP {status}"
            + (f" {detail}" if detail else "")
            + f"); they came from {integration.source}: check them and their expiry"
        )
        self._host_rejected[(entry.block_index, integration.host)] = reason
        return reason

    # -- requests -------------------------------------------------------------------------------------------------
    async def _wait_for_host(self, host: str) -> None:
        options = http_options(self.context)
        while True:
            delay = self._resume_at.get(host, 0.0) - options.clock()
            if delay <= 0:
                return
            await options.sleep(delay)

    def _note_rate_limit(self, host: str, response: httpx.Response) -> None:
        """GitLab's ``RateLimit-Remaining: 0`` with ``RateLimit-Reset`` (epoch seconds): the next request to this
        host waits for the reset rather than earning a 429 (docs.gitlab.com, "Rate limits" response headers)."""
        if response.headers.get("ratelimit-remaining", "").strip() != "0":
            return
        options = http_options(self.context)
        try:
            reset = float(response.headers.get("ratelimit-reset", ""))
        except ValueError:
            return
        wait = max(0.0, reset - options.wall_clock()) + 1.0
        self._resume_at[host] = max(self._resume_at.get(host, 0.0), options.clock() + min(wait, 3600.0))
        if options.log is not None:
            options.log("info", f"collector {self.id}: {host} rate limit reached; waiting {wait:.0f}s for its reset")

    async def get(
        self, client: HttpClient, integration: Integration, url: str, params: Any = None, *, method: str = "GET",
        json: Any = None,
    ) -> httpx.Response:
        """One request (a GET unless ``method`` says otherwise; ``json``: its body) on ``integration``'s API (``url``
        relative to its base, or absolute on the same origin), behind the host's gate and rate limit."""
        if "://" in url and not same_origin(url, integration.api_base_url):
            raise HttpError(f"refusing to follow {url}: not on {integration.api_base_url}")
        host = integration.host
        gate = self._gates.get(host)
        first = gate is None
        if gate is None:
            gate = self._gates[host] = asyncio.Event()
        else:
            await gate.wait()
        if host in self._refused:
            raise HttpError(self._refused[host], 401)
        await self._wait_for_host(host)
        try:
            response = await client.request(method, url, params=params, json=json)
            if response.status_code == 203:
                # Azure DevOps answers a credential it does not accept with 203 and its sign-in page, not 401.
                raise HttpError(f"{method} {response.request.url.path}: HTTP 203 (a sign-in page)", 401, response)
        except HttpError as exc:
            if exc.response is not None:
                self._note_rate_limit(host, exc.response)
            if exc.status == 401:
                self._refused[host] = str(exc)  # before the gate opens: the requests waiting on it are not sent
            raise
        finally:
            if first:
                gate.set()
        self._note_rate_limit(integration.host, response)
        return response

    async def get_json(self, client: HttpClient, integration: Integration, url: str, params: Any = None) -> Any:
        response = await self.get(client, integration, url, params)
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise HttpError(f"GET {response.request.url.path}: the response is not valid JSON") from None

    async def all_pages(self, client: HttpClient, integration: Integration, url: str, params: Any = None) -> list[Any]:
        """Every item of a list answered in pages: ``Link: rel="next"``, else GitLab's ``X-Next-Page``."""
        items: list[Any] = []
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            response = await self.get(client, integration, next_url, params)
            try:
                body = response.json()
            except (ValueError, UnicodeDecodeError):
                raise HttpError(f"GET {response.request.url.path}: the response is not valid JSON") from None
            if not isinstance(body, list):
                raise HttpError(f"GET {response.request.url.path}: unexpected response (not a JSON list)")
            items.extend(body)
            link_next = next_link(response)
            next_page = response.headers.get("x-next-page", "").strip()
            if link_next:
                next_url, params = link_next, None
            elif next_page.isdigit():
                params = {**dict(params or {}), "page": next_page}
            else:
                return items
        raise HttpError(f"GET {url}: more than {MAX_PAGES} pages; the list is not stored incomplete")

    def outcome_for_error(
        self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, integration: Integration, repo: Repo, exc: HttpError
    ) -> Outcome:
        ref = str(entity.ref)
        detail = api_message(exc.response)
        if isinstance(exc, NotFound):
            return Outcome.absent(
                ref, fact_ref,
                f"{integration.label} has no {repo} (or the credentials may not see it): HTTP 404"
                + (f" {detail.removeprefix('404 ')}" if detail else ""),
            )
        if exc.status == 401:
            return Outcome.failed(ref, fact_ref, self.host_reject(entry, integration, exc.status, detail))
        if exc.status == 403:
            return Outcome.failed(
                ref, fact_ref, f"the credentials from {integration.source} may not read {repo} (HTTP 403" + (f": {detail})" if detail else ")")
            )
        return Outcome.failed(ref, fact_ref, self._redact(exc))

    async def hosted_fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, read: Any) -> Outcome:
        """Resolve the repository and integration, then ``await read(client, integration, repo)`` → data;
        errors become outcomes."""
        ref = str(entity.ref)
        repo = self.repo(entity)
        if repo is None:
            return Outcome.not_applicable(ref, fact_ref, self.repo_problem(entity))
        integration = self.integration(repo)
        if integration is None or integration.auth_headers(repo.organization or None) is None:
            return Outcome.not_applicable(ref, fact_ref, self.no_credentials(repo))
        rejected = self.host_rejected(entry, integration)
        if rejected:
            return Outcome.failed(ref, fact_ref, rejected)
        client = self.host_client(entry, integration, repo.organization or None)
        try:
            data = await read(client, integration, repo)
        except HttpError as exc:
            return self.outcome_for_error(entity, fact_ref, entry, integration, repo, exc)
        except asyncio.CancelledError:
            raise
        if isinstance(data, Outcome):
            return data
        return Outcome.collected(self.make_fact(entity, fact_ref, data))
