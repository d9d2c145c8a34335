"""``soundcheck facts push`` in bounded memory: fact files read a piece at a time, checked, and written in bulk.

The file format and its rules are ``facts.io``'s; this module is how a push reads and writes them at size
(issue 23: 270,000 facts, 52 MB of JSON, took 5 s and 300 MB; YAML took 66 s):

- **JSON**: a top-level list is cut into pieces of about ``PIECE_BYTES`` between two items (``_json_pieces``) and
  each piece is read with ``json.loads`` (duplicate keys refused by its hook). A cut is only taken where the piece
  then parses: ``[`` + piece + ``]`` is valid JSON only when the cut lies between two top-level items, so a cut
  inside a string or a nested value is never used (the piece grows to the next candidate instead). A file that is
  one fact, not a list, is read whole.
- **YAML**: the C parser's event stream (``YAML(typ="safe", pure=False).parse``, libyaml through
  ruamel.yaml.clib), read from the file as it goes; each top-level fact is built straight from its events, plain
  scalars resolved by the YAML 1.2 core schema (``_plain_tag``: ruamel's own rules, cached per distinct text).
  Composing nodes spent most of its time in ruamel's pure-Python resolver: 270,000 facts took 66 s and now take
  about 8.
- **Checks**: each item goes through ``facts.io``'s fast check. Anything it would not accept silently (an invalid
  fact, an unknown key, a duplicate key, a tag) is read again **located**, for that piece (JSON) or that fact
  (YAML) only, by ``facts.io``'s located reader, which reports every problem as ``file:line:col``; the rest of the
  file stays on the fast path. Files with YAML anchors/aliases or a ``%YAML`` directive, and YAML the C parser
  refuses, are read whole on the located path (``facts.io.read_located``), as before.
- **Writing**: facts go to the store in batches of ``BATCH`` within **one transaction**
  (``FactStore.put_stream``): once a problem is found nothing more is written, and the error rolls the
  transaction back, so a refused push leaves the store as it was, whatever the size. The folder store holds its
  write lock for the whole push (readers are not blocked); PostgreSQL collects the rows in a temporary table and
  upserts them in one sorted statement at the end.
- **Duplicates** (the same entity and fact ref twice; the last one is kept, as the upserts in file order do) are
  noticed by a hash per fact (~60 bytes each); only then are the files read again to name both places.

Memory is the piece being read, one batch of facts, and the hashes: 270,000 facts push in ~100 MB instead of 300.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from soundcheck_cli.errors import ConfigError, Location, Problem, Problems, Severity
from soundcheck_cli.facts import io as fio
from soundcheck_cli.located.nodes import loc_of
from soundcheck_cli.facts.model import Fact, FactRef, utcnow
from soundcheck_cli.gcpause import paused

BATCH = 5000  # facts per write (``put_stream`` batch)
PIECE_BYTES = 1 << 20  # JSON text read as one piece (~5,000 small facts)
READ_BYTES = 1 << 20  # bytes read from a file at a time
YAML_PIECE_ITEMS = 2000  # YAML facts checked together (their events are kept until then, for the located reading)
LOCATED_MAX_BYTES = 16 * 1024 * 1024  # largest file read whole on the located path (it takes ~30x its size in memory)

_Y = "tag:yaml.org,2002:"
_CUT = re.compile(rb"\}[ \t\r\n]*,")  # a candidate place between two items of a list of objects
# The likelier candidate: the next object starts with a fact's key (nested data seldom does).
_CUT_FACT = re.compile(rb'\}[ \t\r\n]*,(?=[ \t\r\n]*\{[ \t\r\n]*"(?:factRef|entityRef|data|timestamp|expiresAt)")')
LINEAR_GROWS = 8  # candidates tried one after the other inside a value before the piece doubles instead
_NON_SPACE = re.compile(rb"[^ \t\r\n]")


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count:,} bytes"


class _Whole(Exception):
    """This file must be read whole on the located path (anchors, aliases, a %YAML directive, a YAML error)."""


class _Restart(Exception):
    """The push starts again with the plan changed (a file is read differently); nothing was written."""


@dataclass
class _Plan:
    whole: set[str] = field(default_factory=set)  # paths read whole, located
    yaml: set[str] = field(default_factory=set)  # paths that start like JSON but are read as YAML


@dataclass
class _Piece:
    """Items of one file read together: ``values`` on the fast path (``None``: the piece needs the located
    reading), and how to read them located (``locate(problems)``: ``[(value, location)]``, or ``None`` after an
    error that stops the file)."""

    values: list[Any] | None
    locate: Any
    error: tuple[str, Location] | None = None  # a problem that ends the file (not found, not UTF-8)
    deep: bool = True  # the values' nesting is still to be bounded (JSON; the YAML reading bounds it)


# -- reading files ----------------------------------------------------------------------------------------------


def _open(path: str) -> IO[bytes] | str:
    """A regular file opened for reading, or why not (``located.yaml.open_regular``): a FIFO or a device is refused
    without blocking; so is a file over ``facts.io.MAX_FILE_BYTES``."""
    from soundcheck_cli.located.yaml import open_regular

    fd = open_regular(path, fio.MAX_FILE_BYTES)
    if isinstance(fd, str):
        return fd
    os.set_blocking(fd, True)  # a regular file: reads never wait long
    return os.fdopen(fd, "rb")


class _Source:
    """One file (or standard input) to push: its display name and a way to read its bytes, again if need be."""

    def __init__(self, path: str, stdin: bytes | str | None = None) -> None:
        self.path = path
        self.name = fio.STDIN_NAME if path == fio.STDIN else path
        self.shown = "standard input" if path == fio.STDIN else path
        self.stdin = stdin if isinstance(stdin, bytes) else None
        self.error = stdin if isinstance(stdin, str) else None  # why standard input could not be read

    def open(self) -> IO[bytes] | str:
        if self.error is not None:
            return self.error
        if self.stdin is not None:
            import io as _io

            return _io.BytesIO(self.stdin)
        return _open(self.path)

    def size(self) -> int:
        if self.stdin is not None:
            return len(self.stdin)
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0


def _read_stdin() -> bytes | str:
    """Standard input, whole (it cannot be read twice), bounded by ``MAX_FILE_BYTES``; or why not."""
    try:
        data: bytes | str = sys.stdin.buffer.read(fio.MAX_FILE_BYTES + 1)
    except (OSError, ValueError, AttributeError):
        data = sys.stdin.read(fio.MAX_FILE_BYTES + 1)  # a text stream without a buffer (tests, embedders)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > fio.MAX_FILE_BYTES:
        return f"is larger than {fio.MAX_FILE_BYTES // (1024 * 1024)} MiB"
    return data


def _not_utf8(exc: UnicodeDecodeError, before: bytes | None, offset: int, lines: int, name: str) -> tuple[str, Location]:
    """The problem of bytes that are not UTF-8 at byte ``offset + exc.start`` of the file (``lines`` before)."""
    line = lines + (before.count(b"\n", 0, exc.start) if before is not None else 0) + 1
    return f"cannot read fact file: not UTF-8 text ({exc.reason} at byte {offset + exc.start})", Location(name, line)


def _pieces(source: _Source, plan: _Plan) -> Iterator[_Piece]:
    """The pieces of one file: JSON for ``.json`` names and text starting with ``[``/``{``, YAML otherwise."""
    handle = source.open()
    if isinstance(handle, str):
        yield _Piece(None, None, (f"cannot read fact file: {source.shown} {handle}", Location(source.name)))
        return
    try:
        with handle:
            yield from _file_pieces(handle, source, plan)
    except OSError as exc:  # a read failed part way (an I/O error, a file on a lost network mount)
        yield _Piece(None, None, (f"cannot read fact file: {source.shown} cannot be read ({exc.strerror or exc})",
                                  Location(source.name)))


def _file_pieces(handle: IO[bytes], source: _Source, plan: _Plan) -> Iterator[_Piece]:
    head = handle.read(READ_BYTES)
    bom = head.startswith(codecs.BOM_UTF8)
    first = _NON_SPACE.search(head, 3 if bom else 0)
    looks_json = first is not None and head[first.start() : first.start() + 1] in (b"[", b"{")
    if source.path not in plan.yaml and (source.name.lower().endswith(".json") or looks_json):
        yield from _json_pieces(handle, head, bom, source)
    else:
        yield from _yaml_pieces(handle, head, bom, source)


# -- JSON -------------------------------------------------------------------------------------------------------


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise fio.Unusual  # a duplicate key: the located reading says where
    return out


def _refuse_constant(_: str) -> Any:
    raise fio.Unusual  # NaN / Infinity: not JSON numbers (the located reading reports them)


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_refuse_constant)


def _json_pieces(handle: IO[bytes], head: bytes, bom: bool, source: _Source) -> Iterator[_Piece]:
    name = source.name
    start = _NON_SPACE.search(head, 3 if bom else 0)
    if start is None or head[start.start() : start.start() + 1] != b"[":
        yield from _json_whole(handle, head, bom, source)  # one fact (or not JSON): read whole
        return
    # The list's items, a piece at a time. ``buf`` starts right after ``[`` or after the comma of the last cut.
    buf = head[start.start() + 1 :]
    offset = start.start() + 1  # bytes of the file before ``buf``
    lines = head.count(b"\n", 0, offset)  # newlines before ``buf``
    column = offset - (head.rfind(b"\n", 0, offset) + 1)  # characters before ``buf`` on its line (whitespace)
    if bom and lines == 0:
        column -= len(codecs.BOM_UTF8)  # the BOM is no column
    eof = False
    search_from = PIECE_BYTES  # where the next cut is looked for
    grows = 0  # candidates that were inside a value, in a row
    while True:
        while not eof and len(buf) < search_from + PIECE_BYTES:
            more = handle.read(READ_BYTES)
            if more:
                buf += more
            else:
                eof = True
        match = _CUT_FACT.search(buf, search_from, search_from + PIECE_BYTES) or _CUT.search(buf, search_from)
        if match is None and not eof:
            if len(buf) > LOCATED_MAX_BYTES:  # no place to cut in 16 MiB: not a list of facts of a sane size
                yield _Piece(None, None, (f"cannot read fact file: no fact ends in {_size(LOCATED_MAX_BYTES)} "
                                          "(a fact file is a list of JSON objects, each smaller than that)",
                                          Location(name, lines + 1)))
                return
            search_from = max(search_from, len(buf) - 1)  # no candidate yet: read on
            continue
        final = match is None
        closed = True
        if final:
            end = len(buf.rstrip())
            closed = buf[:end].endswith(b"]")
            piece_bytes = buf[: end - 1] if closed else buf
        else:
            piece_bytes = buf[: match.start() + 1]
        try:
            text = piece_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Piece(None, None, _not_utf8(exc, piece_bytes, offset, lines, name))
            return
        origin = (lines, column - 1)  # "[" + text: the text's first column is 2 in the wrapped piece
        wrapped = "[" + text + ("]" if closed else "")
        verdict = _json_verdict(wrapped, final)
        if verdict == "grow":
            # The cut was inside a value: try the next candidate, and after a few, one at least twice as far (a
            # fact holding a long list of objects has a candidate per object: each try reads the piece again).
            grows += 1
            search_from = match.end() if grows < LINEAR_GROWS else max(match.end(), 2 * len(piece_bytes))
            continue
        if verdict == "bad":  # bad JSON (or YAML flow style in a file not named .json): reported located
            if not name.lower().endswith(".json"):
                raise _Restart(source.path)
            yield _Piece(None, _located_json(wrapped, name, origin))
            return
        yield _Piece(verdict if type(verdict) is list else None, _located_json(wrapped, name, origin))
        if final:
            return
        rest_at = match.end()
        consumed = buf[:rest_at]
        newline = consumed.rfind(b"\n")
        if newline >= 0:
            column = len(consumed[newline + 1 :].decode("utf-8", "replace"))
        else:
            column += len(consumed.decode("utf-8", "replace"))
        lines += consumed.count(b"\n")
        offset += rest_at
        buf = buf[rest_at:]
        search_from = PIECE_BYTES
        grows = 0


def _json_verdict(wrapped: str, last: bool) -> Any:
    """The items of a wrapped piece (a list), ``"unusual"`` when it is a good cut with something to report,
    ``"grow"`` when the cut may be inside a value, ``"bad"`` for bad JSON whatever the cut."""
    try:
        return _loads(wrapped)
    except (fio.Unusual, RecursionError):
        try:
            json.loads(wrapped)
        except ValueError as exc:
            return _bad_or_grow(exc, wrapped, last)
        except RecursionError:
            return "unusual"
        return "unusual"
    except ValueError as exc:
        return _bad_or_grow(exc, wrapped, last)


def _bad_or_grow(exc: ValueError, wrapped: str, last: bool) -> str:
    if last or not isinstance(exc, json.JSONDecodeError):
        return "bad"
    # An error before the end of the piece is the file's own (the text up to it is the same); one at its end, or an
    # unterminated string, may come from a cut inside a value.
    if exc.pos >= len(wrapped) - 8 or exc.msg.startswith("Unterminated string"):
        return "grow"
    return "bad"


def _located_json(wrapped: str, name: str, origin: tuple[int, int]) -> Any:
    def locate(problems: Problems) -> list[tuple[Any, Location | None]] | None:
        documents = fio.parse_documents(wrapped, name, problems, origin)
        if documents is None:
            return None
        (items,) = documents
        return [(item, loc_of(items, index)) for index, item in enumerate(items)]

    return locate


def _json_whole(handle: IO[bytes], head: bytes, bom: bool, source: _Source) -> Iterator[_Piece]:
    if source.size() > LOCATED_MAX_BYTES:  # not a list: one fact, or not JSON at all; either way not this big
        if not source.name.lower().endswith(".json"):
            raise _Restart(source.path)  # perhaps YAML: read as it goes
        yield _Piece(None, None, (f"fact file is not a JSON list of facts, and too large for one fact (more than "
                                  f"{LOCATED_MAX_BYTES // (1024 * 1024)} MiB)", Location(source.name, 1, 1)))
        return
    data = head + handle.read()
    try:
        text = data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        yield _Piece(None, None, _not_utf8(exc, data, 0, 0, source.name))
        return
    try:
        value = _loads(text)
    except (fio.Unusual, RecursionError):
        value = None
    except ValueError:
        if not source.name.lower().endswith(".json"):
            raise _Restart(source.path) from None
        value = None
    del data

    def locate(problems: Problems) -> list[tuple[Any, Location | None]] | None:
        documents = fio.parse_documents(text, source.name, problems)
        if documents is None:
            return None
        out: list[tuple[Any, Location | None]] = []
        for doc in documents:
            if doc is None:
                continue
            if isinstance(doc, list):
                out += [(item, loc_of(doc, index)) for index, item in enumerate(doc)]
            else:
                out.append((doc, loc_of(doc)))
        return out

    if value is None:
        yield _Piece(None, locate)
    else:
        yield _Piece(value if type(value) is list else [value], locate)


# -- YAML -------------------------------------------------------------------------------------------------------

# ruamel.yaml's YAML 1.2 implicit resolvers (``ruamel.yaml.resolver``), tried in its order for a plain scalar;
# compiled on the first YAML file (a JSON push does not pay for them).
_RESOLVERS = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("float", r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", "-+0123456789."),
    ("int", r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+)$""", "-+0123456789"),
    ("merge", r"^(?:<<)$", "<"),
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("timestamp", r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
    (?:[Tt]|[ \t]+)[0-9][0-9]?
    :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
    (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", "0123456789"),
    ("value", r"^(?:=)$", "="),
)
_BY_FIRST: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


def _resolvers(first: str) -> list[tuple[str, re.Pattern[str]]]:
    if not _BY_FIRST:
        for tag, pattern, chars in _RESOLVERS:
            compiled = re.compile(pattern, re.VERBOSE)
            for char in chars:
                _BY_FIRST.setdefault(char, []).append((_Y + tag, compiled))
    return _BY_FIRST.get(first, [])


def _plain_tag(text: str) -> str:
    """The tag ruamel's YAML 1.2 resolver gives a plain scalar (``ruamel.yaml.resolver.implicit_resolvers``)."""
    if not text:
        return _Y + "null"
    for tag, pattern in _resolvers(text[0]):
        if pattern.match(text):
            return tag
    return _Y + "str"


def _yaml_pieces(handle: IO[bytes], head: bytes, bom: bool, source: _Source) -> Iterator[_Piece]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    stream = _DecodedStream(handle, head, source.name)
    scalar_cache: dict[str, Any] = {}
    not_json = fio.NOT_JSON
    max_depth = fio.MAX_DEPTH
    null = _Y + "null"
    values: list[Any] = []
    recorded: list[list[Any]] = []  # each item's events, for the located reading
    unusual = False
    items = 0
    try:
        events = YAML(typ="safe", pure=False).parse(stream)
        list_doc = False  # the document is a top-level list: its items are the facts
        in_list = False  # inside that list
        item: list[Any] | None = None  # events of the item being read
        stack: list[Any] = []  # the containers above ``current``
        current: Any = None  # the container being filled (None: the item itself is a scalar)
        key: Any = None
        bad = False
        for event in events:
            kind = type(event)
            # ``implicit`` says whether an event has a tag: (plain, quoted) for a scalar, a flag for a container.
            if kind is ScalarEvent:
                if event.anchor is not None:
                    raise _Whole  # anchors and aliases may cross items: the whole file, located
                implicit = event.implicit
                text = event.value
                if item is None:
                    if not in_list and implicit[0] and _plain_tag(text) == null:
                        continue  # an empty document (or ``~``): no fact
                    item, bad, stack, current, key = [], False, [], None, None
                item.append(event)
                if implicit[0]:
                    value = scalar_cache.get(text, scalar_cache)
                    if value is scalar_cache:
                        value = fio.scalar_value(_plain_tag(text), text)
                        if len(scalar_cache) < 100_000:
                            scalar_cache[text] = value
                    if value is not_json:
                        bad = True
                elif implicit[1]:
                    value = text
                else:
                    bad, value = True, None  # a tag: the located reading says what it is
                if current is None:
                    done = value
                elif type(current) is dict:
                    if key is None:
                        if text in current or text == "<<":
                            bad = True  # a duplicate or merge key
                        key = text
                    else:
                        current[key] = value
                        key = None
                    continue
                else:
                    current.append(value)
                    continue
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None:
                    raise _Whole
                if item is None:
                    if kind is SequenceStartEvent and not list_doc:
                        if not event.implicit:
                            raise _Whole  # a tagged top-level list: the located reading says what it is
                        list_doc = in_list = True
                        continue
                    item, bad, stack, current, key = [], False, [], None, None
                item.append(event)
                if not event.implicit:
                    bad = True
                new: Any = {} if kind is MappingStartEvent else []
                if type(current) is dict:
                    if key is None:
                        bad, key = True, ""  # a mapping or list as a key
                    current[key] = new
                    key = None
                elif current is not None:
                    current.append(new)
                stack.append(current)
                current = new
                if len(stack) > max_depth:
                    raise _Whole  # the located reading says where (and converts recursively: bounded first)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                if item is None:
                    in_list = False  # the end of the top-level list
                    continue
                item.append(event)
                done = current
                current = stack.pop()
                if current is not None:
                    continue
            elif kind is DocumentStartEvent:
                if event.version is not None or event.tags:
                    raise _Whole  # a %YAML or %TAG directive
                list_doc = in_list = False
                continue
            elif kind is AliasEvent:
                raise _Whole
            else:
                continue  # the stream's start and end, a document's end
            # The item is complete.
            values.append(None if bad else done)
            unusual = unusual or bad
            recorded.append(item)
            item = None
            items += 1
            if len(values) >= YAML_PIECE_ITEMS:
                yield _yaml_piece(values, recorded, unusual, source.name)
                values, recorded, unusual = [], [], False
    except YAMLError as exc:
        if source.size() <= LOCATED_MAX_BYTES:
            raise _Whole from None  # the located reading words it (the pure-Python parser's message)
        from soundcheck_cli.located.yaml import error_of

        error = error_of(exc, source.name)  # too large to read again: the C parser's own message and place
        if values:
            yield _yaml_piece(values, recorded, unusual, source.name)
        yield _Piece(None, None, (f"invalid YAML: {error.problem}", error.location))
        return
    except _NotUtf8 as exc:
        if values:
            yield _yaml_piece(values, recorded, unusual, source.name)
        yield _Piece(None, None, exc.problem)
        return
    if values:
        yield _yaml_piece(values, recorded, unusual, source.name)
    if not items:
        def empty(problems: Problems) -> list[tuple[Any, Location | None]]:
            problems.warning("fact file is empty: no facts in it", Location(source.name, 1, 1))
            return []

        yield _Piece(None, empty)


def _yaml_piece(values: list[Any], recorded: list[list[Any]], unusual: bool, name: str) -> _Piece:
    def locate(problems: Problems) -> list[tuple[Any, Location | None]]:
        out: list[tuple[Any, Location | None]] = []
        for events in recorded:
            node = _compose(events)
            mark = events[0].start_mark  # where the item starts, as the composer marks it
            out.append((fio.convert_node(node, name, problems), Location(name, mark.line + 1, mark.column + 1)))
        return out

    return _Piece(None if unusual else values, locate, deep=False)


def _compose(events: list[Any]) -> Any:
    """One item's events as ruamel nodes (what its composer builds; tags as its resolver gives them)."""
    from ruamel.yaml.events import MappingStartEvent, ScalarEvent, SequenceStartEvent
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    stack: list[Any] = []
    pending: list[Any | None] = []  # per open mapping: its key node waiting for a value
    root = None
    for event in events:
        kind = type(event)
        if kind is ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = _plain_tag(event.value) if event.implicit[0] else _Y + "str"
            node: Any = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            cls = MappingNode if kind is MappingStartEvent else SequenceNode
            node = cls(event.tag or (_Y + ("map" if cls is MappingNode else "seq")), [], event.start_mark, None)
        else:  # the end of a container (added to its parent when it started)
            done = stack.pop()
            pending.pop()
            if not stack:
                return done
            continue
        if stack:
            _add(stack[-1], pending, node)
        else:
            root = node
        if kind is not ScalarEvent:
            stack.append(node)
            pending.append(None)
    return root


def _add(parent: Any, pending: list[Any], node: Any) -> None:
    from ruamel.yaml.nodes import MappingNode

    if isinstance(parent, MappingNode):
        if pending[-1] is None:
            pending[-1] = node
        else:
            parent.value.append((pending[-1], node))
            pending[-1] = None
    else:
        parent.value.append(node)


class _NotUtf8(Exception):
    def __init__(self, problem: tuple[str, Location]) -> None:
        super().__init__(problem[0])
        self.problem = problem


class _DecodedStream:
    """A binary file as the text stream the YAML parser reads (``read(size)``), decoded as it goes: bytes that
    are not UTF-8 stop it with their byte offset and line."""

    def __init__(self, handle: IO[bytes], head: bytes, name: str) -> None:
        self.handle = handle
        self.pending = head
        self.name = name
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.offset = 0
        self.lines = 0

    def read(self, size: int = -1) -> str:
        data = self.pending if self.pending else self.handle.read(max(size, READ_BYTES))
        self.pending = b""
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise _NotUtf8(_not_utf8(exc, data, self.offset, self.lines, self.name)) from None
        self.offset += len(data)
        self.lines += data.count(b"\n")
        return text


# -- the push ---------------------------------------------------------------------------------------------------


class _Run:
    """One reading of every file: batches of checked facts, problems, and the duplicates' hashes."""

    def __init__(self, sources: list[_Source], plan: _Plan, problems: Problems) -> None:
        self.sources = sources
        self.plan = plan
        self.problems = problems
        self.invalid = 0
        self.seen: set[int] = set()
        self.duplicates: set[int] = set()
        self.repeated = 0  # facts whose key came earlier (a hash collision counts too: only in this figure)
        self.refs: dict[str, FactRef] = {}
        self.entities: dict[str, str] = {}
        self.times: dict[str, Any] = {}
        self.now = utcnow()

    def batches(self) -> Iterator[list[Fact]]:
        """Checked facts, ``BATCH`` at a time; nothing more once a problem is found (the caller's transaction is
        rolled back by the ``ConfigError`` raised at the end)."""
        batch: list[Fact] = []
        seen = self.seen
        for source in self.sources:
            for facts in self._fact_lists(source):
                keys = {hash((fact.entity_ref.lower(), fact.fact_ref)) for fact in facts}
                if len(keys) < len(facts) or not seen.isdisjoint(keys):
                    self._note_duplicates(facts)
                else:
                    seen |= keys
                if self.failed():
                    continue  # keep checking, for every message, but write nothing more
                batch += facts
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
        errors = self.problems.errors
        if errors:
            raise ConfigError([*_ordered(errors, [source.name for source in self.sources]), self.note()])
        if batch:
            yield batch

    def failed(self) -> bool:
        return bool(self.invalid) or any(p.severity is Severity.ERROR for p in self.problems.items)

    def _note_duplicates(self, facts: list[Fact]) -> None:
        for fact in facts:
            key = hash((fact.entity_ref.lower(), fact.fact_ref))
            if key in self.seen:
                self.duplicates.add(key)
                self.repeated += 1
            else:
                self.seen.add(key)

    def note(self) -> Problem:
        what = f"{self.invalid} invalid fact{'s' if self.invalid != 1 else ''}" if self.invalid else "errors in the fact files"
        note = Problem(f"nothing was pushed ({what}); fix the errors above and push again")
        self.problems.items.append(note)
        return note

    def _fact_lists(self, source: _Source) -> Iterator[list[Fact]]:
        """The checked facts of one file, a list per piece."""
        if source.path in self.plan.whole:
            facts = []
            for fact, _ in fio.read_located(source.path, source.name, self.problems, source.stdin):
                if fact is None:
                    self.invalid += 1
                else:
                    facts.append(fact)
            yield facts
            return
        try:
            for piece in _pieces(source, self.plan):
                yield self.piece_facts(piece)
        except _Whole:
            if source.size() > LOCATED_MAX_BYTES:
                self.problems.error(
                    f"cannot read fact file {source.name}: YAML anchors, aliases, tags directives (%YAML, %TAG) and "
                    f"nesting deeper than {fio.MAX_DEPTH} levels are read only in files up to "
                    f"{LOCATED_MAX_BYTES // (1024 * 1024)} MiB; write it without them (or as JSON)",
                    Location(source.name))
                return
            raise _Restart(("whole", source.path)) from None

    def piece_facts(self, piece: _Piece) -> list[Fact]:
        """The facts of one piece: on the fast path when every item passes its check, else located (the invalid
        ones reported and counted)."""
        if piece.error is not None:
            self.problems.error(*piece.error)
            return []
        values = piece.values
        if values is not None:
            refs, entities, times, now, deep = self.refs, self.entities, self.times, self.now, piece.deep
            try:
                return [fio.fast_fact(value, refs, entities, times, now, deep) for value in values]
            except fio.Unusual:
                pass
        located = piece.locate(self.problems)
        facts: list[Fact] = []
        for value, location in located or ():
            fact = fio.fact_from_value(value, location, self.problems)
            if fact is None:
                self.invalid += 1
            else:
                facts.append(fact)
        return facts


def _sources(paths: list[str]) -> list[_Source]:
    sources = []
    stdin: bytes | str | None = None
    for path in paths:
        if path == fio.STDIN:
            if stdin is None:
                stdin = _read_stdin()
            sources.append(_Source(path, stdin))
        else:
            sources.append(_Source(path))
    return sources


def _attempts(paths: list[str], problems: Problems, write: Any) -> tuple[int, _Run]:
    """Run ``write(batches)`` over a reading of ``paths``, again with the plan changed when a file must be read
    differently (``_Restart``: nothing was written)."""
    with paused():  # see ``push_files``
        return _attempts_unpaused(paths, problems, write)


def _attempts_unpaused(paths: list[str], problems: Problems, write: Any) -> tuple[int, _Run]:
    sources = _sources(paths)
    plan = _Plan()
    while True:
        attempt = Problems()
        run = _Run(sources, plan, attempt)
        try:
            count = write(run.batches())
        except _Restart as exc:
            what = exc.args[0]
            if isinstance(what, tuple):
                plan.whole.add(what[1])
            else:
                plan.yaml.add(what)
            continue
        except ConfigError:
            problems.items.extend(_ordered(attempt.items, [source.name for source in sources]))
            raise
        if run.duplicates:
            _duplicate_warnings(sources, plan, run.duplicates, attempt)
        problems.items.extend(_ordered(attempt.items, [source.name for source in sources]))
        return count, run


def _ordered(items: list[Problem], names: list[str]) -> list[Problem]:
    """Problems in file order, then line and column (a piece's YAML value errors come before its fact errors,
    duplicate warnings after the rest)."""
    order = {name: index for index, name in reversed(list(enumerate(names)))}

    def key(problem: Problem) -> tuple[int, int, int]:
        where = problem.location
        if where is None:
            return (len(order), 0, 0)
        return (order.get(where.path or "", len(order)), where.line or 0, where.column or 0)

    return sorted(items, key=key)


def _duplicate_warnings(sources: list[_Source], plan: _Plan, duplicates: set[int], problems: Problems) -> None:
    """Read the files again (nothing is written) to name both places of each fact given more than once."""
    run = _Run(sources, plan, Problems())
    last: dict[int, Location | None] = {}
    for source in sources:
        if source.path in plan.whole:
            located = [(fact, where) for fact, where in fio.read_located(source.path, source.name, Problems(), source.stdin)
                       if fact is not None]
            pieces = [located]
        else:
            pieces = []
            for piece in _pieces(source, plan):
                facts = run.piece_facts(piece)
                if not any(hash((f.entity_ref.lower(), f.fact_ref)) in duplicates for f in facts):
                    continue
                found = piece.locate(Problems()) or []
                pieces.append([(f, where) for (_, where), f in zip(found, facts)])
        for located in pieces:
            for fact, where in located:
                key = hash((fact.entity_ref.lower(), fact.fact_ref))
                if key not in duplicates:
                    continue
                if key in last:
                    previous = f" (also at {last[key]})" if last[key] else ""
                    problems.warning(f"fact {fact.fact_ref} for {fact.entity_ref} is given more than once{previous}; "
                                     "the last one is used", where)
                last[key] = where


def push_files(paths: list[str], store: Any, problems: Problems) -> int:
    """Check every fact of ``paths`` and write them into ``store`` in one transaction (``put_stream``): all of
    them, or, when any is invalid, none (``ConfigError`` with every problem, the store unchanged). Warnings go to
    ``problems``. Returns how many facts the store holds from this push (a fact given twice counts once).

    The cyclic garbage collector is paused for the push (``gcpause``): the YAML reading keeps a piece's parser
    events (~40,000 small objects) for the located reading, and each collection walked them all to free nothing.
    Measured on 27,000 YAML facts, reading and checking: 1.6-2.2 s without the pause, 0.7-1.0 s with it."""
    count, run = _attempts(paths, problems, store.put_stream)
    return count - run.repeated


def read_files(paths: list[str], problems: Problems) -> list[Fact]:
    """Every fact of ``paths`` in a list: the same reading as ``push_files``; of a fact given twice, the last is
    kept. Errors are added to ``problems`` and then raised together as one ``ConfigError``."""
    facts: list[Fact] = []

    def collect(batches: Iterator[list[Fact]]) -> int:
        del facts[:]
        for batch in batches:
            facts.extend(batch)
        return len(facts)

    _, run = _attempts(paths, problems, collect)
    if not run.duplicates:
        return facts
    unique: dict[tuple[str, FactRef], Fact] = {}
    for fact in facts:
        unique.pop((fact.entity_ref.lower(), fact.fact_ref), None)
        unique[(fact.entity_ref.lower(), fact.fact_ref)] = fact
    return list(unique.values())
