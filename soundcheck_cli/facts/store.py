"""``DiskFactStore``: the folder fact store, one SQLite database of soundcheck's own (``facts.sqlite3``).

The folder (``.soundcheck/`` by default, ``facts.locate`` decides which) holds ``facts.sqlite3``, written with the
standard library's ``sqlite3`` only: our own tables, our own format version, nothing borrowed from another
library's layout. Schema (format ``FORMAT_VERSION``; ``PRAGMA application_id`` = ``APPLICATION_ID`` marks the file
as ours, ``PRAGMA user_version`` is the format)::

    facts  (entity_key TEXT, fact_ref TEXT, entity_ref TEXT, ts TEXT, expires_at TEXT, data TEXT,
            PRIMARY KEY (entity_key, fact_ref))           -- plus an index on fact_ref
    meta   (key TEXT PRIMARY KEY, value TEXT)             -- the runtime's key/value area: history, ETags, events
    leases (name TEXT PRIMARY KEY, token TEXT, host TEXT, pid INTEGER, acquired_at REAL, expires_at REAL)

- ``entity_key`` is ``entity_key(entity_ref)`` (refs compare case-insensitively), ``entity_ref`` the spelling the
  collector wrote; ``ts``/``expires_at`` are UTC ISO-8601 text with milliseconds and ``Z`` (``expires_at`` NULL:
  never expires); ``data`` and meta values are JSON text exactly as ``json`` wrote it (never pickled: any later
  version, or ``sqlite3`` by hand, reads them). These are the columns of ``pg_store``'s ``soundcheck_facts``.
- Expiry is data: an expired fact stays readable so that a check can say "expired" rather than "never collected".
- Durability: WAL journal with ``synchronous=NORMAL`` (survives a killed process); every write is one transaction
  (``put_many`` of a whole chunk too), so a fact is written whole or not at all. Writers take the write lock at
  the start (``BEGIN IMMEDIATE``) and wait for another process's transaction up to ``timeout`` seconds.
- Leases (``lock``/``claim_many``): a row per claimed name, with its owner (host, pid) and an expiry on this
  machine's clock. A claim is free when there is no row, its lease has expired, or its owner is a process of this
  host that no longer exists (killed with ``kill -9``: its claims are taken over at once instead of after
  ``expire_seconds``). A pid reused by another process keeps the claim until it expires: the safe side.

The format before this one (1) was a diskcache folder (``cache.db``). Such a folder is refused with a message
naming ``soundcheck store migrate``, which converts it (``migrate_folder``, reading the old facts through
diskcache's public API) and leaves the old files in place.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from soundcheck_cli.errors import Location, StoreError
from soundcheck_cli.facts.interface import FactStore, entity_key, keyed_facts
from soundcheck_cli.facts.model import Fact, FactRef, format_timestamp, parse_timestamp
from soundcheck_cli.fastinit import fast_constructor
from soundcheck_cli.gcpause import paused

DB_NAME = "facts.sqlite3"
FORMAT_VERSION = 2  # 1: the diskcache folder of soundcheck <= 0.x (``LEGACY_DB_NAME``), converted by ``store migrate``
APPLICATION_ID = 0x53434B46  # "SCKF" in the database header: this file is a soundcheck fact store
LEGACY_DB_NAME = "cache.db"  # diskcache's database file: a format-1 store
LEGACY_FORMAT_KEY = "store:format"
MIN_SQLITE = (3, 24, 0)
DEFAULT_TIMEOUT = 60.0  # seconds a writer waits for another process's transaction (SQLite busy timeout)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS facts (
        entity_key TEXT NOT NULL,
        fact_ref TEXT NOT NULL,
        entity_ref TEXT NOT NULL,
        ts TEXT NOT NULL,
        expires_at TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (entity_key, fact_ref)
    )""",
    "CREATE INDEX IF NOT EXISTS facts_fact_ref ON facts (fact_ref)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
)
_COLUMNS = "entity_key, fact_ref, entity_ref, ts, expires_at, data"
_JOINED_COLUMNS = ", ".join("f." + name for name in _COLUMNS.split(", "))
_LOAD_ROWS = 10_000  # rows decoded at a time by ``load_all``
_UPSERT = (
    f"INSERT INTO facts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entity_key, fact_ref) DO UPDATE SET"
    " entity_ref = excluded.entity_ref, ts = excluded.ts, expires_at = excluded.expires_at, data = excluded.data"
)
_PAIRS = 400  # (entity key, fact ref) pairs per query: 800 parameters (SQLite allows 999 before 3.32)
_NAMES = 500



def _host_identity() -> str:
    """This machine as claims name it: the host name, plus on Linux the process-id namespace (containers that
    share a host name, e.g. with host networking, still see different processes under one pid)."""
    host = socket.gethostname().replace(":", "_") or "localhost"
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return host
    digits = "".join(ch for ch in namespace if ch.isdigit())
    return f"{host}/{digits}" if digits else host


HOST = _host_identity()

# A bulk read builds tens of thousands of facts: without the frozen dataclass's ``__init__`` (``fastinit``).
_new_fact = fast_constructor(Fact)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_control = re.compile("[\x00-\x1f\x7f]").search  # a control character (C0 or DEL)

T = TypeVar("T")
Row = tuple[str, str, str, str, Any, str]  # the columns of _COLUMNS


def check_ref(kind: str, text: str) -> None:
    """Refuse a ref with a control character: no valid ref has one, and both stores key on the text."""
    if _control(text) is not None:
        raise StoreError(f"cannot store a fact with {kind} {text!r}: it contains a control character")


def where_clause(entity_ref: str | None, fact_ref: FactRef | None, mark: str = "?") -> tuple[str, list[str]]:
    """The ``WHERE`` clause (with a leading space, or empty) and its parameters selecting one entity and/or one fact
    ref, for both stores (``mark``: the driver's placeholder, ``?`` for sqlite3, ``%s`` for psycopg)."""
    where: list[str] = []
    params: list[str] = []
    if entity_ref is not None:
        where.append(f"entity_key = {mark}")
        params.append(entity_key(entity_ref))
    if fact_ref is not None:
        where.append(f"fact_ref = {mark}")
        params.append(str(fact_ref))
    return (" WHERE " + " AND ".join(where) if where else ""), params


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one of another user counts: it may be a soundcheck).
    On Windows, where ``os.kill`` would end the process, every pid counts as alive: claims lapse at expiry."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def new_token() -> str:
    """A claim's token: unique to one claim of one process (``host:pid:random``)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; every write below opens its own (BEGIN IMMEDIATE).
    # check_same_thread=False: the store's lock serialises the threads that use it (collect's executor thread).
    con = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        _use_wal(con, timeout)
        con.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        con.close()
        raise
    return con


def _use_wal(con: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode (persistent: once set, later connections find it set and change nothing).

    Switching the journal mode needs the database to itself, and SQLite answers "database is locked" at once,
    without its busy handler, when another process is using the file at that moment -- as happens when several
    processes (shards, overlapping cron runs) open a new store together. So the switch is retried with backoff for
    up to ``timeout`` seconds, like any other busy wait."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            (mode,) = con.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not ("locked" in str(exc) or "busy" in str(exc)) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def fact_text(fact: Fact) -> tuple[str, str]:
    """``(fact ref, data as JSON text)`` of a fact to store, in both stores; ``StoreError`` if it cannot be stored (a
    control character in a ref, data that is not JSON)."""
    check_ref("entity ref", fact.entity_ref)
    ref = str(fact.fact_ref)
    check_ref("fact ref", ref)
    try:
        return ref, _dumps(fact.data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise StoreError(f"cannot store fact {ref} for {fact.entity_ref}: its data is not JSON ({exc})") from None


def encode(fact: Fact) -> Row:
    """The row of one fact (``StoreError`` if it cannot be stored: a control character in a ref, data not JSON)."""
    ref, text = fact_text(fact)
    expires = None if fact.expires_at is None else format_timestamp(fact.expires_at)
    return entity_key(fact.entity_ref), ref, fact.entity_ref, format_timestamp(fact.timestamp), expires, text


class DiskFactStore(FactStore):
    """A ``FactStore`` in a folder, shared safely between the processes of one machine. Open it with
    ``open_store``."""

    def __init__(self, directory: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        directory = _prepare_folder(directory)
        self.directory = directory
        self.timeout = timeout
        self.path = os.path.join(directory, DB_NAME)
        self._fact_refs: dict[str, FactRef] = {}  # parse each distinct fact ref string once
        self._lock = threading.RLock()
        if not os.path.exists(self.path) and os.path.exists(os.path.join(directory, LEGACY_DB_NAME)):
            raise StoreError(
                "this fact store has the format of an older soundcheck (format 1, diskcache); "
                f"run `soundcheck store migrate --store {directory}` to convert it (every fact and the run history "
                "are kept)",
                Location(directory),
            )
        if sqlite3.sqlite_version_info < MIN_SQLITE:  # upserts (3.24); row values in get_many (3.15)
            raise StoreError(f"the folder fact store needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this "
                             f"Python has SQLite {sqlite3.sqlite_version}", Location(directory))
        try:
            self._con = _connect(self.path, timeout)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the fact store in {directory}: {_reason(exc)}", Location(directory)) from None
        try:
            self._run("open", self._init_schema)
        except BaseException:
            self._con.close()
            raise

    # -- transactions and errors ----------------------------------------------------------------------------------

    def _run(self, what: str, work: Callable[[], T]) -> T:
        """One public operation under the store's lock; SQLite's errors become ``StoreError`` naming the folder."""
        with self._lock:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreError(
                        f"the fact store in {self.directory} is busy: another process held it for more than "
                        f"{self.timeout:g} s",
                        Location(self.directory),
                    ) from None
                error: BaseException = exc
            except sqlite3.Error as exc:
                error = exc
            if what == "open":
                raise StoreError(f"cannot open the fact store in {self.directory}: {_reason(error)}",
                                 Location(self.directory)) from None
            raise StoreError(f"fact store {self.directory}: cannot {what}: {_reason(error)}",
                             Location(self.directory)) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock at once (a deferred one could fail to upgrade to it)."""
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # the body failed, or COMMIT did (busy, disk full): nothing of it is kept
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the error in flight says more
            raise

    def _init_schema(self) -> None:
        """Check the file is a fact store of a format this version reads; create the tables in a new one."""
        con = self._con
        if self._header(con):
            return
        with self._write():
            if self._header(con):  # created by another process meanwhile
                return
            for statement in _SCHEMA:
                con.execute(statement)
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")

    def _header(self, con: sqlite3.Connection) -> bool:
        """Whether the database is an initialised store of a readable format (False: empty, to be created).

        The header and the table count are read in one read transaction: read one by one, another process creating
        the store could commit in between, and its tables would look like a foreign database's."""
        own = not con.in_transaction
        if own:
            con.execute("BEGIN")
        try:
            (app_id,) = con.execute("PRAGMA application_id").fetchone()
            (version,) = con.execute("PRAGMA user_version").fetchone()
            tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            if own:
                con.execute("COMMIT")
        if app_id == 0 and version == 0:
            if tables:
                raise StoreError(f"{self.path} is not a soundcheck fact store (an SQLite database of something else)",
                                 Location(self.path))
            return False
        if app_id != APPLICATION_ID:
            raise StoreError(f"{self.path} is not a soundcheck fact store", Location(self.path))
        if version > FORMAT_VERSION:
            raise StoreError(
                f"the fact store in {self.directory} was written by a newer soundcheck (format {version}; "
                f"this version reads format {FORMAT_VERSION}); upgrade soundcheck or use another --store",
                Location(self.directory),
            )
        return True

    # -- encoding ---------------------------------------------------------------------------------------------

    def _unreadable(self, row: Row, exc: BaseException) -> StoreError:
        return StoreError(
            f"the fact store in {self.directory} holds an unreadable record ({row[0]} {row[1]}): {exc}; "
            "`soundcheck facts clear` removes it",
            Location(self.directory),
        )

    def _decode(self, rows: list[Row]) -> list[tuple[str, Fact]]:
        """``(entity key, fact)`` of each row. The data of all rows is decoded by one ``json.loads`` over
        ``[d1,d2,...]`` (about twice as fast as one call per row: the bulk of ``load_all``'s time); if that fails
        (a record written by hand), each is decoded alone so that the error names the bad one. Fact refs and
        timestamps are parsed once per distinct text (a collection writes few distinct ones)."""
        try:
            datas = json.loads("[" + ",".join([row[5] for row in rows]) + "]")
            if len(datas) != len(rows):
                raise ValueError("record count mismatch")
        except (ValueError, TypeError):
            datas = []
            for row in rows:
                try:
                    datas.append(json.loads(row[5]))
                except (ValueError, TypeError) as exc:
                    raise self._unreadable(row, exc) from None
        refs = self._fact_refs
        times: dict[str, Any] = {}
        out: list[tuple[str, Fact]] = []
        append = out.append
        for row, data in zip(rows, datas):
            key, ref_text, entity_ref, stamp, expires, _ = row
            ref = refs.get(ref_text)
            when = times.get(stamp)
            until = None if expires is None else times.get(expires)
            if ref is None or when is None or (until is None and expires is not None):
                try:
                    if ref is None:
                        ref = refs[ref_text] = FactRef.parse(ref_text)
                    if when is None:
                        when = times[stamp] = parse_timestamp(stamp)
                    if until is None and expires is not None:
                        until = times[expires] = parse_timestamp(expires)
                except (ValueError, TypeError, AttributeError) as exc:
                    raise self._unreadable(row, exc) from None
            append((key, _new_fact(ref, entity_ref, data, when, until)))
        return out

    def _select(self, entity_ref: str | None, fact_ref: FactRef | None) -> list[Row]:
        where, params = where_clause(entity_ref, fact_ref)
        query = f"SELECT {_COLUMNS} FROM facts{where}"
        return self._run("read facts", lambda: self._con.execute(query, params).fetchall())

    # -- FactStore ------------------------------------------------------------------------------------------------

    def get(self, entity_ref: str, fact_ref: FactRef) -> Fact | None:
        rows = self._select(entity_ref, fact_ref)
        return self._decode(rows)[0][1] if rows else None

    def get_many(self, pairs: Iterable[tuple[str, FactRef]], *, data: bool = True) -> dict[tuple[str, FactRef], Fact]:
        """The stored facts of many pairs, one indexed query per 400 pairs (``data=False``: without their data)."""
        wanted = list({(entity_key(entity_ref), str(fact_ref)) for entity_ref, fact_ref in pairs})
        if not wanted:
            return {}
        columns = _JOINED_COLUMNS if data else _JOINED_COLUMNS.replace("f.data", "'null'")

        def read() -> list[Row]:
            found: list[Row] = []
            for start in range(0, len(wanted), _PAIRS):
                part = wanted[start : start + _PAIRS]
                marks = ",".join(["(?,?)"] * len(part))
                flat = [value for pair in part for value in pair]
                # A join from the wanted pairs: SQLite searches the primary key once per pair, where
                # ``(entity_key, fact_ref) IN (VALUES ...)`` scanned the whole table once per query (100,000
                # entities: 250 scans of 370,000 rows, most of a ``collect``'s time).
                found.extend(self._con.execute(
                    f"SELECT {columns} FROM (VALUES {marks}) AS wanted JOIN facts AS f"
                    " ON f.entity_key = wanted.column1 AND f.fact_ref = wanted.column2", flat).fetchall())
            return found

        rows = self._run("read facts", read)
        with paused():
            return {(key, fact.fact_ref): fact for key, fact in self._decode(rows)}

    def put(self, fact: Fact) -> None:
        self.put_many([fact])

    def put_many(self, facts: Iterable[Fact]) -> int:
        # Encode everything first: a fact that cannot be stored aborts before the transaction, writing nothing.
        rows = [encode(f) for f in facts]
        if not rows:
            return 0

        def write() -> None:
            with self._write() as con:
                con.executemany(_UPSERT, rows)  # one row per key: a key given twice keeps its last fact

        self._run("write facts", write)
        return len(rows)

    def put_stream(self, batches: Iterable[Iterable[Fact]]) -> int:
        """Write every batch of ``batches`` in one transaction (``soundcheck facts push``): all of them, or, when
        the iterable raises or a fact cannot be stored, none. The write lock is held until the last batch has come,
        so a producer that reads a large file keeps other writers waiting (up to their busy timeout); readers are
        not blocked (WAL). Memory: one batch at a time, where ``put_many`` takes every fact at once."""
        count = 0

        def write() -> None:
            nonlocal count
            with self._write() as con:
                for batch in batches:
                    rows = [encode(f) for f in batch]
                    con.executemany(_UPSERT, rows)  # in order: a key given twice keeps its last fact
                    count += len(rows)

        self._run("write facts", write)
        return count

    def facts(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> Iterator[Fact]:
        rows = self._select(entity_ref, fact_ref)
        with paused():
            return iter([fact for _, fact in self._decode(rows)])

    def load_all(self) -> dict[tuple[str, FactRef], Fact]:
        """Every fact, in one query (one consistent read); the entity key comes from its column. Rows are decoded
        ``_LOAD_ROWS`` at a time: the raw rows and their JSON text of 270,000 facts held whole took 200 MB more
        than the facts themselves."""

        def read() -> dict[tuple[str, FactRef], Fact]:
            cursor = self._con.execute(f"SELECT {_COLUMNS} FROM facts")
            return keyed_facts(self._decode, iter(lambda: cursor.fetchmany(_LOAD_ROWS), []))

        with paused():
            return self._run("read facts", read)

    def load_entities(self, keys: Sequence[str]) -> dict[tuple[str, FactRef], Fact]:
        """Every fact of these entities: one primary-key range search per entity, ``_PAIRS`` entities per query."""
        wanted = list(dict.fromkeys(keys))

        def read() -> dict[tuple[str, FactRef], Fact]:
            parts = (wanted[start:start + _PAIRS] for start in range(0, len(wanted), _PAIRS))
            return keyed_facts(self._decode, (self._con.execute(
                f"SELECT {_COLUMNS} FROM facts WHERE entity_key IN ({','.join(['?'] * len(part))})", part).fetchall()
                for part in parts))

        with paused():
            return self._run("read facts", read)

    def delete(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> int:
        where, params = where_clause(entity_ref, fact_ref)
        query = f"DELETE FROM facts{where}"

        def remove() -> int:
            with self._write() as con:
                return con.execute(query, params).rowcount

        return self._run("delete facts", remove)

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._run("read meta data",
                        lambda: self._con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone())
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the fact store in {self.directory} holds unreadable meta data ({key}): {exc}",
                             Location(self.directory)) from None

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (plain data only: the store must stay readable by any version)."""
        try:
            text = _dumps(value)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StoreError(f"meta value for {key!r} is not JSON ({exc})") from None

        def write() -> None:
            with self._write() as con:
                con.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, text))

        self._run("write meta data", write)

    def delete_meta(self, key: str) -> bool:
        def remove() -> bool:
            with self._write() as con:
                return con.execute("DELETE FROM meta WHERE key = ?", (key,)).rowcount > 0

        return self._run("delete meta data", remove)

    def meta_keys(self, prefix: str = "") -> list[str]:
        """Meta keys starting with ``prefix`` (e.g. every ``etag:`` entry), sorted (an index range scan)."""
        rows = self._run("read meta data", lambda: self._con.execute(
            "SELECT key FROM meta WHERE key >= ? AND key < ?", (prefix, prefix + "\U0010ffff")).fetchall())
        return sorted(key for (key,) in rows if key.startswith(prefix))

    # -- claims -----------------------------------------------------------------------------------------------------

    def _claim(self, names: list[str], token: str, expire_seconds: float) -> set[str]:
        """Claim the free ones of ``names`` for ``token`` in one write transaction; returns those claimed.
        Free: no lease, an expired one, or one whose owner is a process of this host that no longer exists."""
        def claim() -> set[str]:
            got: set[str] = set()
            with self._write() as con:
                now = time.time()
                held: dict[str, tuple[str, int, float]] = {}
                for start in range(0, len(names), _NAMES):
                    part = names[start : start + _NAMES]
                    for name, host, pid, expires in con.execute(
                        f"SELECT name, host, pid, expires_at FROM leases WHERE name IN ({','.join('?' * len(part))})",
                        part,
                    ):
                        held[name] = (host, pid, expires)
                alive: dict[int, bool] = {}
                rows = []
                for name in names:
                    lease = held.get(name)
                    if lease is not None and lease[2] > now:
                        host, pid, _ = lease
                        if host != HOST:
                            continue
                        if pid not in alive:
                            alive[pid] = pid_alive(pid)
                        if alive[pid]:
                            continue
                    rows.append((name, token, HOST, os.getpid(), now, now + expire_seconds))
                    got.add(name)
                con.executemany("INSERT OR REPLACE INTO leases (name, token, host, pid, acquired_at, expires_at)"
                                " VALUES (?, ?, ?, ?, ?, ?)", rows)
            return got

        return self._run("claim", claim)

    def _release(self, names: Iterable[str], token: str) -> None:
        """Release our own leases (same token): one that lapsed and was taken over has another token and stays."""
        def release() -> None:
            with self._write() as con:
                con.executemany("DELETE FROM leases WHERE name = ? AND token = ?", [(name, token) for name in names])

        self._run("release claims", release)

    @contextmanager
    def lock(self, name: str, expire_seconds: float = 300.0) -> Iterator[bool]:
        """Claim ``name`` across processes; yields whether acquired. Never blocks: a caller that does not get the
        claim skips the work (another process is doing it). The claim lapses after ``expire_seconds``, or as soon
        as its process is found gone; on exit it is released only if it is still ours."""
        with self.claim_many([name], expire_seconds) as got:
            yield name in got

    @contextmanager
    def claim_many(self, names: Iterable[str], expire_seconds: float = 300.0) -> Iterator[set[str]]:
        """``lock`` for many names in one SQLite transaction each way (claim, release); yields the names acquired."""
        wanted = list(dict.fromkeys(names))
        token = new_token()
        got = self._claim(wanted, token, expire_seconds) if wanted else set()
        try:
            yield got
        finally:
            if got:
                try:
                    self._release(got, token)
                except StoreError:
                    pass  # the error in flight (or none) matters more; the leases lapse by themselves

    def claim_holders(self, names: Iterable[str]) -> dict[str, str]:
        """Who holds the live claims among ``names``: ``{name: "host pid N since HH:MM:SS"}`` (what a run that
        waits for them can say it waits for)."""
        wanted = list(dict.fromkeys(names))

        def read() -> dict[str, str]:
            out: dict[str, str] = {}
            now = time.time()
            for start in range(0, len(wanted), _NAMES):
                part = wanted[start : start + _NAMES]
                for name, host, pid, since in self._con.execute(
                    f"SELECT name, host, pid, acquired_at FROM leases WHERE name IN ({','.join('?' * len(part))})"
                    " AND expires_at > ?", (*part, now)):
                    if host == HOST and not pid_alive(pid):
                        continue
                    out[name] = f"{host.split('/')[0]} pid {pid} since {time.strftime('%H:%M:%S', time.localtime(since))}"
            return out

        return self._run("read claims", read) if wanted else {}

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def describe(self) -> str:
        return self.directory

    def __repr__(self) -> str:
        return f"DiskFactStore({self.directory!r})"


def _prepare_folder(path: str) -> str:
    directory = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise StoreError(f"cannot use {path} as the fact store: it is a file, not a directory", Location(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the fact store directory {path}: {_reason(exc)}", Location(path)) from None
    return directory


def open_store(path: str, timeout: float = DEFAULT_TIMEOUT) -> DiskFactStore:
    """Open (creating the directory if needed) the fact store at ``path``; ``StoreError`` if that is impossible."""
    return DiskFactStore(path, timeout=timeout)


# -- converting a format-1 (diskcache) folder -------------------------------------------------------------------


def needs_migration(directory: str) -> bool:
    """Whether ``directory`` holds a format-1 store (diskcache's ``cache.db``) and no ``facts.sqlite3`` yet."""
    return (not os.path.exists(os.path.join(directory, DB_NAME))
            and os.path.exists(os.path.join(directory, LEGACY_DB_NAME)))


def migrate_folder(directory: str) -> tuple[int, int] | None:
    """Convert the format-1 store in ``directory`` (diskcache) into ``facts.sqlite3``; returns ``(facts, meta
    keys)`` written, or ``None`` when there was nothing to convert.

    The old store is read through diskcache's public API only (iterating the ``Cache``, ``Cache.get``), every
    record decoded and checked before anything is written; the new database is written under a temporary name and
    put in place by ``os.link`` (which fails if another process got there first), so a failed or interrupted
    migration leaves no half store and the old files are left as they were. Claims (``lock:`` keys) are not
    carried over: no process of the old version can still be holding them usefully."""
    if not needs_migration(directory):
        return None
    facts, meta = _read_legacy(directory)
    temp = os.path.join(directory, f"{DB_NAME}.{os.getpid()}.{uuid.uuid4().hex}.migrating")
    try:
        _write_new(temp, facts, meta)
        try:
            os.link(temp, os.path.join(directory, DB_NAME))
        except FileExistsError:
            return None  # converted by another process meanwhile
        except OSError:
            # A file system without hard links: a rename, which could replace a store made meanwhile; checked
            # just before, so only a migration running at this very instant could be lost (and redone).
            if os.path.exists(os.path.join(directory, DB_NAME)):
                return None
            os.replace(temp, os.path.join(directory, DB_NAME))
    except OSError as exc:
        raise StoreError(f"cannot convert the fact store in {directory}: {_reason(exc)}", Location(directory)) from None
    finally:
        for leftover in (temp, temp + "-journal"):
            try:
                os.unlink(leftover)
            except OSError:
                pass
    for cache_file in ("facts.snapshot", "facts.snapshot.seen"):  # format 1's load_all cache: useless now
        try:
            os.unlink(os.path.join(directory, cache_file))
        except OSError:
            pass
    return len(facts), len(meta)


def _read_legacy(directory: str) -> tuple[list[Fact], dict[str, Any]]:
    """Every fact and meta value of a format-1 store, read with diskcache's public API and checked."""
    import diskcache

    prefix_fact, prefix_meta = "fact\x1f", "meta:"
    facts: list[Fact] = []
    meta: dict[str, Any] = {}
    where = Location(directory)
    try:
        with diskcache.Cache(directory) as cache:
            version = cache.get(LEGACY_FORMAT_KEY)
            if version != 1:
                raise StoreError(f"{directory}/{LEGACY_DB_NAME} is not a soundcheck fact store of format 1 "
                                 f"(its format: {version!r})", where)
            for key in list(cache):
                if not isinstance(key, str) or not key.startswith((prefix_fact, prefix_meta)):
                    continue  # store:format, lock:... (claims of the old version), anything else
                value = cache.get(key)
                if value is None:
                    continue  # deleted meanwhile
                shown = key.replace("\x1f", " ")
                try:
                    if key.startswith(prefix_meta):
                        meta[key[len(prefix_meta):]] = json.loads(value)
                        continue
                    version_, entity_ref, ref, stamp, expires, data = json.loads(value)
                    if version_ != 1:
                        raise ValueError(f"record format {version_!r}")
                    facts.append(Fact(FactRef.parse(ref), entity_ref, data, parse_timestamp(stamp),
                                      None if expires is None else parse_timestamp(expires)))
                except (ValueError, TypeError, AttributeError) as exc:
                    raise StoreError(f"cannot convert the fact store in {directory}: unreadable record ({shown}): "
                                     f"{exc}", where) from None
    except (diskcache.Timeout, sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot read the old fact store in {directory}: {_reason(exc)}", where) from None
    return facts, meta


def _write_new(path: str, facts: list[Fact], meta: dict[str, Any]) -> None:
    """A complete format-2 database at ``path`` (a rollback journal, not WAL: the file is complete once closed)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            con.execute(statement)
        con.executemany(_UPSERT, [encode(fact) for fact in facts])
        con.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                        [(key, _dumps(value)) for key, value in meta.items()])
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        con.execute("COMMIT")
    finally:
        con.close()
