"""A mock Kubernetes API server on 127.0.0.1 built from the recorded shapes in ``tests/fixtures/kubernetes/``.

What is recorded: one published object per kind (Deployment and StatefulSet from the Java client's fixtures,
the other kinds "all-fields" fixtures of ``k8s.io/api``), the ``*List`` envelope and ``continue`` paging of
api-concepts, and the apiserver's 403/401 ``Status`` bodies. What this server constructs from them: for a label
selector ``<key>=<value>`` it answers with ``objects[value]`` copies of the recorded object of that kind (name
``<value>-<i>``, the selector's label set, the namespace asked for), in pages of ``page_size`` items with
``metadata.continue`` tokens; a namespace in ``forbidden`` answers the recorded 403 ``Status`` (its message
rewritten for the resource and namespace, as the apiserver writes it); a wrong bearer token answers 401.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_api import LocalServer, QuietHandler

FIXTURES = Path(__file__).parent / "fixtures" / "kubernetes"
FILES = {
    "services": "services.json",
    "pods": "pods.json",
    "deployments": "deployments.json",
    "horizontalpodautoscalers": "horizontalpodautoscalers.json",
    "statefulsets": "statefulsets.json",
    "poddisruptionbudgets": "poddisruptionbudgets.json",
    "ingresses": "ingresses.json",
}


def recorded_list(plural: str) -> dict[str, Any]:
    """The first recorded ``*List`` response body of ``plural`` (a list request with a label selector)."""
    for record in json.loads((FIXTURES / FILES[plural]).read_text()):
        body = record["response"]["body"]
        if record["request"].get("query", {}).get("labelSelector") and str(body.get("kind", "")).endswith("List"):
            return body
    raise LookupError(plural)


def recorded_forbidden() -> dict[str, Any]:
    """The (derived) 403 ``Status`` for a list of deployments."""
    for record in json.loads((FIXTURES / "errors.json").read_text()):
        if record["response"]["status"] == 403 and record["request"]["path"] == "/apis/apps/v1/deployments":
            return record["response"]["body"]
    raise LookupError("403")


UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


class KubeApi(LocalServer):
    """The server; use as a context manager. ``requests``: ``(path, query, authorization)`` of every request."""

    def __init__(self, token: str, *, objects: dict[str, int] | None = None, forbidden: set[str] | None = None,
                 page_size: int = 2, tls: tuple[str, str] | None = None, unserved: set[str] | None = None,
                 expire_continue: bool = False) -> None:
        self.token = token
        self.objects = objects or {}
        self.forbidden = forbidden if forbidden is not None else set()
        self.page_size = page_size
        self.unserved = unserved or set()  # resources this (older) API server does not serve: 404
        self.expire_continue = expire_continue  # every continue token has expired: 410 (api-concepts, no body shown)
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        self.templates = {plural: recorded_list(plural) for plural in FILES}
        self.forbidden_body = recorded_forbidden()
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                outer.requests.append((parts.path, query, self.headers.get("Authorization", "")))
                status, body = outer.answer(parts.path, query, self.headers.get("Authorization", ""))
                self.reply(status, body)

        # tls: (certificate file, key file): serve HTTPS, as a real API server does
        super().__init__(Handler, tls=tls)

    def answer(self, path: str, query: dict[str, list[str]], authorization: str) -> tuple[int, Any]:
        if authorization != f"Bearer {self.token}":
            return 401, UNAUTHORIZED
        segments = path.strip("/").split("/")
        # /api/v1[/namespaces/<ns>]/<plural> or /apis/<group>/<version>[/namespaces/<ns>]/<plural>
        rest = segments[2:] if segments[0] == "api" else segments[3:]
        namespace = rest[1] if len(rest) == 3 and rest[0] == "namespaces" else None
        plural = rest[-1]
        if plural not in self.templates or plural in self.unserved:
            return 404, {"kind": "Status", "status": "Failure", "message": "the server could not find the requested resource",
                         "reason": "NotFound", "code": 404}
        if namespace in self.forbidden:
            body = copy.deepcopy(self.forbidden_body)
            group = segments[1] if segments[0] == "apis" else ""
            resource = f"{plural}.{group}" if group else plural
            body["message"] = (f'{resource} is forbidden: User "system:serviceaccount:backstage:backstage" cannot list '
                               f'resource "{plural}" in API group "{group}" in the namespace "{namespace}"')
            body["details"] = {"group": group, "kind": plural}
            return 403, body
        if self.expire_continue and query.get("continue"):
            return 410, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired",
                         "message": "The provided continue parameter is too old to display a consistent list result.",
                         "code": 410}  # constructed: api-concepts describes it, shows no body
        selector = query.get("labelSelector", [""])[0]
        key, _, value = selector.partition("=")
        template = self.templates[plural]
        item = template["items"][0]
        items = []
        for index in range(self.objects.get(value, 1) if value else 0):
            obj = copy.deepcopy(item)
            obj.setdefault("metadata", {})
            obj["metadata"]["name"] = f"{value}-{index}"
            obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), key: value}
            if namespace:
                obj["metadata"]["namespace"] = namespace
            items.append(obj)
        start = int(query.get("continue", ["0"])[0] or 0)
        limit = min(int(query.get("limit", ["500"])[0]), self.page_size)
        page = items[start:start + limit]
        body = {key: copy.deepcopy(v) for key, v in template.items() if key != "items"}
        body["metadata"] = {**body.get("metadata", {})}
        body["metadata"].pop("continue", None)
        if start + limit < len(items):
            body["metadata"]["continue"] = str(start + limit)
        body["items"] = page
        return 200, body

    def count(self, plural: str | None = None, namespace: str | None = None) -> int:
        return sum(1 for path, _, _ in self.requests
                   if (plural is None or path.endswith("/" + plural)) and (namespace is None or f"/namespaces/{namespace}/" in path))
