"""Entity values in a query language's text (Jira's JQL, New Relic's entity search): always one quoted string.

A template such as ``project = {{ entity.metadata.annotations['jira/project-key'] }}`` must not let an annotation
like ``X" OR project = "Y`` add a clause. Each value is escaped (``\\``, both quotes) and, unless the template
itself opened a quote right there, wrapped in quotes. Whether a quote is open is read from the template's own
text only -- the substituted values are balanced by construction, and counting their escaped quotes would
misjudge it.
"""

from __future__ import annotations


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
