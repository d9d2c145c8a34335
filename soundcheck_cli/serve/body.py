"""Request bodies of ``soundcheck serve``: read bounded, parsed as JSON, validated with located errors.

Every problem names its field by JSON pointer (RFC 6901, ``/facts/0/entityRef``); a body with any error is
refused whole (HTTP 400), so a write stores all of its items or none, as ``soundcheck facts push`` does. Facts are
validated by ``facts.io`` (the very checks of ``facts push``), results by ``results_store``.
"""

from __future__ import annotations

import json
from typing import Any

from soundcheck_cli.errors import Location, Problem, Problems
from soundcheck_cli.facts.model import Fact
from soundcheck_cli.located.nodes import LocatedDict, LocatedList

MAX_DEPTH = 200  # nesting of a body (what fact files allow too)


class BodyError(Exception):
    """A request body refused: ``status`` (400, 413, 415) and the located problems."""

    def __init__(self, status: int, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.status = status
        self.problems = problems


def _one(status: int, message: str, pointer: str = "/") -> BodyError:
    return BodyError(status, [Problem(message, Location(pointer))])


def check_content_type(content_type: str | None) -> None:
    """JSON only (a missing type is taken as JSON, as curl's ``--data`` scripts often omit it)."""
    if content_type and content_type.split(";")[0].strip().lower() not in ("application/json", "text/json"):
        raise _one(415, f"the body must be JSON (Content-Type: application/json), not {content_type[:100]!r}")


def parse(raw: bytes) -> Any:
    """The JSON value of a body (bounded in size by the caller): a ``BodyError`` for anything that is not one
    JSON value of a bounded depth."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _one(400, f"the body is not UTF-8 text (byte {exc.start})") from None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise _one(400, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise _one(400, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise _one(400, f"the body is nested more than {MAX_DEPTH} levels deep") from None
    too_deep = _deeper_than(value, MAX_DEPTH)
    if too_deep is not None:
        raise _one(400, f"the body is nested more than {MAX_DEPTH} levels deep", too_deep)
    return value


def _deeper_than(value: Any, limit: int) -> str | None:
    """The pointer of a value nested deeper than ``limit``, or None (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, pointer, depth = stack.pop()
        if depth > limit:
            return pointer or "/"
        if isinstance(node, dict):
            stack.extend((v, f"{pointer}/{escape(k)}", depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{pointer}/{i}", depth + 1) for i, v in enumerate(node))
    return None


def escape(key: Any) -> str:
    """A key as a JSON pointer token (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def located(value: Any, pointer: str) -> Any:
    """``value`` as ``LocatedDict``/``LocatedList`` whose every location is the JSON pointer of the value, so that
    the located validators of the fact files (``facts.io``) name body fields the way they name file lines."""
    if isinstance(value, dict):
        out = LocatedDict(loc=Location(pointer or "/"))
        for key, item in value.items():
            here = f"{pointer}/{escape(key)}"
            out[key] = located(item, here)
            out.key_locs[key] = Location(here)
            out.value_locs[key] = Location(here)
        return out
    if isinstance(value, list):
        seq = LocatedList(loc=Location(pointer or "/"))
        for index, item in enumerate(value):
            seq.append(located(item, f"{pointer}/{index}"))
            seq.item_locs.append(Location(f"{pointer}/{index}"))
        return seq
    return value


def facts_from_body(doc: Any) -> tuple[list[Fact], list[Problem]]:
    """The facts of a ``POST /facts`` body ``{facts: [{factRef, entityRef, data, timestamp?}]}`` and the
    warnings; a ``BodyError`` listing every invalid field when any is invalid."""
    from soundcheck_cli.facts.io import fact_from_value

    problems = Problems()
    if not isinstance(doc, dict):
        raise _one(400, "the body must be a JSON object {facts: [{factRef, entityRef, data, timestamp?}]}")
    for key in doc:
        if key != "facts":
            problems.error(f"unknown field '{key}' (expected facts)", Location(f"/{escape(key)}"))
    items = doc.get("facts")
    if not isinstance(items, list) or not items:
        problems.error("'facts' is required: a non-empty list of {factRef, entityRef, data, timestamp?}",
                       Location("/facts"))
        raise BodyError(400, problems.errors)
    node = located(items, "/facts")
    facts = [fact_from_value(item, Location(f"/facts/{i}"), problems) for i, item in enumerate(node)]
    if problems.errors:
        raise BodyError(400, problems.errors)
    # The same (entity, fact) twice in one body: the last one wins, as in ``facts push``.
    unique: dict[tuple[str, Any], Fact] = {}
    for fact in facts:
        assert fact is not None  # no error was reported, so every fact was built
        unique.pop((fact.entity_ref.lower(), fact.fact_ref), None)
        unique[(fact.entity_ref.lower(), fact.fact_ref)] = fact
    return list(unique.values()), problems.warnings
