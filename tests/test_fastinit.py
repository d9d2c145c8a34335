"""``fastinit.fast_constructor``: the same objects as the dataclass constructors, or the constructor itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.fastinit import fast_constructor
from soundcheck_cli.tracks.model import LevelResult, TrackResult

T0 = datetime(2026, 11, 25, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class WithDefaults:
    name: str
    message: str = ""
    missing: tuple[str, ...] = ()


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (Fact, (FactRef("pagerduty", "default", "service"), "component:default/a", {"x": [1]}, T0, None)),
        (LevelResult, (1, "Bronze", True, ())),
        (TrackResult, ("t", "component:default/a", (), None)),
        (WithDefaults, ("c",)),  # defaults for message, missing
    ],
)
def test_builds_what_the_dataclass_builds(cls, args):
    make = fast_constructor(cls)
    assert make is not cls
    built, expected = make(*args), cls(*args)
    assert type(built) is cls and built == expected and repr(built) == repr(expected)
    with pytest.raises(AttributeError):
        built.__setattr__(next(iter(cls.__dataclass_fields__)), "changed")  # still frozen


def test_classes_it_cannot_mirror_keep_their_constructor():
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            raise AssertionError("must run")

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int
        b: int = field(default=0, init=False)

    for cls in (NoSlots, PostInit, NotInInit, int):
        assert fast_constructor(cls) is cls


def test_a_default_factory_runs_only_when_the_argument_is_left_out():
    calls: list[int] = []

    @dataclass(frozen=True, slots=True)
    class Stamped:
        a: int
        b: list[int] = field(default_factory=lambda: calls.append(1) or [len(calls)])

    make = fast_constructor(Stamped)
    assert make is not Stamped
    assert make(1) == Stamped(1, [1]) and calls == [1]  # the factory ran once, for make
    assert make(1, [7]).b == [7] and calls == [1]  # given: not called
    fresh = fast_constructor(Fact)(FactRef("a", "default", "b"), "component:default/x", None)
    assert fresh.timestamp.tzinfo is not None  # Fact's utcnow factory
