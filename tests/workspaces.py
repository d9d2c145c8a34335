"""A small workspace shared by the history, events, exemptions and store-transfer tests: two components (``a`` with
an owner and a description, ``b`` with neither) and a config with a two-level ``hygiene`` track."""

from __future__ import annotations

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: a, description: fine}}
spec: {{type: service, owner: team-a{common}}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: b}}
spec: {{type: service{common}{b}}}
"""

CONFIG = """\
catalog:
  locations: [{{type: file, target: ./catalog.yaml}}]
soundcheck:
  checks:
    - id: has_owner
      rule: {{factRef: catalog:default/entity_descriptor, path: $.spec.owner, operator: matches, value: '\\S'}}{owner_message}
    - id: has_desc
      rule: {{factRef: catalog:default/entity_descriptor, path: $.metadata.description, operator: matches, value: '\\S'}}
  tracks:
    - id: hygiene
      levels:
        - {{ordinal: 1, checks: [{{id: has_owner}}]}}
        - {{ordinal: 2, checks: [{{id: has_desc}}]}}
"""


def two_components(b: str = "", common: str = "") -> str:
    """The catalog; ``b`` is added to component b's spec (e.g. ``", owner: team-b"``), ``common`` to both specs."""
    return CATALOG.format(b=b, common=common)


def hygiene_config(owner_message: str | None = None) -> str:
    """The config (append more ``soundcheck:`` keys, indented by two spaces); ``owner_message``: has_owner's
    ``failedMessage``."""
    line = f"\n      failedMessage: '{owner_message}'" if owner_message else ""
    return CONFIG.format(owner_message=line)
