"""``DiskFactStore``: the embedded fact store, on diskcache (one SQLite database in a folder, WAL journal).

Layout of the keys (all ``str``, so diskcache stores them as SQLite TEXT and its ``(key, raw)`` index orders them):

- ``fact\\x1f<entity key>\\x1f<fact ref>``: one fact. ``\\x1f`` (ASCII unit separator) cannot occur in an entity or
  fact ref (control characters are rejected), so all facts of one entity are one contiguous index range and
  ``facts(entity_ref=...)`` is an index range scan, not a table scan.
- ``meta:<key>``: the runtime's key/value area (ETags, run history, pending events), values as JSON text.
- ``lock:<name>``: cross-process claims (``lock()``); the only keys that use diskcache's own expiry.
- ``store:format``: the record format version (``FORMAT_VERSION``), checked on open.

A fact is stored as JSON text, never pickled, so that any later version (or ``sqlite3`` by hand) can read it:
``[1, entityRef, factRef, timestamp, expiresAt|null, data]`` (first item: the record's format version). Expiry is
data (``Fact.expires_at``); diskcache's ``expire`` is never used for facts, because an expired fact must stay
readable so that a check can say "expired" rather than "never collected".

Durability: every write is one SQLite transaction (``put_many`` too), so a fact is written whole or not at all;
WAL with ``synchronous=NORMAL`` (diskcache's default) survives a killed process. Eviction is switched off
(``eviction_policy='none'``): diskcache would otherwise cull facts once the store passes 1 GB.
Two processes may use one store at once: SQLite serialises writers (each waits up to ``timeout`` seconds).
"""

from __future__ import annotations

import gc
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import diskcache

from soundcheck_cli.errors import Location, StoreError
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.fastinit import fast_constructor
from soundcheck_cli.facts.model import Fact, FactRef, format_timestamp, parse_timestamp

FORMAT_VERSION = 1
STORE_ENV = "SOUNDCHECK_STORE"
STORE_DIRNAME = ".soundcheck"
DEFAULT_TIMEOUT = 60.0  # seconds a writer waits for another process's transaction (SQLite busy timeout)

_SEP = "\x1f"
_FACT = "fact" + _SEP
_FACT_END = "fact" + chr(ord(_SEP) + 1)  # first key after every ``fact\x1f...`` key
_META = "meta:"
_LOCK = "lock:"
_FORMAT_KEY = "store:format"

# A bulk read builds tens of thousands of facts: without the frozen dataclass's ``__init__`` (``fastinit``).
_new_fact = fast_constructor(Fact)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


# Rows written as diskcache's ``set``/``add`` write them (``Cache._row_insert``/``_row_update``): raw text key,
# store/access time now, access count 0, no tag, size 0, ``MODE_RAW`` (1), no side file, the text as the value.
_UPSERT = sqlite3.sqlite_version_info >= (3, 24, 0)  # INSERT ... ON CONFLICT DO UPDATE
_UPSERT_FACT = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count, tag, size, mode, filename, value)"
    " VALUES (?, 1, ?, NULL, ?, 0, NULL, 0, 1, NULL, ?)"
    " ON CONFLICT(key, raw) DO UPDATE SET store_time = excluded.store_time, expire_time = NULL,"
    " access_time = excluded.access_time, access_count = 0, tag = NULL, size = 0, mode = 1, filename = NULL,"
    " value = excluded.value"
)
_INSERT_LOCK = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count, tag, size, mode, filename, value)"
    " VALUES (?, 1, ?, ?, ?, 0, NULL, 0, 1, NULL, ?)"
)
_UPDATE_LOCK = (
    "UPDATE Cache SET store_time = ?, expire_time = ?, access_time = ?, access_count = 0, tag = NULL, size = 0,"
    " mode = 1, filename = NULL, value = ? WHERE key = ? AND raw = 1"
)
_PART = 500  # keys per ``IN (...)`` (SQLite allows 999 parameters before 3.32)


def _parts(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _PART):
        yield keys[start : start + _PART]


def _marks(part: list[str]) -> str:
    return ",".join("?" * len(part))


_control = re.compile("[\x00-\x1f\x7f]").search  # a control character (C0 or DEL)


def check_ref(kind: str, text: str) -> None:
    # Control characters would break the key layout (``\x1f`` is the separator); no valid ref contains one.
    if _control(text) is not None:
        raise StoreError(f"cannot store a fact with {kind} {text!r}: it contains a control character")


def fact_key(entity_ref: str, fact_ref: FactRef | str) -> str:
    """The diskcache key of one fact (entity refs compare case-insensitively, so the entity part is lower-cased)."""
    return f"{_FACT}{entity_key(entity_ref)}{_SEP}{fact_ref}"


class DiskFactStore(FactStore):
    """A ``FactStore`` in a directory, shared safely between processes. Open it with ``open_store``."""

    def __init__(self, directory: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.directory = directory
        self.timeout = timeout
        self._fact_refs: dict[str, FactRef] = {}  # parse each distinct fact ref string once
        try:
            # eviction_policy='none': never cull facts by size; timeout: SQLite busy timeout for concurrent writers.
            self._cache = diskcache.Cache(directory, timeout=timeout, eviction_policy="none")
        except (OSError, sqlite3.Error, diskcache.Timeout) as exc:
            raise StoreError(f"cannot open the fact store in {directory}: {_reason(exc)}", Location(directory)) from None
        try:
            self._check_format()
        except BaseException:
            self._cache.close()
            raise

    def _check_format(self) -> None:
        self._guard(self._cache.add, _FORMAT_KEY, FORMAT_VERSION, retry=False)
        version = self._guard(self._cache.get, _FORMAT_KEY)
        if not isinstance(version, int):
            raise StoreError(f"{self.directory} is not a soundcheck fact store (no format version)", Location(self.directory))
        if version > FORMAT_VERSION:
            raise StoreError(
                f"the fact store in {self.directory} was written by a newer soundcheck (format {version}; "
                f"this version reads format {FORMAT_VERSION}); upgrade soundcheck or use another --store",
                Location(self.directory),
            )

    def _guard(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a diskcache operation, translating its errors into ``StoreError`` (library errors stop here)."""
        try:
            return fn(*args, **kwargs)
        except diskcache.Timeout:
            raise StoreError(
                f"the fact store in {self.directory} is busy: another process held it for more than "
                f"{self.timeout:g} s",
                Location(self.directory),
            ) from None
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"fact store {self.directory}: {_reason(exc)}", Location(self.directory)) from None

    # -- encoding ---------------------------------------------------------------------------------------------

    def _encode(self, fact: Fact) -> tuple[str, str]:
        check_ref("entity ref", fact.entity_ref)
        ref = str(fact.fact_ref)
        check_ref("fact ref", ref)
        expires = format_timestamp(fact.expires_at) if fact.expires_at is not None else None
        try:
            text = _dumps([FORMAT_VERSION, fact.entity_ref, ref, format_timestamp(fact.timestamp), expires, fact.data])
        except (TypeError, ValueError) as exc:
            raise StoreError(f"cannot store fact {ref} for {fact.entity_ref}: its data is not JSON ({exc})") from None
        return fact_key(fact.entity_ref, ref), text

    def _fact_ref(self, text: str) -> FactRef:
        ref = self._fact_refs.get(text)
        if ref is None:
            ref = self._fact_refs[text] = FactRef.parse(text)
        return ref

    def _decode(self, key: str, record: Any, times: dict[str, Any] | None = None) -> Fact:
        """One fact from its stored record (JSON text, or the already-decoded list). ``times`` caches parsed
        timestamps during a bulk read: a collection run writes many facts with few distinct timestamps."""
        try:
            if isinstance(record, str):
                record = json.loads(record)
            version, entity_ref, ref, timestamp, expires, data = record
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise ValueError(f"record format {version} is not one this soundcheck reads ({FORMAT_VERSION})")

            def parsed(text: str) -> Any:
                if times is None:
                    return parse_timestamp(text)
                value = times.get(text)
                if value is None:
                    value = times[text] = parse_timestamp(text)
                return value

            stamp = parsed(timestamp)
            expires_at = None if expires is None else parsed(expires)
            return Fact(
                fact_ref=self._fact_ref(ref),
                entity_ref=entity_ref,
                data=data,
                timestamp=stamp,
                expires_at=expires_at,
            )
        except (ValueError, TypeError, AttributeError) as exc:
            shown = key.replace(_SEP, " ")
            raise StoreError(
                f"the fact store in {self.directory} holds an unreadable record ({shown.strip()}): {exc}; "
                "`soundcheck facts clear` removes it",
                Location(self.directory),
            ) from None

    def _decode_all(self, rows: list[tuple[str, Any]]) -> list[tuple[str, Fact]]:
        """Decode many records at once: one ``json.loads`` over ``[r1,r2,...]`` is about twice as fast as one call
        per record (the bulk of ``load_all``'s time). A corrupt record makes the joined text invalid; then each
        record is decoded alone so the error names the bad one."""
        try:
            records = json.loads("[" + ",".join(value for _, value in rows) + "]")
        except (ValueError, TypeError):
            records = [value for _, value in rows]
        times: dict[str, Any] = {}
        refs = self._fact_refs
        out: list[tuple[str, Fact]] = []
        append = out.append
        get_time = times.get
        for (key, _), record in zip(rows, records):
            # Inline fast path for well-formed current records whose fact ref and timestamps were met before;
            # anything else goes through ``_decode``, which validates, names a bad record, and fills the caches.
            if type(record) is list and len(record) == 6 and record[0] == FORMAT_VERSION:
                ref = refs.get(record[2])
                stamp = get_time(record[3])
                expires = record[4]
                if expires is not None:
                    expires = get_time(expires)
                    if expires is None:
                        ref = None
                if ref is not None and stamp is not None:
                    append((key, _new_fact(ref, record[1], record[5], stamp, expires)))
                    continue
            append((key, self._decode(key, record, times)))
        return out

    # -- bulk reads ---------------------------------------------------------------------------------------------

    def _rows(self, where: str = "", params: tuple[Any, ...] = (), low: str = _FACT, high: str = _FACT_END) -> list[tuple[str, Any]]:
        """``(key, stored value)`` of the fact keys in ``[low, high)``, read in one SQL query.

        diskcache's public API reads one key per query (iterating 27,000 facts takes ~0.9 s here); its own
        ``_sql``/``Disk.fetch`` read them in one indexed range scan (~0.1 s). Values stored in side files
        (larger than diskcache's ``disk_min_file_size``) are read through ``Disk.fetch`` as diskcache does.
        """
        cache = self._cache
        query = "SELECT key, mode, filename, value FROM Cache WHERE key >= ? AND key < ? AND raw = 1" + where
        rows = self._guard(lambda: cache._sql(query, (low, high, *params)).fetchall())
        return self._fetched(rows)

    def _fetched(self, rows: list[tuple[str, Any, Any, Any]]) -> list[tuple[str, Any]]:
        """``(key, stored value)`` of ``(key, mode, filename, value)`` rows, side files read as diskcache does."""
        cache = self._cache
        fetch = cache._disk.fetch
        out: list[tuple[str, Any]] = []
        for key, mode, filename, value in rows:
            if filename is None:
                out.append((key, value))
                continue
            try:
                out.append((key, fetch(mode, filename, value, False)))
            except OSError:
                # Overwritten or deleted by another process between the query and the file read: read it again.
                again = self._guard(cache.get, key)
                if again is not None:
                    out.append((key, again))
        return out

    def _select(self, entity_ref: str | None, fact_ref: FactRef | None) -> list[tuple[str, Any]]:
        if entity_ref is not None:
            prefix = f"{_FACT}{entity_key(entity_ref)}{_SEP}"
            if fact_ref is not None:
                value = self._guard(self._cache.get, prefix + str(fact_ref))
                return [] if value is None else [(prefix + str(fact_ref), value)]
            return self._rows(low=prefix, high=prefix[:-1] + chr(ord(_SEP) + 1))
        if fact_ref is not None:
            suffix = _SEP + str(fact_ref)
            return self._rows(" AND substr(key, ?) = ?", (-len(suffix), suffix))
        return self._rows()

    # -- FactStore ------------------------------------------------------------------------------------------------

    def get(self, entity_ref: str, fact_ref: FactRef) -> Fact | None:
        key = fact_key(entity_ref, fact_ref)
        value = self._guard(self._cache.get, key)
        return None if value is None else self._decode(key, value)

    def put(self, fact: Fact) -> None:
        key, text = self._encode(fact)
        self._guard(self._cache.set, key, text)

    def put_many(self, facts: Iterable[Fact]) -> int:
        # Encode everything first: a fact that cannot be stored aborts before the transaction, writing nothing.
        encoded = [self._encode(f) for f in facts]
        if not encoded:
            return 0
        cache = self._cache
        small = cache._disk.min_file_size
        if not _UPSERT or any(len(text) >= small for _, text in encoded):
            # Rare: a record diskcache keeps in a side file (or an SQLite without upserts): its own ``set``.
            def write() -> None:
                with cache.transact():
                    for key, text in encoded:
                        cache.set(key, text)

            self._guard(write)
            return len(encoded)

        def write_rows() -> None:
            # One transaction, as before, with the rows written by one ``executemany`` of the row diskcache's
            # ``set`` writes (same columns, so diskcache reads them as its own; its triggers keep count and size).
            # A key whose current value sits in a side file goes through ``set``, which removes that file.
            with cache._transact() as (sql, cleanup):
                now = time.time()
                keys = [key for key, _ in encoded]
                in_files = set()
                for part in _parts(keys):
                    in_files.update(
                        key
                        for (key,) in sql(
                            f"SELECT key FROM Cache WHERE raw = 1 AND filename IS NOT NULL AND key IN ({_marks(part)})",
                            part,
                        ).fetchall()
                    )
                rows = [(key, now, now, text) for key, text in encoded if key not in in_files]
                cache._con.executemany(_UPSERT_FACT, rows)
                for key, text in encoded:
                    if key in in_files:
                        cache.set(key, text)
                cache._cull(now, sql, cleanup)

        self._guard(write_rows)
        return len(encoded)

    def get_many(self, pairs: Iterable[tuple[str, FactRef]]) -> dict[tuple[str, FactRef], Fact]:
        """The stored facts of many pairs in one indexed query per 500 keys (diskcache's ``get`` is one query and
        a few Python calls per key)."""
        wanted: dict[str, tuple[str, FactRef]] = {}
        for entity_ref, fact_ref in pairs:
            key = entity_key(entity_ref)
            wanted[f"{_FACT}{key}{_SEP}{fact_ref}"] = (key, fact_ref)
        if not wanted:
            return {}
        cache = self._cache
        keys = list(wanted)
        found: list[tuple[str, Any, Any, Any]] = []

        def read() -> None:
            now = time.time()
            for part in _parts(keys):
                found.extend(
                    cache._sql(
                        "SELECT key, mode, filename, value FROM Cache WHERE raw = 1 AND key IN "
                        f"({_marks(part)}) AND (expire_time IS NULL OR expire_time > ?)",
                        (*part, now),
                    ).fetchall()
                )

        self._guard(read)
        if not found:
            return {}
        rows = self._fetched(found)
        with gc_paused():
            return {wanted[key]: fact for key, fact in self._decode_all(rows)}

    def facts(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> Iterator[Fact]:
        with gc_paused():
            return iter([fact for _, fact in self._decode_all(self._select(entity_ref, fact_ref))])

    def load_all(self) -> dict[tuple[str, FactRef], Fact]:
        start = len(_FACT)
        # The entity part of the key is already ``entity_key(entity_ref)``: no need to lower-case it again.
        with gc_paused():
            rows = self._decode_all(self._rows())
            return {(key[start : key.index(_SEP, start)], fact.fact_ref): fact for key, fact in rows}

    def delete(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> int:
        keys = [key for key, _ in self._select(entity_ref, fact_ref)]
        cache = self._cache

        def remove() -> int:
            count = 0
            with cache.transact():
                for key in keys:
                    count += bool(cache.delete(key))
            return count

        return self._guard(remove)

    def get_meta(self, key: str, default: Any = None) -> Any:
        value = self._guard(self._cache.get, _META + key)
        return default if value is None else json.loads(value)

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (plain data only: the store must stay readable by any version)."""
        try:
            text = _dumps(value)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"meta value for {key!r} is not JSON ({exc})") from None
        self._guard(self._cache.set, _META + key, text)

    def delete_meta(self, key: str) -> bool:
        return bool(self._guard(self._cache.delete, _META + key))

    def meta_keys(self, prefix: str = "") -> list[str]:
        """Meta keys starting with ``prefix`` (e.g. every ``etag:`` entry), sorted."""
        low = _META + prefix
        rows = self._guard(
            lambda: self._cache._sql(
                "SELECT key FROM Cache WHERE key >= ? AND key < ? AND raw = 1", (low, low + "\U0010ffff")
            ).fetchall()
        )
        return sorted(k[len(_META) :] for (k,) in rows if k.startswith(low))

    @contextmanager
    def lock(self, name: str, expire_seconds: float = 300.0) -> Iterator[bool]:
        """Claim ``name`` across processes (an atomic diskcache ``add`` with expiry); yields whether acquired.

        Never blocks: a caller that does not get the claim skips the work (another process is doing it). The
        claim lapses after ``expire_seconds`` so a killed process cannot hold it forever; on exit it is released
        only if it is still ours (it may have lapsed and been claimed by someone else).
        """
        key = _LOCK + name
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        acquired = bool(self._guard(self._cache.add, key, token, expire=expire_seconds))
        try:
            yield acquired
        finally:
            if acquired:
                cache = self._cache

                def release() -> None:
                    with cache.transact():
                        if cache.get(key) == token:
                            cache.delete(key)

                self._guard(release)

    @contextmanager
    def claim_many(self, names: Iterable[str], expire_seconds: float = 300.0) -> Iterator[set[str]]:
        """``lock`` for many names in one SQLite transaction each way (claim, release); yields the names acquired.

        The rows are those diskcache's ``add`` writes (a ``lock:`` key, the token as its raw text value, an expiry
        time), read and written with one query per 500 names instead of diskcache's few queries per name: a name
        is claimed when it has no row or only an expired one, exactly as ``add`` decides."""
        wanted = list(dict.fromkeys(names))
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        cache = self._cache

        def claim() -> set[str]:
            with cache._transact() as (sql, cleanup):
                now = time.time()
                held: dict[str, tuple[Any, Any]] = {}
                keys = [_LOCK + name for name in wanted]
                for part in _parts(keys):
                    for key, expire_time, filename in sql(
                        f"SELECT key, expire_time, filename FROM Cache WHERE raw = 1 AND key IN ({_marks(part)})", part
                    ).fetchall():
                        held[key] = (expire_time, filename)
                got: set[str] = set()
                inserts: list[tuple[Any, ...]] = []
                updates: list[tuple[Any, ...]] = []
                expire_time = now + expire_seconds
                for name, key in zip(wanted, keys):
                    old = held.get(key)
                    if old is None:
                        inserts.append((key, now, expire_time, now, token))
                    elif old[0] is not None and old[0] <= now:
                        cleanup(old[1])  # a lapsed claim (of a killed run): taken over, as ``add`` does
                        updates.append((now, expire_time, now, token, key))
                    else:
                        continue
                    got.add(name)
                con = cache._con
                if inserts:
                    con.executemany(_INSERT_LOCK, inserts)
                if updates:
                    con.executemany(_UPDATE_LOCK, updates)
                if got:
                    cache._cull(now, sql, cleanup)
                return got

        got = self._guard(claim) if wanted else set()
        try:
            yield got
        finally:
            if got:
                keys = [_LOCK + name for name in got]

                def release() -> None:
                    # Only our own claims that have not lapsed (``get`` == token, as before): a lapsed one may have
                    # been taken over, and then the token differs.
                    with cache.transact():
                        now = time.time()
                        for part in _parts(keys):
                            cache._sql(
                                f"DELETE FROM Cache WHERE raw = 1 AND key IN ({_marks(part)}) AND value = ?"
                                " AND (expire_time IS NULL OR expire_time > ?)",
                                (*part, token, now),
                            )

                self._guard(release)

    def close(self) -> None:
        self._cache.close()

    def describe(self) -> str:
        return self.directory

    def __repr__(self) -> str:
        return f"DiskFactStore({self.directory!r})"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC during a bulk read: building tens of thousands of (acyclic) facts and dicts would
    otherwise trigger dozens of full collections, which made ``load_all`` take two to three times as long."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def open_store(path: str, timeout: float = DEFAULT_TIMEOUT) -> FactStore:
    """Open (creating the directory if needed) the fact store at ``path``; ``StoreError`` if that is impossible."""
    directory = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise StoreError(f"cannot use {path} as the fact store: it is a file, not a directory", Location(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the fact store directory {path}: {_reason(exc)}", Location(path)) from None
    return DiskFactStore(directory, timeout=timeout)


def default_store_path(
    store: str | None,
    config_files: Sequence[str] = (),
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Where the fact store lives, as an absolute path (issue 2, "Facts and the store").

    ``store`` (the ``--store`` option) > env ``SOUNDCHECK_STORE`` > ``.soundcheck/`` beside the first config file >
    ``./.soundcheck``. Relative paths are taken from ``cwd``.
    """
    if isinstance(store, (list, tuple)):
        # Also accept the brief's ``default_store_path(config_files, cwd, environ)`` order (no --store given).
        store, config_files, cwd, environ = None, store, config_files or None, cwd  # type: ignore[assignment]
    base = cwd if cwd is not None else os.getcwd()
    env = os.environ if environ is None else environ
    chosen = store or env.get(STORE_ENV) or None
    if chosen:
        return os.path.normpath(os.path.join(base, os.path.expanduser(chosen)))
    if config_files:
        first = os.path.join(base, config_files[0])
        return os.path.normpath(os.path.join(os.path.dirname(first), STORE_DIRNAME))
    return os.path.normpath(os.path.join(base, STORE_DIRNAME))
