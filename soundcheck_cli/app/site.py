"""``soundcheck site -o DIR``: the static site of the latest recorded run and the kept history (``site/``).

Nothing is evaluated: the run states, levels and messages come from the history that ``check`` records in the
store (``history.store``); the config gives the checks' and tracks' titles and level names, and the catalog as
loaded now gives each entity's owner, title and description (they are not part of a run record). An entity of the
run that the catalog no longer has is shown by its ref, with no owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soundcheck_cli.errors import UsageError

NO_RUN = ("no run recorded in the store {store}: run `soundcheck check` (or `soundcheck run`) first; every check "
          "run records one (unless soundcheck.history.enabled is false)")


@dataclass(frozen=True)
class SiteOptions:
    output: str
    title: str | None = None  # None: the config's app.title (Backstage's), else "Soundcheck"


def recorded_runs(store: Any) -> list[Any]:
    """The kept runs, oldest first, each with its stored document (``site.model.RecordedRun``)."""
    from soundcheck_cli.history.codec import unpack
    from soundcheck_cli.history.store import RUN_PREFIX, History
    from soundcheck_cli.site.model import RecordedRun

    out = []
    for info in History(store).runs():
        doc = unpack(store.get_meta(RUN_PREFIX + info.id))
        if doc:  # a run whose record was dropped (kept index, deleted body) is skipped
            out.append(RecordedRun(info, doc))
    return out


def build_site(workspace: Any, options: SiteOptions, *, now: datetime | None = None) -> Any:
    """Write the site of ``workspace``'s store into ``options.output``; a ``site.build.SiteSummary``.
    ``UsageError`` (exit 2) when no run is recorded, or when the output folder is not one to replace."""
    from soundcheck_cli.facts.interface import entity_key
    from soundcheck_cli.facts.model import utcnow
    from soundcheck_cli.redact import GLOBAL
    from soundcheck_cli.site.build import generate
    from soundcheck_cli.site.model import SiteInput
    from soundcheck_cli.site.writer import NotASite

    with workspace.open_store() as store:
        runs = recorded_runs(store)
    if not runs:
        from soundcheck_cli.facts.spec import describe

        raise UsageError(NO_RUN.format(store=describe(workspace.store_path())))
    settings = workspace.settings
    title = options.title
    if title is None:
        app_section = (settings.app_config or {}).get("app")
        configured = app_section.get("title") if isinstance(app_section, dict) else None
        title = str(configured) if isinstance(configured, str) and configured.strip() else "Soundcheck"
    entities = {entity_key(str(x.ref)): x for x in workspace.entities}
    inp = SiteInput(runs, settings.checks, settings.tracks, entities, now or utcnow(), title, GLOBAL.redact)
    try:
        return generate(inp, options.output)
    except NotASite as exc:
        raise UsageError(f"cannot write the site: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot write the site to {options.output}: {exc.strerror or exc}") from None
