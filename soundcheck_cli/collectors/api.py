"""Small helpers of the public plugin API: fact-ref parsing and a logger scoped to one collector.

They mirror what a Soundcheck collector author has in TypeScript:

- ``parse_fact_ref`` / ``stringify_fact_ref``: ``@spotify/backstage-plugin-soundcheck-common``'s
  ``parseFactRef`` / ``stringifyFactRef`` (``source:scope/name``, ``source:name`` with scope ``default``, or a
  ``{source, scope, name}`` mapping);
- ``collector_logger``: the seed's ``logger.child({target: id})``. During ``soundcheck collect`` its lines go to
  the run's output (progress bars or CI log lines), prefixed ``collector <id>:`` and with every known secret masked;
  outside a run they go to the standard ``logging`` logger ``soundcheck.collector.<id>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from soundcheck_cli.collectors.logger import CollectorLogger, collector_logger
from soundcheck_cli.facts.model import FactRef

__all__ = ["CollectorLogger", "collector_context", "collector_logger", "parse_fact_ref", "stringify_fact_ref"]

def parse_fact_ref(value: str | Mapping[str, Any] | FactRef, default_source: str | None = None) -> FactRef:
    """``"source:scope/name"``, ``"source:name"`` (scope ``default``), ``"name"`` with ``default_source``, or
    ``{source, scope, name}`` as a ``FactRef``. Raises ``ValueError`` with a readable message otherwise."""
    return FactRef.parse(value if isinstance(value, (str, FactRef)) else dict(value), default_source)


def stringify_fact_ref(ref: FactRef | str | Mapping[str, Any]) -> str:
    """The canonical ``source:scope/name`` text of a fact ref (the form checks write in ``factRef``)."""
    return str(parse_fact_ref(ref))


def collector_context(
    *,
    transport: Any = None,
    app_config: Mapping[str, Any] | None = None,
    store: Any = None,
    log: Any = None,
    secrets: Iterable[str] = (),
) -> Any:
    """A ``CollectorContext`` for running a collector outside ``soundcheck collect`` (a plugin's own tests, a
    script): its HTTP clients send through ``transport`` (e.g. ``httpx.MockTransport(handler)``) when given, and
    its log lines go to ``log(level, text)`` when given, with ``secrets`` (and the config's token-like values)
    masked. ``collector.bind(collector_context(...))`` before ``set_config``."""
    from soundcheck_cli.collectors.base import CollectorContext
    from soundcheck_cli.http.client import HttpOptions
    from soundcheck_cli.redact import Redactor

    redactor = Redactor.from_config(dict(app_config or {}))
    for secret in secrets:
        redactor.add(secret)
    options = HttpOptions(transport=transport, log=log, redactor=redactor)
    return CollectorContext(store=store, app_config=dict(app_config or {}), extra={"http": options})


def credential_source(block: Mapping[str, Any], key: str, what: str = "") -> str:
    """Where a collector's credential comes from, for a message about it -- never its value: the config key
    with the ``${VARIABLE}`` written there and its ``file:line``, e.g. ``token (${PD_TOKEN}, app-config.yaml:7)``.

    The variable is read from the config text at the value's location (the loaded config holds only the
    substituted value); a value written inline, or a block without locations, gives the key and what is known.
    """
    import re

    from soundcheck_cli.located.nodes import loc_of

    name = f"{what}{key}"
    location = loc_of(block, key) if key in block else None
    if location is None or not location.line:
        return name
    variable = None
    try:
        with open(location.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if number == location.line:
                    found = re.findall(r"(?<!\$)\$\{\s*([^{}\s]+)\s*\}", line[(location.column or 1) - 1:])
                    variable = found[0] if found else None
                    break
    except OSError:
        pass
    where = f"{location.path}:{location.line}"
    return f"{name} (${{{variable}}}, {where})" if variable else f"{name} ({where})"
