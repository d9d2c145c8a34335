"""Reading fact files for ``soundcheck facts push FILE...`` (JSON or YAML; ``-`` is standard input).

A file holds one fact, a list of facts, or (YAML) several documents of either. A fact is::

    factRef: custom:default/github_actions_test      # or {source: custom, scope: default, name: github_actions_test}
    entityRef: component:default/payments-api          # required; normalised the Backstage way (kind lower-cased)
    data: {passed: true}                               # required; any JSON value
    timestamp: 2026-01-05T10:00:00Z                    # optional, ISO-8601 (default: now)
    expiresAt: 2026-01-06T10:00:00Z                    # optional (what ``facts show --format json`` prints)

Files are composed by ``located.yaml`` (the one YAML reader), so every value keeps its ``line:column``; JSON is read the same way
(JSON is YAML 1.2) after ``json`` has confirmed it is valid JSON, so JSON syntax errors are reported the JSON way.
Every invalid fact is reported as ``file:line:col: ...``; if any is invalid, ``read_fact_files`` raises
``ConfigError`` with all of them and returns nothing, so that a push writes all of its facts or none.
Sizes are checked with aliases expanded before anything is built, so a "billion laughs" file fails at once.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from soundcheck_cli.catalog.model import EntityRef
from soundcheck_cli.located.nodes import LocatedDict, LocatedList, loc_of, to_plain
from soundcheck_cli.errors import ConfigError, Location, Problem, Problems
from soundcheck_cli.facts.model import Fact, FactRef, parse_timestamp, utcnow

STDIN = "-"
STDIN_NAME = "<stdin>"
KNOWN_KEYS = ("factRef", "entityRef", "data", "timestamp", "expiresAt")
MAX_VALUES = 1_000_000  # values per file once aliases are expanded (a YAML bomb stops here)
MAX_DEPTH = 200
MAX_TEXT = 64 * 1024 * 1024  # characters of scalar text per file once aliases are expanded (one long string x 1,000)

_Y = "tag:yaml.org,2002:"


class _TooBig(Exception):
    """A file too large or too deep once aliases are expanded; ``node`` is where it was noticed (for the line)."""

    def __init__(self, message: str, node: Any = None) -> None:
        super().__init__(message)
        self.node = node


def read_fact_files(paths: list[str], problems: Problems) -> list[Fact]:
    """Read and validate every fact in ``paths``; warnings go to ``problems``.

    Errors are added to ``problems`` too, and then raised together as one ``ConfigError`` (ending with a line that
    says nothing was pushed): either every fact is valid and returned, or none is.
    """
    first_error = len(problems.errors)
    facts: list[Fact] = []
    seen: dict[tuple[str, FactRef], Location | None] = {}
    invalid = 0
    for path in paths:
        for fact, location in _read_file(path, problems):
            if fact is None:
                invalid += 1
                continue
            key = (fact.entity_ref.lower(), fact.fact_ref)
            if key in seen:
                previous = f" (also at {seen[key]})" if seen[key] else ""
                problems.warning(f"fact {fact.fact_ref} for {fact.entity_ref} is given more than once{previous}; the last one is used", location)
            seen[key] = location
            facts.append(fact)
    errors = problems.errors[first_error:]
    if errors:
        what = f"{invalid} invalid fact{'s' if invalid != 1 else ''}" if invalid else "errors in the fact files"
        note = Problem(f"nothing was pushed ({what}); fix the errors above and push again")
        problems.items.append(note)
        raise ConfigError([*errors, note])
    # Same (entity, fact ref) twice: keep the last, in file order.
    unique: dict[tuple[str, FactRef], Fact] = {}
    for fact in facts:
        unique.pop((fact.entity_ref.lower(), fact.fact_ref), None)
        unique[(fact.entity_ref.lower(), fact.fact_ref)] = fact
    return list(unique.values())


def _read_file(path: str, problems: Problems) -> list[tuple[Fact | None, Location | None]]:
    name = STDIN_NAME if path == STDIN else path
    try:
        if path == STDIN:
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.error(f"cannot read fact file: {reason}", Location(name))
        return []
    documents = _parse(text, name, problems)
    if documents is None:
        return []
    out: list[tuple[Fact | None, Location | None]] = []
    values = [doc for doc in documents if doc is not None]
    if not values:
        problems.warning("fact file is empty: no facts in it", Location(name, 1, 1))
    for doc in values:
        items = doc if isinstance(doc, list) else [doc]
        for index, item in enumerate(items):
            location = loc_of(doc, index) if isinstance(doc, list) else loc_of(doc)
            out.append((_to_fact(item, location, problems), location))
    return out


# -- parsing with positions ---------------------------------------------------------------------------------


def parse_documents(text: str, name: str, problems: Problems) -> list[Any] | None:
    """The documents of a JSON or YAML text as located trees (``LocatedDict``/``LocatedList``), bounded as a fact
    file is; ``None`` after reporting an error (``soundcheck results push`` reads its files with it)."""
    return _parse(text, name, problems)



def _parse(text: str, name: str, problems: Problems) -> list[Any] | None:
    """The documents of ``text`` as ``LocatedDict``/``LocatedList`` trees, or ``None`` after reporting an error."""
    from soundcheck_cli.located import yaml as reader

    if reader.flow_depth(text) > MAX_DEPTH:
        # ruamel's scanner is quadratic in flow nesting (900 levels take seconds): refuse before parsing.
        problems.error(f"fact file is nested more than {MAX_DEPTH} levels deep", reader.flow_too_deep_at(text, name, MAX_DEPTH))
        return None
    is_json = name.lower().endswith(".json") or text.lstrip()[:1] in ("{", "[")
    json_value: Any = None
    if is_json:
        try:
            json_value = json.loads(text)
        except RecursionError:
            problems.error(f"fact file is nested more than {MAX_DEPTH} levels deep", Location(name))
            return None
        except json.JSONDecodeError as exc:
            if name.lower().endswith(".json"):
                problems.error(f"invalid JSON: {exc.msg}", Location(name, exc.lineno, exc.colno))
                return None
            is_json = False  # looked like JSON but is not: YAML flow style, perhaps
        else:
            # Valid JSON has no literal tab inside strings, so tabs are only whitespace here; YAML forbids
            # them in some places JSON allows them, and a one-for-one swap keeps every column.
            text = text.replace("\t", " ")
    try:
        nodes = reader.compose(text, name)
    except reader.YamlError as exc:
        if is_json:
            return [_locate_plain(json_value, Location(name))]
        problems.error(f"invalid YAML: {exc.problem}", exc.location)
        return None
    except reader.YamlLimit as exc:
        problems.error("invalid YAML: nested too deeply", exc.location)
        return None
    documents = []
    try:
        # Size the documents as they would be once aliases are expanded *before* building anything: a "billion
        # laughs" file is refused in milliseconds, while a genuinely large file costs time in proportion to its size.
        memo: dict[int, int] = {}
        total = sum(_expanded_size(node, memo, set(), 0) for node in nodes)
        if total > MAX_VALUES:
            raise _TooBig(f"fact file is too large: more than {MAX_VALUES:,} values once YAML aliases are expanded",
                          nodes[0] if nodes else None)
        text_memo: dict[int, int] = {}
        if sum(_expanded_text(node, text_memo) for node in nodes) > MAX_TEXT:
            raise _TooBig(f"fact file is too large: more than {MAX_TEXT // (1024 * 1024)} MiB of text once YAML "
                          "aliases are expanded", nodes[0])
        for node in nodes:
            documents.append(_convert(node, name, problems))
    except _TooBig as exc:
        problems.error(str(exc), _mark(exc.node, name) if exc.node is not None else Location(name))
        return None
    return documents


def _expanded_text(node: Any, memo: dict[int, int]) -> int:
    """Characters of scalar text ``node`` stands for with aliases expanded (memoised; depth and cycles were
    bounded by ``_expanded_size`` first)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if not isinstance(node, (MappingNode, SequenceNode)):
        return len(node.value) if isinstance(node.value, str) else 0
    key = id(node)
    if key not in memo:
        children = [v for pair in node.value for v in pair] if isinstance(node, MappingNode) else node.value
        memo[key] = sum(_expanded_text(child, memo) for child in children)
    return memo[key]


def _expanded_size(node: Any, memo: dict[int, int], visiting: set[int], depth: int) -> int:
    """How many values ``node`` stands for with aliases expanded (memoised per node: linear in the file)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if not isinstance(node, (MappingNode, SequenceNode)):
        return 1
    key = id(node)
    if key in memo:
        return memo[key]
    if key in visiting:
        raise _TooBig("fact file contains a recursive YAML alias (a value that contains itself)", node)
    if depth > MAX_DEPTH:
        raise _TooBig(f"fact file is nested more than {MAX_DEPTH} levels deep", node)
    visiting.add(key)
    children = [v for pair in node.value for v in pair] if isinstance(node, MappingNode) else node.value
    size = 1
    for child in children:
        size += _expanded_size(child, memo, visiting, depth + 1)
        if size > MAX_VALUES:  # no need to count further; name the value that crossed the bound
            raise _TooBig(f"fact file is too large: more than {MAX_VALUES:,} values once YAML aliases are expanded", node)
    visiting.discard(key)
    memo[key] = size
    return size


def _mark(node: Any, name: str) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1)


def _tag(node: Any) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag) or "")


def _convert(node: Any, name: str, problems: Problems) -> Any:
    """A composed YAML node as plain data with positions (JSON types only; timestamps stay text). Sizes and
    depth were bounded by ``_expanded_size`` first."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    location = _mark(node, name)
    if isinstance(node, MappingNode):
        out = LocatedDict(loc=location)
        for key_node, value_node in node.value:
            key_loc = _mark(key_node, name)
            if isinstance(key_node, (MappingNode, SequenceNode)) or _tag(key_node) == _Y + "merge":
                problems.error("only plain scalar keys are allowed in a fact file", key_loc)
                continue
            key = str(key_node.value)
            if key in out:
                problems.warning(f"duplicate key '{key}' (the last one is used)", key_loc)
            out[key] = _convert(value_node, name, problems)
            out.key_locs[key] = key_loc
            out.value_locs[key] = _mark(value_node, name)
        return out
    if isinstance(node, SequenceNode):
        seq = LocatedList(loc=location)
        for item in node.value:
            seq.append(_convert(item, name, problems))
            seq.item_locs.append(_mark(item, name))
        return seq
    return _scalar(node, location, problems)


def _scalar(node: Any, location: Location, problems: Problems) -> Any:
    """Resolve a scalar by its YAML 1.2 core-schema tag (what ruamel's resolver decided), never by constructing
    arbitrary Python objects."""
    tag, text = _tag(node), node.value
    if tag == _Y + "str" or tag == _Y + "timestamp":
        return text
    if tag == _Y + "null":
        return None
    if tag == _Y + "bool":
        return text.lower() in ("true", "yes", "on")
    if tag == _Y + "int":
        digits = text.replace("_", "")
        try:
            return int(digits, 0)
        except ValueError:
            try:
                return int(digits, 10)  # leading zeros ("007"), which base 0 refuses
            except ValueError:
                return text
    if tag == _Y + "float":
        lowered = text.replace("_", "").lower()
        if lowered.lstrip("+-") in (".inf", ".nan"):
            problems.error(f"'{text}' is not a JSON number", location)
            return None
        try:
            return float(lowered)
        except ValueError:
            return text
    problems.error(f"unsupported YAML tag {tag!r}: fact files hold JSON values only", location)
    return None


def _locate_plain(value: Any, location: Location) -> Any:
    """Wrap plain JSON data (parsed without positions) so that every location is at least the file."""
    if isinstance(value, dict):
        out = LocatedDict(loc=location)
        for key, item in value.items():
            out[key] = _locate_plain(item, location)
        return out
    if isinstance(value, list):
        seq = LocatedList(loc=location)
        seq.extend(_locate_plain(item, location) for item in value)
        return seq
    return value


# -- validation ----------------------------------------------------------------------------------------------


def fact_from_value(node: Any, location: Location | None, problems: Problems) -> Fact | None:
    """One fact from data already parsed elsewhere, with the validation of ``facts push`` (``soundcheck serve``'s
    ``POST /facts``): ``None`` after reporting its problems. Give a ``LocatedDict`` for located messages."""
    return _to_fact(node, location, problems)


def _to_fact(node: Any, location: Location | None, problems: Problems) -> Fact | None:
    """One fact from a located mapping, or ``None`` after reporting each of its problems."""
    if not isinstance(node, dict):
        problems.error("a fact must be a mapping with factRef, entityRef and data", location)
        return None
    ok = True
    for key in node:
        if key not in KNOWN_KEYS:
            problems.warning(f"unknown key '{key}' in fact (ignored); expected one of {', '.join(KNOWN_KEYS)}", _key_loc(node, key))
    for required in ("factRef", "entityRef", "data"):
        if required not in node:
            problems.error(f"fact has no '{required}'", loc_of(node))
            ok = False

    fact_ref = _fact_ref(node, problems) if "factRef" in node else None
    entity_ref = _entity_ref(node, problems) if "entityRef" in node else None
    timestamp = _time(node, "timestamp", problems)
    expires_at = _time(node, "expiresAt", problems)
    if fact_ref is None or entity_ref is None or timestamp is False or expires_at is False or not ok:
        return None
    return Fact(
        fact_ref=fact_ref,
        entity_ref=entity_ref,
        data=to_plain(node["data"]),
        timestamp=timestamp or utcnow(),
        expires_at=expires_at or None,
    )


def _key_loc(node: Any, key: str) -> Location | None:
    return node.key_loc(key) if isinstance(node, LocatedDict) else loc_of(node)


def _bad_part(text: str, forbidden: str) -> bool:
    return not text or any(c.isspace() or c in forbidden or ord(c) < 0x20 for c in text)


def _fact_ref(node: Any, problems: Problems) -> FactRef | None:
    value = node["factRef"]
    location = loc_of(node, "factRef")
    example = "e.g. custom:default/github_actions_test"
    if isinstance(value, str):
        try:
            return FactRef.parse(value)
        except ValueError:
            problems.error(f"invalid factRef '{value}': expected source:scope/name ({example})", location)
            return None
    if isinstance(value, dict):
        good = True
        for part, forbidden, required in (("source", ":/", True), ("scope", ":/", False), ("name", "", True)):
            if part not in value:
                if required:
                    problems.error(f"factRef has no '{part}' (expected {{source, scope, name}})", location)
                    good = False
                continue
            text = value[part]
            if not isinstance(text, str) or _bad_part(text, forbidden):
                rule = f" and no {' or '.join(repr(c) for c in forbidden)}" if forbidden else ""
                problems.error(f"factRef {part} must be a non-empty string without spaces{rule}", loc_of(value, part))
                good = False
        for key in value:
            if key not in ("source", "scope", "name"):
                problems.warning(f"unknown key '{key}' in factRef (ignored)", _key_loc(value, key))
        if not good:
            return None
        return FactRef(value["source"], value.get("scope") or "default", value["name"])
    problems.error(f"factRef must be a string ({example}) or a mapping {{source, scope, name}}", location)
    return None


def _entity_ref(node: Any, problems: Problems) -> str | None:
    value = node["entityRef"]
    location = loc_of(node, "entityRef")
    if not isinstance(value, str):
        problems.error("entityRef must be a string such as component:default/payments-api", location)
        return None
    try:
        if any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise ValueError
        ref = EntityRef.parse(value)
        if any(c.isspace() for c in str(ref)):
            raise ValueError
    except ValueError:
        problems.error(f"invalid entityRef '{value}': expected kind:namespace/name (e.g. component:default/payments-api)", location)
        return None
    return str(ref)


def _time(node: Any, key: str, problems: Problems) -> Any:
    """The parsed timestamp, ``None`` when absent, ``False`` after reporting an invalid one."""
    if key not in node or node[key] is None:
        return None
    value = node[key]
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    problems.error(f"invalid {key} {value!r}: expected an ISO-8601 date-time such as 2026-01-05T10:00:00Z", loc_of(node, key))
    return False
