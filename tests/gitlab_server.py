"""A GitLab REST v4 API on 127.0.0.1 built from the recorded GitLab answers (``fixtures/gitlab/``, copied from
``/work/shared/api-recordings/gitlab``; ``SOURCES.md`` says which parts were derived or constructed).

``GitlabServer(projects)`` serves, for each project ``{"path": "group/sub/name", "id": 3, ...}``:
``GET /api/v4/projects/<id or url-encoded path>`` (the recorded project object, its ``id`` and
``path_with_namespace`` set to the project's), ``.../languages`` (recorded), ``.../protected_branches`` (the
recorded Free-tier list, in pages of ``per_page`` with ``Link`` or only ``X-Next-Page`` headers, as GitLab sends
both), ``.../protected_branches/<name>``, ``.../repository/files/<path>[/raw]?ref=`` from ``files``; a project
with ``moved_to`` answers 301 with ``Location`` (the recorded redirect); the recorded 401/403/404/429 bodies on
demand (``fail``). Every request is recorded as ``(method, raw path, headers)``.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from local_api import LocalServer, QuietHandler

FIXTURES = Path(__file__).parent / "fixtures" / "gitlab"


def recordings(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


def record(name: str, method: str, path: str, status: int, index: int = 0) -> dict[str, Any]:
    found = [r for r in recordings(name) if r["request"]["method"] == method and r["request"]["path"] == path
             and r["response"]["status"] == status]
    return found[index]["response"]


PROJECT = record("projects.json", "GET", "/api/v4/projects/3", 200)["body"]
LANGUAGES = record("projects.json", "GET", "/api/v4/projects/5/languages", 200)["body"]
PROTECTED = record("protected_branches.json", "GET", "/api/v4/projects/5/protected_branches", 200)["body"]
PROTECTED_MAIN = record("protected_branches.json", "GET", "/api/v4/projects/5/protected_branches/main", 200)["body"]
UNAUTHORIZED = record("projects.json", "GET", "/api/v4/projects/3", 401)["body"]
FORBIDDEN_SCOPE = record("projects.json", "GET", "/api/v4/projects/3", 403)["body"]
PROJECT_NOT_FOUND = record("projects.json", "GET", "/api/v4/projects/99999", 404)["body"]
FILE_NOT_FOUND = record("repository_files.json", "GET", "/api/v4/projects/13083/repository/files/does%2Fnot%2Fexist%2Erb", 404)["body"]
FILE_META = record("repository_files.json", "GET", "/api/v4/projects/13083/repository/files/app%2Fmodels%2Fkey%2Erb", 200)["body"]
RATE_LIMITED = [r for r in recordings("errors.json") if r["response"]["status"] == 429][0]["response"]
MOVED = record("pagination.json", "GET", "/api/v4/projects/gitlab-org%2Fold-path-project", 301)


class GitlabServer(LocalServer):
    def __init__(self, projects: list[dict[str, Any]], *, token: str, per_page_cap: int = 100,
                 link_pages: bool = True) -> None:
        self.projects = projects
        self.token = token
        self.per_page_cap = per_page_cap
        self.link_pages = link_pages
        self.fail: dict[str, list[tuple[int, Any, dict[str, str]]]] = {}  # raw path -> answers to give first
        self.after_headers: dict[str, str] = {}  # headers added to every 200
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                outer.requests.append((method, self.path, dict(self.headers)))
                status, body, headers = outer.route(method, self.path, dict(self.headers))
                self.reply(status, body, headers, head=method == "HEAD")

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                self._answer("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer("HEAD")

        super().__init__(Handler)

    def paths(self, method: str = "GET") -> list[str]:
        return [p for m, p, _ in self.requests if m == method]

    # -- routing ------------------------------------------------------------------------------------------------
    def _project(self, key: str) -> dict[str, Any] | None:
        for project in self.projects:
            if key == str(project["id"]) or key == project["path"]:
                return project
        return None

    def route(self, method: str, raw: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        queued = self.fail.get(raw.split("?")[0])
        if queued:
            status, body, extra = queued.pop(0)
            return status, body, dict(extra)
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, UNAUTHORIZED, {}
        parts = urlsplit(raw)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        prefix = "/api/v4/projects/"
        if not parts.path.startswith(prefix):
            return 404, {"error": "404 Not Found"}, {}
        rest = parts.path[len(prefix):]
        # The project's :id is one segment: a path must come URL-encoded (group%2Fname), as GitLab requires.
        key, _, tail = rest.partition("/")
        project = self._project(unquote(key))
        if project is None:
            return 404, PROJECT_NOT_FOUND, {}
        if project.get("moved_to") and not key.isdigit():
            target = self._project(project["moved_to"])
            return 301, MOVED["body"], {"Location": f"{self.url}{prefix}{target['id']}{('/' + tail) if tail else ''}"}
        ok = dict(self.after_headers)
        if tail == "":
            body = copy.deepcopy(PROJECT)
            body.update(id=project["id"], path_with_namespace=project["path"], **project.get("details", {}))
            return 200, body, ok
        if tail == "languages":
            return 200, project.get("languages", LANGUAGES), ok
        if tail == "protected_branches":
            items = project.get("protected", PROTECTED)
            per_page = min(int(query.get("per_page", "20")), self.per_page_cap)
            page = int(query.get("page", "1"))
            chunk = items[(page - 1) * per_page: page * per_page]
            if page * per_page < len(items):
                ok["X-Next-Page"] = str(page + 1)
                if self.link_pages:
                    ok["Link"] = f'<{self.url}{parts.path}?page={page + 1}&per_page={per_page}>; rel="next"'
            else:
                ok["X-Next-Page"] = ""
            return 200, chunk, ok
        if tail.startswith("protected_branches/"):
            name = unquote(tail[len("protected_branches/"):])
            for item in project.get("protected", PROTECTED):
                if item["name"] == name:
                    return 200, PROTECTED_MAIN if name == "main" else item, ok
            return 404, {"message": "404 Not found"}, {}
        if tail == "repository/tree":
            folder = query.get("path", "").strip("/") + "/"
            if query.get("ref", "HEAD") not in ("HEAD", project.get("ref", "main")):
                return 404, {"message": "404 Tree Not Found"}, {}
            entries = [{"name": f[len(folder):].split("/")[0], "type": "tree" if "/" in f[len(folder):] else "blob",
                        "path": f} for f in project.get("files", {}) if f.startswith(folder)]
            if not entries:
                return 404, {"message": "404 Tree Not Found"}, {}
            return 200, entries[: int(query.get("per_page", "20"))], ok
        if tail.startswith("repository/files/"):
            encoded = tail[len("repository/files/"):]
            raw_wanted = encoded.endswith("/raw")
            encoded = encoded.removesuffix("/raw")
            if "/" in encoded:
                return 404, {"error": "404 Not Found"}, {}  # a file path must be one encoded segment
            file_path = unquote(encoded)
            content = project.get("files", {}).get(file_path)
            if content is None or query.get("ref") not in ("HEAD", project.get("ref", "main")):
                return 404, FILE_NOT_FOUND, {}
            data = content.encode()
            meta_headers = {"X-Gitlab-File-Path": file_path, "X-Gitlab-Size": str(len(data))}
            if method == "HEAD":
                return 200, b"", {**ok, **meta_headers}
            if raw_wanted:
                return 200, data, {**ok, **meta_headers, "Content-Type": "text/plain; charset=utf-8"}
            meta = dict(FILE_META, file_name=file_path.rsplit("/", 1)[-1], file_path=file_path, size=len(data),
                        content=base64.b64encode(data).decode())
            return 200, meta, ok
        return 404, {"error": "404 Not Found"}, {}


def encoded(path: str) -> str:
    return quote(path, safe="")
