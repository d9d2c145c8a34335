"""Load Backstage catalog entities from files, folders, globs and the ``kind: Location`` entities they contain.

Behaviour (Backstage's file-based catalog, ``FileReaderProcessor`` + ``LocationEntityProcessor``):

- A path is a file, a folder (every ``*.yaml``/``*.yml`` below it, sorted, hidden entries and ``node_modules``
  skipped) or a glob (``glob.glob(recursive=True)``; matched folders are walked, matched files are loaded when they
  end in ``.yaml``/``.yml``/``.json``). A path matching nothing is a warning.
- Each file may hold several YAML documents (``---``); empty ones are skipped. YAML is read as YAML 1.2 (as the
  ``yaml`` package Backstage uses does), timestamps and unknown tags stay strings, every node keeps its position
  (a clean file -- valid entities only, no Location -- is read without positions first: no warning needs them).
- Malformed YAML skips that file with a located warning; an invalid entity (see ``validation``) or a document that
  cannot be converted (duplicate key, alias expansion over ``MAX_NODES`` nodes, nesting over ``MAX_DEPTH``) skips
  that document. Everything else goes on.
- ``kind: Location`` entities are kept and followed: ``spec.target`` / ``spec.targets`` are files or globs relative
  to the Location's own file; ``http(s)`` URLs are not fetched (a warning). Each file is loaded at most once; a
  Location pointing back at a file that is being loaded is a cycle (a warning naming it; glob matches of an
  ancestor are skipped silently, e.g. ``./*.yaml`` matching the Location's own file).
- Duplicate entity refs (compared case-insensitively) keep the first entity, with a warning naming both places.
- Entities come back in load order: depth-first, a file's own entities before those of the Locations it holds.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Any

from soundcheck_cli.catalog.cache import CatalogCache
from soundcheck_cli.catalog.model import Entity
from soundcheck_cli.catalog.validation import entity_label, show, validate_entity
from soundcheck_cli.located.nodes import LocatedDict, LocatedList, loc_of, to_plain
from soundcheck_cli.errors import Location, Problems
from soundcheck_cli.located import yaml as reader

# Limits that keep hostile or accidental input from exhausting memory or the stack.
MAX_NODES = 100_000  # nodes one document may expand to (YAML aliases can multiply a small file: "billion laughs")
MAX_DEPTH = 100  # nesting depth of one document (ruamel's composer is recursive; entities are shallow)
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_LOCATION_DEPTH = 32  # Locations pointing to Locations pointing to ...

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
    return reader.plain_documents(text, max_nodes=MAX_NODES, max_depth=MAX_DEPTH)


def parse_documents(text: str, path: str, problems: Problems) -> list[YamlDocument] | None:
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
        converter = reader.LocatedConverter(path, MAX_NODES, MAX_DEPTH)
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


def _walk_folder(folder: str) -> list[str]:
    """Every ``*.yaml``/``*.yml`` under ``folder``, in a stable order: a folder's files, then its sub-folders."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        # Pruning in place stops os.walk from descending into .git, .github, node_modules and friends.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(YAML_SUFFIXES):
                found.append(os.path.join(root, name))
    return found


@dataclass(frozen=True, slots=True)
class _Expansion:
    files: list[str]
    from_glob: bool
    problem: str | None = None  # why nothing was found


def _expand(path: str, base_dir: str | None) -> _Expansion:
    """The files a catalog path stands for (display paths, in load order)."""
    full = path if os.path.isabs(path) or base_dir is None else os.path.join(base_dir, path)
    full = _display(full)
    if os.path.isfile(full):
        return _Expansion([full], False)
    if os.path.isdir(full):
        files = _walk_folder(full)
        return _Expansion(files, False, None if files else "contains no .yaml or .yml files")
    if glob.has_magic(path):
        # root_dir keeps special characters in base_dir from being read as a pattern.
        root = None if os.path.isabs(path) else base_dir
        files = []
        for match in sorted(glob.glob(path, root_dir=root, recursive=True)):
            match_path = _display(os.path.join(root, match) if root else match)
            if os.path.isdir(match_path):
                files.extend(_walk_folder(match_path))
            elif match_path.lower().endswith(GLOB_SUFFIXES):
                files.append(match_path)
        return _Expansion(files, True, None if files else "matches no .yaml or .yml files")
    return _Expansion([], False, "does not exist")


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


# --------------------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True, slots=True)
class _Frame:
    """One file on the chain of Locations currently being followed (for cycle detection and messages)."""

    real: str
    display: str


class _CatalogLoader:
    def __init__(self, problems: Problems, cache: CatalogCache | None = None) -> None:
        self.problems = problems
        self.cache = cache
        self.entities: list[Entity] = []
        self.by_key: dict[str, Entity] = {}
        self.loaded: set[str] = set()

    # -- entry points ------------------------------------------------------------------------------------------
    def load_path(self, path: str, base_dir: str | None) -> None:
        if not isinstance(path, str) or not path.strip():
            self.problems.warning(f"catalog path {show(path)} is empty; ignored")
            return
        expansion = _expand(path, base_dir)
        if expansion.problem:
            self.problems.warning(f"catalog path {show(path)} {expansion.problem}")
        for file in expansion.files:
            real = os.path.realpath(file)
            if real not in self.loaded:
                self.load_file(file, (_Frame(real, file),))

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
            stat = cache.stat(real)
        warnings_before = len(self.problems.items)
        text = self._read(path)
        if text is None:
            return
        locations: list[LocatedDict] = []
        loaded: list[Entity] = []
        plain = _plain_documents(text)
        if plain is not None and self._clean(plain):
            loaded = self._add_plain(plain, path)
        else:
            documents = parse_documents(text, path, self.problems)
            if documents is None:
                return
            for document in documents:
                entity = self._entity(document)
                if entity is None:
                    continue
                loaded.append(entity)
                if entity.kind.lower() == "location":
                    locations.append(document.content)
        if cache is not None and not locations and len(self.problems.items) == warnings_before:
            # Clean file (see catalog.cache): entities only, no warning; cache plain data and document positions.
            cache.put(real, stat, [(e.data, e.source.line, e.source.column) for e in loaded])
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
        try:
            size = os.path.getsize(path)
            if size > MAX_FILE_BYTES:
                self.problems.warning(
                    f"catalog file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; skipped", Location(path)
                )
                return None
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            self.problems.warning(f"cannot read catalog file: {exc.strerror or exc}; skipped", Location(path))
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
        expansion = _expand(target, base or None)
        if expansion.problem:
            resolved = _display(os.path.join(base, target)) if base and not os.path.isabs(target) else target
            self.problems.warning(f"{label}: target {show(target)} ({resolved}) {expansion.problem}", where)
        for file in expansion.files:
            real = os.path.realpath(file)
            on_chain = [i for i, frame in enumerate(chain) if frame.real == real]
            if on_chain:
                if not expansion.from_glob:
                    cycle = " -> ".join([frame.display for frame in chain[on_chain[0] :]] + [file])
                    self.problems.warning(f"Location cycle: {cycle}; not followed", where)
                continue
            if real in self.loaded:
                continue  # reached before by another path: loaded once, no warning (not a cycle)
            self.load_file(file, chain + (_Frame(real, file),))


def load_catalog(paths: list[str], problems: Problems, *, base_dir: str | None = None,
                 cache_path: str | None = None) -> list[Entity]:
    """Load every entity reachable from ``paths`` (files, folders, globs; relative to ``base_dir`` or the cwd).

    Never raises for bad input: unreadable files, malformed YAML, invalid entities, unresolvable Location targets
    and duplicates become warnings in ``problems`` (with ``file:line:col``) and are skipped.

    ``cache_path``: a ``catalog.cache`` file to read clean files from and to update (same entities, same warnings;
    only faster when the files did not change).
    """
    cache = None
    if cache_path is not None:
        from soundcheck_cli.catalog.cache import CatalogCache

        cache = CatalogCache(cache_path)
    loader = _CatalogLoader(problems, cache)
    for path in paths:
        loader.load_path(path, base_dir)
    if cache is not None:
        cache.save()
    return loader.entities
