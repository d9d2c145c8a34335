"""Loading app-config files: YAML with positions, ``${VAR}`` substitution, ``$include``/``$file``/``$env``, merge.

Behaviour follows Backstage's config-loader (``packages/config-loader/src/sources/transform/``):

- ``${VAR}`` in any string value (see ``config.env``); a missing variable leaves the key unset and is remembered.
- A mapping whose only key is ``$include``, ``$file`` or ``$env`` is a directive (``include.ts``). Its string
  value is itself ``${VAR}``-substituted first. ``$include: path[#dot.path]`` reads a ``.yaml``/``.yml``/``.json``
  file relative to the including file (any value: mapping, list, scalar), ``$file: path`` reads text (trailing
  whitespace trimmed, as Backstage's ``trimEnd``), ``$env: VAR`` reads a variable (unset: the key is unset).
  Directive keys beside other keys are an error, as in Backstage; other ``$keys`` are ordinary keys.
- Several files are deep-merged in order (``config.merge``).

Text is read by ``located.yaml``, the one YAML reader (the C parser for well-formed text, the pure-Python one
for the messages users see), into ruamel nodes that this module converts itself. Every value becomes a
``ConfigDict``/``LocatedList``/plain scalar that remembers ``file:line:col`` (1-based), also inside included files.
Scalars follow the YAML 1.2 core schema (timestamps stay text, as Backstage reads them; an unknown ``!tag`` is a
warning and its text is kept). Every problem is reported to ``Problems`` with a location, never as a traceback:
malformed YAML, duplicate keys, missing files, include cycles, numbers too long to read, and documents that
expand too much through aliases ("billion laughs"), which are refused before they are built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from soundcheck_cli.config.env import ConfigDict, UnsetValue, env_value, missing_env, substitute
from soundcheck_cli.config.fields import type_name
from soundcheck_cli.config.merge import merge_all
from soundcheck_cli.located import yaml as reader
from soundcheck_cli.located.nodes import LocatedDict, LocatedList
from soundcheck_cli.errors import ConfigError, Location, Problems

# Bounds on what one config may expand to. A real app-config has a few thousand values and a nesting depth
# under 20; these stop alias bombs ("billion laughs") and stack exhaustion long before memory or time run out.
MAX_NODES = 1_000_000
MAX_DEPTH = 200
MAX_FILE_BYTES = 16 * 1024 * 1024  # one config file, ``$include`` or ``$file``
# Characters of scalar text with aliases expanded: a long string repeated through aliases is small to read and
# huge for whoever serialises the config.
MAX_TEXT = 64 * 1024 * 1024

DIRECTIVES = ("$include", "$file", "$env")
INCLUDE_SUFFIXES = (".yaml", ".yml", ".json")


class _Unset:
    """A converted value that is undefined because of missing environment variables (the key will be unset)."""

    __slots__ = ("variables",)

    def __init__(self, variables: tuple[str, ...]) -> None:
        self.variables = variables


_FAILED = object()  # parse failed (already reported)
_INVALID_KEY = object()


class _Duplicate(Exception):
    """A mapping repeats a key: the file is refused, as ruamel's constructor refuses it (reported already)."""


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
        if reader.is_empty_document(root):  # empty file, only comments, or a lone ``~``
            return ConfigDict(loc=file_loc)
        current = _File(path, ((os.path.realpath(path), path),))
        try:
            value = self._convert(root, current, reader.location(root, path), 1)
        except _Duplicate:
            return None
        if not isinstance(value, LocatedDict):
            where = getattr(value, "loc", None) or reader.location(root, path)
            self.problems.error(f"the top level of a config file must be a mapping, not {_kind(value)}", where)
            return None
        if not self._bounded(value, value.loc or file_loc):
            return None
        return value

    def _read(self, path: str, where: Location, what: str | None = None) -> str | None:
        """The file's text, or ``None`` after reporting why not: at ``where`` for a directive ``what``
        (``'$include'``, ``'$file'``), at the file itself for a top-level config file (``what`` is ``None``).
        Only regular files of at most ``MAX_FILE_BYTES`` are read (``-c /dev/zero`` or a FIFO never end)."""
        data = reader.read_regular(path, MAX_FILE_BYTES)
        if isinstance(data, str):
            if what is None:
                self.problems.error(f"config file {data}", where)
            else:
                self.problems.error(f"{what}: file {path} {data}", where)
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.problems.error("file is not valid UTF-8 text", Location(path, line))
            return None

    def _parse(self, text: str, display: str) -> Any:
        """The document's root node (``None`` when empty), bounded by ``_prescan``; ``_FAILED`` after reporting a
        located error. Read by ``located.yaml`` (the C parser, or the pure-Python one for its messages)."""
        try:
            if not self._prescan(text, display):
                return _FAILED
            roots = reader.compose(text, display, single=True)
        except reader.YamlError as exc:
            self.problems.error(_yaml_message(exc), exc.location)
            return _FAILED
        except reader.YamlLimit as exc:  # defensive: the prescan bounds nesting before ruamel recurses
            self.problems.error(f"invalid YAML: nesting deeper than {MAX_DEPTH} levels", exc.location)
            return _FAILED
        return roots[0] if roots else None

    def _prescan(self, text: str, display: str) -> bool:
        """Bound nesting and alias expansion with ``located.yaml.scan`` (flat, nothing built): True when within
        bounds, False when refused (reported).

        ruamel's composer shares aliased nodes, so a "billion laughs" document is small when composed, but it
        explodes for anyone who walks or serialises it; the scan refuses it at the alias that crosses the bound.

        ruamel's scanner is quadratic in flow nesting (5,000 ``[`` take seconds), so a run of more than
        ``MAX_DEPTH`` opening brackets is looked at first on its own: the text up to the end of the run gives the
        same events as the whole text up to there, so when that prefix is refused, the whole text is refused with
        the same message and location. A prefix that ends inside a string or comment (no nesting after all) fails
        to parse or passes: then the whole text is scanned as usual.
        """
        run = reader.bracket_run(text, MAX_DEPTH)
        if run is not None:
            scratch = Problems()
            try:
                refused = not self._scan_events(text[: run.end()], display, scratch)
            except YAMLError:  # cut inside a scalar or comment: undecided
                refused = False
            if refused:
                self.problems.items.extend(scratch.items)
                return False
        # The C parser scans well-formed text; anything it objects to is scanned again by the pure-Python parser,
        # whose messages and positions are the ones users see (a syntax error there is reported by ``_parse``).
        if "%YAML" not in text:
            try:
                return self._scan_events(text, display, self.problems, pure=False)
            except YAMLError:
                pass
        try:
            return self._scan_events(text, display, self.problems)
        except YAMLError as exc:
            self.problems.error(_yaml_message(reader.error_of(exc, display)), reader.error_of(exc, display).location)
            return False

    @staticmethod
    def _scan_events(text: str, display: str, problems: Problems, *, pure: bool = True) -> bool:
        """``located.yaml.scan`` over ``text`` at this loader's bounds, its refusal reported to ``problems``."""
        try:
            return reader.scan(text, display, max_depth=MAX_DEPTH, max_nodes=MAX_NODES, pure=pure, max_text=MAX_TEXT)
        except reader.YamlLimit as limit:
            problems.error(_limit_message(limit), limit.location)
            return False

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

    def _convert(self, node: Node, current: _File, loc: Location, depth: int, memo: dict[int, Any] | None = None) -> Any:
        if depth > MAX_DEPTH:
            self.problems.error(f"nesting deeper than {MAX_DEPTH} levels", loc)
            return None
        if isinstance(node, (MappingNode, SequenceNode)):
            # Aliased nodes are the same node: convert them once, and keep sharing (no expansion here).
            memo = {} if memo is None else memo
            hit = memo.get(id(node))
            if hit is not None:
                return hit[1]
            if isinstance(node, MappingNode):
                result = self._convert_map(node, current, depth, memo)
            else:
                result = self._convert_seq(node, current, depth, memo)
            memo[id(node)] = (node, result)  # keep ``node`` alive so its id cannot be reused
            return result
        return self._scalar(node, loc)

    def _pairs(self, node: MappingNode, display: str) -> list[tuple[Any, Node, Node]]:
        """``(key, key node, value node)`` of a mapping, merge keys (``<<: *base``) resolved: explicit keys win,
        then earlier merged mappings win. A key given twice raises ``_Duplicate`` after reporting it."""
        pairs: list[tuple[Any, Node, Node]] = []
        seen: dict[Any, Node] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == reader.MERGE:
                merges.append(value_node)
                continue
            key = self._key(key_node, reader.location(key_node, display))
            if key is not _INVALID_KEY and key in seen:
                self.problems.error(
                    f'invalid YAML: found duplicate key "{key}" with value "{_text(value_node)}" '
                    f'(original value: "{_text(seen[key])}")',
                    reader.location(key_node, display),
                )
                raise _Duplicate
            if key is not _INVALID_KEY:
                seen[key] = value_node
            pairs.append((key, key_node, value_node))
        for merge in merges:
            for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
                if not isinstance(source, MappingNode):
                    self.problems.error("'<<' (merge) must refer to a mapping or a list of mappings",
                                        reader.location(source, display))
                    continue
                for key, key_node, value_node in self._pairs(source, display):
                    if key is not _INVALID_KEY and key not in seen:
                        seen[key] = value_node
                        pairs.append((key, key_node, value_node))
        return pairs

    def _convert_map(self, node: MappingNode, current: _File, depth: int, memo: dict[int, Any]) -> Any:
        display = current.display
        own = reader.location(node, display)
        pairs = self._pairs(node, display)
        directive = next((k for k, _, _ in pairs if isinstance(k, str) and k in DIRECTIVES), None)
        if directive is not None:
            return self._directive(pairs, directive, current, own, depth, memo)
        out = ConfigDict(loc=own)
        for key, key_node, value_node in pairs:
            if key is _INVALID_KEY:
                continue
            key_loc = reader.location(key_node, display)
            value_loc = reader.location(value_node, display)
            value = self._convert(value_node, current, value_loc, depth + 1, memo)
            if isinstance(value, _Unset):
                out.unset[key] = UnsetValue(value.variables, key_loc)
                continue
            out[key] = value
            out.key_locs[key] = key_loc
            out.value_locs[key] = value_loc
        return out

    def _convert_seq(self, node: SequenceNode, current: _File, depth: int, memo: dict[int, Any]) -> LocatedList:
        out = LocatedList(loc=reader.location(node, current.display))
        for item in node.value:
            item_loc = reader.location(item, current.display)
            value = self._convert(item, current, item_loc, depth + 1, memo)
            if isinstance(value, _Unset):
                continue  # Backstage drops undefined array items (apply.ts)
            out.append(value)
            out.item_locs.append(item_loc)
        return out

    def _key(self, node: Node, loc: Location) -> Any:
        # JSON and Backstage config keys are strings; YAML allows more. Scalars are stringified the way the
        # JavaScript ``yaml`` package does for plain objects; collections as keys are refused.
        if not isinstance(node, ScalarNode):
            self.problems.error("mapping keys must be strings", loc)
            return _INVALID_KEY
        key = reader.scalar_value(node)
        if isinstance(key, bool):
            return "true" if key else "false"
        return "" if key is None else str(key)

    def _scalar(self, node: ScalarNode, loc: Location) -> Any:
        tag = node.tag
        if "\0" in node.value:
            # Only a ``"\0"`` escape makes one; no path, URL or name may hold it (``open`` raises on it).
            self.problems.error("a NUL byte (\\0) in a config value", loc)
            return None
        if tag == reader.STR:
            return self._string(node.value)
        if tag in _JSON_TAGS:
            if reader.number_too_long(node):
                self.problems.error(f"number too long ({len(node.value)} characters; at most 4300 digits)", loc)
                return None
            return reader.scalar_value(node)
        if tag == reader.TIMESTAMP:
            # Backstage parses with the YAML 1.2 core schema, which has no timestamps: keep the text.
            return self._string(node.value)
        if tag.startswith(reader.Y):
            self.problems.error(f"unsupported YAML value of type {_STANDARD_TYPES.get(tag, tag[len(reader.Y):])}", loc)
            return None
        self.problems.warning(f"unsupported YAML tag '{tag}' (value read as a string)", loc)
        return self._string(node.value)

    def _string(self, text: str) -> Any:
        value, missing = substitute(text, self.environ)
        return _Unset(missing) if value is None else value

    # -- directives --------------------------------------------------------------------------------------------

    def _directive(
        self, pairs: list[tuple[Any, Node, Node]], key: str, current: _File, own: Location, depth: int,
        memo: dict[int, Any],
    ) -> Any:
        _, key_node, value_node = next(pair for pair in pairs if pair[0] == key)
        key_loc = reader.location(key_node, current.display)
        where = reader.location(value_node, current.display)
        if len(pairs) != 1:
            # Backstage: "include key ... should not have adjacent keys"
            others = ", ".join(repr(str(k)) for k, _, _ in pairs if k != key)
            self.problems.error(f"'{key}' must be the only key in its mapping (also found {others})", key_loc)
            return None
        raw = reader.scalar_value(value_node) if isinstance(value_node, ScalarNode) else None
        if not isinstance(raw, str) or value_node.tag not in (reader.STR, reader.TIMESTAMP):
            self.problems.error(f"'{key}' value must be a string", where)
            return None
        if "\0" in raw:
            self.problems.error(f"'{key}': the value contains a NUL byte", where)
            return None
        text, missing = substitute(raw, self.environ)
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
        if reader.is_empty_document(root):
            value = None
        else:
            value = self._convert(root, included, reader.location(root, path), depth)
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


# -- messages --------------------------------------------------------------------------------------------------


_JSON_TAGS = frozenset({reader.NULL, reader.BOOL, reader.INT, reader.FLOAT})
_STANDARD_TYPES = {reader.Y + "binary": "bytes"}


def _text(node: Node) -> str:
    """A value as a duplicate-key message shows it: a scalar's text; a collection's kind (no file contents)."""
    if isinstance(node, ScalarNode):
        return node.value if len(node.value) <= 60 else node.value[:59] + "…"
    return "a mapping" if isinstance(node, MappingNode) else "a list"


def _limit_message(limit: reader.YamlLimit) -> str:
    if limit.kind == "recursive":
        return f"recursive YAML alias '*{limit.anchor}'"
    if limit.kind == "alias-depth":
        return f"alias '*{limit.anchor}' nests deeper than {MAX_DEPTH} levels"
    if limit.kind == "size":
        return f"YAML aliases expand to more than {MAX_NODES} values (an alias bomb?)"
    if limit.kind == "text":
        return f"YAML aliases expand to more than {MAX_TEXT // (1024 * 1024)} MiB of text (an alias bomb?)"
    return f"nesting deeper than {MAX_DEPTH} levels"


def _yaml_message(exc: reader.YamlError) -> str:
    message = exc.problem
    if exc.context and exc.problem.startswith("but "):
        # e.g. "expected a single document in the stream" + "but found another document": one sentence.
        message = f"{exc.context}, {exc.problem}"
    elif exc.context and exc.context_location is not None and (
        (exc.context_location.line, exc.context_location.column) != (exc.location.line, exc.location.column)
    ):
        where = exc.context_location
        message += f" ({exc.context} at line {where.line}, column {where.column})"
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
