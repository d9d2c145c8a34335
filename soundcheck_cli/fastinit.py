"""Constructors for frozen, slotted dataclasses that skip the generated ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``. The hot paths that build tens or
hundreds of thousands of objects per run (check results in ``rules.engine``, facts in ``facts.store``, level and
track results in ``tracks.certification``) set the slots through their descriptors instead: the same object in a
third to half of the time. Arguments are the fields, in order, with the dataclass's defaults; like the dataclass's
own ``__init__`` nothing is converted or checked. A class this cannot mirror exactly (not a slotted dataclass, a
``__post_init__``, a field outside ``__init__``) gets its ordinary constructor back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import MISSING, fields, is_dataclass
from itertools import repeat
from typing import Any, TypeVar

T = TypeVar("T")
_UNSET = object()


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    if not is_dataclass(cls) or "__slots__" not in vars(cls) or hasattr(cls, "__post_init__"):
        return cls
    params: list[str] = []
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_unset": _UNSET}
    body = ["    obj = _new(_cls)"]
    for index, field in enumerate(fields(cls)):
        if not field.init:
            return cls
        if field.default_factory is not MISSING:  # called only when the argument is left out, as dataclasses do
            namespace[f"_factory{index}"] = field.default_factory
            params.append(f"{field.name}=_unset")
            body.append(f"    if {field.name} is _unset: {field.name} = _factory{index}()")
        elif field.default is MISSING:
            params.append(field.name)
        else:
            namespace[f"_default{index}"] = field.default
            params.append(f"{field.name}=_default{index}")
        # Field names are the class's own identifiers (code, not data); the setter is the slot's descriptor.
        namespace[f"_set{index}"] = getattr(cls, field.name).__set__
        body.append(f"    _set{index}(obj, {field.name})")
    source = f"def make({', '.join(params)}):\n" + "\n".join(body) + "\n    return obj\n"
    exec(compile(source, f"<fast {cls.__name__}>", "exec"), namespace)  # noqa: S102 - see above
    make = namespace["make"]
    make.__doc__ = f"``{cls.__name__}(...)`` without the dataclass ``__init__`` (``soundcheck_cli.fastinit``)."
    return make  # type: ignore[no-any-return]


_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...] | None] = {}


def build_columns(cls: type[T], n: int, *columns: Iterable[Any]) -> list[T]:
    """``[cls(*row) for row in zip(*columns)]`` for ``n`` rows (each column holds at least ``n`` values), built a
    column at a time: each slot is set for all ``n`` objects by one C-level ``map`` over its descriptor. Every
    field must be given. A class ``fast_constructor`` cannot mirror is built row by row with its constructor."""
    if cls not in _SETTERS:
        _SETTERS[cls] = (None if fast_constructor(cls) is cls
                         else tuple(getattr(cls, f.name).__set__ for f in fields(cls)))  # type: ignore[arg-type]
    setters = _SETTERS[cls]
    if setters is None or len(setters) != len(columns):
        return list(map(cls, *columns))[:n]
    objects = list(map(object.__new__, repeat(cls, n)))
    for setter, column in zip(setters, columns):
        deque(map(setter, objects, column), 0)
    return objects
