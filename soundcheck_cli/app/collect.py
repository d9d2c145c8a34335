"""``collect`` orchestration: which collectors and entities, the options of a run, and what a remote catalog must
send for the collectors (``collector_filter_pairs``).

The CLI parses ``--collector``, ``--entity``, ``--force``, ``--refresh``, ``--scm-root`` and ``--shard`` into a
``CollectOptions``, passes a progress listener, and prints the returned ``CollectionSummary``; everything else is
here or in ``collectors.runner``. Bad values (an empty ``--shard``, a malformed ``--refresh``, a ``--scm-root``
that is not a folder, an unknown collector or entity) raise ``UsageError`` before any request is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundcheck_cli.catalog.filters import EntityFilter
from soundcheck_cli.errors import Problems, UsageError


@dataclass(frozen=True)
class CollectOptions:
    collector_ids: tuple[str, ...] = ()
    entity_refs: tuple[str, ...] = ()
    force: bool = False
    refresh: tuple[str, ...] = ()  # fact refs whose collector caches are bypassed
    verbose: bool = False
    scm_root: str | None = None  # --scm-root: the scm collector reads this local checkout
    shard: str | None = None  # --shard I/N


def check_shard(text: str | None) -> Any:
    """The ``Shard`` of ``--shard I/N`` (None without it). An empty value (an unset CI variable) is an error, never
    "no sharding": that would make every host collect everything."""
    if text is None:
        return None
    from soundcheck_cli.collectors.shard import Shard

    return Shard.parse(text)


def scm_extra(scm_root: str | None) -> dict[str, Any] | None:
    """``--scm-root DIR`` for the scm collector (``CollectorContext.extra['scm_root']``), checked to be a folder."""
    if not scm_root:
        return None
    if not Path(scm_root).is_dir():
        raise UsageError(f"--scm-root {scm_root}: not a directory")
    return {"scm_root": str(Path(scm_root).resolve())}


def collect(workspace: Any, options: CollectOptions, *, listener: Any = None) -> Any:
    """Run the collectors once over the workspace's entities and store what they collect; returns the
    ``collectors.outcomes.CollectionSummary`` (its ``ok`` is false when some fact could not be collected: the facts
    collected earlier are kept)."""
    from soundcheck_cli.collectors.runner import run_collection

    shard = check_shard(options.shard)
    extra = scm_extra(options.scm_root)
    with workspace.open_store() as store:
        return run_collection(
            workspace.settings,
            workspace.entities,
            store,
            collector_ids=options.collector_ids,
            entity_refs=options.entity_refs,
            force=options.force,
            refresh=options.refresh,
            listener=listener,
            verbose=options.verbose,
            extra=extra,
            shard=shard,
        )


def collector_filter_pairs(settings: Any) -> list[tuple[EntityFilter | None, EntityFilter | None]] | None:
    """The ``(filter, exclude)`` of every collection config of the collectors ``collect`` would run (the always-on
    catalog collector included), through the registry; ``None`` when any of them cannot be configured. A remote
    catalog narrows its request to what these select (``catalog.remote.consumer_filters``)."""
    from soundcheck_cli.collectors.registry import Registry
    from soundcheck_cli.collectors.runner import ALWAYS_ON

    configured_ids = {c.id: c for c in settings.collectors}
    if any(cid not in configured_ids for cid in ALWAYS_ON):
        return None  # the built-in catalog collector, not configured: no filter, every entity (no registry needed)
    problems = Problems()
    try:
        registry = Registry.discover(problems)
        installed = set(registry.ids())
        ids = [cid for cid in ALWAYS_ON if cid in installed and cid not in configured_ids] + list(configured_ids)
        pairs: list[tuple[EntityFilter | None, EntityFilter | None]] = []
        for cid in ids:
            created = Problems()
            collector = registry.create(cid, configured_ids.get(cid), created)
            if created.errors:
                return None
            if collector is None:
                continue  # not installed: it collects nothing
            pairs.extend((c.filter, c.exclude) for c in collector.collection_configs())
        return pairs
    except Exception:  # noqa: BLE001 - a plugin failing here only costs the narrowing; collect reports it
        return None
