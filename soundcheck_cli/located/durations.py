"""Durations as Backstage's config writes them: a HumanDuration mapping (``{hours: 2, minutes: 30}``, units of
``@backstage/types``) or an ISO-8601 string (``PT2H30M``, which ``readDurationFromConfig`` accepts too), read into a
``timedelta`` with located errors. Used by collector schedules and by the HTTP client's options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.located.nodes import loc_of

# HumanDuration units (Backstage ``@backstage/types``). Months and years have no fixed length; as a collection
# frequency an approximation (30 / 365 days) is what a user means.
DURATION_UNITS: dict[str, timedelta] = {
    "milliseconds": timedelta(milliseconds=1),
    "seconds": timedelta(seconds=1),
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
    "months": timedelta(days=30),
    "years": timedelta(days=365),
}

# ISO-8601 durations (``PT1H30M``, ``P1D``), which Backstage's ``readDurationFromConfig`` accepts too.
_NUM = r"(\d+(?:[.,]\d+)?)"
_ISO_DURATION = re.compile(rf"^P(?!$)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$")
_ISO_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")

# The JSON schema of a duration, kept under ``$defs/duration`` of a collector's schema and referenced from there.
DURATION_DEF: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "properties": {unit: {"type": "number", "minimum": 0} for unit in DURATION_UNITS},
            "additionalProperties": False,
            "minProperties": 1,
        },
        {"type": "string", "description": "ISO-8601 duration, e.g. PT1H"},
    ]
}
DURATION_SCHEMA: dict[str, Any] = {"$ref": "#/$defs/duration"}


def parse_duration(
    node: Any,
    problems: Problems | None = None,
    what: str = "duration",
    location: Location | None = None,
    *,
    number_unit: timedelta | None = None,
) -> timedelta | None:
    """A HumanDuration mapping (``{hours: 2, minutes: 30}``) or an ISO-8601 string (``PT2H30M``) as a
    ``timedelta``; ``None`` (and a located error in ``problems``) when malformed. A bare number is accepted only
    when ``number_unit`` is given (BullMQ's limiter ``duration`` is in milliseconds)."""
    problems = problems if problems is not None else Problems()
    location = loc_of(node) or location
    if isinstance(node, str):
        m = _ISO_DURATION.match(node.strip().upper())
        if m is None:
            problems.error(f"{what}: {node!r} is not an ISO-8601 duration such as PT1H or P1D", location)
            return None
        return sum(
            (DURATION_UNITS[unit] * float(value.replace(",", ".")) for unit, value in zip(_ISO_UNITS, m.groups(), strict=True) if value),
            timedelta(),
        )
    if isinstance(node, (int, float)) and not isinstance(node, bool) and number_unit is not None:
        if node < 0:
            problems.error(f"{what} must not be negative", location)
            return None
        return number_unit * node
    if not isinstance(node, Mapping) or not node:
        units = ", ".join(DURATION_UNITS)
        problems.error(f"{what} must be a mapping of {units} to numbers, e.g. {{hours: 2}}", location)
        return None
    total = timedelta()
    ok = True
    for key, value in node.items():
        unit = DURATION_UNITS.get(str(key))
        if unit is None:
            problems.error(
                f"{what}: unknown unit '{key}' (expected one of {', '.join(DURATION_UNITS)})", loc_of(node, key) or location
            )
            ok = False
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problems.error(f"{what}: '{key}' must be a non-negative number", loc_of(node, key) or location)
            ok = False
        else:
            total += unit * value
    return total if ok else None
