"""Which (entity, fact) pairs a collector found not applicable, kept in the store for ``check``.

A collector says a fact does not apply to an entity (no ``github.com/project-slug`` annotation, no
``pagerduty.com/service-id``...). No fact is stored for such a pair -- there is no data to check -- so without a
record ``check`` could only say ``not-reported (not collected)``, as if collection had not run (issue 17 item 15).
The runner keeps, per fact ref, the entities found not applicable with the collector's reason, in the store's
meta area under ``not-applicable:<fact ref>`` as ``{entity key: reason}``:

- written once per collector and run, merged under a store lock with what other runs (shards, overlapping cron
  runs) recorded, and only when it changes (a steady run writes nothing);
- an entity whose fact is later collected (or recorded absent) leaves the map, so a marker never hides a fact.

``not_applicable_entities(store, fact_ref)`` is the reader for the check side.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from soundcheck_cli.facts.model import FactRef

META_PREFIX = "not-applicable:"
_LOCK_TRIES = 40  # store locks never block: try again for up to ~10 s before giving up on this run's update
_LOCK_WAIT = 0.25


def meta_key(fact_ref: FactRef | str) -> str:
    return f"{META_PREFIX}{fact_ref}"


def not_applicable_entities(store: Any, fact_ref: FactRef | str) -> dict[str, str]:
    """``{entity key: reason}`` for the entities the collector of ``fact_ref`` last found not applicable."""
    value = store.get_meta(meta_key(fact_ref)) if store is not None else None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def record(store: Any, changes: Mapping[FactRef, Mapping[str, str | None]]) -> None:
    """Apply one run's ``changes`` (fact ref -> entity key -> reason, or ``None``: the fact applies now)."""
    for fact_ref, entities in changes.items():
        if not entities:
            continue
        for _ in range(_LOCK_TRIES):
            with store.lock(f"{meta_key(fact_ref)}/lock", 60.0) as held:
                if held:
                    _merge(store, fact_ref, entities)
                    break
            time.sleep(_LOCK_WAIT)


def _merge(store: Any, fact_ref: FactRef, entities: Mapping[str, str | None]) -> None:
    current = not_applicable_entities(store, fact_ref)
    merged = dict(current)
    for key, reason in entities.items():
        if reason is None:
            merged.pop(key, None)
        else:
            merged[key] = reason
    if merged == current:
        return
    if merged:
        store.set_meta(meta_key(fact_ref), merged)
    else:
        store.delete_meta(meta_key(fact_ref))
