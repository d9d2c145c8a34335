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

The fact snapshot (``load_all``'s fast path): ``facts.snapshot`` in the folder holds the decoded fact table as
``marshal``-ed columns (plain values only: reading one runs no code), labelled with the *fact token*: 16 random
bytes in the table ``soundcheck_fact_token``, set anew by SQLite triggers on ``Cache`` whenever a row of the fact
key range is inserted, updated or deleted -- by this soundcheck, an older one, diskcache's own ``set``/``delete``/
``cull``/``clear`` or ``sqlite3`` by hand, in any process. A snapshot is used only when its token equals the
current one, so it holds exactly the fact rows of that moment:

- a token is random, so it never comes back: not after a rolled-back write, nor after rows are deleted and written
  again, nor in another store (a counter could do all three);
- the token and the rows a snapshot is built from are read in one SQLite read transaction (a consistent view in
  WAL mode); a record read from a side file that changed meanwhile means no snapshot is written;
- the triggers are checked (by name and exact SQL) on every read; missing or altered ones are recreated with a
  new token, and until then no snapshot is used;
- a snapshot is written to a temporary file and renamed over the old one (``os.replace``), and has a header
  (format, Python version, token, length, CRC-32) that a truncated, corrupted or foreign file fails: it is then
  ignored, never trusted.

The snapshot is written by ``load_all`` when it reads from SQLite the facts the load before also read (same token:
the second warm check after a write pays for it; a store read once after each write never does), only for stores
of at least ``SNAPSHOT_MIN_FACTS`` facts; writes only pay for the triggers (one one-row update per fact row
written).
"""

from __future__ import annotations

import gc
import json
import marshal
import os
import re
import sqlite3
import struct
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import diskcache

from soundcheck_cli.atomic import write_quietly
from soundcheck_cli.errors import Location, StoreError
from soundcheck_cli.facts.interface import FactStore, entity_key
from soundcheck_cli.fastinit import build_columns, fast_constructor
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

# -- the fact snapshot (see the module docstring) --------------------------------------------------------------

SNAPSHOT_NAME = "facts.snapshot"
SNAPSHOT_MIN_FACTS = 1000  # smaller stores load fast enough from SQLite; no snapshot file, no triggers
# A snapshot is written by the second load from SQLite of the same facts (same token; ``SEEN_NAME`` remembers the
# token of the last one): a store read once after each write -- collect, then check, as a CI job does -- never
# pays for writing a snapshot nobody reads.
SNAPSHOT_AFTER_LOADS = 2
SEEN_NAME = SNAPSHOT_NAME + ".seen"
_TOKEN_TABLE = "soundcheck_fact_token"
_IN_RANGE = "{row}.key >= 'fact' || char(31) AND {row}.key < 'fact' || char(32)"  # the key range of _FACT.._FACT_END
_BUMP = f"BEGIN UPDATE {_TOKEN_TABLE} SET token = randomblob(16); END"
_TRIGGERS = {
    "soundcheck_fact_token_v1_insert":
        f"CREATE TRIGGER soundcheck_fact_token_v1_insert AFTER INSERT ON Cache FOR EACH ROW"
        f" WHEN {_IN_RANGE.format(row='NEW')} {_BUMP}",
    "soundcheck_fact_token_v1_update":
        f"CREATE TRIGGER soundcheck_fact_token_v1_update AFTER UPDATE ON Cache FOR EACH ROW"
        f" WHEN ({_IN_RANGE.format(row='OLD')}) OR ({_IN_RANGE.format(row='NEW')}) {_BUMP}",
    "soundcheck_fact_token_v1_delete":
        f"CREATE TRIGGER soundcheck_fact_token_v1_delete AFTER DELETE ON Cache FOR EACH ROW"
        f" WHEN {_IN_RANGE.format(row='OLD')} {_BUMP}",
}
_TRIGGER_QUERY = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ("
    + ", ".join(f"'{name}'" for name in _TRIGGERS) + ")"
)
_TOKEN_QUERY = f"SELECT token FROM {_TOKEN_TABLE} WHERE id = 0"
# What a snapshot must have been written by: snapshot layout, record format, Python and marshal version.
_SNAPSHOT_MAGIC = (
    f"soundcheck fact snapshot 1; records {FORMAT_VERSION}; "
    f"python {sys.version_info[0]}.{sys.version_info[1]}; marshal {marshal.version}\n"
).encode()
_SNAPSHOT_HEAD = struct.Struct("<16sQI")  # token, payload length, CRC-32 of the payload


def _snapshot_bytes(token: bytes, facts: dict[tuple[str, FactRef], Fact]) -> list[bytes]:
    """A snapshot file's content: header, then the facts as ``marshal``-ed columns (plain data only: marshal cannot
    build anything but Python's own value types, so reading a snapshot runs no code). Fact refs and timestamps are
    stored once each (a collection writes few distinct ones), the facts as indexes into them."""
    refs: dict[FactRef, int] = {}
    stamps: dict[int, int] = {}  # id(datetime) -> index: equal instants in other time zones stay apart
    stamp_list: list[datetime] = []
    keys: list[str] = []
    entity_refs: list[str] = []
    data: list[Any] = []
    ref_at: list[int] = []
    time_at: list[int] = []
    expires_at: list[int] = []
    for (key, ref), fact in facts.items():
        keys.append(key)
        entity_refs.append(fact.entity_ref)
        data.append(fact.data)
        index = refs.get(ref)
        if index is None:
            index = refs[ref] = len(refs)
        ref_at.append(index)
        for stamp, column in ((fact.timestamp, time_at), (fact.expires_at, expires_at)):
            if stamp is None:
                column.append(-1)
                continue
            index = stamps.get(id(stamp))
            if index is None:
                index = stamps[id(stamp)] = len(stamp_list)
                stamp_list.append(stamp)
            column.append(index)
    payload = marshal.dumps((
        [(ref.source, ref.scope, ref.name) for ref in refs],
        [stamp.isoformat() for stamp in stamp_list],
        keys, entity_refs, data, ref_at, time_at, expires_at,
    ))
    return [_SNAPSHOT_MAGIC, _SNAPSHOT_HEAD.pack(token, len(payload), zlib.crc32(payload)), payload]


def _snapshot_facts(blob: bytes, token: bytes) -> dict[tuple[str, FactRef], Fact] | None:
    """The facts of a snapshot file's content if it is a whole snapshot labelled ``token``, else ``None``."""
    start = len(_SNAPSHOT_MAGIC)
    end = start + _SNAPSHOT_HEAD.size
    if len(blob) < end or not blob.startswith(_SNAPSHOT_MAGIC):
        return None
    stored, length, crc = _SNAPSHOT_HEAD.unpack_from(blob, start)
    if stored != token or length != len(blob) - end:
        return None
    payload = memoryview(blob)[end:]
    if zlib.crc32(payload) != crc:
        return None
    try:
        refs, stamps, keys, entity_refs, data, ref_at, time_at, expires_at = marshal.loads(payload)
        n = len(keys)
        if not len(entity_refs) == len(data) == len(ref_at) == len(time_at) == len(expires_at) == n:
            return None
        fact_refs = [FactRef(*ref) for ref in refs]
        times = [datetime.fromisoformat(text) for text in stamps]
        times.append(None)  # index -1: no expiry
        ref_column = list(map(fact_refs.__getitem__, ref_at))
        facts = build_columns(Fact, n, ref_column, entity_refs, data, map(times.__getitem__, time_at),
                              map(times.__getitem__, expires_at))
        return dict(zip(zip(keys, ref_column), facts))
    except Exception:  # noqa: BLE001 - a snapshot that does not read back is ignored, whatever the reason
        return None


# The stored rows of a key range (``[low, high)``), as diskcache keeps them: read by ``DiskFactStore._rows``.
_RANGE_QUERY = "SELECT key, mode, filename, value FROM Cache WHERE key >= ? AND key < ? AND raw = 1"
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
        query = _RANGE_QUERY + where
        rows = self._guard(lambda: cache._sql(query, (low, high, *params)).fetchall())
        return self._fetched(rows)

    def _rows_and_token(self) -> tuple[list[tuple[str, Any]], bytes | None, bool]:
        """Every fact row as ``_rows()`` reads it, the fact token read in the same read transaction (one consistent
        view of the database in WAL mode), and whether the rows are all of that moment (``False`` when a side file
        had been replaced by the time it was read, and the newer value was read instead)."""
        cache = self._cache
        token: bytes | None = None

        def both() -> list[tuple[str, Any, Any, Any]]:
            nonlocal token
            con = cache._con
            token = self._token(con)
            return con.execute(_RANGE_QUERY, (_FACT, _FACT_END)).fetchall()

        rows = self._guard(lambda: _read_transaction(cache._con, both))
        retried: list[str] = []
        out = self._fetched(rows, retried)
        return out, token, not retried

    def _fetched(self, rows: list[tuple[str, Any, Any, Any]], retried: list[str] | None = None) -> list[tuple[str, Any]]:
        """``(key, stored value)`` of ``(key, mode, filename, value)`` rows, side files read as diskcache does.
        ``retried`` gets the keys whose side file had gone and were read again (a later value than the query's)."""
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
                if retried is not None:
                    retried.append(key)
                again = self._guard(cache.get, key)
                if again is not None:
                    out.append((key, again))
        return out

    # -- the fact snapshot --------------------------------------------------------------------------------------

    @staticmethod
    def _token(con: sqlite3.Connection) -> bytes | None:
        """The current fact token, or ``None`` when the store has none or its triggers are not exactly ours."""
        try:
            found = dict(con.execute(_TRIGGER_QUERY).fetchall())
            if found != _TRIGGERS:
                return None
            row = con.execute(_TOKEN_QUERY).fetchone()
        except sqlite3.OperationalError:  # no token table (a store that never had a snapshot)
            return None
        token = row[0] if row else None
        return token if type(token) is bytes and len(token) == 16 else None

    def _install_token(self) -> None:
        """Create (or repair) the token table and its triggers, with a new token, in one write transaction."""
        cache = self._cache

        def install() -> None:
            with cache._transact() as (sql, _):
                sql(f"CREATE TABLE IF NOT EXISTS {_TOKEN_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 0), token BLOB NOT NULL)")
                found = dict(sql(_TRIGGER_QUERY).fetchall())
                for name, text in _TRIGGERS.items():
                    if found.get(name) != text:
                        if name in found:
                            sql(f"DROP TRIGGER {name}")
                        sql(text)
                sql(f"INSERT OR REPLACE INTO {_TOKEN_TABLE} (id, token) VALUES (0, randomblob(16))")

        try:
            self._guard(install)
        except StoreError:
            pass  # read-only or busy: no snapshot this time, the facts were read all the same

    def _snapshot_path(self) -> str:
        return os.path.join(self.directory, SNAPSHOT_NAME)

    def _read_snapshot(self) -> tuple[dict[tuple[str, FactRef], Fact] | None, bytes | None]:
        """The facts of the snapshot file when it is labelled with the current token (else ``None``), and that
        token (``None`` when the store has none)."""
        try:
            con = self._cache._con
            token = _read_transaction(con, lambda: self._token(con))
        except sqlite3.Error:
            return None, None
        if token is None:
            return None, None
        try:
            with open(self._snapshot_path(), "rb") as handle:
                # The header first: a stale (or foreign, or huge) file is refused without reading the rest.
                head = handle.read(len(_SNAPSHOT_MAGIC) + _SNAPSHOT_HEAD.size)
                if head[: len(_SNAPSHOT_MAGIC)] != _SNAPSHOT_MAGIC or len(head) < len(_SNAPSHOT_MAGIC) + _SNAPSHOT_HEAD.size:
                    return None, token
                stored, length, _ = _SNAPSHOT_HEAD.unpack_from(head, len(_SNAPSHOT_MAGIC))
                if stored != token:
                    return None, token
                blob = head + handle.read(length + 1)  # one byte more than the header says: a longer file fails
        except OSError:
            return None, token
        with gc_paused():
            return _snapshot_facts(blob, token), token

    def _may_need_snapshot(self) -> bool:
        """Whether the store may hold ``SNAPSHOT_MIN_FACTS`` facts (diskcache's own count of all its rows)."""
        try:
            row = self._cache._sql("SELECT value FROM Settings WHERE key = 'count'").fetchone()
        except sqlite3.Error:
            return False
        return bool(row) and isinstance(row[0], int) and row[0] >= SNAPSHOT_MIN_FACTS

    def _write_snapshot(self, token: bytes, facts: dict[tuple[str, FactRef], Fact]) -> None:
        """Write the snapshot atomically (a temporary file renamed over the old one); any failure leaves none."""
        path = self._snapshot_path()
        temp = f"{path}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex}.tmp"
        try:
            with gc_paused():
                parts = _snapshot_bytes(token, facts)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                try:
                    os.fchmod(fd, os.stat(os.path.join(self.directory, "cache.db")).st_mode & 0o666)
                except (OSError, AttributeError):
                    pass  # keep 0600
                with open(fd, "wb", closefd=False) as handle:
                    handle.writelines(parts)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except Exception:  # noqa: BLE001 - a snapshot is an optimisation: never fail a read for it
            try:
                os.unlink(temp)
            except OSError:
                pass
        self._remove_old_temporaries()

    def _remove_old_temporaries(self) -> None:
        """Remove temporary snapshot files over an hour old (left by a process killed while writing one)."""
        prefix = SNAPSHOT_NAME + "."
        cutoff = time.time() - 3600
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.name.startswith(prefix) and entry.name.endswith(".tmp") and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
        except OSError:
            pass

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
        """Every fact, from the snapshot when it holds exactly the stored facts, else from SQLite (and then the
        snapshot is written for the next call, for stores of ``SNAPSHOT_MIN_FACTS`` facts or more)."""
        facts, token = self._read_snapshot()
        if facts is not None:
            return facts
        if token is None and self._may_need_snapshot():
            self._install_token()  # before the rows are read: writes from now on change the token
        start = len(_FACT)
        rows, token, consistent = self._rows_and_token()
        # The entity part of the key is already ``entity_key(entity_ref)``: no need to lower-case it again.
        with gc_paused():
            decoded = self._decode_all(rows)
            facts = {(key[start : key.index(_SEP, start)], fact.fact_ref): fact for key, fact in decoded}
        if len(facts) >= SNAPSHOT_MIN_FACTS:
            if token is None:
                # Not installed (the store could not be written) or altered since: try again; the rows just read
                # may be older than a token installed now, so they are not labelled with it.
                self._install_token()
            elif consistent and (SNAPSHOT_AFTER_LOADS <= 1 or self._seen_before(token)):
                self._write_snapshot(token, facts)
        return facts

    def _seen_before(self, token: bytes) -> bool:
        """Whether the last load from SQLite read these very facts (``token``); if not, this load is remembered.
        A lost or damaged ``SEEN_NAME`` only delays the snapshot by one load."""
        path = os.path.join(self.directory, SEEN_NAME)
        try:
            with open(path, "rb") as handle:
                if handle.read(len(token) + 1) == token:
                    return True
        except OSError:
            pass
        write_quietly(path, token)
        return False

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


def _read_transaction(con: sqlite3.Connection, fn: Any) -> Any:
    """``fn()`` inside one read transaction (a deferred ``BEGIN``: no lock is taken, writers go on; in WAL mode every
    query of ``fn`` sees the same committed state). Inside a transaction already open on ``con``, ``fn()`` alone."""
    if con.in_transaction:
        return fn()
    con.execute("BEGIN")
    try:
        return fn()
    finally:
        con.execute("COMMIT")


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
