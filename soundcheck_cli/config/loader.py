"""Loading app-config files: YAML with positions, ``${VAR}`` substitution, ``$include``/``$file``/``$env``, merge.

Behaviour follows Backstage's config-loader (``packages/config-loader/src/sources/transform/``):

- ``${VAR}`` in any string value (see ``config.env``); a missing variable leaves the key unset and is remembered.
- A mapping whose only key is ``$include``, ``$file`` or ``$env`` is a directive (``include.ts``). Its string
  value is itself ``${VAR}``-substituted first. ``$include: path[#dot.path]`` reads a ``.yaml``/``.yml``/``.json``
  file relative to the including file (any value: mapping, list, scalar), ``$file: path`` reads text (trailing
  whitespace trimmed, as Backstage's ``trimEnd``), ``$env: VAR`` reads a variable (unset: the key is unset).
  Directive keys beside other keys are an error, as in Backstage; other ``$keys`` are ordinary keys.
- Several files are deep-merged in order (``config.merge``).

Every value becomes a ``ConfigDict``/``LocatedList``/plain scalar that remembers ``file:line:col`` (1-based; ruamel's
``.lc`` positions are 0-based), also inside included files. Every problem is reported to ``Problems`` with a
location, never as a traceback: malformed YAML (from the ``MarkedYAMLError`` mark), missing files, include cycles,
and documents that expand too much through aliases ("billion laughs"), which are refused before they are built.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarbool import ScalarBoolean

try:
    from ruamel.yaml.cyaml import CParser
except ImportError:  # pragma: no cover - no ruamel.yaml.clib (not CPython): the pure-Python parser reads everything
    CParser = None

from soundcheck_cli.config.env import ConfigDict, UnsetValue, env_value, missing_env, substitute
from soundcheck_cli.config.fields import type_name
from soundcheck_cli.config.merge import merge_all
from soundcheck_cli.located.nodes import LocatedDict, LocatedList
from soundcheck_cli.errors import ConfigError, Location, Problems

# Bounds on what one config may expand to. A real app-config has a few thousand values and a nesting depth
# under 20; these stop alias bombs ("billion laughs") and stack exhaustion long before memory or time run out.
MAX_NODES = 1_000_000
MAX_DEPTH = 200

# A run of more than MAX_DEPTH opening brackets (whitespace between them allowed), as ``catalog.loader`` spots
# its nesting bombs before parsing.
_BRACKET_RUN_RE = re.compile(r"[\[{](?:\s*[\[{]){%d}" % MAX_DEPTH)

DIRECTIVES = ("$include", "$file", "$env")
INCLUDE_SUFFIXES = (".yaml", ".yml", ".json")


class _Unset:
    """A converted value that is undefined because of missing environment variables (the key will be unset)."""

    __slots__ = ("variables",)

    def __init__(self, variables: tuple[str, ...]) -> None:
        self.variables = variables


_FAILED = object()  # parse failed (already reported)
_INVALID_KEY = object()


if CParser is not None:

    class _FastRoundTripLoader(CParser, RoundTripConstructor, VersionedResolver):
        """ruamel's round-trip constructor (``CommentedMap``/``CommentedSeq`` with ``.lc`` positions, the same
        scalar types) over nodes composed by the C parser: ``YAML(typ="rt")`` composes in pure Python, ~8x slower
        (~50 ms of a ``check`` for a 20-check config). Comments are not kept; nothing here reads them. Assembled as
        ruamel's own ``cyaml.CSafeLoader`` is."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            self._parser = self._composer = self
            self.comment_handling = None  # what ``YAML()`` sets: the constructor reads it
            RoundTripConstructor.__init__(self, loader=self)
            VersionedResolver.__init__(self, loadumper=self)


@dataclass(frozen=True)
class _File:
    """The file being converted: its display path, and the include chain (real path, display path) leading to it."""

    display: str
    chain: tuple[tuple[str, str], ...]


def load_config_files(
    paths: Sequence[str],
    environ: Mapping[str, str] | None = None,
    problems: Problems | None = None,
) -> LocatedDict:
    """Load and deep-merge ``paths`` in order (later wins) into one located mapping.

    With ``problems`` given, every error and warning is recorded there and a best-effort tree is returned (a file
    that fails is left out), so a caller can list all problems at once. Without it, errors raise ``ConfigError``.
    ``environ`` defaults to ``os.environ``.
    """
    own = problems is None
    sink = Problems() if problems is None else problems
    loader = _Loader(os.environ if environ is None else environ, sink)
    trees = [tree for tree in (loader.load_file(path) for path in paths) if tree is not None]
    merged = merge_all(trees)
    if own:
        sink.raise_if_errors(ConfigError)
    return merged


def load_config_file(
    path: str, environ: Mapping[str, str] | None = None, problems: Problems | None = None
) -> LocatedDict:
    """One file, no merge (same error handling as ``load_config_files``)."""
    return load_config_files([path], environ, problems)


class _Loader:
    """One load: the environment to substitute from and where problems go (shared by every file it reads)."""

    def __init__(self, environ: Mapping[str, str], problems: Problems) -> None:
        self.environ = environ
        self.problems = problems

    # -- files -------------------------------------------------------------------------------------------------

    def load_file(self, path: str) -> LocatedDict | None:
        file_loc = Location(path)
        text = self._read(path, file_loc)
        if text is None:
            return None
        root = self._parse(text, path)
        if root is _FAILED:
            return None
        if root is None:  # empty file, or only comments
            return ConfigDict(loc=file_loc)
        current = _File(path, ((os.path.realpath(path), path),))
        value = self._convert(root, current, _own_loc(root, path) or Location(path, 1, 1), 1)
        if not isinstance(value, LocatedDict):
            where = getattr(value, "loc", None) or _own_loc(root, path) or Location(path, 1, 1)
            self.problems.error(f"the top level of a config file must be a mapping, not {_kind(value)}", where)
            return None
        if not self._bounded(value, value.loc or file_loc):
            return None
        return value

    def _read(self, path: str, where: Location, what: str | None = None) -> str | None:
        """The file's text, or ``None`` after reporting why not: at ``where`` for a directive ``what``
        (``'$include'``, ``'$file'``), at the file itself for a top-level config file (``what`` is ``None``)."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                reason = "not found"
            elif isinstance(exc, IsADirectoryError):
                reason = "is a directory"
            else:
                reason = f"cannot be read ({exc.strerror or exc})"
            if what is None:
                self.problems.error(f"config file {reason}", where)
            else:
                self.problems.error(f"{what}: file {path} {reason}", where)
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.problems.error("file is not valid UTF-8 text", Location(path, line))
            return None

    def _parse(self, text: str, display: str) -> Any:
        """ruamel round-trip load (keeps positions); ``_FAILED`` after reporting a located error."""
        try:
            scanned = self._prescan(text, display)
            if not scanned:
                return _FAILED
            if scanned == "fast":
                root = _fast_load(text)
                if root is not _FAILED:
                    return root
            return YAML(typ="rt").load(text)
        except MarkedYAMLError as exc:
            self.problems.error(_yaml_message(exc), _mark_loc(exc, display))
        except YAMLError as exc:
            self.problems.error(f"invalid YAML: {exc}", Location(display))
        except RecursionError:  # defensive: the prescan bounds nesting before ruamel recurses
            self.problems.error(f"invalid YAML: nesting deeper than {MAX_DEPTH} levels", Location(display))
        return _FAILED

    def _prescan(self, text: str, display: str) -> str | bool:
        """Walk the parser's event stream (flat, no recursion) to bound nesting and alias expansion: ``"fast"``
        when the C parser read the text and it is within bounds, True when the pure-Python parser had to, False
        when it is refused (reported).

        ruamel's composer shares aliased nodes, so a "billion laughs" document is small when loaded, but it
        explodes for anyone who walks or serialises it. Counting here, with each anchor's expanded size and height,
        refuses it at the alias that crosses the bound, before anything is built.

        ruamel's scanner is quadratic in flow nesting (5,000 ``[`` take seconds), so a run of more than
        ``MAX_DEPTH`` opening brackets (``catalog.loader``'s pre-check, at this loader's depth) is looked at
        first on its own: the text up to the end of the run gives the same events as the whole text up to there,
        so when that prefix is refused, the whole text is refused with the same message and location. A prefix
        that ends inside a string or comment (no nesting after all) fails to parse or passes: then the whole
        text is scanned as usual.
        """
        run = _BRACKET_RUN_RE.search(text)
        if run is not None:
            scratch = Problems()
            try:
                refused = not self._scan_events(text[: run.end()], display, scratch)
            except YAMLError:  # cut inside a scalar or comment: undecided
                refused = False
            if refused:
                self.problems.items.extend(scratch.items)
                return False
        # The C parser (ruamel.yaml.clib, ~10x faster) scans well-formed text; anything it objects to is scanned
        # again by the pure-Python parser, whose messages and positions are the ones users see.
        try:
            if self._scan_events(text, display, Problems(), pure=False):
                return "fast"
        except YAMLError:
            pass
        return self._scan_events(text, display, self.problems)

    @staticmethod
    def _scan_events(text: str, display: str, problems: Problems, *, pure: bool = True) -> bool:
        """``_prescan`` over ``text``, reporting to ``problems``."""
        stack: list[list[Any]] = []  # per open container: [expanded size, height, anchor]
        sizes: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, height)
        open_anchors: set[str] = set()
        total = 0
        for event in (YAML(typ="rt") if pure else YAML(typ="safe", pure=False)).parse(text):
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                if len(stack) + 1 > MAX_DEPTH:
                    problems.error(f"nesting deeper than {MAX_DEPTH} levels", _event_loc(event, display))
                    return False
                stack.append([1, 1, event.anchor])
                if event.anchor:
                    open_anchors.add(event.anchor)
                continue
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                size, height, anchor = stack.pop()
                if anchor:
                    sizes[anchor] = (size, height)
                    open_anchors.discard(anchor)
            elif isinstance(event, ScalarEvent):
                size, height = 1, 0
                if event.anchor:
                    sizes[event.anchor] = (1, 0)
            elif isinstance(event, AliasEvent):
                if event.anchor in open_anchors:
                    problems.error(f"recursive YAML alias '*{event.anchor}'", _event_loc(event, display))
                    return False
                # An undefined alias is left to the composer, which reports it with its position.
                size, height = sizes.get(event.anchor, (1, 0))
                if len(stack) + height > MAX_DEPTH:
                    problems.error(
                        f"alias '*{event.anchor}' nests deeper than {MAX_DEPTH} levels", _event_loc(event, display)
                    )
                    return False
            else:
                continue
            if stack:
                frame = stack[-1]
                frame[0] += size
                frame[1] = max(frame[1], height + 1)
                count = frame[0]
            else:
                total += size
                count = total
            if count > MAX_NODES:
                problems.error(
                    f"YAML aliases expand to more than {MAX_NODES} values (an alias bomb?)", _event_loc(event, display)
                )
                return False
        return True

    def _bounded(self, root: Any, where: Location) -> bool:
        """Expanded size and depth of a converted tree (``$include`` under aliases can multiply it too)."""
        size, height = _measure(root)
        if size > MAX_NODES:
            self.problems.error(f"config expands to more than {MAX_NODES} values", where)
            return False
        if height > MAX_DEPTH:
            self.problems.error(f"config nests deeper than {MAX_DEPTH} levels", where)
            return False
        return True

    # -- conversion --------------------------------------------------------------------------------------------

    def _convert(self, obj: Any, current: _File, loc: Location, depth: int, memo: dict[int, Any] | None = None) -> Any:
        if depth > MAX_DEPTH:
            self.problems.error(f"nesting deeper than {MAX_DEPTH} levels", loc)
            return None
        if isinstance(obj, (dict, list)):
            # Aliased nodes are the same object: convert them once, and keep sharing (no expansion here).
            memo = {} if memo is None else memo
            hit = memo.get(id(obj))
            if hit is not None:
                return hit[1]
            if isinstance(obj, dict):
                result = self._convert_map(obj, current, loc, depth, memo)
            else:
                result = self._convert_seq(obj, current, loc, depth, memo)
            memo[id(obj)] = (obj, result)  # keep ``obj`` alive so its id cannot be reused
            return result
        return self._scalar(obj, loc)

    def _convert_map(self, cm: dict, current: _File, loc: Location, depth: int, memo: dict[int, Any]) -> Any:
        own = _own_loc(cm, current.display) or loc
        directive = next((k for k in cm if isinstance(k, str) and k in DIRECTIVES), None)
        if directive is not None:
            return self._directive(cm, directive, current, own, depth, memo)
        out = ConfigDict(loc=own)
        for raw_key, raw_value in cm.items():
            key_loc = _at(current.display, _key_pos(cm, raw_key)) or own
            value_loc = _at(current.display, _value_pos(cm, raw_key)) or key_loc
            key = self._key(raw_key, key_loc)
            if key is _INVALID_KEY:
                continue
            value = self._convert(raw_value, current, value_loc, depth + 1, memo)
            if isinstance(value, _Unset):
                out.unset[key] = UnsetValue(value.variables, key_loc)
                continue
            out[key] = value
            out.key_locs[key] = key_loc
            out.value_locs[key] = value_loc
        return out

    def _convert_seq(self, seq: list, current: _File, loc: Location, depth: int, memo: dict[int, Any]) -> LocatedList:
        own = _own_loc(seq, current.display) or loc
        out = LocatedList(loc=own)
        for index, raw in enumerate(seq):
            item_loc = _at(current.display, _item_pos(seq, index)) or own
            value = self._convert(raw, current, item_loc, depth + 1, memo)
            if isinstance(value, _Unset):
                continue  # Backstage drops undefined array items (apply.ts)
            out.append(value)
            out.item_locs.append(item_loc)
        return out

    def _key(self, key: Any, loc: Location) -> Any:
        # JSON and Backstage config keys are strings; YAML allows more. Scalars are stringified the way the
        # JavaScript ``yaml`` package does for plain objects; collections as keys are refused.
        if isinstance(key, str):
            return str(key)
        if isinstance(key, (bool, ScalarBoolean)):
            return "true" if key else "false"
        if key is None:
            return ""
        if isinstance(key, (int, float)):
            return str(key)
        if isinstance(key, (_dt.date, _dt.datetime)):
            return key.isoformat()
        self.problems.error("mapping keys must be strings", loc)
        return _INVALID_KEY

    def _scalar(self, obj: Any, loc: Location) -> Any:
        if obj is None or isinstance(obj, bool):
            return obj
        if isinstance(obj, ScalarBoolean):  # an int subclass: test before int
            return bool(obj)
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, str):
            return self._string(str(obj))
        if isinstance(obj, (_dt.date, _dt.datetime)):
            # Backstage parses with the YAML 1.2 core schema, which has no timestamps: keep the text form.
            return obj.isoformat()
        if isinstance(obj, TaggedScalar):
            self.problems.warning(f"unsupported YAML tag '{obj.tag}' (value read as a string)", loc)
            return self._string(str(obj.value))
        self.problems.error(f"unsupported YAML value of type {type(obj).__name__}", loc)
        return None

    def _string(self, text: str) -> Any:
        value, missing = substitute(text, self.environ)
        return _Unset(missing) if value is None else value

    # -- directives --------------------------------------------------------------------------------------------

    def _directive(
        self, cm: dict, key: str, current: _File, own: Location, depth: int, memo: dict[int, Any]
    ) -> Any:
        key_loc = _at(current.display, _key_pos(cm, key)) or own
        where = _at(current.display, _value_pos(cm, key)) or key_loc
        if len(cm) != 1:
            # Backstage: "include key ... should not have adjacent keys"
            others = ", ".join(repr(str(k)) for k in cm if k != key)
            self.problems.error(f"'{key}' must be the only key in its mapping (also found {others})", key_loc)
            return None
        raw = cm[key]
        if not isinstance(raw, str):
            self.problems.error(f"'{key}' value must be a string", where)
            return None
        text, missing = substitute(str(raw), self.environ)
        if text is None:
            names = ", ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            self.problems.error(f"'{key}': environment variable{plural} {names} not set", where)
            return None
        if key == "$env":
            value = env_value(text, self.environ)
            return _Unset((text.strip(),)) if value is None else value
        if key == "$file":
            path = _resolve(current.display, text)
            content = self._read(path, where, "'$file'")
            return None if content is None else content.rstrip()
        return self._include(text, current, where, depth, memo)

    def _include(self, text: str, current: _File, where: Location, depth: int, memo: dict[int, Any]) -> Any:
        file_part, _, key_path = text.partition("#")  # Backstage: includeValue.split(/#(.*)/)
        suffix = os.path.splitext(file_part)[1].lower()
        if suffix not in INCLUDE_SUFFIXES:
            self.problems.error(
                f"'$include': unsupported file type '{suffix or file_part}' (expected .yaml, .yml or .json)", where
            )
            return None
        path = _resolve(current.display, file_part)
        real = os.path.realpath(path)
        if any(real == seen for seen, _ in current.chain):
            cycle = " -> ".join([shown for _, shown in current.chain] + [path])
            self.problems.error(f"'$include' cycle: {cycle}", where)
            return None
        content = self._read(path, where, "'$include'")
        if content is None:
            return None
        root = self._parse(content, path)
        if root is _FAILED:
            return None
        included = _File(path, current.chain + ((real, path),))
        value = self._convert(root, included, _own_loc(root, path) or Location(path, 1, 1), depth)
        if not key_path:
            return value
        walked: list[str] = []
        for part in key_path.split("."):
            if not isinstance(value, dict):
                at = ".".join(walked) or "the top level"
                self.problems.error(f"'$include': value at '{at}' in {path} is not a mapping", where)
                return None
            if part not in value:
                unset_by = missing_env(value, part)
                if unset_by:
                    return _Unset(tuple(unset_by.split(", ")))
                self.problems.error(f"'$include': no value at '{key_path}' in {path}", where)
                return None
            value = value[part]
            walked.append(part)
        return value


def _fast_load(text: str) -> Any:
    """``YAML(typ="rt").load(text)`` through the C parser, for text the C parser has already scanned within
    bounds (its composer recurses in C: deep nesting must be refused before). ``_FAILED`` when the pure-Python
    loader must do it: no C parser, a ``%YAML`` directive (the version it sets is read from the pure-Python
    scanner), or any error (the pure-Python loader reports it, with its messages and positions)."""
    if CParser is None or "%YAML" in text:
        return _FAILED
    loader = _FastRoundTripLoader(text)
    try:
        return loader.get_single_data()
    except YAMLError:
        return _FAILED
    finally:
        loader.dispose()


# -- positions -------------------------------------------------------------------------------------------------


def _at(display: str, pos: tuple[int, int] | None) -> Location | None:
    if pos is None or pos[0] is None:
        return None
    line, col = pos
    return Location(display, line + 1, None if col is None else col + 1)


def _own_loc(obj: Any, display: str) -> Location | None:
    lc = getattr(obj, "lc", None)
    if lc is None or lc.line is None:
        return None
    return Location(display, lc.line + 1, None if lc.col is None else lc.col + 1)


def _merged_sources(cm: Any) -> list[Any]:
    # ``<<: *base`` merge keys: ruamel lists the merged mappings; their keys have positions there, not here.
    out = []
    for item in getattr(cm, "merge", None) or ():
        out.append(item[1] if isinstance(item, tuple) else item)
    return out


def _key_pos(cm: Any, key: Any) -> tuple[int, int] | None:
    if not isinstance(cm, CommentedMap):
        return None
    try:
        return cm.lc.key(key)
    except (KeyError, TypeError, AttributeError):
        pass
    for source in _merged_sources(cm):
        if isinstance(source, CommentedMap) and key in source:
            return _key_pos(source, key)
    return None


def _value_pos(cm: Any, key: Any) -> tuple[int, int] | None:
    if not isinstance(cm, CommentedMap):
        return None
    try:
        return cm.lc.value(key)
    except (KeyError, TypeError, AttributeError):
        pass
    for source in _merged_sources(cm):
        if isinstance(source, CommentedMap) and key in source:
            return _value_pos(source, key)
    return None


def _item_pos(seq: Any, index: int) -> tuple[int, int] | None:
    if not isinstance(seq, CommentedSeq):
        return None
    try:
        return seq.lc.item(index)
    except (KeyError, TypeError, AttributeError, IndexError):
        return None


def _mark_loc(exc: MarkedYAMLError, display: str) -> Location:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Location(display)
    return Location(display, mark.line + 1, mark.column + 1)


def _event_loc(event: Any, display: str) -> Location:
    mark = event.start_mark
    return Location(display, mark.line + 1, mark.column + 1)


def _yaml_message(exc: MarkedYAMLError) -> str:
    message = exc.problem or exc.context or "malformed document"
    context_mark, problem_mark = exc.context_mark, exc.problem_mark
    if exc.context and exc.problem and exc.problem.startswith("but "):
        # e.g. "expected a single document in the stream" + "but found another document": one sentence.
        message = f"{exc.context}, {exc.problem}"
    elif (
        exc.context
        and exc.problem
        and context_mark is not None
        and problem_mark is not None
        and not isinstance(exc, DuplicateKeyError)  # its context ("while constructing a mapping") adds nothing
        and (context_mark.line, context_mark.column) != (problem_mark.line, problem_mark.column)
    ):
        message += f" ({exc.context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return f"invalid YAML: {message}"


# -- helpers ---------------------------------------------------------------------------------------------------


def _resolve(including: str, target: str) -> str:
    """``target`` relative to the directory of the including file (absolute targets stay as they are)."""
    return os.path.normpath(os.path.join(os.path.dirname(including), os.path.expanduser(target.strip())))


def _kind(value: Any) -> str:
    return "null" if isinstance(value, _Unset) else type_name(value)


def _measure(root: Any) -> tuple[int, int]:
    """(expanded value count, height) of a converted tree whose sub-trees may be shared; iterative and memoised."""
    memo: dict[int, tuple[int, int]] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)) or (id(node) in memo and not done):
            continue
        children = [v for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (dict, list))]
        if not done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in memo)
            continue
        size = 1 + (len(node) - len(children))
        height = 1
        for child in children:
            child_size, child_height = memo[id(child)]
            size = min(size + child_size, MAX_NODES + 1)
            height = max(height, child_height + 1)
        memo[id(node)] = (size, height)
    if not isinstance(root, (dict, list)):
        return 1, 0
    return memo[id(root)]
