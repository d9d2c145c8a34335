"""Repository files through the GitLab, Azure DevOps and Bitbucket APIs, for the ``scm`` collector.

Each source answers what the ``scm`` collector asks of a local checkout or of GitHub: ``exists(path)`` (a file or
a directory) and ``read(path, cap)`` → ``(bytes, size)`` or ``None`` when the file is missing, so the facts are
the same whatever the host. Requests go through the collector's ``HostedCollector`` methods (the host's
credentials, rate limits, the first request alone). The ref read is the entry's ``branch``, else the one in the
entity's source-location URL, else the repository's default branch (asked once per repository and run).

- GitLab (docs.gitlab.com/api/repository_files): ``GET /projects/:id/repository/files/:path/raw?ref=`` (the
  path URL-encoded as one segment); a directory is found by ``GET /projects/:id/repository/tree?path=``.
- Azure DevOps (Git Items - Get, api-version 7.1): ``GET /{org}/{project}/_apis/git/repositories/{repo}/items
  ?path=&includeContent=true&$format=json`` (the item's ``content``; ``isFolder`` for directories).
- Bitbucket Cloud: ``GET /2.0/repositories/{workspace}/{repo}/src/{ref}/{path}`` (the file's bytes; a directory
  answers a JSON listing), ``?format=meta`` for existence; the default branch is the repository's ``mainbranch``.
- Bitbucket Server / Data Center: ``GET /rest/api/1.0/projects/{key}/repos/{slug}/raw/{path}?at=`` and
  ``.../browse/{path}?at=&limit=1`` for existence. Atlassian publishes no example responses for these, so only
  the status codes are relied on (200 / 404).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soundcheck_cli.collectors.integrations import AZURE, BITBUCKET_CLOUD, GITLAB, Integration, Repo
from soundcheck_cli.http.client import HttpClient, HttpError, NotFound, path_segment


class NotAFileError(Exception):
    """The path is a directory (the ``scm`` collector turns this into its own ``NotAFile``)."""


def _segments(path: str) -> str:
    return "/".join(path_segment(s) for s in path.split("/") if s)


class HostedFiles:
    """Files of one repository on a GitLab / Azure DevOps / Bitbucket host."""

    def __init__(self, collector: Any, client: HttpClient, integration: Integration, repo: Repo, ref: str | None) -> None:
        self.collector, self.client, self.integration, self.repo = collector, client, integration, repo
        self.ref = ref

    # -- the default branch, once per repository and collector -----------------------------------------------------
    async def branch(self) -> str | None:
        if self.ref:
            return self.ref
        # One request per repository: the facts read concurrently share the first one's answer.
        return await self.collector.memo(f"default-branch:{self.repo}", self._default_branch)

    async def _default_branch(self) -> str | None:
        repo, get = self.repo, self.collector.get_json
        if repo.kind == GITLAB:
            from soundcheck_cli.collectors.gitlab import project_id

            details = await get(self.client, self.integration, f"/projects/{project_id(repo)}")
            return details.get("default_branch") if isinstance(details, Mapping) else None
        if repo.kind == BITBUCKET_CLOUD:
            details = await get(self.client, self.integration, f"/repositories/{path_segment(repo.project)}/{path_segment(repo.name)}")
            main = details.get("mainbranch") if isinstance(details, Mapping) else None
            return main.get("name") if isinstance(main, Mapping) else None
        return None  # Azure DevOps and Bitbucket Server read the default branch when no ref is given

    # -- requests -------------------------------------------------------------------------------------------------
    async def exists(self, path: str) -> bool:
        repo, ref = self.repo, await self.branch()
        try:
            if repo.kind == GITLAB:
                from soundcheck_cli.collectors.gitlab import project_id

                base = f"/projects/{project_id(repo)}/repository"
                try:
                    await self.collector.get(self.client, self.integration, f"{base}/files/{path_segment(path)}",
                                             {"ref": ref or "HEAD"}, method="HEAD")
                    return True
                except NotFound:
                    # not a file: a directory is a non-empty tree
                    tree = await self.collector.get_json(
                        self.client, self.integration, f"{base}/tree", {"path": path, "ref": ref or "HEAD", "per_page": "1"}
                    )
                    return isinstance(tree, list) and bool(tree)
            if repo.kind == AZURE:
                await self.collector.get(self.client, self.integration, self._azure_url(), self._azure_params(path, ref, False))
                return True
            if repo.kind == BITBUCKET_CLOUD:
                await self.collector.get(self.client, self.integration, self._cloud_url(path, ref), {"format": "meta"})
                return True
            await self.collector.get(self.client, self.integration, self._server_url("browse", path),
                                     {"limit": "1", **({"at": ref} if ref else {})})
            return True
        except NotFound:
            return False

    async def read(self, path: str, cap: int) -> tuple[bytes, int] | None:
        repo, ref = self.repo, await self.branch()
        try:
            if repo.kind == GITLAB:
                from soundcheck_cli.collectors.gitlab import project_id

                url = f"/projects/{project_id(repo)}/repository/files/{path_segment(path)}/raw"
                response = await self.collector.get(self.client, self.integration, url, {"ref": ref or "HEAD"})
                return response.content[: cap + 1], len(response.content)
            if repo.kind == AZURE:
                item = await self.collector.get_json(self.client, self.integration, self._azure_url(),
                                                     self._azure_params(path, ref, True))
                if not isinstance(item, Mapping):
                    raise HttpError(f"{repo}: unexpected item response")
                if item.get("isFolder"):
                    raise NotAFileError(f"/{path} is a directory")
                data = str(item.get("content") or "").encode("utf-8")
                return data[: cap + 1], len(data)
            if repo.kind == BITBUCKET_CLOUD:
                response = await self.collector.get(self.client, self.integration, self._cloud_url(path, ref))
            else:
                response = await self.collector.get(self.client, self.integration, self._server_url("raw", path),
                                                    {"at": ref} if ref else None)
            content_type = response.headers.get("content-type", "").lower()
            if repo.kind == BITBUCKET_CLOUD and "json" in content_type and b'"values"' in response.content[:4096] \
                    and not path.endswith(".json"):
                raise NotAFileError(f"/{path} is a directory")
            return response.content[: cap + 1], len(response.content)
        except NotFound:
            return None

    # -- URLs -----------------------------------------------------------------------------------------------------
    def _azure_url(self) -> str:
        repo = self.repo
        return (f"/{path_segment(repo.organization)}/{path_segment(repo.project)}/_apis/git/repositories/"
                f"{path_segment(repo.name)}/items")

    @staticmethod
    def _azure_params(path: str, ref: str | None, content: bool) -> dict[str, str]:
        params = {"path": "/" + path, "api-version": "7.1"}
        if content:
            params.update({"includeContent": "true", "$format": "json"})
        if ref:
            params.update({"versionDescriptor.version": ref, "versionDescriptor.versionType": "branch"})
        return params

    def _cloud_url(self, path: str, ref: str | None) -> str:
        repo = self.repo
        return (f"/repositories/{path_segment(repo.project)}/{path_segment(repo.name)}/src/"
                f"{path_segment(ref or 'HEAD')}/{_segments(path)}")

    def _server_url(self, what: str, path: str) -> str:
        repo = self.repo
        return f"/projects/{path_segment(repo.project)}/repos/{path_segment(repo.name)}/{what}/{_segments(path)}"
