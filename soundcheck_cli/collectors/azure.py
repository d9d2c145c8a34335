"""The ``azure`` collector: Soundcheck's Azure DevOps facts ``branch_policies``, ``branch_status``,
``number_of_branches``, ``number_of_active_pull_requests``, ``repository_details``, ``number_of_work_items``.

Credentials come from Backstage's ``integrations.azure`` (a personal access token per organization; Entra ID
client credentials are not supported by this CLI and say so)::

    integrations:
      azure:
        - host: dev.azure.com
          credentials:
            - personalAccessToken: ${AZURE_DEVOPS_PAT}
    soundcheck:
      collectors:
        azure:
          frequency: {cron: '0 * * * *'}
          filter: {kind: Component}
          collects:
            - type: RepositoryDetails           # azure:default/repository_details
            - type: BranchPolicies              # azure:default/branch_policies (default branch, or `branch`)
            - type: NumberOfActivePullRequests
            - type: NumberOfWorkItems
              query: "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.State] = 'Active'"

The repository is the entity's ``backstage.io/source-location``
(``https://dev.azure.com/{org}/{project}/_git/{repo}``) or ``dev.azure.com/project-repo`` with
``dev.azure.com/host-org``. REST API 7.1 (learn.microsoft.com/rest/api/azure/devops):

- ``repository_details``: ``GET .../git/repositories/{repo}``, the repository object unchanged;
- ``branch_policies``: ``GET {project}/_apis/policy/configurations`` filtered to the policies whose
  ``settings.scope`` applies to this repository (or to every repository) and branch (``exact`` name or ``prefix``)
  → ``{branch, count, value: [policy configurations]}``;
- ``branch_status``: ``GET .../refs?filter=heads/{branch}&includeStatuses=true`` → that branch's ref object
  (``name``, ``objectId``, ``statuses``...); a branch that does not exist is an absent fact;
- ``number_of_branches``: ``GET .../refs?filter=heads/`` (every page, ``x-ms-continuationtoken``) → ``{count}``;
- ``number_of_active_pull_requests``: ``GET .../pullRequests?searchCriteria.status=active`` (``$top``/``$skip``
  pages) → ``{count}``;
- ``number_of_work_items``: ``POST {project}/_apis/wit/wiql`` with the entry's ``query`` (default: the project's
  work items not Closed, Done or Removed) → ``{count}`` (WIQL answers up to 20,000 references).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.entity_collector import collector_config_schema
from soundcheck_cli.collectors.hosted import HostedCollector
from soundcheck_cli.collectors.integrations import AZURE, Integration, Repo
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpClient, HttpError, path_segment
from soundcheck_cli.located.nodes import loc_of

API_VERSION = "7.1"
PAGE = 1000
MAX_PAGES = 100
DEFAULT_QUERY = (
    "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
    "AND [System.State] NOT IN ('Closed', 'Done', 'Removed')"
)
TYPES = (
    "BranchPolicies",
    "BranchStatus",
    "NumberOfBranches",
    "NumberOfActivePullRequests",
    "RepositoryDetails",
    "NumberOfWorkItems",
)
DEFAULT_FACT_NAMES = {kind: re.sub(r"(?<=[a-z])(?=[A-Z])", "_", kind).lower() for kind in TYPES}
_BY_NAME = {name: kind for kind, name in DEFAULT_FACT_NAMES.items()}
_COUNT = {"type": "object", "properties": {"count": {"type": "integer", "minimum": 0}}, "required": ["count"]}
SCHEMAS: dict[str, dict[str, Any]] = {
    "BranchPolicies": {
        "title": "Azure DevOps policy configurations that apply to the branch",
        "type": "object",
        "properties": {"branch": {"type": "string"}, "count": {"type": "integer"}, "value": {"type": "array", "items": {"type": "object"}}},
        "required": ["branch", "count", "value"],
    },
    "BranchStatus": {
        "title": "Azure DevOps ref of the branch (refs?includeStatuses=true)",
        "type": "object",
        "properties": {"name": {"type": "string"}, "objectId": {"type": "string"}, "statuses": {"type": "array"}},
        "required": ["name"],
    },
    "NumberOfBranches": {"title": "Number of branches", **_COUNT},
    "NumberOfActivePullRequests": {"title": "Number of active pull requests", **_COUNT},
    "RepositoryDetails": {
        "title": "Azure DevOps Git repository (GET git/repositories/{repo})",
        "type": "object",
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "defaultBranch": {"type": "string"}},
        "required": ["id", "name"],
    },
    "NumberOfWorkItems": {"title": "Number of work items the WIQL query returns", **_COUNT},
}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "azure collector",
    block_properties={},
    entry_properties={
        "type": {"enum": [*TYPES, *DEFAULT_FACT_NAMES.values()]},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "branch": {"type": "string", "minLength": 1},
        "query": {"type": "string", "minLength": 1},
    },
)


def _branch_ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def policy_applies(config: Mapping[str, Any], repository_id: str, ref_name: str) -> bool:
    """Whether a policy configuration's ``settings.scope`` covers the repository and ref: a scope item with no
    ``repositoryId`` covers every repository; ``matchKind`` ``exact`` (default) or ``prefix`` on ``refName``; no
    ``refName`` covers every branch."""
    scopes = (config.get("settings") or {}).get("scope") if isinstance(config.get("settings"), Mapping) else None
    if not isinstance(scopes, list):
        return False
    for scope in scopes:
        if not isinstance(scope, Mapping):
            continue
        repo = scope.get("repositoryId")
        if repo and str(repo).lower() != repository_id.lower():
            continue
        name = scope.get("refName")
        if not name:
            return True
        kind = str(scope.get("matchKind") or "exact").lower()
        if (kind == "prefix" and ref_name.startswith(str(name))) or (kind != "prefix" and ref_name == name):
            return True
    return False


class AzureDevOpsCollector(HostedCollector):
    id = "azure"
    name = "Azure DevOps"
    description = "Azure DevOps repository details, branch policies and status, branch/pull request/work item counts."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = SCHEMAS
    kinds = (AZURE,)

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        kind = entry.get("type")
        if kind is None and entry.get("factName") in _BY_NAME:
            kind = _BY_NAME[entry["factName"]]
        kind = _BY_NAME.get(kind, kind)
        if kind is None:
            problems.error(f"collects: an entry needs a type ({', '.join(TYPES)})", location)
            return None
        if entry.get("branch") is not None and kind not in ("BranchPolicies", "BranchStatus"):
            problems.error("collects: branch applies to BranchPolicies and BranchStatus only", loc_of(entry, "branch") or location)
            return None
        if entry.get("query") is not None and kind != "NumberOfWorkItems":
            problems.error("collects: query applies to NumberOfWorkItems only", loc_of(entry, "query") or location)
            return None
        typed = self.typed_fact_ref({**entry, "type": kind}, location, problems)
        return None if typed is None else [typed[0]]

    def no_credentials(self, repo: Repo) -> str:
        integration = self.integration(repo)
        if integration is not None and any(c.kind != "PersonalAccessToken" for c in integration.credentials):
            return (
                f"no personal access token for organization {repo.organization} on {repo.host}: this CLI supports "
                "integrations.azure[].credentials[].personalAccessToken only (not Entra ID client credentials)"
            )
        return super().no_credentials(repo)

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        kind = self.fact_type(fact_ref)

        async def read(client: HttpClient, integration: Integration, repo: Repo) -> Any:
            org, project = path_segment(repo.organization), path_segment(repo.project)
            base = f"/{org}/{project}/_apis/git/repositories/{path_segment(repo.name)}"
            version = {"api-version": API_VERSION}

            async def details() -> Any:
                return await self.get_json(client, integration, base, version)

            if kind == "RepositoryDetails":
                return await self.memo(f"azure-repo:{repo}", details)
            if kind in ("BranchPolicies", "BranchStatus"):
                info = await self.memo(f"azure-repo:{repo}", details)
                branch = entry.entry.get("branch") or (info.get("defaultBranch") if isinstance(info, Mapping) else None)
                if not branch:
                    return Outcome.absent(str(entity.ref), fact_ref, f"{repo} has no default branch (an empty repository?)")
                ref_name = _branch_ref(branch)
                if kind == "BranchStatus":
                    refs = await self._all(client, integration, f"{base}/refs",
                                           {**version, "filter": ref_name.removeprefix("refs/"), "includeStatuses": "true"})
                    found = next((r for r in refs if isinstance(r, Mapping) and r.get("name") == ref_name), None)
                    if found is None:
                        return Outcome.absent(str(entity.ref), fact_ref, f"{repo} has no branch {ref_name}")
                    return found
                policies = await self._all(client, integration, f"/{org}/{project}/_apis/policy/configurations", version)
                value = [p for p in policies if isinstance(p, Mapping) and policy_applies(p, str(info.get("id", "")), ref_name)]
                return {"branch": ref_name, "count": len(value), "value": value}
            if kind == "NumberOfBranches":
                return {"count": len(await self._all(client, integration, f"{base}/refs", {**version, "filter": "heads/"}))}
            if kind == "NumberOfActivePullRequests":
                return {"count": await self._count_pull_requests(client, integration, f"{base}/pullRequests")}
            return {"count": await self._count_work_items(client, integration, f"/{org}/{project}/_apis/wit/wiql", entry)}

        return await self.hosted_fetch(entity, fact_ref, entry, read)

    async def _all(self, client: HttpClient, integration: Integration, url: str, params: dict[str, str]) -> list[Any]:
        """``value`` of every page, following the ``x-ms-continuationtoken`` response header."""
        items: list[Any] = []
        query = dict(params)
        for _ in range(MAX_PAGES):
            response = await self.get(client, integration, url, query)
            body = _json(response)
            value = body.get("value") if isinstance(body, Mapping) else None
            if not isinstance(value, list):
                raise HttpError(f"GET {url}: unexpected response (no value list)")
            items.extend(value)
            token = response.headers.get("x-ms-continuationtoken")
            if not token:
                return items
            query = {**params, "continuationToken": token}
        raise HttpError(f"GET {url}: more than {MAX_PAGES} pages")

    async def _count_pull_requests(self, client: HttpClient, integration: Integration, url: str) -> int:
        total = 0
        for page in range(MAX_PAGES):
            params = {"api-version": API_VERSION, "searchCriteria.status": "active", "$top": str(PAGE), "$skip": str(page * PAGE)}
            body = _json(await self.get(client, integration, url, params))
            value = body.get("value") if isinstance(body, Mapping) else None
            if not isinstance(value, list):
                raise HttpError(f"GET {url}: unexpected response (no value list)")
            total += len(value)
            if len(value) < PAGE:
                return total
        raise HttpError(f"GET {url}: more than {MAX_PAGES * PAGE} pull requests")

    async def _count_work_items(self, client: HttpClient, integration: Integration, url: str, entry: EntryConfig) -> int:
        query = entry.entry.get("query") or DEFAULT_QUERY
        response = await self.get(client, integration, url, {"api-version": API_VERSION}, method="POST",
                                  json={"query": query})
        body = _json(response)
        items = body.get("workItems") if isinstance(body, Mapping) else None
        if items is None and isinstance(body, Mapping) and isinstance(body.get("workItemRelations"), list):
            items = [r for r in body["workItemRelations"] if isinstance(r, Mapping) and r.get("target")]
        if not isinstance(items, list):
            raise HttpError(f"POST {url}: unexpected response (no workItems)")
        return len(items)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise HttpError(f"{response.request.method} {response.request.url.path}: the response is not valid JSON") from None
