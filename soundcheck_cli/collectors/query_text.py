"""Entity values in a query language's text (Jira's JQL, New Relic's entity search): always one quoted string.

A template such as ``project = {{ entity.metadata.annotations['jira/project-key'] }}`` must not let an annotation
like ``X" OR project = "Y`` add a clause. Each value is escaped (``\\``, both quotes) and, unless the template
itself opened a quote right there, wrapped in quotes. Whether a quote is open is read from the template's own
text only -- the substituted values are balanced by construction, and counting their escaped quotes would
misjudge it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from soundcheck_cli.collectors.http_collector import Missing
from soundcheck_cli.rules.jsonpath import MISSING
from soundcheck_cli.rules.messages import walk

if TYPE_CHECKING:
    from soundcheck_cli.catalog.model import Entity
    from soundcheck_cli.collectors.http_collector import Template


def open_quote(literal: str) -> str | None:
    """The quote character the template's text so far leaves open (``"`` or ``'``), or ``None``."""
    quote = None
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote is None and char in "\"'":
            quote = char
        elif char == quote:
            quote = None
    return quote


def string_value(value: str, literal: str, default_quote: str) -> str:
    """``value`` escaped for a quoted string, wrapped in ``default_quote`` unless ``literal`` (the template's text
    before it) left a quote open. Raises ``ValueError`` for a line break, which no query string may hold."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"the value {value!r} contains a line break")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return escaped if open_quote(literal) else f"{default_quote}{escaped}{default_quote}"


def render_query(template: Template, entity: Entity, quote: str | None, language: str) -> str:
    """``template`` with each placeholder replaced by the entity's value: as a ``string_value`` quoted with
    ``quote``, or as it is when ``quote`` is ``None`` (an ID, not query text). Raises ``Missing`` for a value that
    is absent or blank, or one that cannot go into ``language`` (named in the reason)."""
    out: list[str] = []
    literal = ""  # the template's own text so far: where its quotes open and close
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            literal += part
            continue
        value = walk(entity.data, part.steps)
        if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
            raise Missing(f"{part.text} has no value for this entity")
        text = str(value).strip()
        if quote is not None:
            try:
                text = string_value(text, literal, quote)
            except ValueError as exc:
                raise Missing(f"{part.text}: {exc}; it cannot go into {language}") from None
        out.append(text)
    return "".join(out)
