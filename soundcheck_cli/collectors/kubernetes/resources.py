"""The seven Kubernetes object kinds the ``kubernetes`` collector reports, and the fact data built from them.

Soundcheck's Kubernetes integration names its facts after the resources it lists (``services``, ``pods``,
``deployments``, ``horizontalpodautoscalers``, ``statefulsets``, ``poddisruptionbudgets``, ``ingresses``); each is
listed from its stable API group, as Backstage's Kubernetes plugin lists them (``DEFAULT_OBJECTS``).

A fact keeps the Kubernetes objects, per cluster, so a check can read any field of them
(``$.clusters[*].items[*].spec.replicas``). Because a rule sees one value per path, the fact also carries a few
totals computed from those objects (``count``; for workloads ``minReplicas`` and the number of containers without
probes or resources), so "every deployment has a readiness probe" is ``$.withoutReadinessProbe equal 0``.
``metadata.managedFields`` is dropped from every object: server-side bookkeeping, often the largest part of an
object, that no check reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    fact: str  # Soundcheck's fact name, also the ``collects`` type
    kind: str  # the object's ``kind`` in a manifest
    prefix: str  # API group/version path
    plural: str  # resource name in the URL

    def path(self, namespace: str | None) -> str:
        from soundcheck_cli.http.client import path_segment

        if namespace:
            return f"{self.prefix}/namespaces/{path_segment(namespace)}/{self.plural}"
        return f"{self.prefix}/{self.plural}"


KINDS: dict[str, Kind] = {
    k.fact: k
    for k in (
        Kind("services", "Service", "/api/v1", "services"),
        Kind("pods", "Pod", "/api/v1", "pods"),
        Kind("deployments", "Deployment", "/apis/apps/v1", "deployments"),
        Kind("horizontalpodautoscalers", "HorizontalPodAutoscaler", "/apis/autoscaling/v2", "horizontalpodautoscalers"),
        Kind("statefulsets", "StatefulSet", "/apis/apps/v1", "statefulsets"),
        Kind("poddisruptionbudgets", "PodDisruptionBudget", "/apis/policy/v1", "poddisruptionbudgets"),
        Kind("ingresses", "Ingress", "/apis/networking.k8s.io/v1", "ingresses"),
    )
}
BY_OBJECT_KIND = {k.kind: k for k in KINDS.values()}
# Spellings a ``collects`` entry's ``type`` may use for each fact: the fact name, the object kind and its plural
# (``deployments``, ``Deployment``, ``Deployments``; ``HorizontalPodAutoscaler``...). Soundcheck's page names the
# facts but shows no ``collects`` entry, so every natural spelling is accepted; the fact keeps Soundcheck's name.
TYPE_ALIASES: dict[str, str] = {
    **{k.fact: k.fact for k in KINDS.values()},
    **{k.kind: k.fact for k in KINDS.values()},
    **{(k.kind + "es" if k.kind.endswith("ss") else k.kind + "s"): k.fact for k in KINDS.values()},
}
WORKLOADS = frozenset({"deployments", "statefulsets"})
WITH_CONTAINERS = frozenset({"deployments", "statefulsets", "pods"})


def trim(item: Any) -> Any:
    """The object without ``metadata.managedFields`` (a copy only when there is something to drop)."""
    if isinstance(item, Mapping):
        metadata = item.get("metadata")
        if isinstance(metadata, Mapping) and "managedFields" in metadata:
            item = {**item, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return item


def _containers(fact: str, item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = item.get("spec") if isinstance(item.get("spec"), Mapping) else {}
    if fact != "pods":
        template = spec.get("template") if isinstance(spec.get("template"), Mapping) else {}
        spec = template.get("spec") if isinstance(template.get("spec"), Mapping) else {}
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    return [c for c in containers if isinstance(c, Mapping)] if isinstance(containers, list) else []


def build_fact(fact: str, clusters: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The fact data from ``[{name, namespace, labelSelector, items}]`` (one entry per cluster or manifest set)."""
    out_clusters = []
    items: list[Mapping[str, Any]] = []
    for cluster in clusters:
        listed = [trim(i) for i in cluster.get("items") or () if isinstance(i, Mapping)]
        items.extend(listed)
        out_clusters.append({**cluster, "count": len(listed), "items": listed})
    data: dict[str, Any] = {"count": len(items), "clusters": out_clusters}
    if fact in WORKLOADS or fact == "horizontalpodautoscalers":
        key = "minReplicas" if fact == "horizontalpodautoscalers" else "replicas"
        replicas = []
        for item in items:
            spec = item.get("spec") if isinstance(item.get("spec"), Mapping) else {}
            value = spec.get(key, 1)  # both default to 1 when unset (apps/v1 and autoscaling/v2 defaults)
            if isinstance(value, int) and not isinstance(value, bool):
                replicas.append(value)
        data["minReplicas"] = min(replicas) if replicas else None
    if fact in WITH_CONTAINERS:
        containers = [c for item in items for c in _containers(fact, item)]
        data["containers"] = len(containers)
        data["withoutReadinessProbe"] = sum(1 for c in containers if not c.get("readinessProbe"))
        data["withoutLivenessProbe"] = sum(1 for c in containers if not c.get("livenessProbe"))
        data["withoutResourceRequests"] = sum(1 for c in containers if not _resources(c).get("requests"))
        data["withoutResourceLimits"] = sum(1 for c in containers if not _resources(c).get("limits"))
    return data


def _resources(container: Mapping[str, Any]) -> Mapping[str, Any]:
    value = container.get("resources")
    return value if isinstance(value, Mapping) else {}


_COUNT = {"type": "integer", "minimum": 0}


def fact_schema(fact: str) -> dict[str, Any]:
    """JSON schema of the data of fact ``fact`` (``soundcheck facts schema kubernetes:default/<fact>``)."""
    kind = KINDS[fact]
    properties: dict[str, Any] = {
        "count": {**_COUNT, "description": f"{kind.kind} objects found, over every cluster"},
        "clusters": {
            "type": "array",
            "description": "one entry per cluster queried (or per manifest source), in configuration order",
            "items": {
                "type": "object",
                "required": ["name", "count", "items"],
                "properties": {
                    "name": {"type": "string", "description": "the cluster's name (kubernetes config), or 'manifests'"},
                    "namespace": {"type": ["string", "null"], "description": "backstage.io/kubernetes-namespace"},
                    "labelSelector": {"type": "string"},
                    "count": _COUNT,
                    "items": {
                        "type": "array",
                        "description": f"the {kind.kind} objects ({kind.prefix.strip('/')}), without metadata.managedFields",
                        "items": {
                            "type": "object",
                            "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}, "status": {"type": "object"}},
                        },
                    },
                    "files": {"type": "array", "items": {"type": "string"}, "description": "manifests: the files read"},
                },
            },
        },
    }
    required = ["count", "clusters"]
    if fact in WORKLOADS or fact == "horizontalpodautoscalers":
        what = "spec.minReplicas" if fact == "horizontalpodautoscalers" else "spec.replicas"
        properties["minReplicas"] = {"type": ["integer", "null"], "description": f"smallest {what} (1 when unset); null: no object"}
        required.append("minReplicas")
    if fact in WITH_CONTAINERS:
        for name, what in (
            ("containers", "containers of every object (pod template containers for workloads)"),
            ("withoutReadinessProbe", "containers without readinessProbe"),
            ("withoutLivenessProbe", "containers without livenessProbe"),
            ("withoutResourceRequests", "containers without resources.requests"),
            ("withoutResourceLimits", "containers without resources.limits"),
        ):
            properties[name] = {**_COUNT, "description": what}
            required.append(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Kubernetes {fact}",
        "description": f"{kind.kind} objects selected by the entity's label selector, per cluster",
        "type": "object",
        "required": required,
        "properties": properties,
    }


SCHEMAS = {fact: fact_schema(fact) for fact in KINDS}
