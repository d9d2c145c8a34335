"""Reading fact files for ``soundcheck facts push FILE...`` (JSON or YAML; ``-`` is standard input).

A file holds one fact, a list of facts, or (YAML) several documents of either. A fact is::

    factRef: custom:default/github_actions_test      # or {source: custom, scope: default, name: github_actions_test}
    entityRef: component:default/payments-api          # required; the catalog's rules (kind, namespace and name)
    data: {passed: true}                               # required; any JSON value
    timestamp: 2026-01-05T10:00:00Z                    # optional, ISO-8601 (default: now)
    expiresAt: 2026-01-06T10:00:00Z                    # optional (what ``facts show --format json`` prints)

``entityRef`` follows the catalog's rules (``catalog/validation.py``: a kind of letters and digits, a namespace and
a name of 1-63 characters of ``[A-Za-z0-9]`` separated by ``-_.``), so a push cannot store a fact for an entity the
catalog could never hold (``component:default/../../etc``, 300-character names, bidi override characters).
A duplicate key in a mapping is an error (YAML and JSON alike): one of the two values would be silently dropped.

Files are read as regular files only and bounded (``MAX_FILE_BYTES``): a FIFO or ``/dev/zero`` is refused at once
instead of hanging. Two readings, one answer (issue 18 item 28, issue 23):

- the **fast check** (``fast_fact``) of plain data, without positions: ``facts.push`` reads files a piece at a time
  (JSON through ``json.loads``, YAML through the C parser's events) and checks each item this way;
- the **located reading** (``parse_documents``, ``convert_node``, ``fact_from_value``), for a piece or a fact the
  fast check refused (an invalid fact, an unknown key, a duplicate, an unusual YAML feature), or for a whole file
  ``facts.push`` cannot cut (``read_located``): every value keeps its ``line:column`` and every problem is reported
  as ``file:line:col: ...``.

If any fact is invalid, ``facts.push.read_files`` raises ``ConfigError`` with all the problems and returns nothing
(and ``facts.push.push_files`` writes nothing: one transaction). Sizes are checked with aliases expanded before anything
is built, so a "billion laughs" file fails at once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from soundcheck_cli.catalog.model import EntityRef
from soundcheck_cli.catalog.validation import KIND_RE, MAX_NAME_LENGTH, NAME_RE
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.facts.model import Fact, FactRef, parse_timestamp, utcnow
from soundcheck_cli.fastinit import fast_constructor
from soundcheck_cli.located.nodes import LocatedDict, LocatedList, loc_of, to_plain
from soundcheck_cli.safe_text import terminal_safe

STDIN = "-"
STDIN_NAME = "<stdin>"
KNOWN_KEYS = ("factRef", "entityRef", "data", "timestamp", "expiresAt")
_KNOWN = frozenset(KNOWN_KEYS)
MAX_FILE_BYTES = 1024 * 1024 * 1024  # one fact file (1 GiB: ~5 million small facts)
# Values and scalar text per file once YAML aliases are expanded (a YAML bomb stops here); at least these, and at
# least the file's own size, so a big plain file is never refused for its size alone.
MAX_VALUES = 1_000_000
MAX_DEPTH = 200
MAX_REMEMBERED = 20_000  # entity refs and timestamps ``fast_fact`` remembers as checked (then forgets them all)
MAX_TEXT = 64 * 1024 * 1024  # characters of scalar text per file once aliases are expanded (one long string x 1,000)

_Y = "tag:yaml.org,2002:"
_new_fact = fast_constructor(Fact)


class _TooBig(Exception):
    """A file too large or too deep once aliases are expanded; ``node`` is where it was noticed (for the line)."""

    def __init__(self, message: str, node: Any = None) -> None:
        super().__init__(message)
        self.node = node


def read_located(path: str, name: str, problems: Problems, data: bytes | None = None) -> list[tuple[Fact | None, Location | None]]:
    """The facts of one whole file (``data``: its bytes, for standard input) with their locations, every problem
    reported: the located reading, for files the pieces of ``facts.push`` cannot take (YAML anchors, aliases, a
    ``%YAML`` directive, a YAML error)."""
    text = _decode(data, name, problems) if data is not None else _read_text(path, name, problems)
    if text is None:
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


def _read_text(path: str, name: str, problems: Problems) -> str | None:
    """The text of the file ``path``, bounded; ``None`` after reporting why not."""
    from soundcheck_cli.located.yaml import read_regular

    data = read_regular(path, MAX_FILE_BYTES)
    if isinstance(data, str):
        problems.error(f"cannot read fact file: {path} {data}", Location(name))
        return None
    return _decode(data, name, problems)


def _decode(data: bytes, name: str, problems: Problems) -> str | None:
    try:
        return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.error(f"cannot read fact file: not UTF-8 text ({exc.reason} at byte {exc.start})", Location(name, line))
        return None


# -- the fast check ---------------------------------------------------------------------------------------------


class Unusual(Exception):
    """The fast check met something to report: the item is read again located (``fact_from_value``)."""


def fast_fact(item: Any, refs: dict[str, FactRef], entities: dict[str, str], times: dict[str, datetime],
              now: datetime, deep: bool = True) -> Fact:
    """One fact of plain data, or ``Unusual`` for anything the located reading must report (an invalid fact, an
    unknown key, a ``{source, scope, name}`` fact ref). ``refs``, ``entities`` and ``times`` remember the refs and
    timestamps already checked (a file repeats few of them many times); ``deep``: the data's nesting is still to be
    bounded (``json.loads`` bounds nothing)."""
    if type(item) is not dict or "data" not in item or not _KNOWN.issuperset(item):
        raise Unusual
    text = item.get("factRef")
    fact_ref = refs.get(text) if type(text) is str else None
    if fact_ref is None:
        if type(text) is not str:
            raise Unusual  # a {source, scope, name} mapping: rare, and checked part by part on the located path
        try:
            fact_ref = refs[text] = FactRef.parse(text)
        except ValueError:
            raise Unusual from None
    text = item.get("entityRef")
    entity = entities.get(text) if type(text) is str else None
    if entity is None:
        if type(text) is not str:
            raise Unusual
        problem, ref = _checked_entity(text)
        if problem is not None:
            raise Unusual
        if len(entities) >= MAX_REMEMBERED:
            entities.clear()  # bounded memory: a file of a million entities is not remembered whole
        entity = entities[text] = str(ref)
    stamps = []
    for key in ("timestamp", "expiresAt"):
        value = item.get(key)
        if value is None:
            stamps.append(None)
            continue
        stamp = times.get(value) if type(value) is str else None
        if stamp is None:
            if type(value) is not str:
                raise Unusual
            if len(times) >= MAX_REMEMBERED:
                times.clear()
            try:
                stamp = times[value] = parse_timestamp(value)
            except ValueError:
                raise Unusual from None
        stamps.append(stamp)
    data = item["data"]
    if deep and type(data) in (dict, list) and _deeper_than(data, MAX_DEPTH - 2):
        raise Unusual
    return _new_fact(fact_ref, entity, data, stamps[0] or now, stamps[1])


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (plain JSON data) nests containers more than ``limit`` levels deep (no recursion)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) in (dict, list):
                stack.append((child, depth + 1))
    return False


def entity_ref_problem(text: str) -> str | None:
    """Why ``text`` is not an entity ref the catalog could hold (``catalog/validation.py``'s rules for kind,
    namespace and name), or ``None``: ``kind:namespace/name``, the namespace optional (``default``)."""
    return _checked_entity(text)[0]


def _checked_entity(text: str) -> tuple[str | None, EntityRef | None]:
    """``(entity_ref_problem(text), None)``, or ``(None, the parsed ref)``."""
    if not text or text != text.strip():
        return "expected kind:namespace/name", None
    try:
        ref = EntityRef.parse(text)
    except ValueError:
        return "expected kind:namespace/name", None
    if ":" not in text:
        return "the kind is missing", None
    if len(ref.kind) > MAX_NAME_LENGTH or not KIND_RE.match(ref.kind):
        return "the kind must be letters and digits starting with a letter, at most 63 characters", None
    for part, value in (("namespace", ref.namespace), ("name", ref.name)):
        if len(value) > MAX_NAME_LENGTH:
            return f"the {part} has {len(value)} characters (at most {MAX_NAME_LENGTH})", None
        if not NAME_RE.match(value):
            return f"the {part} must be [A-Za-z0-9] separated by any of [-_.]", None
    return None, ref


# -- parsing with positions ---------------------------------------------------------------------------------


def parse_documents(text: str, name: str, problems: Problems, origin: tuple[int, int] = (0, 0)) -> list[Any] | None:
    """The documents of a JSON or YAML text as located trees (``LocatedDict``/``LocatedList``), bounded as a fact
    file is; ``None`` after reporting an error (``soundcheck results push`` reads its files with it; ``facts.push``
    its pieces, with the ``origin`` of each: see ``shifted``)."""
    return _parse(text, name, problems, origin)



ORIGIN = (0, 0)  # (lines, columns) before a text: a piece of a file read alone (``facts.push``) has its own


def shifted(location: Location, origin: tuple[int, int]) -> Location:
    """``location`` in a text that starts at ``origin`` of its file, as a location in the file: lines move by
    ``origin[0]``, and columns of the text's first line by ``origin[1]``."""
    if origin == ORIGIN or location.line is None:
        return location
    column = location.column
    if location.line == 1 and column is not None:
        column += origin[1]
    return Location(location.path, location.line + origin[0], column)


def _parse(text: str, name: str, problems: Problems, origin: tuple[int, int] = ORIGIN) -> list[Any] | None:
    """The documents of ``text`` as ``LocatedDict``/``LocatedList`` trees, or ``None`` after reporting an error.
    ``origin``: where ``text`` starts in the file (``shifted``), for a piece of a file read alone."""
    from soundcheck_cli.located import yaml as reader

    if reader.flow_depth(text) > MAX_DEPTH:
        # ruamel's scanner is quadratic in flow nesting (900 levels take seconds): refuse before parsing.
        problems.error(f"fact file is nested more than {MAX_DEPTH} levels deep",
                       shifted(reader.flow_too_deep_at(text, name, MAX_DEPTH), origin))
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
                problems.error(f"invalid JSON: {exc.msg}", shifted(Location(name, exc.lineno, exc.colno), origin))
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
        problems.error(f"invalid YAML: {exc.problem}", shifted(exc.location, origin))
        return None
    except reader.YamlLimit as exc:
        problems.error("invalid YAML: nested too deeply", shifted(exc.location, origin))
        return None
    documents = []
    try:
        # Size the documents as they would be once aliases are expanded *before* building anything: a "billion
        # laughs" file is refused in milliseconds, while a genuinely large file costs time in proportion to its size.
        memo: dict[int, int] = {}
        limit = max(MAX_VALUES, len(text))
        total = sum(_expanded_size(node, memo, set(), 0, limit) for node in nodes)
        if total > limit:
            raise _TooBig(f"fact file is too large: more than {limit:,} values once YAML aliases are expanded",
                          nodes[0] if nodes else None)
        text_memo: dict[int, int] = {}
        if sum(_expanded_text(node, text_memo) for node in nodes) > max(MAX_TEXT, 2 * len(text)):
            raise _TooBig(f"fact file is too large: more than {MAX_TEXT // (1024 * 1024)} MiB of text once YAML "
                          "aliases are expanded", nodes[0])
        for node in nodes:
            documents.append(convert_node(node, name, problems, origin))
    except _TooBig as exc:
        problems.error(str(exc), _mark(exc.node, name, origin) if exc.node is not None else Location(name))
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


def _expanded_size(node: Any, memo: dict[int, int], visiting: set[int], depth: int, limit: int) -> int:
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
        size += _expanded_size(child, memo, visiting, depth + 1, limit)
        if size > limit:  # no need to count further; name the value that crossed the bound
            raise _TooBig(f"fact file is too large: more than {limit:,} values once YAML aliases are expanded", node)
    visiting.discard(key)
    memo[key] = size
    return size


def _mark(node: Any, name: str, origin: tuple[int, int] = ORIGIN) -> Location:
    mark = node.start_mark
    if mark.line == 0:
        return Location(name, origin[0] + 1, mark.column + 1 + origin[1])
    return Location(name, mark.line + 1 + origin[0], mark.column + 1)


def _tag(node: Any) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag) or "")


def convert_node(node: Any, name: str, problems: Problems, origin: tuple[int, int] = ORIGIN) -> Any:
    """A composed YAML node as plain data with positions (JSON types only; timestamps stay text), its problems
    reported. Sizes and depth were bounded first (``_expanded_size``; ``facts.push`` builds nodes only for what
    it has bounded itself). ``origin``: where the node's text starts in the file (``shifted``)."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    location = _mark(node, name, origin)
    if isinstance(node, MappingNode):
        out = LocatedDict(loc=location)
        for key_node, value_node in node.value:
            key_loc = _mark(key_node, name, origin)
            if isinstance(key_node, (MappingNode, SequenceNode)) or _tag(key_node) == _Y + "merge":
                problems.error("only plain scalar keys are allowed in a fact file", key_loc)
                continue
            key = str(key_node.value)
            if key in out:
                first = out.key_locs.get(key)
                where = f" (first at line {first.line})" if first and first.line else ""
                problems.error(f"duplicate key '{key}'{where}: a fact file may give each key once", key_loc)
                continue
            out[key] = convert_node(value_node, name, problems, origin)
            out.key_locs[key] = key_loc
            out.value_locs[key] = _mark(value_node, name, origin)
        return out
    if isinstance(node, SequenceNode):
        seq = LocatedList(loc=location)
        for item in node.value:
            seq.append(convert_node(item, name, problems, origin))
            seq.item_locs.append(_mark(item, name, origin))
        return seq
    return _scalar(node, location, problems)


NOT_JSON = object()  # what ``scalar_value`` gives for a scalar that is not a JSON value (``.inf``, an unknown tag)


def scalar_value(tag: str, text: str) -> Any:
    """The value of a scalar by its YAML 1.2 core-schema tag (what ruamel's resolver decided, or ``facts.push``'s
    copy of its rules), never by constructing arbitrary Python objects; ``NOT_JSON`` for ``.inf``/``.nan`` and
    tags that are not JSON types. Timestamps stay text."""
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
            return NOT_JSON
        try:
            return float(lowered)
        except ValueError:
            return text
    return NOT_JSON


def _scalar(node: Any, location: Location, problems: Problems) -> Any:
    """A scalar node's value (``scalar_value``), its problem reported."""
    tag, text = _tag(node), node.value
    value = scalar_value(tag, text)
    if value is not NOT_JSON:
        return value
    if tag == _Y + "float":
        problems.error(f"'{text}' is not a JSON number", location)
    else:
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
    problem, ref = _checked_entity(value)
    if problem is not None:
        shown = terminal_safe(value if len(value) <= 80 else value[:79] + "…")  # bidi overrides shown escaped
        problems.error(f"invalid entityRef '{shown}': {problem} (e.g. component:default/payments-api)", location)
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
