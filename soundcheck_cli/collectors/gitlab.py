"""The ``gitlab`` collector: Soundcheck's GitLab facts ``branch_protections``, ``project_details``,
``project_languages``, from gitlab.com or a self-hosted GitLab (REST API v4).

Configured like Soundcheck's GitLab integration; credentials come from Backstage's ``integrations.gitlab``
(``integrations`` module)::

    integrations:
      gitlab:
        - host: gitlab.example.com
          token: ${GITLAB_TOKEN}
    soundcheck:
      collectors:
        gitlab:
          frequency: {cron: '0 * * * *'}
          filter: {kind: Component}
          cache: {duration: {hours: 2}}
          collects:
            - type: BranchProtections          # gitlab:default/branch_protections
            - type: ProjectDetails             # gitlab:default/project_details
            - type: ProjectLanguages           # gitlab:default/project_languages

A ``collects`` entry names its fact by ``type`` (``BranchProtections``, ``ProjectDetails``, ``ProjectLanguages``;
the snake_case fact names are accepted as types too) or by ``factName`` alone when that is one of the three
default names. Fact data is GitLab's response, unchanged:

- ``project_details``: ``GET /projects/:id`` (the project object: ``default_branch``, ``visibility``, ...);
- ``project_languages``: ``GET /projects/:id/languages`` (``{"Ruby": 66.69, ...}``, percentages);
- ``branch_protections``: ``GET /projects/:id/protected_branches`` (every page: the list of protected-branch
  rules, wildcards such as ``release/*`` included); with the entry's ``branch``, ``GET
  /projects/:id/protected_branches/:name`` (one rule; "not protected" is an absent fact).

``:id`` is the ``gitlab.com/project-id`` annotation or the project's full path URL-encoded as one segment
(``group%2Fsubgroup%2Fname``), as GitLab requires. A project that moved answers 301 with its new location, which
is followed (same host only; the token never leaves it) and reported once so the annotation can be updated.
Lists follow ``Link: rel="next"`` / ``X-Next-Page``; ``RateLimit-Remaining: 0`` waits for ``RateLimit-Reset``
and a 429 for its ``Retry-After``. 401 stops the requests to that host; 403 and 404 are per-fact messages with
GitLab's own text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.entity_collector import collector_config_schema
from soundcheck_cli.collectors.hosted import HostedCollector, api_message
from soundcheck_cli.collectors.integrations import GITLAB, Integration, Repo
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.http.client import HttpClient, NotFound, path_segment
from soundcheck_cli.located.nodes import loc_of

PER_PAGE = 100
DEFAULT_FACT_NAMES = {
    "BranchProtections": "branch_protections",
    "ProjectDetails": "project_details",
    "ProjectLanguages": "project_languages",
}
_BY_NAME = {name: kind for kind, name in DEFAULT_FACT_NAMES.items()}

_ACCESS_LEVELS = {"type": "array", "items": {"type": "object", "properties": {"access_level": {"type": ["integer", "null"]}}}}
_PROTECTED_BRANCH = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "push_access_levels": _ACCESS_LEVELS,
        "merge_access_levels": _ACCESS_LEVELS,
        "unprotect_access_levels": _ACCESS_LEVELS,
        "allow_force_push": {"type": "boolean"},
        "code_owner_approval_required": {"type": "boolean"},
    },
    "required": ["name"],
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "BranchProtections": {
        "title": "GitLab protected branches (GET /projects/:id/protected_branches; one rule with `branch`)",
        "oneOf": [{"type": "array", "items": _PROTECTED_BRANCH}, _PROTECTED_BRANCH],
    },
    "ProjectDetails": {
        "title": "GitLab project (GET /projects/:id)",
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "path_with_namespace": {"type": "string"},
            "default_branch": {"type": ["string", "null"]},
            "visibility": {"type": "string"},
            "archived": {"type": "boolean"},
            "topics": {"type": "array", "items": {"type": "string"}},
            "web_url": {"type": "string"},
        },
        "required": ["id"],
    },
    "ProjectLanguages": {
        "title": "GitLab project languages, percent (GET /projects/:id/languages)",
        "type": "object",
        "additionalProperties": {"type": "number"},
    },
}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "gitlab collector",
    block_properties={},
    entry_properties={
        "type": {"enum": [*DEFAULT_FACT_NAMES, *DEFAULT_FACT_NAMES.values()]},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "branch": {"type": "string", "minLength": 1},
    },
)


def project_id(repo: Repo) -> str:
    """GitLab's ``:id``: the numeric id, or the full path URL-encoded as one segment (``group%2Fsub%2Fname``)."""
    return repo.project if repo.project.isdigit() else path_segment(repo.project)


class GitlabCollector(HostedCollector):
    id = "gitlab"
    name = "GitLab"
    description = "GitLab project details, languages and protected branches (gitlab.com or self-hosted)."
    default_fact_names = DEFAULT_FACT_NAMES
    fact_schemas = SCHEMAS
    kinds = (GITLAB,)

    def __init__(self) -> None:
        super().__init__()
        self._moved_reported: set[str] = set()

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        kind = entry.get("type")
        if kind is None and entry.get("factName") in _BY_NAME:
            kind = _BY_NAME[entry["factName"]]
        elif kind in _BY_NAME:
            kind = _BY_NAME[kind]
        if kind is None:
            problems.error(
                f"collects: an entry needs a type ({', '.join(DEFAULT_FACT_NAMES)}) or a factName among "
                f"{', '.join(_BY_NAME)}", location,
            )
            return None
        if entry.get("branch") is not None and kind != "BranchProtections":
            problems.error("collects: branch applies to BranchProtections only", loc_of(entry, "branch") or location)
            return None
        typed = self.typed_fact_ref({**entry, "type": kind}, location, problems)
        return None if typed is None else [typed[0]]

    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        kind = self.fact_type(fact_ref)

        async def read(client: HttpClient, integration: Integration, repo: Repo) -> Any:
            base = f"/projects/{project_id(repo)}"
            if kind == "ProjectDetails":
                response = await self.get(client, integration, base)
                self._report_move(repo, response)
                return response.json()
            if kind == "ProjectLanguages":
                return await self.get_json(client, integration, f"{base}/languages")
            branch = entry.entry.get("branch")
            if branch:
                try:
                    return await self.get_json(client, integration, f"{base}/protected_branches/{path_segment(branch)}")
                except NotFound as exc:
                    if "project" in api_message(exc.response).lower():
                        raise  # "404 Project Not Found": the project itself is missing
                    # 404 for the branch of a project that exists: the branch has no protection rule of that name.
                    return Outcome.absent(str(entity.ref), fact_ref, f"branch {branch!r} of {repo} is not protected (HTTP 404)")
            return await self.all_pages(client, integration, f"{base}/protected_branches", {"per_page": str(PER_PAGE)})

        return await self.hosted_fetch(entity, fact_ref, entry, read)

    def _report_move(self, repo: Repo, response: Any) -> None:
        """GitLab answers a renamed or transferred project's old path with 301 to ``/projects/<id>``; httpx followed
        it. Say so once per project: the catalog annotation is stale and each run pays an extra request."""
        history = getattr(response, "history", None) or []
        if history and not repo.project.isdigit() and repo.project not in self._moved_reported:
            self._moved_reported.add(repo.project)
            self.logger.warning(
                f"project {repo} has moved (HTTP {history[0].status_code} to {response.request.url.path}); "
                "update the entity's annotation"
            )
