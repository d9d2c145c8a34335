"""The one YAML reader: every YAML file soundcheck reads (app-configs, catalog files, fact files) goes through here.

Built on ruamel.yaml's documented API only: ``YAML(typ="safe", pure=...)`` with ``compose``/``compose_all``/
``parse``, and the composed nodes' ``.tag``, ``.value``, ``.start_mark``. Nothing is constructed by ruamel: scalars
are turned into values here (``scalar_value``) from the tag ruamel's resolver gave them, YAML 1.2 core schema,
timestamps and unknown tags kept as text, as Backstage's ``yaml`` package reads them.

Two paths, one answer:

- the **fast path** composes with ruamel's C parser (``pure=False``, ruamel.yaml.clib, ~6x faster than the
  pure-Python parser, same nodes and positions). It is only tried when it cannot crash: its composer recurses in
  C, so text whose nesting could be deep (``_c_safe``) is first checked with a flat event scan;
- the **located path** composes with the pure-Python parser (``pure=True``), whose error messages and positions
  are the ones users see: any text the C parser objects to is read again this way, and so is text with a
  ``%YAML`` directive (the version it declares is read by the pure-Python scanner only).

Errors come out as ``YamlError`` (problem, context, their locations: each reader words them its own way); bounds
as ``YamlLimit`` from ``scan`` (alias bombs, recursive aliases, nesting), located at the event that crosses them.

Conversion of nodes: ``LocatedConverter`` (``LocatedDict``/``LocatedList`` with a position per key, value and
item; aliases expanded within a node budget; merge keys) and ``PlainConverter`` (the same data as plain
``dict``/``list`` without positions, giving up with ``Unusual`` on anything only the located one reports). The
plain one pays for itself on catalogs: a cold load of 10k entities (``bench/bench_check.py``'s workload) takes
0.48 s of CPU with it and 1.02 s with the located reading alone (2026-12-07; ``tests/test_catalog_plain_reading.py``
checks both give the same data).
"""

from __future__ import annotations

import os
import re
import stat
from itertools import accumulate
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from soundcheck_cli.errors import Location
from soundcheck_cli.fastinit import fast_constructor
from soundcheck_cli.located.nodes import LocatedDict, LocatedList, to_plain

# The C composer recurses once per nesting level on the C stack and has no depth check (about 30,000 levels
# crash an 8 MiB stack). Nesting is at most the longest line (block nesting needs a column per level, compact
# ``- - -`` included) plus the opening brackets (flow nesting): text under this bound is composed in C at once,
# other text after a flat event scan has bounded its nesting.
C_SAFE_NESTING = 5_000

Y = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT, MERGE, TIMESTAMP = (Y + t for t in ("str", "null", "bool", "int", "float", "merge", "timestamp"))
STANDARD_TAGS = frozenset(Y + t for t in ("str", "null", "bool", "int", "float", "timestamp", "binary", "map", "seq",
                                          "omap", "pairs", "set", "merge", "value", "yaml"))
_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}
_INF = float("inf")
_NAN = float("nan")  # one object, as ruamel returns: equal to itself by identity in comparisons of loaded data

# ruamel's scanner is quadratic in flow nesting ("[[[[..." takes seconds), so a run of opening brackets past a
# reader's depth bound is looked at before the whole text is scanned (``bracket_run``).
_BRACKET_RUNS: dict[int, re.Pattern[str]] = {}

_new_location = fast_constructor(Location)  # ``Location(...)`` without the frozen dataclass ``__init__``: ~3 per node


class YamlError(Exception):
    """Text that is not YAML: ruamel's problem and context, each with where it was found (1-based)."""

    def __init__(self, problem: str, context: str | None, problem_at: Location, context_at: Location | None,
                 duplicate: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.context = context
        self.location = problem_at
        self.context_location = context_at
        self.duplicate = duplicate  # a duplicate mapping key (its context adds nothing)


class YamlLimit(Exception):
    """Text refused by a bound: ``kind`` is ``depth``, ``alias-depth``, ``recursive`` or ``size``."""

    def __init__(self, kind: str, location: Location, anchor: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.location = location
        self.anchor = anchor


def location(node: Node, display: str) -> Location:
    mark = node.start_mark
    return _new_location(display, mark.line + 1, mark.column + 1)


def _mark_location(mark: Any, display: str) -> Location | None:
    return None if mark is None else Location(display, mark.line + 1, mark.column + 1)


def error_of(exc: YAMLError, display: str) -> YamlError:
    """ruamel's exception as a ``YamlError`` located in ``display``."""
    if isinstance(exc, MarkedYAMLError):
        problem_at = _mark_location(exc.problem_mark, display)
        context_at = _mark_location(exc.context_mark, display)
        return YamlError(exc.problem or exc.context or "malformed document", exc.context if exc.problem else None,
                         problem_at or context_at or Location(display), context_at if exc.problem else None)
    # e.g. ReaderError (control characters): its text names the position; the first line is the message.
    text = str(exc).strip().splitlines()
    return YamlError(text[0] if text else type(exc).__name__, None, Location(display), None)


# -- files -------------------------------------------------------------------------------------------------------


def open_regular(path: str, limit: int) -> int | str:
    """A descriptor of the regular file ``path`` opened for reading, or why not (as ``read_regular`` words it):
    FIFOs, devices, sockets and files over ``limit`` bytes are refused without blocking. ``facts push`` reads
    the file from it as it goes; the caller closes it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except ValueError:
        return "path contains a NUL byte"
    except FileNotFoundError:
        return "not found"
    except IsADirectoryError:
        return "is a directory"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    reason = None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            reason = "is a directory"
        elif not stat.S_ISREG(info.st_mode):
            reason = "is not a regular file (a FIFO, device or socket)"
        elif info.st_size > limit:
            reason = f"is larger than {limit // (1024 * 1024)} MiB"
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or exc})"
    if reason is not None:
        os.close(fd)
        return reason
    return fd


def read_regular(path: str, limit: int) -> bytes | str:
    """The bytes of the regular file ``path``, or why not, as the end of a sentence about it ("is larger than
    2 MiB"). FIFOs, devices and sockets are refused without blocking (opened non-blocking, checked by ``fstat``):
    a FIFO named ``*.yaml`` in a catalog folder hung the loader, ``/dev/zero`` never ends."""
    fd = open_regular(path, limit)
    if isinstance(fd, str):
        return fd
    try:
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while being read
        return f"is larger than {limit // (1024 * 1024)} MiB"
    return data


# -- composing ---------------------------------------------------------------------------------------------------


def bracket_run(text: str, max_depth: int) -> re.Match[str] | None:
    """A run of more than ``max_depth`` opening brackets (whitespace between them allowed), or ``None``."""
    pattern = _BRACKET_RUNS.get(max_depth)
    if pattern is None:
        pattern = _BRACKET_RUNS[max_depth] = re.compile(r"[\[{](?:\s*[\[{]){%d}" % max_depth)
    return pattern.search(text)


def _c_safe(text: str) -> bool:
    """Whether the C composer can take ``text`` without a depth check (see ``C_SAFE_NESTING``)."""
    brackets = text.count("[") + text.count("{")
    if brackets > C_SAFE_NESTING:
        return False
    return max(map(len, text.splitlines()), default=0) + brackets <= C_SAFE_NESTING


def compose(text: str, display: str, *, single: bool = False, fast: bool = True) -> list[Node]:
    """The root nodes of ``text``'s documents (``single``: the one document, ``[]`` when empty, more is an error).

    ``fast``: try the C parser first (see the module docstring). Raises ``YamlError`` for text that is not YAML
    (with the pure-Python parser's message), ``YamlLimit("depth")`` for nesting the composers cannot recurse
    through (over ``C_SAFE_NESTING`` levels, or Python's recursion limit). Readers bound nesting further
    themselves, and look for ``bracket_run`` first: the pure-Python scanner is quadratic in flow nesting."""
    if fast and "%YAML" not in text:
        try:
            if not _c_safe(text):
                scan(text, display, max_depth=C_SAFE_NESTING, max_nodes=None, pure=False)
            return _compose(YAML(typ="safe", pure=False), text, single)
        except YAMLError:
            pass  # read again below: the pure-Python parser's messages and positions are the ones shown
    try:
        return _compose(YAML(typ="safe", pure=True), text, single)
    except YAMLError as exc:
        raise error_of(exc, display) from None
    except RecursionError:
        raise YamlLimit("depth", Location(display)) from None


def _compose(yaml: YAML, text: str, single: bool) -> list[Node]:
    if single:
        root = yaml.compose(text)
        return [] if root is None else [root]
    return list(yaml.compose_all(text))


def scan(text: str, display: str, *, max_depth: int, max_nodes: int | None, pure: bool = True,
         max_text: int | None = None) -> bool:
    """Walk the parser's events (flat: no recursion, nothing built) and raise ``YamlLimit`` where ``text`` nests
    deeper than ``max_depth`` or, with ``max_nodes`` / ``max_text``, where aliases expand it past ``max_nodes``
    values (kind ``size``) / ``max_text`` characters of scalar text (kind ``text``: one long string under many
    aliases). Each anchor's expanded size, text and height are counted, so a "billion laughs" is refused at the
    alias that crosses the bound, before anything is built. True when within bounds; a syntax error raises
    ruamel's ``YAMLError``.
    """
    stack: list[list[Any]] = []  # per open container: [expanded size, height, anchor, expanded text]
    sizes: dict[str, tuple[int, int, int]] = {}  # anchor -> (expanded size, height, text)
    open_anchors: set[str] = set()
    total = total_text = 0
    limit = max_nodes if max_nodes is not None else -1
    text_limit = max_text if max_text is not None else -1
    for event in YAML(typ="safe", pure=pure).parse(text):
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            if len(stack) + 1 > max_depth:
                raise YamlLimit("depth", _event_location(event, display))
            stack.append([1, 1, event.anchor, 0])
            if event.anchor:
                open_anchors.add(event.anchor)
            continue
        if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            size, height, anchor, chars = stack.pop()
            if anchor:
                sizes[anchor] = (size, height, chars)
                open_anchors.discard(anchor)
        elif isinstance(event, ScalarEvent):
            size, height, chars = 1, 0, len(event.value)
            if event.anchor:
                sizes[event.anchor] = (1, 0, chars)
        elif isinstance(event, AliasEvent):
            if event.anchor in open_anchors:
                raise YamlLimit("recursive", _event_location(event, display), event.anchor)
            # An undefined alias is left to the composer, which reports it with its position.
            size, height, chars = sizes.get(event.anchor, (1, 0, 0))
            if len(stack) + height > max_depth:
                raise YamlLimit("alias-depth", _event_location(event, display), event.anchor)
        else:
            continue
        if stack:
            frame = stack[-1]
            frame[0] += size
            frame[1] = max(frame[1], height + 1)
            frame[3] += chars
            count, count_text = frame[0], frame[3]
        else:
            total += size
            total_text += chars
            count, count_text = total, total_text
        if 0 <= limit < count:
            raise YamlLimit("size", _event_location(event, display))
        if 0 <= text_limit < count_text:
            raise YamlLimit("text", _event_location(event, display))
    return True


def _event_location(event: Any, display: str) -> Location:
    mark = event.start_mark
    return Location(display, mark.line + 1, mark.column + 1)


def flow_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting outside quoted strings (an estimate: plain scalars and comments may hold
    brackets), computed without a Python loop per character."""
    brackets = _NOT_BRACKET.sub("", _QUOTED.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def flow_too_deep_at(text: str, display: str, max_depth: int) -> Location:
    """Where flow nesting first goes deeper than ``max_depth`` (once ``flow_depth`` said it does)."""
    blanked = _QUOTED.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)  # same offsets, quotes ignored
    depth = 0
    for match in re.finditer(r"[\[\]{}]", blanked):
        depth += 1 if match.group() in "[{" else -1
        if depth > max_depth:
            start = match.start()
            return Location(display, text.count("\n", 0, start) + 1, start - text.rfind("\n", 0, start))
    return Location(display)


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


# -- scalars -----------------------------------------------------------------------------------------------------


def is_empty_document(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == NULL)


def scalar_value(node: ScalarNode) -> Any:
    """The JSON value of a scalar, by the tag ruamel's resolver gave it (YAML 1.2 core schema; under a ``%YAML
    1.1`` directive its booleans, ``yes``/``no``/``on``/``off``, too). Timestamps, binary and unknown tags keep
    their text, and so does a number Python refuses to read (over 4,300 digits): see ``number_too_long``."""
    tag = node.tag
    text = node.value
    if tag == STR:
        return text
    try:
        if tag == NULL:
            return None
        if tag == BOOL:
            return _BOOLS[text.lower()]
        if tag == INT:
            return _int(text)
        if tag == FLOAT:
            return _float(text)
    except (ValueError, KeyError, IndexError):
        pass
    return text


def number_too_long(node: ScalarNode) -> bool:
    """A scalar tagged as a number that ``scalar_value`` left as text because Python will not read it."""
    return node.tag in (INT, FLOAT) and isinstance(scalar_value(node), str)


def _int(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits[:2] in ("0b", "0x", "0o"):
        return sign * int(digits[2:], {"b": 2, "x": 16, "o": 8}[digits[1]])
    if ":" in digits:  # YAML 1.1 sexagesimal (only a 1.1 document tags it int)
        value = 0
        for part in digits.split(":"):
            value = value * 60 + int(part)
        return sign * value
    return sign * int(digits)


def _float(text: str) -> float:
    lowered = text.replace("_", "").lower()
    sign = -1.0 if lowered[0] == "-" else 1.0
    if lowered[0] in "+-":
        lowered = lowered[1:]
    if lowered == ".inf":
        return sign * _INF
    if lowered == ".nan":
        return _NAN
    if ":" in lowered:  # YAML 1.1 sexagesimal float
        value = 0.0
        for part in lowered.split(":"):
            value = value * 60 + float(part)
        return sign * value
    return sign * float(lowered)


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 and count % (1024 * 1024) == 0 else f"{count:,} characters"


def key_text(value: Any) -> str:
    """A mapping key as JSON has it, a string (``200: ok`` reads as "200", ``true: x`` as "true")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def show_key(value: Any, limit: int = 60) -> str:
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return '"' + text.replace('"', '\\"') + '"'


# -- conversion --------------------------------------------------------------------------------------------------


class DocumentError(Exception):
    """A document cannot be converted; it is skipped with this message and location."""

    def __init__(self, message: str, where: Location | None) -> None:
        super().__init__(message)
        self.message = message
        self.location = where


class LocatedConverter:
    """Composed nodes into located plain containers, expanding aliases within a node budget."""

    def __init__(self, path: str, max_nodes: int, max_depth: int, max_text: int | None = None) -> None:
        self.path = path
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.budget = max_nodes
        # Characters of scalar text, aliases expanded: a long string repeated through aliases is small to read
        # and huge to store (one 1 MB string under 1,000 aliases made ``collect`` use 7 GB).
        self.max_text = max_text
        self.text = max_text if max_text is not None else -1

    def loc(self, node: Node) -> Location:
        mark = node.start_mark
        return _new_location(self.path, mark.line + 1, mark.column + 1)

    def convert(self, node: Node, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise DocumentError(
                f"document expands to more than {self.max_nodes} YAML nodes (through aliases?); skipped", self.loc(node)
            )
        if depth > self.max_depth:
            raise DocumentError(f"document is nested more than {self.max_depth} levels deep; skipped", self.loc(node))
        if isinstance(node, ScalarNode):
            if self.max_text is not None:
                self.text -= len(node.value)
                if self.text < 0:
                    raise DocumentError(f"document expands to more than {_size(self.max_text)} of text "
                                        "(through aliases?); skipped", self.loc(node))
            return scalar_value(node)
        if isinstance(node, SequenceNode):
            out = LocatedList(loc=self.loc(node))
            for item in node.value:
                out.append(self.convert(item, depth + 1))
                out.item_locs.append(self.loc(item))
            return out
        if isinstance(node, MappingNode):
            return self.mapping(node, depth)
        raise DocumentError(f"unsupported YAML node {type(node).__name__}", self.loc(node))

    def key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise DocumentError("mapping keys must be plain scalars, found a nested mapping or list", self.loc(node))
        return key_text(scalar_value(node))

    def mapping(self, node: MappingNode, depth: int) -> LocatedDict:
        out = LocatedDict(loc=self.loc(node))
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                merges.append(value_node)
                continue
            key = self.key(key_node)
            if key in out:
                first = out.key_locs.get(key)
                where = f" (first at line {first.line})" if first and first.line else ""
                raise DocumentError(f"duplicate key {show_key(key)}{where}; document skipped", self.loc(key_node))
            out[key] = self.convert(value_node, depth + 1)
            out.key_locs[key] = self.loc(key_node)
            # An empty value (``namespace:``) has no text of its own; ruamel marks it where the next token starts,
            # often on the next line, so point at the key instead.
            empty = isinstance(value_node, ScalarNode) and value_node.value == "" and out[key] is None
            out.value_locs[key] = out.key_locs[key] if empty else self.loc(value_node)
        # YAML merge keys (``<<: *defaults``): explicit keys win, then earlier merged mappings win.
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise DocumentError("'<<' (merge) must refer to a mapping or a list of mappings", self.loc(source))
                merged = self.mapping(source, depth + 1)
                for key, value in merged.items():
                    if key not in out:
                        out[key] = value
                        out.key_locs[key] = merged.key_locs[key]
                        out.value_locs[key] = merged.value_locs[key]
        return out


class Unusual(Exception):
    """The plain reading met something only the located reading handles (or reports): read the text that way."""


class PlainConverter:
    """``LocatedConverter``'s conversion into plain ``dict``/``list``, without positions, for the common case.

    Gives exactly ``to_plain`` of the located reading, or gives up with ``Unusual`` on anything else -- a merge
    key, a duplicate or non-scalar key, an unknown node, the node or depth limits -- so that every message still
    comes from ``LocatedConverter``.
    """

    __slots__ = ("budget", "max_depth", "text")

    def __init__(self, max_nodes: int, max_depth: int, max_text: int | None = None) -> None:
        self.budget = max_nodes
        self.max_depth = max_depth
        self.text = max_text if max_text is not None else 1 << 62

    def convert(self, node: Node, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0 or depth > self.max_depth:
            raise Unusual
        if isinstance(node, ScalarNode):
            self.text -= len(node.value)
            if self.text < 0:
                raise Unusual
            return scalar_value(node)
        if isinstance(node, SequenceNode):
            return [self.convert(item, depth + 1) for item in node.value]
        if not isinstance(node, MappingNode):
            raise Unusual
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise Unusual
            tag = key_node.tag  # a property of ruamel's node: read once per key
            if tag == MERGE:
                raise Unusual
            key = key_node.value if tag == STR else key_text(scalar_value(key_node))
            if key in out:
                raise Unusual
            out[key] = self.convert(value_node, depth + 1)
        return out


def plain_documents(text: str, *, max_nodes: int, max_depth: int,
                    max_text: int | None = None) -> list[tuple[Any, int, int]] | None:
    """The non-empty documents of ``text`` as plain data with the line and column where each starts, read on the
    fast path; ``None`` when the text needs the located reading (malformed, too deep, or see ``PlainConverter``)."""
    if bracket_run(text, max_depth) or "%YAML" in text:
        return None
    try:
        if not _c_safe(text):
            scan(text, "", max_depth=C_SAFE_NESTING, max_nodes=None, pure=False)
        documents = []
        for root in YAML(typ="safe", pure=False).compose_all(text):
            if not is_empty_document(root):
                mark = root.start_mark
                converter = PlainConverter(max_nodes, max_depth, max_text)
                documents.append((converter.convert(root), mark.line + 1, mark.column + 1))
        return documents
    except (Unusual, YAMLError, YamlLimit, RecursionError):
        return None


def load_plain(text: str, display: str, *, max_nodes: int, max_depth: int) -> list[Any]:
    """Every document of ``text`` as plain JSON data (an empty document is ``None``), for readers that need no
    positions (files a collector reads from a repository). Raises ``ValueError`` with a located-free message."""
    if bracket_run(text, max_depth):
        raise ValueError(f"nested more than {max_depth} levels deep")
    try:
        roots = compose(text, display)
    except YamlError as exc:
        where = exc.location
        raise ValueError(f"{exc.problem} (line {where.line}, column {where.column})" if where.line else exc.problem) from None
    except YamlLimit:
        raise ValueError(f"nested more than {max_depth} levels deep") from None
    out = []
    for root in roots:
        if is_empty_document(root):
            out.append(None)
            continue
        try:
            out.append(PlainConverter(max_nodes, max_depth).convert(root))
        except Unusual:
            try:
                out.append(to_plain(LocatedConverter(display, max_nodes, max_depth).convert(root)))
            except DocumentError as exc:
                message = exc.message.removesuffix("; document skipped").removesuffix("; skipped")
                raise ValueError(f"{message} (line {exc.location.line})" if exc.location else message) from None
    return out
