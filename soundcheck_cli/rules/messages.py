"""Check messages: safe ``{{ placeholder }}`` substitution and the wording of default messages.

``passedMessage``, ``failedMessage`` and ``notApplicableMessage`` may contain placeholders in the
Soundcheck/Handlebars style. Substitution is a scan for braces plus a walk through plain data: nothing is
ever evaluated, imported, called or looked up as an attribute, and there is no template engine underneath.

Grammar of one placeholder (spaces inside the braces are optional)::

    {{ root segment* }}
    root     := entity | check | facts
    segment  := .name | ['key'] | ["key"] | [index]

- ``entity`` is the catalog entity document: ``{{ entity.metadata.name }}``,
  ``{{ entity.metadata.annotations['pagerduty.com/service-id'] }}``.
- ``check`` has ``id``, ``name`` (the title), ``description``: ``{{ check.name }}``.
- ``facts`` must be followed by a bracketed fact ref, then a path into that fact's data:
  ``{{ facts['pagerduty:default/service'].status }}``.

A placeholder that resolves to nothing (a missing key, an absent fact) renders as the empty string. Anything
that is not a placeholder of this grammar (an unknown root such as ``{{ entiy.name }}``, a call such as
``{{ __import__('os') }}``, a filter, an expression) is left in the message exactly as written, so that a typo
stays visible instead of silently disappearing.

Values render as text: strings as-is, ``true``/``false``, numbers as written, ``null``/missing as empty,
lists and mappings as compact JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from soundcheck_cli.facts.model import FactRef
from soundcheck_cli.rules.jsonpath import MISSING

_ROOT = re.compile(r"\s*(entity|check|facts)(?=[.\[\s]|$)")
_SEG = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
      | \[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\]
      | \[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]
      | \[\s*(?P<index>[0-9]+)\s*\]""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)

# Longest text a rendered value or a described value may take, so one odd fact cannot flood a report.
MAX_VALUE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Lookup:
    """One parsed placeholder: ``root`` then keys/indexes (for ``facts``, ``fact_ref`` comes first)."""

    root: str
    steps: tuple[str | int, ...]
    fact_ref: FactRef | None = None


def parse_placeholder(expression: str) -> Lookup | None:
    """Parse the text between ``{{`` and ``}}``; None when it is not a placeholder of the grammar."""
    m = _ROOT.match(expression)
    if m is None:
        return None
    root = m.group(1)
    pos = m.end()
    steps: list[str | int] = []
    while True:
        while pos < len(expression) and expression[pos] in " \t":
            pos += 1
        if pos >= len(expression):
            break
        seg = _SEG.match(expression, pos)
        if seg is None:
            return None
        if seg.group("name") is not None:
            steps.append(seg.group("name"))
        elif seg.group("index") is not None:
            steps.append(int(seg.group("index")))
        else:
            raw = seg.group("sq") if seg.group("sq") is not None else seg.group("dq")
            steps.append(_ESCAPE.sub(r"\1", raw))
        pos = seg.end()
    fact_ref = None
    if root == "facts":
        if not steps or not isinstance(steps[0], str):
            return None
        try:
            fact_ref = FactRef.parse(steps[0])
        except ValueError:
            return None
        steps = steps[1:]
    return Lookup(root, tuple(steps), fact_ref)


def walk(value: Any, steps: tuple[str | int, ...]) -> Any:
    """Follow keys (mappings only) and indexes (lists only); ``MISSING`` as soon as a step does not apply."""
    for step in steps:
        if step.__class__ is str:
            if value.__class__ is dict or isinstance(value, dict):
                value = value.get(step, MISSING)
                if value is MISSING:
                    return MISSING
                continue
            return MISSING
        if isinstance(value, list) and 0 <= step < len(value):  # type: ignore[operator]
            value = value[step]
            continue
        return MISSING
    return value


def render_value(value: Any) -> str:
    """Text of a placeholder value (missing and null render empty)."""
    if value.__class__ is str and len(value) <= MAX_VALUE_CHARS:
        return value
    if value is MISSING or value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = _number(value)
    else:
        text = _json(value)
    return _clip(text)


def describe_value(value: Any) -> str:
    """A value as it appears in a default message: JSON-like (``"active"``, ``3``, ``null``, ``missing``)."""
    cls = value.__class__
    if cls is str:
        return _clip(encode_basestring(value))
    if value is MISSING:
        return "missing"
    if cls is list and len(value) <= 32:
        # the common list of strings/numbers, without a JSON encoder round trip
        items = []
        for item in value:
            if item.__class__ is str:
                items.append(encode_basestring(item))
            elif item is None or isinstance(item, (bool, int, float)):
                items.append(_scalar(item))
            else:
                return _clip(_json(value))
        return _clip("[" + ",".join(items) + "]")
    if value is None or isinstance(value, (bool, int, float)):
        return _scalar(value)
    return _clip(_json(value))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _number(value)


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # as JSON/JavaScript print it: 3, not 3.0
    return str(value)


# One encoder for every call: ``json.dumps`` with non-default options builds a new encoder each time.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _json(value: Any) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):
        return str(value)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


Renderer = Callable[[Any, Any, Any], str]  # (entity data, check info, fact lookup) -> text


def _lookup_renderer(lookup: Lookup) -> Renderer:
    steps = lookup.steps
    root = lookup.root
    if root == "facts":
        fact_ref = lookup.fact_ref

        def from_fact(entity: Any, check: Any, fact: Any) -> str:
            data = fact(fact_ref) if fact is not None else MISSING
            return render_value(walk(data, steps) if data is not MISSING else MISSING)

        return from_fact
    from_check = root == "check"
    if all(isinstance(k, str) for k in steps):

        def from_keys(entity: Any, check: Any, fact: Any) -> str:
            value = check if from_check else entity
            for key in steps:
                value = value.get(key, MISSING) if value.__class__ is dict else _key(value, key)
            if value.__class__ is str and len(value) <= MAX_VALUE_CHARS:
                return value
            return render_value(value)

        return from_keys

    def from_data(entity: Any, check: Any, fact: Any) -> str:
        return render_value(walk(check if from_check else entity, steps))

    return from_data


def _key(value: Any, key: str) -> Any:
    return value.get(key, MISSING) if isinstance(value, dict) else MISSING


def _renderer(parts: tuple[str | Lookup, ...]) -> Renderer:
    """One closure per template, specialised for the usual shapes (a placeholder with text around it)."""
    pieces = [p if isinstance(p, str) else _lookup_renderer(p) for p in parts]
    shape = tuple(isinstance(p, str) for p in pieces)
    if shape == ():
        return lambda e, c, f: ""
    if shape == (True,):
        text = pieces[0]
        return lambda e, c, f: text  # type: ignore[return-value]
    if shape == (False,):
        return pieces[0]  # type: ignore[return-value]
    if shape == (False, True):
        fn, after = pieces
        return lambda e, c, f: fn(e, c, f) + after  # type: ignore[operator]
    if shape == (True, False):
        before, fn = pieces
        return lambda e, c, f: before + fn(e, c, f)  # type: ignore[operator]
    if shape == (True, False, True):
        before, fn, after = pieces
        return lambda e, c, f: before + fn(e, c, f) + after  # type: ignore[operator]
    return lambda e, c, f: "".join([p if p.__class__ is str else p(e, c, f) for p in pieces])  # type: ignore


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed message: literal text and ``Lookup`` parts, in order, and its compiled renderer ``fn``."""

    text: str
    parts: tuple[str | Lookup, ...]
    fn: Renderer = field(compare=False, repr=False)
    constant: bool = False  # no placeholder: ``text`` is the message
    uses_facts: bool = False  # has a ``facts[...]`` placeholder (the renderer needs a fact lookup)

    def render(
        self,
        entity: Mapping[str, Any] | None = None,
        check: Mapping[str, Any] | None = None,
        fact: Callable[[FactRef], Any] | None = None,
    ) -> str:
        """Substitute every placeholder. ``fact(ref)`` returns a fact's data (or ``MISSING``)."""
        return self.fn(entity, check, fact)


_TEMPLATES: dict[str, Template] = {}


def placeholder_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each ``{{ ... }}`` (the text between is ``text[start + 2 : end - 2]``), left to right, the shortest span from each ``{{`` (what the regular
    expression ``{{(.*?)}}`` finds), in one pass: once no ``}}`` follows, no later ``{{`` can close either, so
    the scan stops (the expression retried from every ``{{``: 32,000 unclosed ones took 43 s)."""
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return
        close = text.find("}}", start + 2)
        if close < 0:
            return
        yield start, close + 2
        pos = close + 2


def compile_template(text: str | None) -> Template | None:
    """Parse a message once per distinct text (None stays None)."""
    if text is None:
        return None
    template = _TEMPLATES.get(text)
    if template is not None:
        return template
    parts: list[str | Lookup] = []
    pos = 0
    for start, end in placeholder_spans(text):
        lookup = parse_placeholder(text[start + 2 : end - 2])
        if lookup is None:
            continue  # not ours: stays in the literal text
        if start > pos:
            parts.append(text[pos:start])
        parts.append(lookup)
        pos = end
    if pos < len(text):
        parts.append(text[pos:])
    # merge adjacent literals (an unrecognised placeholder splits nothing)
    merged: list[str | Lookup] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    frozen_parts = tuple(merged)
    template = Template(
        text,
        frozen_parts,
        _renderer(frozen_parts),
        constant=all(isinstance(p, str) for p in frozen_parts),
        uses_facts=any(isinstance(p, Lookup) and p.root == "facts" for p in frozen_parts),
    )
    if len(_TEMPLATES) < 4096:
        _TEMPLATES[text] = template
    return template


def render(text: str | None, entity: Mapping[str, Any] | None = None, check: Mapping[str, Any] | None = None,
           fact: Callable[[FactRef], Any] | None = None) -> str:
    """Convenience: compile (cached) and render ``text``; None renders as the empty string."""
    template = compile_template(text)
    return template.render(entity, check, fact) if template is not None else ""
