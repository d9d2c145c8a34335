"""The ``scm`` collector: facts about the files in an entity's repository (Soundcheck's SCM integration).

Configured as in Soundcheck's demo configuration::

    soundcheck:
      collectors:
        scm:
          frequency: {cron: '* * * * *'}
          filter: {kind: 'Component'}
          cache: {duration: {hours: 2}}
          collects:
            - factName: readme_and_catalog_info_files_exist_fact
              type: exists
              data:
                - {name: readme_exists, path: /README.md}
                - {name: catalog_info_exists, path: /catalog-info.yaml}
            - factName: python_service_runs_tests
              type: regex
              regex: \\s*run:\\s*\\|*\\s*pytest.*$
              path: /.github/workflows/build.yaml

Types (each stored as ``scm:default/<factName>``; ``factName`` defaults to the type):

- ``exists``: ``data: [{name, path}]`` → ``{name: true|false}`` (a directory exists too);
- ``regex``: ``regex`` searched in the file at ``path`` → ``{matches: true|false}`` (a missing file does not match).
  The regex is Python's ``re`` with ``MULTILINE``, so ``^``/``$`` anchor at each line as a reader of a workflow
  file expects;
- ``json`` / ``yaml``: the parsed file at ``path``, or the value at ``jsonpath`` in it (``null`` when nothing
  matches; ``rules.jsonpath`` semantics); a missing file records the fact as absent;
- ``content``: ``{content, size, truncated}``, the file's text cut at ``maxSize`` bytes (default 64 KiB).

Paths are relative to the repository root (a leading ``/`` is allowed) and can never leave it: ``..`` segments
are configuration errors, and in a local checkout a path whose real location (symlinks resolved) is outside the
root is refused.

**Sources.** With ``--scm-root DIR`` (``collect``/``run``), the block's ``root`` (relative to its config file) or a
top-level ``scm: {root: DIR}`` in the app-config, files are read from that local checkout for every selected
entity: the CI step running inside the service's own repository. Otherwise they are read through the GitHub
contents API (``GET /repos/{o}/{r}/contents/{path}?ref=``, docs.github.com/rest/repos/contents) of the entity's
repository, with the token of the ``github`` collector's sources (``github_repo``) and the same ETag cache; the ref
is the entry's ``branch``, else the ``/tree/<ref>/`` of the source location, else the default branch.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.collectors.base import CollectionConfig
from soundcheck_cli.collectors.entity_collector import collector_config_schema
from soundcheck_cli.collectors.github import (
    GITHUB_BLOCK_PROPERTIES,
    JSON_ACCEPT,
    RAW_ACCEPT,
    GithubApiCollector,
    error_message,
)
from soundcheck_cli.collectors.github_repo import no_token_message, repo_problem
from soundcheck_cli.collectors.hosted import HostedCollector, api_message
from soundcheck_cli.collectors.integrations import KINDS, read_integrations
from soundcheck_cli.collectors.scm_hosts import HostedFiles, NotAFileError
from soundcheck_cli.http.client import HttpError, NotFound, path_segment
from soundcheck_cli.collectors.outcomes import Outcome
from soundcheck_cli.collectors.schedule import EntryConfig, as_list, one_or_many
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.jsonpath import MISSING, compile_path, path_problem

SOURCE = "scm"
TYPES = ("exists", "regex", "json", "yaml", "content")
DEFAULT_MAX_SIZE = 1024 * 1024  # files parsed or searched: larger ones are refused (json/yaml) or cut (regex)
DEFAULT_CONTENT_SIZE = 64 * 1024  # ``content`` facts: the text kept in the fact
MAX_NODES = 1_000_000  # a parsed json/yaml document (YAML aliases can make a small file a huge document)

_PATH_ITEM = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1}, "path": {"type": "string", "minLength": 1}},
    "required": ["name", "path"],
    "additionalProperties": False,
}

CONFIG_SCHEMA: dict[str, Any] = collector_config_schema(
    "scm collector",
    block_properties={
        **GITHUB_BLOCK_PROPERTIES,
        "root": {"type": "string", "minLength": 1},
        "branch": {"type": "string", "minLength": 1},
        "maxSize": {"type": "integer", "minimum": 1},
    },
    entry_properties={
        "type": {"enum": list(TYPES)},
        "factName": {"type": "string", "pattern": r"^[^\s:]+$"},
        "data": one_or_many(_PATH_ITEM),
        "regex": {"type": "string", "minLength": 1},
        "path": {"type": "string", "minLength": 1},
        "jsonpath": {"type": "string", "minLength": 1},
        "branch": {"type": "string", "minLength": 1},
        "maxSize": {"type": "integer", "minimum": 1},
    },
    entry_required=("type",),
)


class PathEscape(Exception):
    """A path that would leave the repository root (``..``, or a symlink pointing outside)."""


class NotAFile(Exception):
    """The path names a directory where a file was needed."""


def repo_path(text: Any) -> str:
    """``/README.md`` → ``README.md``: a path relative to the repository root. Raises ``PathEscape`` for ``..``
    segments and ``ValueError`` for an empty path, a backslash or a NUL."""
    if not isinstance(text, str):
        raise ValueError("path must be a string such as /README.md")  # noqa: TRY004 - callers report ValueErrors
    if "\x00" in text or "\\" in text:
        raise ValueError(f"path {text!r} may not contain a backslash or a NUL character")
    segments = [s for s in text.strip().split("/") if s not in ("", ".")]
    if any(s == ".." for s in segments):
        raise PathEscape(f"path {text!r} leaves the repository root ('..' is not allowed)")
    if not segments:
        raise ValueError(f"path {text!r} names no file")
    return "/".join(segments)


def resolve_local(root: str, relative: str) -> str:
    """The real path of ``relative`` under the real ``root``; ``PathEscape`` when symlinks lead outside."""
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    if target != base and not target.startswith(base.rstrip(os.sep) + os.sep):
        raise PathEscape(f"path /{relative} resolves outside the repository root (through a symlink); it is not read")
    return target


def _node_count_ok(value: Any, budget: int | None = None) -> bool:
    """Whether ``value`` has at most ``budget`` (default ``MAX_NODES``) nodes: YAML aliases expand when a document
    is serialised, so a few hundred bytes can stand for billions of values."""
    budget = MAX_NODES if budget is None else budget
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            return False
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def parse_document(kind: str, text: str, shown: str) -> Any:
    """The parsed ``json``/``yaml`` file (several YAML documents → a list). Raises ``ValueError`` with a message."""
    if kind == "json":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{shown} is not valid JSON: {exc}") from None
    else:
        from soundcheck_cli.located.yaml import load_plain

        try:
            documents = load_plain(text, shown, max_nodes=MAX_NODES, max_depth=200)
        except ValueError as exc:
            raise ValueError(f"{shown} is not valid YAML: {exc}") from None
        value = documents[0] if len(documents) == 1 else (documents or None)
    if not _node_count_ok(value):
        raise ValueError(f"{shown} expands to more than {MAX_NODES} values; it is not stored")
    try:  # plain JSON data only (YAML dates and the like become strings)
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{shown} cannot be stored as JSON: {exc}") from None


class _Local:
    """Files of a local checkout."""

    def __init__(self, root: str) -> None:
        self.root = root

    async def exists(self, path: str) -> bool:
        return os.path.exists(resolve_local(self.root, path))

    async def read(self, path: str, cap: int) -> tuple[bytes, int] | None:
        """The first ``cap + 1`` bytes and the size; ``None`` when missing (read in a worker thread)."""
        return await asyncio.to_thread(self._read, path, cap)

    def _read(self, path: str, cap: int) -> tuple[bytes, int] | None:
        target = resolve_local(self.root, path)
        if not os.path.exists(target):
            return None
        if os.path.isdir(target):
            raise NotAFile(f"/{path} is a directory")
        with open(target, "rb") as handle:
            data = handle.read(cap + 1)
        return data, os.path.getsize(target)


class _GithubContents:
    """Files through the GitHub contents API (conditional GETs through the collector)."""

    def __init__(self, collector: ScmCollector, client: Any, creds: Any, repo: Any, ref: str | None, refresh: bool):
        self.collector, self.client, self.creds, self.repo, self.ref, self.refresh = collector, client, creds, repo, ref, refresh

    def _url(self, path: str) -> str:
        url = f"/repos/{path_segment(self.repo.owner)}/{path_segment(self.repo.name)}/contents/"
        url += "/".join(path_segment(s) for s in path.split("/"))
        return url + (f"?ref={path_segment(self.ref)}" if self.ref else "")

    async def exists(self, path: str) -> bool:
        try:
            await self.collector.conditional_get(
                self.client, self.creds, self._url(path), lambda _: True, refresh=self.refresh, accept=JSON_ACCEPT
            )
        except NotFound:
            return False
        return True

    async def read(self, path: str, cap: int) -> tuple[bytes, int] | None:
        def reduce(response: httpx.Response) -> Any:
            # The raw media type answers a file's bytes; a directory still comes back as a JSON listing.
            if "json" in response.headers.get("content-type", "").lower() and response.content.lstrip()[:1] == b"[":
                return {"directory": True}
            return {"text": response.content[: cap + 1].decode("utf-8", errors="replace"), "size": len(response.content)}

        try:
            page = await self.collector.conditional_get(
                self.client, self.creds, self._url(path), reduce, refresh=self.refresh, accept=RAW_ACCEPT
            )
        except NotFound:
            return None
        if page.data.get("directory"):
            raise NotAFile(f"/{path} is a directory")
        return page.data["text"].encode("utf-8"), int(page.data["size"])


class ScmCollector(GithubApiCollector, HostedCollector):
    id = "scm"
    name = "SCM"
    description = (
        "Facts about repository files (exists, regex, json, yaml, content) from a local checkout, GitHub, GitLab, "
        "Azure DevOps or Bitbucket."
    )
    kinds = KINDS

    def __init__(self) -> None:
        super().__init__()
        self._regexes: dict[str, re.Pattern[str]] = {}

    def config_schema(self) -> dict[str, Any]:
        return CONFIG_SCHEMA

    # -- configuration --------------------------------------------------------------------------------------------
    def _check_path(self, node: Mapping[str, Any], key: str, problems: Problems, location: Location | None) -> bool:
        try:
            repo_path(node.get(key))
        except (PathEscape, ValueError) as exc:
            problems.error(f"collects: {key}: {exc}", loc_of(node, key) or location)
            return False
        return True

    def entry_fact_refs(
        self, entry: Mapping[str, Any], block: Mapping[str, Any], location: Location | None, problems: Problems
    ) -> list[FactRef] | None:
        kind = entry.get("type")
        if kind not in TYPES:
            problems.error(f"collects: type must be one of {', '.join(TYPES)} (got {kind!r})", loc_of(entry, "type") or location)
            return None
        before = len(problems.errors)
        if kind == "exists":
            items = as_list(entry.get("data"))
            if not items:
                problems.error("collects: an exists entry needs data: [{name, path}, ...]", location)
            names: set[str] = set()
            for index, item in enumerate(items):
                item_loc = loc_of(entry.get("data"), index) if isinstance(entry.get("data"), list) else loc_of(entry, "data")
                if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                    problems.error("collects: each data item needs a name and a path", item_loc or location)
                    continue
                if item["name"] in names:
                    problems.error(f"collects: data name {item['name']!r} is used twice", item_loc or location)
                names.add(item["name"])
                self._check_path(item, "path", problems, item_loc or location)
        else:
            if entry.get("path") is None:
                problems.error(f"collects: a {kind} entry needs a path", location)
            else:
                self._check_path(entry, "path", problems, location)
        if kind == "regex":
            pattern = entry.get("regex")
            if not isinstance(pattern, str) or not pattern:
                problems.error("collects: a regex entry needs regex", location)
            else:
                try:
                    self._regexes[pattern] = re.compile(pattern, re.MULTILINE)
                except re.error as exc:
                    problems.error(f"collects: regex: invalid regular expression: {exc}", loc_of(entry, "regex") or location)
        if entry.get("jsonpath") is not None:
            if kind not in ("json", "yaml"):
                problems.error("collects: jsonpath applies to json and yaml entries only", loc_of(entry, "jsonpath") or location)
            else:
                problem = path_problem(entry["jsonpath"]) if isinstance(entry["jsonpath"], str) else "must be a string"
                if problem:
                    problems.error(f"collects: jsonpath: {problem}", loc_of(entry, "jsonpath") or location)
        if len(problems.errors) > before:
            return None
        name = entry.get("factName") or kind
        try:
            return [FactRef.parse(f"{SOURCE}:default/{name}")]
        except ValueError as exc:
            problems.error(f"collects: factName: {exc}", loc_of(entry, "factName") or location)
            return None

    # -- sources --------------------------------------------------------------------------------------------------
    def local_root(self, block: Mapping[str, Any] | None = None) -> str | None:
        """``--scm-root`` (the runtime's ``extra['scm_root']``), else the block's ``root``, else the app-config's
        top-level ``scm.root``; relative config values are relative to the file that sets them."""
        root = (self.context.extra or {}).get("scm_root")
        if root:
            return os.path.abspath(str(root))
        top = self.context.app_config.get("scm") if isinstance(self.context.app_config, Mapping) else None
        for node in (block, top):
            if isinstance(node, Mapping) and isinstance(node.get("root"), str) and node["root"].strip():
                value = node["root"].strip()
                where = loc_of(node, "root") or loc_of(node)
                if not os.path.isabs(value) and where is not None and where.path:
                    value = os.path.join(os.path.dirname(os.path.abspath(where.path)), value)
                return os.path.abspath(value)
        return None

    def collection_configs(self) -> list[CollectionConfig]:
        """As configured, except that facts read from a local checkout are read again on every run (no frequency,
        no cache): reading a file costs nothing, and a CI step must see the files as they are now."""
        out = []
        for entry in self.entries:
            config = entry.collection
            if self.local_root(entry.block):
                config = replace(config, frequency=None, cache=None)
            out.append(config)
        return out

    def disabled_reason(self) -> str | None:
        if not self.entries or any(self.local_root(b) for b in self.blocks()) or self.local_root():
            return None
        if self.github_disabled_reason() is None:
            return None
        if any(i.has_credentials() for kind in KINDS for i in read_integrations(self.context.app_config, kind)):
            return None
        return (
            "collector scm: no repository to read: pass --scm-root DIR (or set scm root) to read a local checkout, "
            "or give a GitHub token (integrations.github[].token, the collector's token, or GITHUB_TOKEN / GH_TOKEN) "
            "or credentials of another host (integrations.gitlab, azure, bitbucketCloud, bitbucketServer)"
        )

    def _source(self, entity: Entity, entry: EntryConfig, refresh: bool) -> Any:
        """A local or GitHub source for ``entity``, or a string saying why there is none."""
        root = self.local_root(entry.block)
        if root:
            if not os.path.isdir(root):
                return f"the SCM root {root} is not a directory"
            return _Local(root)
        repo = self.repo_of(entity, entry)
        if repo is None:
            hosted = self.repo(entity)  # GitLab, Azure DevOps, Bitbucket
            if hosted is None:
                return repo_problem(entity) + " (or pass --scm-root DIR to read a local checkout)"
            integration = self.integration(hosted)
            if integration is None or integration.auth_headers(hosted.organization or None) is None:
                return self.no_credentials(hosted)
            rejected = self.host_rejected(entry, integration)
            if rejected:
                raise HttpError(rejected)
            branch = entry.entry.get("branch") or entry.block.get("branch") or hosted.ref
            client = self.host_client(entry, integration, hosted.organization or None)
            return HostedFiles(self, client, integration, hosted, branch)
        creds = self.credentials(repo, entry)
        if not creds.token and creds.app is None:
            return no_token_message(self.id, repo.host)
        rejected = self.rejected(entry, creds)
        if rejected:
            raise HttpError(rejected)  # the token was refused earlier in this run: fail without asking again
        branch = entry.entry.get("branch") or entry.block.get("branch") or repo.ref
        return _GithubContents(self, self.gh_client(entry, creds), creds, repo, branch, refresh)

    # -- collection -----------------------------------------------------------------------------------------------
    async def fetch(self, entity: Entity, fact_ref: FactRef, entry: EntryConfig, refresh: bool) -> Outcome:
        ref = str(entity.ref)
        source = self._source(entity, entry, refresh)
        if isinstance(source, str):
            return Outcome.not_applicable(ref, fact_ref, source)
        options = entry.entry
        kind = options["type"]
        try:
            if kind == "exists":
                data: Any = {}
                for item in as_list(options.get("data")):
                    data[item["name"]] = await source.exists(repo_path(item["path"]))
                return Outcome.collected(self.make_fact(entity, fact_ref, data))
            path = repo_path(options["path"])
            if kind == "content":
                cap = int(options.get("maxSize") or DEFAULT_CONTENT_SIZE)
            else:
                cap = int(options.get("maxSize") or entry.block.get("maxSize") or DEFAULT_MAX_SIZE)
            found = await source.read(path, cap)
            if found is None:
                if kind == "regex":
                    return Outcome.collected(self.make_fact(entity, fact_ref, {"matches": False}))
                return Outcome.absent(ref, fact_ref, f"/{path} does not exist in the repository")
            raw, size = found
            truncated = len(raw) > cap
            text = raw[:cap].decode("utf-8", errors="replace")
            if kind == "regex":
                pattern = self._regexes.get(options["regex"]) or re.compile(options["regex"], re.MULTILINE)
                data = {"matches": pattern.search(text) is not None}
            elif kind == "content":
                data = {"content": text, "size": size, "truncated": truncated}
            else:
                if truncated:
                    return Outcome.failed(ref, fact_ref, f"/{path} is larger than maxSize ({cap} bytes); it is not parsed")
                document = parse_document(kind, text, f"/{path}")
                if options.get("jsonpath"):
                    value = compile_path(options["jsonpath"])(document)
                    document = None if value is MISSING else value
                data = document
        except (PathEscape, NotAFile, NotAFileError, ValueError) as exc:
            return Outcome.failed(ref, fact_ref, str(exc))
        except OSError as exc:
            return Outcome.failed(ref, fact_ref, f"cannot read the file: {exc.strerror or exc}")
        except HttpError as exc:
            if isinstance(source, HostedFiles):
                if exc.status == 401:
                    return Outcome.failed(ref, fact_ref, self.host_reject(entry, source.integration, 401, api_message(exc.response)))
                if exc.status == 403:
                    detail = api_message(exc.response)
                    return Outcome.failed(
                        ref, fact_ref, f"the credentials from {source.integration.source} may not read {source.repo} (HTTP 403)"
                        + (f": {detail}" if detail else "")
                    )
                raise
            if exc.status == 401:
                return Outcome.failed(ref, fact_ref, self.reject(entry, source.creds))
            if exc.status == 403:
                detail = error_message(exc.response)
                return Outcome.failed(ref, fact_ref, f"the token may not read {source.repo} (HTTP 403)" + (f": {detail}" if detail else ""))
            raise
        return Outcome.collected(self.make_fact(entity, fact_ref, data))

