"""The logger scoped to one collector (the seed's ``logger.child({target: id})``), part of the public plugin API
(``collectors.api`` re-exports it): during ``soundcheck collect`` its lines go to the run's output (progress bars
or CI log lines), prefixed ``collector <id>:`` and with every known secret masked; outside a run they go to the
standard ``logging`` logger ``soundcheck.collector.<id>``.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

# logging levels -> the runtime's message levels (collectors/progress.py: debug, info, warning, error).
_LEVEL_NAMES = ((logging.ERROR, "error"), (logging.WARNING, "warning"), (logging.INFO, "info"))


def _message_level(level: int) -> str:
    for threshold, name in _LEVEL_NAMES:
        if level >= threshold:
            return name
    return "debug"


class CollectorLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for one collector (``logger.child({target: id})``).

    ``debug``/``info``/``warning``/``error``/``exception`` work as on ``logging.Logger``; records carry
    ``extra={"target": <id>}``. Inside a collection run (the runtime put its ``HttpOptions`` with a ``log`` sink in
    the collector's context) the line goes to the run's output, redacted; ``debug`` lines show with ``--verbose``.
    """

    def __init__(self, collector_id: str, context: Any = None) -> None:
        base = getattr(context, "logger", None)
        name = f"soundcheck.collector.{collector_id or 'unknown'}"
        if not isinstance(base, logging.Logger) or not base.name.endswith(f".{collector_id}"):
            base = logging.getLogger(name)
        super().__init__(base, {"target": collector_id})
        self.collector_id = collector_id
        self.context = context

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}  # type: ignore[dict-item]
        return msg, kwargs

    def _sink(self) -> Any:
        from soundcheck_cli.http.client import http_options

        return http_options(self.context) if self.context is not None else None

    def isEnabledFor(self, level: int) -> bool:
        options = self._sink()
        if options is not None and options.log is not None:
            return level > logging.DEBUG or options.verbose
        return self.logger.isEnabledFor(level)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        options = self._sink()
        if options is None or options.log is None:
            msg, kwargs = self.process(msg, kwargs)
            self.logger.log(level, msg, *args, **kwargs)
            return
        text = str(msg) % args if args else str(msg)
        exc_info = kwargs.get("exc_info")
        if exc_info:
            import sys

            error = sys.exc_info()[1] if exc_info is True else (exc_info[1] if isinstance(exc_info, tuple) else exc_info)
            if error is not None:
                text += f" ({type(error).__name__}: {error})"
        options.log(_message_level(level), options.redactor.redact(f"collector {self.collector_id}: {text}"))


def collector_logger(collector: Any, context: Any = None) -> CollectorLogger:
    """The scoped logger of ``collector`` (a collector object, or an id with the run's ``context``).

    ``FactCollector.logger`` returns this; call it yourself only from code that has no collector object.
    """
    if isinstance(collector, str):
        return CollectorLogger(collector, context)
    return CollectorLogger(getattr(collector, "id", "") or "unknown", context or getattr(collector, "context", None))
