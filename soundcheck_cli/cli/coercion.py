"""Coerce the CLI's plain option values without Pydantic (start-up time of every command).

Typer 0.29 coerces every parameter through a Pydantic ``TypeAdapter`` (``typer._coercion.build_runtime_param``),
so any command, even ``check --help``, imports pydantic and pydantic-core first: ~110 ms of a ~270 ms start. The
soundcheck CLI only declares ``str``, ``bool`` and ``list[str]`` parameters, whose values click already gives as
``str``/``bool``/tuples of ``str``; for those the adapter's result is the value itself (``list`` for ``list[str]``,
see ``typer._adapters._parse_cli_str`` and ``build_adapter``). ``install`` answers exactly those cases directly and
hands every other value or annotation to Typer's own runtime, so errors and unusual inputs behave as before. It
does nothing on a Typer without this internal hook.
"""

from __future__ import annotations

from typing import Any

_LIST_OF_STR = list[str]


class _Direct:
    """A runtime param for str / bool / list[str] annotations; anything unexpected goes to Typer's own."""

    def __init__(self, descriptor: Any) -> None:
        self._descriptor = descriptor
        self._fallback: Any = None

    def _typer(self) -> Any:
        if self._fallback is None:
            from typer._coercion import build_runtime_param

            self._fallback = build_runtime_param(self._descriptor)
        return self._fallback

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        annotation = param.type_descriptor.annotation
        if value is None:  # as RuntimeParam.coerce: () for multi-value parameters, else None
            return () if (param.multiple or param.nargs == -1) else None
        if annotation is str and type(value) is str and not (param.multiple or param.nargs == -1):
            return value
        if annotation is bool and type(value) is bool:
            return value
        if annotation == _LIST_OF_STR and type(value) in (tuple, list) and all(type(v) is str for v in value):
            return list(value)
        return self._typer().coerce(value, param=param, ctx=ctx)

    def __getattr__(self, name: str) -> Any:  # any other use of the runtime param: Typer's own
        return getattr(self._typer(), name)


def install() -> None:
    try:
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover - depends on the installed typer
        return
    original = getattr(_TyperParameter, "get_runtime_param", None)
    if original is None or getattr(original, "_soundcheck", False):
        return

    def get_runtime_param(self: Any) -> Any:
        descriptor = getattr(self, "type_descriptor", None)
        info = getattr(descriptor, "parameter_info", None)
        if (info is None or descriptor.file_annotation is not None or info.parser is not None
                or info.min is not None or info.max is not None):
            return original(self)
        if descriptor.annotation not in (str, bool, _LIST_OF_STR):
            return original(self)
        if getattr(self, "_runtime_param", None) is None:
            self._runtime_param = _Direct(descriptor)
        return self._runtime_param

    get_runtime_param._soundcheck = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
