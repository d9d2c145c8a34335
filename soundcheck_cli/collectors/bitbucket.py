"""The ``bitbucket`` collector: repository details from Bitbucket Cloud and Bitbucket Server / Data Center.

Soundcheck documents no Bitbucket fact collector; this one follows the shape of its GitHub/GitLab collectors so the
same checks can be written for repositories on Bitbucket. Credentials come from Backstage's
``integrations.bitbucketCloud`` (``username`` + ``appPassword``) and ``integrations.bitbucketServer`` (``host``,
``apiBaseUrl``, ``token`` or ``username`` + ``password``)::

    soundcheck:
      collectors:
        bitbucket:
          collects:
            - type: RepositoryDetails        # bitbucket:default/repository_details

The repository is the entity's ``backstage.io/source-location``: ``https://bitbucket.org/{workspace}/{repo}/src/...``
(Cloud) or ``https://{host}/projects/{KEY}/repos/{slug}/browse`` (Server). Fact data is the host's answer
unchanged: Cloud ``GET /2.0/repositories/{workspace}/{repo}`` (``full_name``, ``is_private``, ``mainbranch``...),
Server ``GET /rest/api/1.0/projects/{KEY}/repos/{slug}`` (``slug``, ``project``, ``public``...). Atlassian
publishes schemas but no example response for either, so the two shapes differ and are tested on constructed bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.entity_collector import collector_config_schema
from soundcheck_cli.collectors.hosted import HostedCollector
from soundcheck_cli.collectors.integrations import BITBUCKET_CLOUD, BITBUCKET_SERVER, Integration, Repo
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpClient, path_segment

DEFAULT_FACT_NAMES = {"RepositoryDetails": "repository_details"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "RepositoryDetails": {
        "title": "Bitbucket repository (Cloud: GET /2.0/repositories/{workspace}/{repo}; Server: GET "
        "/rest/api/1.0/projects/{key}/repos/{slug})",
        "type": "object",
        "properties": {"slug": {"type": "string"}, "name": {"type": "string"}, "full_name": {"type": "string"}},
    }
}
CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "bitbucket collector",
    block_properties={},
    entry_properties={"type": {"enum": list(DEFAULT_FACT_NAMES)}, "factName": {"type": "string", "pattern": r"^[^\s:]+$"}},
    entry_required=("type",),
)


class BitbucketCollector(HostedCollector):
    id = "bitbucket"
    name = "Bitbucket"
    description = "Repository details from Bitbucket Cloud and Bitbucket Server / Data Center."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = SCHEMAS
    kinds = (BITBUCKET_CLOUD, BITBUCKET_SERVER)

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        async def read(client: HttpClient, integration: Integration, repo: Repo) -> Any:
            if repo.kind == BITBUCKET_CLOUD:
                url = f"/repositories/{path_segment(repo.project)}/{path_segment(repo.name)}"
            else:
                url = f"/projects/{path_segment(repo.project)}/repos/{path_segment(repo.name)}"
            data = await self.get_json(client, integration, url)
            if not isinstance(data, Mapping):
                raise ValueError(f"GET {url}: unexpected response (not a JSON object)")
            return data

        return await self.hosted_fetch(entity, fact_ref, entry, read)
