"""Which objects belong to an entity: its label selector and namespace, and matching a selector locally.

As Backstage's Kubernetes plugin: the ``backstage.io/kubernetes-label-selector`` annotation is the selector when
set, else ``backstage.io/kubernetes-id=<id>``; ``backstage.io/kubernetes-namespace`` narrows the query to one
namespace. On a cluster the API server applies the selector; for manifests read from files, ``matches`` applies
it the way the API server does (equality ``=``/``==``/``!=`` and set-based ``in``/``notin``/``key``/``!key``
requirements, all of which must hold).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ID_ANNOTATION = "backstage.io/kubernetes-id"
SELECTOR_ANNOTATION = "backstage.io/kubernetes-label-selector"
NAMESPACE_ANNOTATION = "backstage.io/kubernetes-namespace"


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def entity_query(annotations: Mapping[str, Any], id_label: str = ID_ANNOTATION) -> tuple[str, str | None] | None:
    """``(label selector, namespace or None)`` for an entity's annotations; ``None`` when it has neither the
    kubernetes-id nor the label-selector annotation. ``id_label``: the label the kubernetes-id is matched on."""
    selector = _text(annotations.get(SELECTOR_ANNOTATION))
    if selector is None:
        kubernetes_id = _text(annotations.get(ID_ANNOTATION))
        if kubernetes_id is None:
            return None
        selector = f"{id_label}={kubernetes_id}"
    return selector, _text(annotations.get(NAMESPACE_ANNOTATION))


_SET = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([^\s!=,()]+)\s*(==|=|!=)\s*([^\s!=,()]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*$")


def _requirements(selector: str) -> list[str]:
    """Split on commas outside parentheses (``a in (x,y),b=c`` is two requirements)."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse(selector: str) -> list[tuple[str, str, frozenset[str]]]:
    """``[(key, op, values)]`` with op one of ``in``, ``notin``, ``exists``, ``!exists``; ``ValueError`` when the
    selector is not valid label-selector syntax."""
    out = []
    for requirement in _requirements(selector):
        if match := _SET.match(requirement):
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            out.append((match.group(1), match.group(2), values))
        elif match := _EQ.match(requirement):
            out.append((match.group(1), "notin" if match.group(2) == "!=" else "in", frozenset({match.group(3)})))
        elif match := _EXISTS.match(requirement):
            out.append((match.group(2), "!exists" if match.group(1) else "exists", frozenset()))
        else:
            raise ValueError(f"invalid label selector {selector!r} (at {requirement.strip()!r})")
    return out


def matches(selector: str, labels: Mapping[str, Any] | None) -> bool:
    """Whether ``labels`` satisfy ``selector`` (``ValueError`` for an invalid selector)."""
    labels = labels if isinstance(labels, Mapping) else {}
    for key, op, values in parse(selector):
        present = key in labels
        value = str(labels.get(key)) if present else None
        if op == "in" and not (present and value in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True
