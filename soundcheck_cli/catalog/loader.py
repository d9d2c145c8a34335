"""Load Backstage catalog entities from files, folders, globs and the ``kind: Location`` entities they contain.

Behaviour (Backstage's file-based catalog, ``FileReaderProcessor`` + ``LocationEntityProcessor`` +
``PlaceholderProcessor``):

- A path is a file, a folder (every ``*.yaml``/``*.yml`` below it, sorted, hidden entries and ``node_modules``
  skipped) or a glob (``glob.glob(recursive=True)`` semantics; matched folders are walked, matched files are loaded
  when they end in ``.yaml``/``.yml``/``.json``). A path that does not exist is an error (``CatalogError``, exit
  2, at the config line that declared it when it came from ``catalog.locations``); a folder or glob holding no
  YAML is a warning. Walks never enter a symlinked folder (no loops) and list at most ``MAX_WALK_ENTRIES``
  entries per path; FIFOs, devices and sockets are refused without being opened for a blocking read.
- Each file may hold several YAML documents (``---``); empty ones are skipped. YAML is read by ``located.yaml``
  as YAML 1.2 (as the ``yaml`` package Backstage uses does), timestamps and unknown tags stay strings, every node
  keeps its position (a clean file -- valid entities only, no Location, no placeholder -- is read without
  positions first: no warning needs them).
- Malformed YAML skips that file with a located warning; an invalid entity (see ``validation``) or a document that
  cannot be converted (duplicate key, alias expansion over ``MAX_NODES`` nodes or ``MAX_DOCUMENT_TEXT`` of text,
  nesting over ``MAX_DEPTH``) skips that document. YAML that is no entity at all (no ``apiVersion``, no ``kind``:
  an OpenAPI file in a scanned folder) is one warning per file. Everything else goes on.
- ``$text``/``$json``/``$yaml`` placeholders are filled in from files relative to the entity's file (see
  ``_resolve_placeholders``); URLs are not fetched.
- ``kind: Location`` entities are kept and followed: ``spec.target`` / ``spec.targets`` are files or globs relative
  to the Location's own file; ``http(s)`` URLs are not fetched (a warning). Targets, like placeholders, must stay
  under the catalog root (the folder of the path given, real paths: no ``../../etc/passwd``, no symlink out).
  Each file is loaded at most once; a Location pointing back at a file that is being loaded is a cycle (a warning
  naming it; glob matches of an ancestor are skipped silently, e.g. ``./*.yaml`` matching the Location's own file).
- Duplicate entity refs (compared case-insensitively) keep the first entity, with a warning naming both places.
- Entities come back in load order: depth-first, a file's own entities before those of the Locations it holds.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.catalog.cache import CatalogCache
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.catalog.validation import entity_label, show, validate_entity
from soundcheck_cli.located.nodes import LocatedDict, loc_of, to_plain
from soundcheck_cli.errors import CatalogError, Location, Problems
from soundcheck_cli.located import yaml as reader

# Limits that keep hostile or accidental input from exhausting memory or the stack.
MAX_NODES = 100_000  # nodes one document may expand to (YAML aliases can multiply a small file: "billion laughs")
MAX_DEPTH = 100  # nesting depth of one document (ruamel's composer is recursive; entities are shallow)
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_LOCATION_DEPTH = 32  # Locations pointing to Locations pointing to ...
MAX_WALK_ENTRIES = 500_000  # folder entries one catalog path may list (folders, globs): symlink loops, ``/**``
# Text one document may expand to: YAML aliases can repeat a long string (1 MB x 1,000 aliases took 7 GB to
# collect), and placeholders pull files in. A document without either is at most its file (``MAX_FILE_BYTES``).
MAX_DOCUMENT_TEXT = 32 * 1024 * 1024
MAX_PLACEHOLDER_BYTES = 8 * 1024 * 1024  # one ``$text``/``$json``/``$yaml`` file
PLACEHOLDERS = ("$text", "$json", "$yaml")

YAML_SUFFIXES = (".yaml", ".yml")
GLOB_SUFFIXES = (".yaml", ".yml", ".json")
SKIPPED_DIRS = frozenset({"node_modules"})

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# --------------------------------------------------------------------------------------------------------------
# YAML -> LocatedDict / LocatedList (``located.yaml``, the one YAML reader)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One non-empty YAML document of a file: its located content and where it starts."""

    content: Any
    location: Location


def _plain_documents(text: str) -> list[tuple[Any, int, int]] | None:
    """The non-empty documents of ``text`` as plain data with the line and column where each starts (the reader's
    fast path); ``None`` when the file needs the located reading."""
    return reader.plain_documents(text, max_nodes=MAX_NODES, max_depth=MAX_DEPTH,
                                  max_text=max(MAX_DOCUMENT_TEXT, len(text)))


def parse_documents(text: str, path: str, problems: Problems, *, max_text: int | None = None) -> list[YamlDocument] | None:
    """All non-empty documents of ``text`` as located containers; ``None`` (and a warning) if the YAML is malformed.

    A document that cannot be converted (duplicate key, alias bomb, too deep) is reported and left out; the
    others are returned. Exposed for tests and for any other reader of user YAML that needs positions.
    """
    run = reader.bracket_run(text, MAX_DEPTH)
    if run:
        line = text.count("\n", 0, run.start()) + 1
        column = run.start() - text.rfind("\n", 0, run.start())
        problems.warning(f"YAML is nested more than {MAX_DEPTH} levels deep; file skipped", Location(path, line, column))
        return None
    try:
        roots = reader.compose(text, path)
    except reader.YamlError as exc:
        detail = exc.problem if exc.context is None else f"{exc.problem} ({exc.context})"
        problems.warning(f"malformed YAML: {detail}; file skipped", exc.location)
        return None
    except reader.YamlLimit as exc:
        problems.warning(f"YAML is nested more than {MAX_DEPTH} levels deep; file skipped", exc.location)
        return None

    documents: list[YamlDocument] = []
    for root in roots:
        if reader.is_empty_document(root):
            continue
        converter = reader.LocatedConverter(path, MAX_NODES, MAX_DEPTH,
                                            max(MAX_DOCUMENT_TEXT, len(text)) if max_text is None else max_text)
        try:
            content = converter.convert(root)
        except reader.DocumentError as exc:
            problems.warning(exc.message, exc.location)
            continue
        except RecursionError:
            problems.warning(f"document is nested more than {MAX_DEPTH} levels deep; skipped", converter.loc(root))
            continue
        documents.append(YamlDocument(content, converter.loc(root)))
    return documents


# --------------------------------------------------------------------------------------------------------------
# Paths


def _display(path: str) -> str:
    return os.path.normpath(path)


class _Walk:
    """A budget of directory entries for one catalog path's walks and globs: a symlink loop, a Location target
    such as ``/**/*.yaml`` or a huge folder stops here (with a warning) instead of running for ever."""

    __slots__ = ("left", "exhausted")

    def __init__(self) -> None:
        self.left = MAX_WALK_ENTRIES
        self.exhausted = False

    def entries(self, folder: str) -> list[os.DirEntry[str]]:
        if self.left <= 0:
            self.exhausted = True
            return []
        try:
            with os.scandir(folder) as it:
                found = sorted(it, key=lambda e: e.name)
        except OSError:
            return []
        self.left -= len(found)
        if self.left < 0:
            self.exhausted = True
            found = found[: len(found) + self.left]
        return found


def _walk_folder(folder: str, walk: _Walk) -> list[str]:
    """Every ``*.yaml``/``*.yml`` under ``folder``, in a stable order: a folder's files, then its sub-folders.
    Hidden entries and ``node_modules`` are skipped; symlinked folders are not entered (no loops). Iterative:
    a folder tree a thousand levels deep is no stack overflow."""
    found: list[str] = []
    pending = [folder]
    while pending:
        subfolders: list[str] = []
        for entry in walk.entries(pending.pop()):
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if name not in SKIPPED_DIRS:
                    subfolders.append(entry.path)
            elif name.lower().endswith(YAML_SUFFIXES):
                found.append(entry.path)  # a FIFO or device is refused when read (``_read``), never opened blocking
        pending.extend(reversed(subfolders))
    return found


def _glob(pattern: str, start: str, walk: _Walk) -> list[str]:
    """``glob.glob(pattern, root_dir=start, recursive=True)`` (paths joined to ``start``), except that ``**``
    does not enter symlinked folders (a symlink loop made ``glob`` run for ever) and every folder listed counts
    against ``walk``. ``*`` and ``?`` do not match a leading dot, as in ``glob``."""
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    out: dict[str, None] = {}

    def visit(folder: str, index: int) -> None:
        if index == len(parts):
            out[folder] = None
            return
        part = parts[index]
        if part == "**":
            visit(folder, index + 1)  # zero folders
            for entry in walk.entries(folder):
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        visit(entry.path, index)
                    elif index + 1 == len(parts):
                        out[entry.path] = None
                except OSError:
                    continue
            return
        if not glob.has_magic(part):
            path = os.path.join(folder, part)
            if index + 1 == len(parts) or os.path.isdir(path):
                if os.path.lexists(path):
                    visit(path, index + 1)
            return
        for entry in walk.entries(folder):
            if entry.name.startswith(".") and not part.startswith("."):
                continue
            if fnmatch.fnmatchcase(entry.name, part):
                if index + 1 == len(parts):
                    out[entry.path] = None
                elif entry.is_dir():
                    visit(entry.path, index + 1)

    try:
        visit(start, 0)
    except RecursionError:  # ``**`` over a folder tree deeper than Python's stack: keep what was found
        walk.exhausted = True
    return sorted(out)


def _glob_base(pattern: str) -> str:
    """The folder part of ``pattern`` before its first wildcard (where its matches can be, at most)."""
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        if glob.has_magic(part):
            return "/".join(parts[:index]) or ("/" if pattern.startswith("/") else ".")
    return os.path.dirname(pattern) or "."


@dataclass(frozen=True, slots=True)
class _Expansion:
    files: list[str]
    from_glob: bool
    problem: str | None = None  # why nothing was found
    truncated: bool = False  # the walk budget ran out


def _expand(path: str, base_dir: str | None) -> _Expansion:
    """The files a catalog path stands for (display paths, in load order)."""
    full = path if os.path.isabs(path) or base_dir is None else os.path.join(base_dir, path)
    full = _display(full)
    walk = _Walk()
    if os.path.isdir(full):
        files = _walk_folder(full, walk)
        return _Expansion(files, False, None if files else "contains no .yaml or .yml files", walk.exhausted)
    if os.path.exists(full):
        return _Expansion([full], False)  # a file (or a FIFO, device...: refused when read, with a warning)
    if glob.has_magic(path):
        start = "/" if os.path.isabs(path) else (base_dir or ".")
        files = []
        for match in _glob(path, start, walk):
            match_path = _display(match)
            if os.path.isdir(match_path):
                files.extend(_walk_folder(match_path, walk))
            elif match_path.lower().endswith(GLOB_SUFFIXES):
                files.append(match_path)
        return _Expansion(files, True, None if files else "matches no .yaml or .yml files", walk.exhausted)
    return _Expansion([], False, "does not exist")


def catalog_bytes(paths: list[str], base_dir: str | None) -> int:
    """The size of the files ``paths`` stand for (before following any ``Location``): how much YAML a cold load
    parses at least."""
    total = 0
    for path in paths:
        for name in _expand(path, base_dir).files:
            try:
                total += os.stat(name).st_size
            except OSError:
                pass
    return total


def _root_of(path: str, base_dir: str | None) -> str:
    """The catalog root of a catalog path: the folder it names, the folder of the file it names, or the folder
    part of a glob. Location targets and placeholders are confined to it (real paths: symlinks cannot leave)."""
    full = path if os.path.isabs(path) or base_dir is None else os.path.join(base_dir, path)
    if glob.has_magic(path):
        full = _glob_base(full)
    elif not os.path.isdir(full):
        full = os.path.dirname(full) or "."
    return os.path.realpath(full)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


NOT_AN_ENTITY = "no apiVersion/kind"


def _not_an_entity(content: Any) -> bool:
    """A mapping with neither ``apiVersion`` nor ``kind``: YAML that is no entity at all (an OpenAPI document,
    a CI file) rather than a broken entity, whose every missing field would be a warning of its own."""
    return isinstance(content, dict) and "apiVersion" not in content and "kind" not in content


def default_catalog_paths(settings_catalog_files: tuple[str, ...], cwd: str) -> list[str]:
    """Catalog paths to use when ``--catalog`` is not given.

    The file targets of ``catalog.locations`` in the app-config (``Settings.catalog_files``, already absolute),
    else ``./catalog-info.yaml`` if it exists (Backstage's conventional file name), else nothing: the CLI then
    says that no catalog was found.
    """
    if settings_catalog_files:
        return list(settings_catalog_files)
    candidate = os.path.join(cwd, "catalog-info.yaml")
    return [candidate] if os.path.isfile(candidate) else []


def config_location_origins(app_config: Any) -> dict[str, Location]:
    """Where the app-config declared each ``file`` target of ``catalog.locations``: the absolute path (as
    ``config.settings`` resolves it, relative to the declaring file) -> the target's ``file:line:col``, so that a
    target that does not exist is reported there."""
    catalog = app_config.get("catalog") if isinstance(app_config, dict) else None
    locations = catalog.get("locations") if isinstance(catalog, dict) else None
    out: dict[str, Location] = {}
    for entry in locations if isinstance(locations, list) else ():
        if not isinstance(entry, dict) or entry.get("type") != "file" or not isinstance(entry.get("target"), str):
            continue
        declared = loc_of(entry, "target")
        if declared is None or not declared.path:
            continue
        base = os.path.dirname(os.path.abspath(declared.path))
        out.setdefault(os.path.normpath(os.path.join(base, os.path.expanduser(entry["target"].strip()))), declared)
    return out


# --------------------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True, slots=True)
class _Frame:
    """One file on the chain of Locations currently being followed (for cycle detection and messages), and the
    catalog root its Location targets and placeholders are confined to (a real path)."""

    real: str
    display: str
    root: str


class _CatalogLoader:
    def __init__(self, problems: Problems, cache: CatalogCache | None = None, *, confine: bool = True,
                 root: str | None = None) -> None:
        self.problems = problems
        self.cache = cache
        self.confine = confine
        self.root = None if root is None else os.path.realpath(root)
        self.entities: list[Entity] = []
        self.by_key: dict[str, Entity] = {}
        self.loaded: set[str] = set()
        self.share: tuple[int, int] | None = None  # (k, n): only the paths' files k, k + n, ... (``load_catalog``)
        self.numbered = 0

    # -- entry points ------------------------------------------------------------------------------------------
    def load_path(self, path: str, base_dir: str | None, where: Location | None = None) -> None:
        """Load a catalog path the user gave (``--catalog``, or a config location declared at ``where``): one
        that does not exist is an error, since a gate must not pass on a catalog it never read."""
        if not isinstance(path, str) or not path.strip():
            self.problems.warning(f"catalog path {show(path, 4096)} is empty; ignored", where)
            return
        if "\0" in path:
            self.problems.error(f"catalog path {show(path, 4096)} contains a NUL byte", where)
            return
        expansion = _expand(path, base_dir)
        if expansion.problem == "does not exist":
            full = path if os.path.isabs(path) or base_dir is None else _display(os.path.join(base_dir, path))
            shown = show(path, 4096) if full == path else f"{show(path, 4096)} ({full})"
            self.problems.error(f"catalog path {shown} does not exist", where)
            return
        if expansion.problem:
            self.problems.warning(f"catalog path {show(path, 4096)} {expansion.problem}", where)
        if expansion.truncated:
            self.problems.warning(
                f"catalog path {show(path, 4096)}: stopped after listing {MAX_WALK_ENTRIES} folder entries "
                "(a symlink loop or a very large folder?); the files found so far are loaded", where)
        root = self.root or _root_of(path, base_dir)
        for file in expansion.files:
            if self.share is not None:
                number, self.numbered = self.numbered, self.numbered + 1
                if number % self.share[1] != self.share[0]:
                    continue
            real = os.path.realpath(file)
            if real not in self.loaded:
                self.load_file(file, (_Frame(real, file, root),))

    # -- one file ----------------------------------------------------------------------------------------------
    def load_file(self, path: str, chain: tuple[_Frame, ...]) -> None:
        real = chain[-1].real
        self.loaded.add(real)
        cache = self.cache
        if cache is not None:
            cached = cache.get(real)
            if cached is not None:
                self._add_plain(cached, path)
                return
            file_stat = cache.stat(real)
        warnings_before = len(self.problems.items)
        text = self._read(path)
        if text is None:
            return
        locations: list[LocatedDict] = []
        loaded: list[Entity] = []
        # Placeholders pull in other files, which the cache would not see change: such files are read with
        # positions (their placeholders' errors are located) and never cached.
        placeholders = "$text" in text or "$json" in text or "$yaml" in text
        plain = None if placeholders else _plain_documents(text)
        if plain is not None and self._clean(plain):
            loaded = self._add_plain(plain, path)
        else:
            documents = parse_documents(text, path, self.problems, max_text=max(MAX_DOCUMENT_TEXT, len(text)))
            if documents is None:
                return
            not_entity = False
            for document in documents:
                if placeholders and not self._resolve_placeholders(document, chain[-1]):
                    continue
                if _not_an_entity(document.content):
                    # An OpenAPI file or any other YAML in a scanned folder: one line for the file, not one per
                    # missing field of each document.
                    if not not_entity:
                        self.problems.warning(f"not a catalog entity: {NOT_AN_ENTITY}; skipped", document.location)
                    not_entity = True
                    continue
                entity = self._entity(document)
                if entity is None:
                    continue
                loaded.append(entity)
                if entity.kind.lower() == "location":
                    locations.append(document.content)
        if cache is not None and not placeholders and not locations and len(self.problems.items) == warnings_before:
            # Clean file (see catalog.cache): entities only, no warning; cache plain data and document positions.
            cache.put(real, file_stat, [(e.data, e.source.line, e.source.column) for e in loaded])
        for location in locations:
            self._follow(location, chain)

    def _add_plain(self, documents: list[Any], path: str) -> list[Entity]:
        """Add the entities of plain documents ``(data, line, column)`` (cached or read plainly); the ones kept."""
        loaded = []
        for data, line, column in documents:
            entity = self._add(Entity.from_data(data, Location(path, line, column)))
            if entity is not None:
                loaded.append(entity)
        return loaded

    @staticmethod
    def _clean(documents: list[tuple[Any, int, int]]) -> bool:
        """Whether every plain document is a valid entity other than a Location: then the file needs no positions
        (a Location's targets and any warning do; such files are read again with them, and validated again there,
        which is where their issues get a location)."""
        return all(not validate_entity(data) and data["kind"].lower() != "location" for data, _, _ in documents)

    def _read(self, path: str) -> str | None:
        raw = reader.read_regular(path, MAX_FILE_BYTES)
        if isinstance(raw, str):
            self.problems.warning(f"catalog file {raw}; skipped", Location(path))
            return None
        try:
            return raw.decode("utf-8-sig")  # -sig: tolerate a byte-order mark written by some editors
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1  # the line of the bad byte, as the config loader reports it
            self.problems.warning(f"catalog file is not UTF-8 text (byte {exc.start}); skipped", Location(path, line))
            return None

    def _entity(self, document: YamlDocument) -> Entity | None:
        content = document.content
        issues = validate_entity(content, document.location)
        if issues:
            label = entity_label(content)
            for issue in issues:
                self.problems.warning(f"{label} skipped: {issue.message}", issue.location or document.location)
            return None
        return self._add(Entity.from_data(to_plain(content), document.location))

    def _add(self, entity: Entity) -> Entity | None:
        first = self.by_key.get(entity.ref.key)
        if first is not None:
            self.problems.warning(
                f"duplicate entity {entity.ref}: already loaded from {first.source}; this one is ignored",
                entity.source,
            )
            return None
        self.by_key[entity.ref.key] = entity
        self.entities.append(entity)
        return entity

    # -- Location entities -------------------------------------------------------------------------------------
    def _follow(self, doc: LocatedDict, chain: tuple[_Frame, ...]) -> None:
        label = entity_label(doc)
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            self.problems.warning(f"{label} has no spec.target or spec.targets; nothing to follow", loc_of(doc))
            return
        targets: list[tuple[Any, Location | None]] = []
        if "target" not in spec and "targets" not in spec:
            self.problems.warning(f"{label} has no spec.target or spec.targets; nothing to follow", loc_of(spec) or loc_of(doc))
            return
        if "target" in spec:
            targets.append((spec["target"], loc_of(spec, "target")))
        if "targets" in spec:
            items = spec["targets"]
            if isinstance(items, list):
                targets.extend((item, loc_of(items, i)) for i, item in enumerate(items))
            else:
                self.problems.warning(f"{label}: spec.targets must be a list of paths; ignored", loc_of(spec, "targets"))
        kind = spec.get("type")
        # Backstage: a Location without type inherits its parent's (here always a file); ``url`` targets are
        # fetched by UrlReaderProcessor, which an offline tool does not do; other types need integrations.
        if kind is not None and kind not in ("file", "url"):
            self.problems.warning(
                f"{label}: Location type {show(kind)} is not supported (only file and url); its targets are skipped",
                loc_of(spec, "type"),
            )
            return
        base = os.path.dirname(chain[-1].display)
        for target, where in targets:
            if not isinstance(target, str) or not target.strip():
                self.problems.warning(f"{label}: target must be a path, found {show(target)}; ignored", where)
                continue
            if _URL_RE.match(target):
                self.problems.warning(
                    f"{label}: URL target {show(target)} is skipped (only file targets are loaded, nothing is fetched)",
                    where,
                )
                continue
            self._load_target(label, target.strip(), base, where, chain)

    def _load_target(self, label: str, target: str, base: str, where: Location | None, chain: tuple[_Frame, ...]) -> None:
        if len(chain) > MAX_LOCATION_DEPTH:
            self.problems.warning(
                f"{label}: Locations are nested more than {MAX_LOCATION_DEPTH} deep; {show(target)} is not followed",
                where,
            )
            return
        if "\0" in target:
            self.problems.warning(f"{label}: target contains a NUL byte; ignored", where)
            return
        root = chain[-1].root
        resolved = _display(os.path.join(base, target)) if base and not os.path.isabs(target) else target
        if self.confine and not _inside(os.path.realpath(_glob_base(resolved) if glob.has_magic(target) else resolved), root):
            # Backstage reads file targets anywhere on its host; a catalog shared as files must not reach
            # /etc/passwd or ../../ through a Location (issue 18).
            self.problems.warning(f"{label}: target {show(target)} ({resolved}) is outside the catalog root {root}; "
                                  "not followed", where)
            return
        expansion = _expand(target, base or None)
        if expansion.problem:
            self.problems.warning(f"{label}: target {show(target)} ({resolved}) {expansion.problem}", where)
        if expansion.truncated:
            self.problems.warning(f"{label}: target {show(target)}: stopped after listing {MAX_WALK_ENTRIES} folder "
                                  "entries (a symlink loop or a very large folder?)", where)
        for file in expansion.files:
            real = os.path.realpath(file)
            if self.confine and not _inside(real, root):
                self.problems.warning(f"{label}: {file} leads outside the catalog root {root} (a symlink?); "
                                      "not followed", where)
                continue
            on_chain = [i for i, frame in enumerate(chain) if frame.real == real]
            if on_chain:
                if not expansion.from_glob:
                    cycle = " -> ".join([frame.display for frame in chain[on_chain[0] :]] + [file])
                    self.problems.warning(f"Location cycle: {cycle}; not followed", where)
                continue
            if real in self.loaded:
                continue  # reached before by another path: loaded once, no warning (not a cycle)
            self.load_file(file, chain + (_Frame(real, file, root),))

    # -- placeholders ------------------------------------------------------------------------------------------
    def _resolve_placeholders(self, document: YamlDocument, frame: _Frame) -> bool:
        """Fill in Backstage's ``$text``/``$json``/``$yaml`` placeholders of one document, in place (Backstage's
        ``PlaceholderProcessor``, before validation): a mapping whose only key is one of them, with a string
        value, becomes the text of that file, its JSON value, or its one YAML document. Other ``$`` keys are
        left alone (JSON Schema's ``$ref``...), and so is a mapping holding one beside other keys.

        Files are relative to the entity's file and confined to the catalog root; each is at most
        ``MAX_PLACEHOLDER_BYTES``, all of a document's together ``MAX_DOCUMENT_TEXT``. A URL is not read (no
        fetching): a warning, and the value is left empty. Any other failure skips the entity, as it fails
        Backstage's processing, with a warning at the placeholder. False when the entity was skipped."""
        budget = [MAX_DOCUMENT_TEXT]
        label = entity_label(document.content)
        try:
            content = self._placeholders(document.content, frame, label, budget, 0)
        except _PlaceholderError as exc:
            self.problems.warning(f"{label} skipped: {exc.message}", exc.location or document.location)
            return False
        if content is not document.content:  # the whole document was a placeholder
            object.__setattr__(document, "content", content)
        return True

    def _placeholders(self, node: Any, frame: _Frame, label: str, budget: list[int], depth: int) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                [(key, value)] = node.items()
                if key in PLACEHOLDERS and isinstance(value, str):
                    return self._placeholder(key, value, loc_of(node, key), frame, label, budget)
            if any(isinstance(k, str) and k.startswith("$") for k in node):
                return node  # Backstage: "$" keys beside others, or unknown ones, are left alone
            for key in list(node):
                node[key] = self._placeholders(node[key], frame, label, budget, depth + 1)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                node[index] = self._placeholders(item, frame, label, budget, depth + 1)
        return node

    def _placeholder(self, key: str, value: str, where: Location | None, frame: _Frame, label: str,
                     budget: list[int]) -> Any:
        if _URL_RE.match(value):
            self.problems.warning(f"{label}: {key} URL {show(value)} is not read (nothing is fetched); "
                                  "the value is left empty", where)
            return None
        if "\0" in value:
            raise _PlaceholderError(f"{key}: the path contains a NUL byte", where)
        path = _display(os.path.join(os.path.dirname(frame.display), value))
        if self.confine and not _inside(os.path.realpath(path), frame.root):
            raise _PlaceholderError(f"{key}: {show(value)} ({path}) is outside the catalog root {frame.root}", where)
        raw = reader.read_regular(path, MAX_PLACEHOLDER_BYTES)
        if isinstance(raw, str):
            raise _PlaceholderError(f"{key}: file {show(value)} ({path}) {raw}", where)
        budget[0] -= len(raw)
        if budget[0] < 0:
            raise _PlaceholderError(f"{key}: the placeholders of this entity read more than "
                                    f"{MAX_DOCUMENT_TEXT // (1024 * 1024)} MiB", where)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise _PlaceholderError(f"{key}: {path}:{line}: file is not UTF-8 text", where) from None
        if key == "$text":
            return text
        if key == "$json":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise _PlaceholderError(f"{key}: {path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", where) from None
            except (ValueError, RecursionError) as exc:
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                raise _PlaceholderError(f"{key}: {path}: invalid JSON: {reason}", where) from None
        scratch = Problems()
        documents = parse_documents(text, path, scratch)
        if scratch.items:
            first = scratch.items[0]
            raise _PlaceholderError(f"{key}: {first.location}: {first.message}", where)
        if documents is None or len(documents) != 1:
            found = 0 if documents is None else len(documents)
            raise _PlaceholderError(f"{key}: expected exactly one YAML document in {path}, found {found}", where)
        return documents[0].content


class _PlaceholderError(Exception):
    def __init__(self, message: str, location: Location | None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


def load_catalog(paths: list[str], problems: Problems, *, base_dir: str | None = None,
                 cache_path: str | None = None, origins: Mapping[str, Location] | None = None,
                 confine: bool = True, root: str | None = None, cache_parts: tuple[str, ...] = (),
                 share: tuple[int, int] | None = None) -> list[Entity]:
    """Load every entity reachable from ``paths`` (files, folders, globs; relative to ``base_dir`` or the cwd).

    Bad content never raises: unreadable files, malformed YAML, invalid entities, unresolvable Location targets
    and duplicates become warnings in ``problems`` (with ``file:line:col``) and are skipped. A path of ``paths``
    that does not exist is an error: ``CatalogError`` (exit 2) is raised with every such error once all paths
    were tried (``origins`` maps a path to where a config declared it, for the message).

    ``cache_path``: a ``catalog.cache`` file to read clean files from and to update (same entities, same warnings;
    only faster when the files did not change), with ``cache_parts`` taken into it. ``share=(k, n)``: only the
    files numbered k, k + n, ... of the paths' files (in load order) are loaded, to fill a cache part (the
    entities are then not the catalog's). ``confine``: Location targets and placeholders stay under the
    catalog root of the path that led to them (the folder given, the folder of the file given, a glob's folder),
    or under ``root`` when given (``soundcheck.catalog.root``).
    """
    cache = None
    if cache_path is not None:
        from soundcheck_cli.catalog.cache import CatalogCache

        cache = CatalogCache(cache_path, cache_parts)
    errors_before = len(problems.errors)
    loader = _CatalogLoader(problems, cache, confine=confine, root=root)
    loader.share = share
    for path in paths:
        loader.load_path(path, base_dir, (origins or {}).get(path))
    if cache is not None:
        cache.save()
    errors = problems.errors[errors_before:]
    if errors:
        raise CatalogError(errors)
    return loader.entities
