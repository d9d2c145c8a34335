"""Kubernetes objects read from YAML manifests in a local checkout, for gating a pull request before deploy.

``manifests: [globs]`` in the ``kubernetes`` collector's block names the files (relative to ``--scm-root``, else
to the app-config file that sets them): plain manifests, or what ``kustomize build`` / ``helm template`` wrote
to a file. Every YAML document is read; ``kind: List`` (and any ``*List``) is opened into its ``items``. Objects
of the seven kinds the collector reports are kept with the file they came from; anything else is ignored.
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.collectors.kubernetes.resources import BY_OBJECT_KIND


@dataclass(frozen=True)
class ManifestObject:
    fact: str  # which fact it belongs to (``deployments``...)
    path: str  # the file, relative to the root
    data: Mapping[str, Any]


class ManifestError(Exception):
    """A manifest that cannot be read (the message names the file and, for YAML errors, the line)."""


def _objects(document: Any) -> Iterable[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"), list):
        for item in document["items"]:
            yield from _objects(item)
    elif isinstance(kind, str):
        yield document


def read_manifests(root: str, patterns: Iterable[str]) -> list[ManifestObject]:
    """Every object of a reported kind in the files matching ``patterns`` under ``root`` (sorted by path, then
    document order). A pattern matching no file, or a file that is not YAML, raises ``ManifestError``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    files: list[str] = []
    for pattern in patterns:
        found = sorted(glob.glob(os.path.join(root, pattern), recursive=True))
        found = [f for f in found if os.path.isfile(f)]
        if not found:
            raise ManifestError(f"manifests: {pattern!r} matches no file under {root}")
        files.extend(f for f in found if f not in files)
    out: list[ManifestObject] = []
    for path in files:
        shown = os.path.relpath(path, root)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            documents = list(YAML(typ="safe", pure=True).load_all(io.StringIO(text)))
        except MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ManifestError(f"{shown}{line}: not valid YAML ({exc.problem or exc})") from None
        except (OSError, UnicodeDecodeError, YAMLError) as exc:
            raise ManifestError(f"{shown}: cannot be read ({type(exc).__name__}: {exc})") from None
        for document in documents:
            for obj in _objects(document):
                kind = BY_OBJECT_KIND.get(str(obj.get("kind")))
                if kind is not None:
                    out.append(ManifestObject(kind.fact, shown, obj))
    return out
