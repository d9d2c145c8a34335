"""``PostgresFactStore``: the fact store in PostgreSQL (psycopg 3), shared by every machine that runs soundcheck.

Open it with ``open_pg_store(url)`` (``facts.locate`` does, for a ``postgresql://`` store spec). The tables live in
the first schema of the connection's ``search_path`` (``?options=-csearch_path%3Dmyschema`` in the URL picks one);
``soundcheck store init`` creates them (``init_schema``), ``soundcheck store migrate`` upgrades them (``migrate``).

Schema (version ``SCHEMA_VERSION``; every name starts with ``soundcheck_``)::

    soundcheck_schema_version (version integer PRIMARY KEY, description text, applied_at timestamptz)
        -- one row per applied migration; the schema's version is max(version)
    soundcheck_facts (
        entity_key  text NOT NULL,         -- entity_key(entity_ref): the ref lower-cased (refs compare that way)
        fact_ref    text NOT NULL,         -- source:scope/name
        entity_ref  text NOT NULL,         -- the ref as the collector wrote it
        ts          timestamptz NOT NULL,  -- Fact.timestamp (microseconds)
        expires_at  timestamptz,           -- Fact.expires_at; NULL: never expires
        data        text NOT NULL,         -- Fact.data as JSON text, exactly as json.dumps wrote it
        PRIMARY KEY (entity_key, fact_ref))
        -- plus an index on fact_ref (facts(fact_ref=...), delete(fact_ref=...))
    soundcheck_meta (key text PRIMARY KEY, value text NOT NULL)   -- the runtime's key/value area, JSON text
    soundcheck_leases (name text PRIMARY KEY, token text NOT NULL, acquired_at timestamptz NOT NULL,
                       expires_at timestamptz NOT NULL)           -- cross-process claims (``lock``)

Why ``text`` for JSON: the disk store gives back exactly what ``json.dumps`` produced, and so does this one.
``jsonb`` would reorder object keys and refuse ``\\u0000``; ``json`` keeps the text but refuses the ``NaN`` and
``Infinity`` that Python writes for such floats, so a fact the disk store accepts would fail here. Query the data
by hand with ``data::json`` (or ``::jsonb``).

Semantics are those of ``DiskFactStore`` (``tests/test_store_contract.py`` runs on both): refs with control
characters are refused; expiry is data, never deletion; ``put``/``put_many`` are upserts (the last write of a key
wins; many processes writing at once never lose or duplicate a fact) and ``put_many`` is one transaction (a fact
that cannot be stored means nothing is written). ``lock`` is a lease row claimed with one atomic
``INSERT ... ON CONFLICT DO UPDATE ... WHERE <the existing lease has expired>`` on the server's clock, released on
exit only if it is still ours. A lease runs ``LEASE_STEP`` (30 s) and a heartbeat thread renews it while the process
lives, for at most ``expire_seconds`` from its claim: a process killed on any machine stops renewing, so its leases
lapse within 30 s; a claimer on the killed process's own host takes them over at once (the token names host and
pid, and that pid is gone).

Threads: one connection (autocommit), guarded by a lock held for each whole public operation, so explicit
transactions of two threads never interleave (the collector runner reads and writes from executor threads; the
lease heartbeat renews from its own thread, which runs only while claims are held). A
connection the server dropped (restart, failover) is reopened and the operation run again (all are idempotent).

Outages: a server that cannot be reached (connection refused or timed out, "the database system is starting up /
shutting down", a connection dropped mid-operation) is tried again with backoff (0.25 s doubling to 4 s) for up to
``RETRY_SECONDS`` (30 s; ``$SOUNDCHECK_STORE_RETRY_SECONDS`` sets another bound, ``0`` none) counted from the first
failure of an operation; a restart or failover within that time costs a pause, not the run. After it, the error is
``StoreUnavailable`` (exit code 4), naming the store without its password. A server that answers but refuses
(wrong password, no such database) is a ``StoreError`` at once (exit code 2).
Timestamps are given back in UTC (the session's time zone is set to UTC), at PostgreSQL's microsecond precision.
Errors are ``StoreError`` with the URL's password masked; the password is added to ``redact.GLOBAL`` on open.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timezone
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import psycopg
import psycopg.conninfo
from psycopg import errors as pg_errors

from soundcheck_cli import redact
from soundcheck_cli.errors import StoreError, StoreUnavailable
from soundcheck_cli.facts.interface import FactStore, entity_key, keyed_facts
from soundcheck_cli.facts.spec import describe
from soundcheck_cli.facts.model import Fact, FactRef
from soundcheck_cli.facts.store import HOST, fact_text, new_token, pid_alive, where_clause
from soundcheck_cli.gcpause import paused

CONNECT_TIMEOUT = 15  # seconds; used unless the URL sets connect_timeout
RETRY_SECONDS = 30.0  # how long an unreachable server is retried before StoreUnavailable (module docstring)
RETRY_ENV = "SOUNDCHECK_STORE_RETRY_SECONDS"
# SQLSTATEs of a server going away or not accepting connections yet (PostgreSQL appendix A): admin_shutdown,
# crash_shutdown, cannot_connect_now, too_many_connections, and class 08 (connection exception).
_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
WRITE_CHUNK = 5000  # facts per INSERT statement in put_many (all chunks in one transaction)
WRITE_RETRIES = 3  # put_many retries a transaction PostgreSQL aborted as a deadlock victim

# Numbered migrations, applied in order; each runs in the transaction that records it in soundcheck_schema_version.
# Never edit a released migration: append a new one.
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (
        1,
        "facts, meta and leases",
        (
            """CREATE TABLE soundcheck_facts (
                entity_key text NOT NULL,
                fact_ref text NOT NULL,
                entity_ref text NOT NULL,
                ts timestamptz NOT NULL,
                expires_at timestamptz,
                data text NOT NULL,
                PRIMARY KEY (entity_key, fact_ref)
            )""",
            "CREATE INDEX soundcheck_facts_fact_ref ON soundcheck_facts (fact_ref)",
            "CREATE TABLE soundcheck_meta (key text PRIMARY KEY, value text NOT NULL)",
            """CREATE TABLE soundcheck_leases (
                name text PRIMARY KEY,
                token text NOT NULL,
                acquired_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL
            )""",
        ),
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

_VERSION_TABLE = """CREATE TABLE soundcheck_schema_version (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
# Serialises init/migrate of one schema between processes (released with the transaction).
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('soundcheck_schema:' || coalesce(current_schema(), '')))"

_FACT_COLUMNS = "entity_key, fact_ref, entity_ref, ts, expires_at, data"
_LOAD_ROWS = 10_000  # rows fetched and decoded at a time by ``load_all``
# ``put_stream``: rows collected in a temporary table (gone at the end of the transaction, committed or not), then
# one upsert of the last row of each key, in key order.
_PUSH_TABLE = ("CREATE TEMPORARY TABLE soundcheck_push (seq bigint, entity_key text, fact_ref text, entity_ref text,"
               " ts timestamptz, expires_at timestamptz, data text) ON COMMIT DROP")
_PUSH_ROWS = f"""INSERT INTO soundcheck_push (seq, {_FACT_COLUMNS})
SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[])"""
_PUSH_UPSERT = f"""INSERT INTO soundcheck_facts ({_FACT_COLUMNS})
SELECT {_FACT_COLUMNS} FROM (SELECT DISTINCT ON (entity_key, fact_ref) * FROM soundcheck_push
                             ORDER BY entity_key, fact_ref, seq DESC) AS last
ORDER BY entity_key, fact_ref
ON CONFLICT (entity_key, fact_ref) DO UPDATE SET
    entity_ref = EXCLUDED.entity_ref, ts = EXCLUDED.ts, expires_at = EXCLUDED.expires_at, data = EXCLUDED.data"""
_UPSERT = f"""INSERT INTO soundcheck_facts ({_FACT_COLUMNS})
SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[])
ON CONFLICT (entity_key, fact_ref) DO UPDATE SET
    entity_ref = EXCLUDED.entity_ref, ts = EXCLUDED.ts, expires_at = EXCLUDED.expires_at, data = EXCLUDED.data"""
# Many leases in one statement. Names are sorted by the caller: concurrent claims lock rows in the same order.
_CLAIM_MANY = """INSERT INTO soundcheck_leases AS l (name, token, acquired_at, expires_at)
SELECT n, %(token)s, clock_timestamp(), clock_timestamp() + make_interval(secs => %(secs)s)
FROM unnest(%(names)s::text[]) AS n
ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, acquired_at = EXCLUDED.acquired_at,
    expires_at = EXCLUDED.expires_at
WHERE l.expires_at <= clock_timestamp() OR l.token = EXCLUDED.token
RETURNING l.name"""

# A held claim's lease runs LEASE_STEP seconds and is renewed every LEASE_STEP / 3 while its process lives (up to
# the claim's own expire_seconds after it was taken): a process killed on any machine stops renewing, and its
# claims lapse within LEASE_STEP seconds instead of expire_seconds (15 minutes for collect's).
LEASE_STEP = 30.0
_RENEW = """UPDATE soundcheck_leases SET expires_at = least(
    acquired_at + make_interval(secs => %(limit)s), clock_timestamp() + make_interval(secs => %(step)s))
WHERE token = %(token)s"""

_GET_META = "SELECT value FROM soundcheck_meta WHERE key = %s"
_SET_META = "INSERT INTO soundcheck_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

T = TypeVar("T")
Row = tuple[str, str, str, Any, Any, str]  # the columns of _FACT_COLUMNS


# What libpq says when the server answered a connection attempt with "not now" (a failed connection attempt
# carries no SQLSTATE, only the server's message): these are tried again, any other answer (a wrong password, no
# such database) is not.
_NOT_NOW = ("the database system is starting up", "the database system is shutting down",
            "the database system is in recovery mode", "the database system is not yet accepting connections",
            "the database system is not accepting connections", "too many clients already",
            "terminating connection due to administrator command")


def _transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the server cannot be reached now (worth trying again), rather than that it refused."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    if state is not None:
        return state in _TRANSIENT_STATES or state.startswith("08")
    text = str(exc)
    # No answer from a server (refused, timed out, reset, unknown host) or a server saying "not now".
    return "FATAL:" not in text or any(phrase in text for phrase in _NOT_NOW)


def retry_seconds() -> float:
    """``RETRY_SECONDS``, or ``$SOUNDCHECK_STORE_RETRY_SECONDS`` when set to a number >= 0."""
    try:
        value = float(os.environ.get(RETRY_ENV, ""))
    except ValueError:
        return RETRY_SECONDS
    return value if value >= 0 and value == value else RETRY_SECONDS


class _Unreachable(Exception):
    """The server could not be reached this time (``_transient``); ``reason`` is its scrubbed message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(exc: BaseException) -> str:
    """psycopg's message on one line (libpq's are multi-line: ``...failed: Connection refused\\n\\tIs the...``)."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class PostgresFactStore(FactStore):
    """A ``FactStore`` in PostgreSQL. Open it with ``open_pg_store``."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._shown = describe(url)
        self._secrets = _passwords(url)
        for secret in self._secrets:
            redact.GLOBAL.add(secret)
        self._lock = threading.RLock()
        self._fact_refs: dict[str, FactRef] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._heartbeat = _Heartbeat(self._renew)
        self._retry = retry_seconds()
        with self._lock:
            self._connect(None)

    # -- connection and errors ----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` without the URL or its password (psycopg's messages may quote the connection string)."""
        text = text.replace(self._url, self._shown)
        for secret in self._secrets:
            if len(secret) >= redact.MIN_SECRET_LENGTH:
                text = text.replace(secret, redact.MASK)
        return redact.GLOBAL.redact(text)

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection; (re)connects when there is none or the last one broke (server restart...)."""
        if self._closed:
            raise StoreError(f"the fact store {self._shown} is closed")
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
            self._conn = None
        try:
            params = psycopg.conninfo.conninfo_to_dict(self._url)
            extra: dict[str, Any] = {}
            if "connect_timeout" not in params:
                extra["connect_timeout"] = CONNECT_TIMEOUT
            if "application_name" not in params:
                extra["application_name"] = "soundcheck"
            conn = psycopg.connect(self._url, autocommit=True, **extra)
        except psycopg.Error as exc:
            if _transient(exc):
                raise _Unreachable(self._scrub(_reason(exc))) from None
            raise StoreError(f"cannot connect to the fact store {self._shown}: {self._scrub(_reason(exc))}") from None
        try:
            conn.execute("SET TIME ZONE 'UTC'")  # timestamps come back in UTC, as the disk store gives them
        except psycopg.Error as exc:
            conn.close()
            if _transient(exc):
                raise _Unreachable(self._scrub(_reason(exc))) from None
            raise StoreError(f"cannot connect to the fact store {self._shown}: {self._scrub(_reason(exc))}") from None
        self._conn = conn
        return conn

    def _connect(self, deadline: float | None) -> tuple[psycopg.Connection[Any], float | None]:
        """The open connection, trying again with backoff while the server cannot be reached, until ``deadline``
        (``time.monotonic``; ``None``: ``RETRY_SECONDS`` from the first failure). Returns the connection and the
        deadline set meanwhile; raises ``StoreUnavailable`` once it has passed."""
        delay = 0.25
        while True:
            try:
                return self._connection(), deadline
            except _Unreachable as exc:
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + self._retry
                if now + delay > deadline:
                    raise self._unavailable(exc.reason) from None
                time.sleep(delay)
                delay = min(delay * 2, 4.0)

    def _unavailable(self, reason: str) -> StoreUnavailable:
        waited = f"; gave up after retrying for {self._retry:g} s ({RETRY_ENV})" if self._retry else ""
        return StoreUnavailable(f"the fact store {self._shown} cannot be reached: {reason}{waited}")

    def _run(self, what: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """One public operation: ``work(connection)`` under the store's lock; psycopg errors become ``StoreError``.

        Every operation is idempotent (upserts; a claim that already holds our token succeeds again), so when the
        server has dropped the connection (restart, failover, idle timeout) or cannot be reached, it is reconnected
        and ``work`` run again, for up to ``RETRY_SECONDS`` from the first failure (``StoreUnavailable`` after
        that): a transaction cut off by a dropped connection was rolled back or is repeated harmlessly."""
        with self._lock:
            deadline: float | None = None
            while True:
                conn, deadline = self._connect(deadline)
                try:
                    return work(conn)
                except pg_errors.UndefinedTable:
                    raise StoreError(self._no_schema_message()) from None
                except psycopg.OperationalError as exc:
                    if conn.broken or _transient(exc):
                        now = time.monotonic()
                        deadline = deadline if deadline is not None else now + self._retry
                        if now >= deadline:
                            raise self._unavailable(self._scrub(_reason(exc))) from None
                        if not conn.broken:
                            time.sleep(0.25)  # the server answered "not now" on a live connection: not at once
                        continue
                    error = exc
                except psycopg.Error as exc:
                    error = exc
                raise StoreError(f"fact store {self._shown}: cannot {what}: {self._scrub(_reason(error))}") from None

    def _no_schema_message(self) -> str:
        return (f"the fact store {self._shown} has no soundcheck schema (no soundcheck_* tables in its search_path); "
                "run `soundcheck store init --store URL`")

    # -- schema --------------------------------------------------------------------------------------------------

    def _version(self, conn: psycopg.Connection[Any]) -> int | None:
        exists = conn.execute("SELECT to_regclass('soundcheck_schema_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT max(version) FROM soundcheck_schema_version").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def schema_version(self) -> int | None:
        """The schema's version (the newest applied migration), or None when there is no soundcheck schema."""
        return self._run("read the schema version", self._version)

    def check_schema(self) -> None:
        """``StoreError`` unless the schema exists and is this version's (what ``open_pg_store`` checks)."""
        version = self.schema_version()
        if version is None:
            raise StoreError(self._no_schema_message())
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"the fact store {self._shown} has schema version {version}, older than this soundcheck's "
                f"({SCHEMA_VERSION}); run `soundcheck store migrate --store URL`"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the fact store {self._shown} has schema version {version}, newer than this soundcheck's "
                f"({SCHEMA_VERSION}); upgrade soundcheck"
            )

    def _apply(self, conn: psycopg.Connection[Any], number: int, description: str, statements: Iterable[str]) -> None:
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO soundcheck_schema_version (version, description) VALUES (%s, %s)",
                     (number, description))

    def init_schema(self) -> bool:
        """Create the tables (every migration) unless the schema exists; returns whether it created them.
        Idempotent, and safe when several processes run it at once (an advisory lock serialises them)."""
        def create(conn: psycopg.Connection[Any]) -> bool:
            with conn.transaction():
                conn.execute(_SCHEMA_LOCK)
                if self._version(conn) is not None:
                    return False
                conn.execute(_VERSION_TABLE)
                for number, description, statements in MIGRATIONS:
                    self._apply(conn, number, description, statements)
            return True

        return self._run("create the schema", create)

    def migrate(self) -> list[int]:
        """Apply the migrations newer than the schema's version, in order, in one transaction; returns their
        numbers (empty: already current). Safe when several processes run it at once."""
        def upgrade(conn: psycopg.Connection[Any]) -> list[int]:
            with conn.transaction():
                conn.execute(_SCHEMA_LOCK)
                current = self._version(conn)
                if current is None:
                    raise StoreError(self._no_schema_message())
                if current > SCHEMA_VERSION:
                    raise StoreError(
                        f"the fact store {self._shown} has schema version {current}, newer than this soundcheck's "
                        f"({SCHEMA_VERSION}); upgrade soundcheck"
                    )
                applied: list[int] = []
                for number, description, statements in MIGRATIONS:
                    if number > current:
                        self._apply(conn, number, description, statements)
                        applied.append(number)
            return applied

        return self._run("migrate the schema", upgrade)

    # -- encoding ------------------------------------------------------------------------------------------------

    def _encode(self, fact: Fact) -> Row:
        ref, text = fact_text(fact)
        # A naive datetime is local time (as format_timestamp takes it in the disk store).
        stamp = fact.timestamp if fact.timestamp.tzinfo else fact.timestamp.astimezone(timezone.utc)
        expires = fact.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.astimezone(timezone.utc)
        return entity_key(fact.entity_ref), ref, fact.entity_ref, stamp, expires, text

    def _fact_ref(self, text: str) -> FactRef:
        ref = self._fact_refs.get(text)
        if ref is None:
            try:
                ref = self._fact_refs[text] = FactRef.parse(text)
            except ValueError as exc:
                raise StoreError(f"the fact store {self._shown} holds an unreadable fact ref: {exc}") from None
        return ref

    def _decode(self, rows: list[Row]) -> list[tuple[str, Fact]]:
        """``(entity key, fact)`` of each row. The data of all rows is decoded by one ``json.loads`` over
        ``[d1,d2,...]`` (about twice as fast as one call per row); if that fails (a record written by hand), each is
        decoded alone so that the error names the bad one."""
        try:
            datas = json.loads("[" + ",".join(row[5] for row in rows) + "]")
            if len(datas) != len(rows):
                raise ValueError("record count mismatch")
        except ValueError:
            datas = []
            for key, ref, _, _, _, text in rows:
                try:
                    datas.append(json.loads(text))
                except ValueError as exc:
                    raise StoreError(
                        f"the fact store {self._shown} holds an unreadable record ({key} {ref}): {exc}; "
                        "`soundcheck facts clear` removes it"
                    ) from None
        refs = self._fact_refs
        out: list[tuple[str, Fact]] = []
        append = out.append
        for (key, ref_text, entity_ref, stamp, expires, _), data in zip(rows, datas):
            ref = refs.get(ref_text) or self._fact_ref(ref_text)
            append((key, Fact(ref, entity_ref, data, stamp, expires)))
        return out

    def _select(self, entity_ref: str | None, fact_ref: FactRef | None) -> list[Row]:
        where, params = where_clause(entity_ref, fact_ref, "%s")
        query = f"SELECT {_FACT_COLUMNS} FROM soundcheck_facts" + where
        return self._run("read facts", lambda conn: conn.execute(query, params).fetchall())

    # -- FactStore -------------------------------------------------------------------------------------------------

    def get(self, entity_ref: str, fact_ref: FactRef) -> Fact | None:
        rows = self._select(entity_ref, fact_ref)
        return self._decode(rows)[0][1] if rows else None

    def get_many(self, pairs: Iterable[tuple[str, FactRef]], *, data: bool = True) -> dict[tuple[str, FactRef], Fact]:
        wanted = {(entity_key(entity_ref), fact_ref) for entity_ref, fact_ref in pairs}
        if not wanted:
            return {}
        keys, refs = zip(*((key, str(ref)) for key, ref in wanted))
        columns = _FACT_COLUMNS if data else _FACT_COLUMNS.replace("data", "'null'")
        query = (f"SELECT {columns} FROM soundcheck_facts "
                 "WHERE (entity_key, fact_ref) IN (SELECT * FROM unnest(%s::text[], %s::text[]))")
        rows = self._run("read facts", lambda conn: conn.execute(query, (list(keys), list(refs))).fetchall())
        out: dict[tuple[str, FactRef], Fact] = {}
        for key, fact in self._decode(rows):
            if (key, fact.fact_ref) in wanted:
                out[(key, fact.fact_ref)] = fact
        return out

    def put(self, fact: Fact) -> None:
        self.put_many([fact])

    def put_many(self, facts: Iterable[Fact]) -> int:
        # Encode everything first: a fact that cannot be stored aborts before the transaction, writing nothing.
        encoded = [self._encode(f) for f in facts]
        if not encoded:
            return 0
        # One row per key (the last write wins, as it would one put at a time; an upsert statement cannot touch a
        # row twice), in key order, so that concurrent writers lock rows in the same order and cannot deadlock.
        rows = sorted({(row[0], row[1]): row for row in encoded}.values(), key=lambda row: (row[0], row[1]))

        def write(conn: psycopg.Connection[Any]) -> None:
            for attempt in range(WRITE_RETRIES + 1):
                try:
                    with conn.transaction():
                        for start in range(0, len(rows), WRITE_CHUNK):
                            chunk = rows[start : start + WRITE_CHUNK]
                            conn.execute(_UPSERT, [list(column) for column in zip(*chunk)])
                    return
                except pg_errors.DeadlockDetected:
                    if attempt == WRITE_RETRIES:
                        raise

        self._run("write facts", write)
        return len(encoded)

    def put_stream(self, batches: Iterable[Iterable[Fact]]) -> int:
        """Write every batch of ``batches`` in one transaction (``soundcheck facts push``): all of them, or, when
        the iterable raises or a fact cannot be stored, none. Each batch goes into a temporary table as it comes;
        one sorted upsert moves them into ``soundcheck_facts`` at the end (the last of a key given twice wins; rows
        are locked in key order, as ``put_many`` locks them). Memory: one batch at a time. The batches cannot be
        read twice, so a connection lost part way is an error (nothing written), not a silent retry."""
        started = False

        def write(conn: psycopg.Connection[Any]) -> int:
            nonlocal started
            if started:
                raise StoreError(f"fact store {self._shown}: the connection was lost during the push; nothing was "
                                 "written: push again")
            started = True
            count = 0
            with conn.transaction():
                conn.execute(_PUSH_TABLE)
                for batch in batches:
                    rows = [self._encode(f) for f in batch]
                    if rows:
                        seq = list(range(count, count + len(rows)))
                        conn.execute(_PUSH_ROWS, [seq, *(list(column) for column in zip(*rows))])
                        count += len(rows)
                conn.execute(_PUSH_UPSERT)
            return count

        return self._run("write facts", write)

    def facts(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> Iterator[Fact]:
        rows = self._select(entity_ref, fact_ref)
        with paused():
            return iter([fact for _, fact in self._decode(rows)])

    def load_all(self) -> dict[tuple[str, FactRef], Fact]:
        """Every fact, in one query; the entity key comes from its column (already lower-cased). The rows come
        through a server-side cursor (psycopg's named cursor, in a read transaction), ``_LOAD_ROWS`` at a time:
        the client never holds every row's text at once (270,000 facts: 200 MB), as the folder store's load."""

        def read(conn: psycopg.Connection[Any]) -> dict[tuple[str, FactRef], Fact]:
            with conn.transaction(), conn.cursor(name="soundcheck_load_all") as cursor:
                cursor.execute(f"SELECT {_FACT_COLUMNS} FROM soundcheck_facts")
                return keyed_facts(self._decode, iter(lambda: cursor.fetchmany(_LOAD_ROWS), []))

        with paused():
            return self._run("read facts", read)

    def load_entities(self, keys: Sequence[str]) -> dict[tuple[str, FactRef], Fact]:
        """Every fact of these entities, in one query (the primary key's leading column is the entity key)."""
        wanted = list(dict.fromkeys(keys))
        query = f"SELECT {_FACT_COLUMNS} FROM soundcheck_facts WHERE entity_key = ANY(%s::text[])"

        def read(conn: psycopg.Connection[Any]) -> dict[tuple[str, FactRef], Fact]:
            with conn.cursor() as cursor:
                cursor.execute(query, (wanted,))
                return keyed_facts(self._decode, iter(lambda: cursor.fetchmany(_LOAD_ROWS), []))

        with paused():
            return self._run("read facts", read)

    def delete(self, entity_ref: str | None = None, fact_ref: FactRef | None = None) -> int:
        where, params = where_clause(entity_ref, fact_ref, "%s")
        query = "DELETE FROM soundcheck_facts" + where
        return self._run("delete facts", lambda conn: conn.execute(query, params).rowcount)

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._run("read meta data", lambda conn: conn.execute(_GET_META, (key,)).fetchone())
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError as exc:
            raise StoreError(f"the fact store {self._shown} holds unreadable meta data ({key}): {exc}") from None

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (plain data only: the store must stay readable by any version)."""
        try:
            text = _dumps(value)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StoreError(f"meta value for {key!r} is not JSON ({exc})") from None
        self._run("write meta data", lambda conn: conn.execute(_SET_META, (key, text)))

    def delete_meta(self, key: str) -> bool:
        return self._run("delete meta data",
                         lambda conn: conn.execute("DELETE FROM soundcheck_meta WHERE key = %s", (key,)).rowcount > 0)

    def meta_keys(self, prefix: str = "") -> list[str]:
        """Meta keys starting with ``prefix``, sorted by code point (as Python sorts, whatever the collation)."""
        rows = self._run("read meta data", lambda conn: conn.execute(
            "SELECT key FROM soundcheck_meta WHERE starts_with(key, %s)", (prefix,)).fetchall())
        return sorted(key for (key,) in rows)

    @contextmanager
    def lock(self, name: str, expire_seconds: float = 300.0) -> Iterator[bool]:
        """Claim ``name`` across processes and machines (a lease row); yields whether the claim succeeded.

        Never blocks. The lease is claimed if there is none, the existing one has expired (by the server's clock,
        so machines' clocks need not agree) or its owner is a killed process of this host. It is renewed while
        this process lives, for at most ``expire_seconds``; on exit it is released only if it is still ours."""
        with self.claim_many([name], expire_seconds) as got:
            yield name in got

    @contextmanager
    def claim_many(self, names: Iterable[str], expire_seconds: float = 300.0) -> Iterator[set[str]]:
        """``lock`` for many names in one round trip each way (claim, release); yields the names acquired."""
        wanted = sorted(set(names))
        if not wanted:
            yield set()
            return
        token = new_token()
        limit = float(expire_seconds)
        params = {"names": wanted, "token": token, "secs": min(limit, LEASE_STEP)}
        rows = self._run("claim facts", lambda conn: conn.execute(_CLAIM_MANY, params).fetchall())
        got = {name for (name,) in rows}
        if len(got) < len(wanted) and self._free_dead([name for name in wanted if name not in got]):
            rows = self._run("claim facts", lambda conn: conn.execute(_CLAIM_MANY, params).fetchall())
            got |= {name for (name,) in rows}
        if got and limit > LEASE_STEP:
            self._heartbeat.hold(token, limit)
        try:
            yield got
        finally:
            if got:
                self._heartbeat.drop(token)
                try:
                    self._run("release claims", lambda conn: conn.execute(
                        "DELETE FROM soundcheck_leases WHERE token = %s AND name = ANY(%s)", (token, sorted(got))))
                except StoreError:
                    pass  # the leases lapse by themselves

    def _renew(self, token: str, limit: float) -> None:
        """Extend the leases of ``token`` by ``LEASE_STEP`` (never past ``limit`` seconds after they were taken)."""
        params = {"token": token, "limit": limit, "step": LEASE_STEP}
        self._run("renew claims", lambda conn: conn.execute(_RENEW, params))

    def _holders(self, names: list[str]) -> list[tuple[str, str, Any]]:
        """``(name, token, acquired_at)`` of the live leases among ``names`` (by the server's clock)."""
        return self._run("read claims", lambda conn: conn.execute(
            "SELECT name, token, acquired_at FROM soundcheck_leases WHERE name = ANY(%s)"
            " AND expires_at > clock_timestamp()", (names,)).fetchall())

    def _free_dead(self, names: list[str]) -> bool:
        """Delete the leases among ``names`` whose owner is a process of this host that no longer exists (killed
        with ``kill -9``: it could not release them); returns whether there were any. Leases of other hosts
        lapse at their expiry (this host cannot see their processes)."""
        dead = sorted({token for _, token, _ in self._holders(names) if _dead_here(token)})
        if not dead:
            return False
        self._run("release claims of a killed process", lambda conn: conn.execute(
            "DELETE FROM soundcheck_leases WHERE token = ANY(%s) AND name = ANY(%s)", (dead, names)))
        return True

    def claim_holders(self, names: Iterable[str]) -> dict[str, str]:
        """Who holds the live claims among ``names``: ``{name: "host pid N since HH:MM:SS"}``."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        out: dict[str, str] = {}
        for name, token, since in self._holders(wanted):
            if _dead_here(token):
                continue
            host, pid = _owner(token)
            out[name] = f"{host.split('/')[0]} pid {pid} since {since.astimezone().strftime('%H:%M:%S')}"
        return out

    def _release(self, name: str, token: str) -> None:
        self._run(f"release {name!r}", lambda conn: conn.execute(
            "DELETE FROM soundcheck_leases WHERE name = %s AND token = %s", (name, token)))

    def close(self) -> None:
        self._heartbeat.stop()
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def describe(self) -> str:
        return self._shown

    def __repr__(self) -> str:
        return f"PostgresFactStore({self._shown!r})"


class _Heartbeat:
    """Renews the leases a store holds, every ``LEASE_STEP / 3`` seconds, from one daemon thread that runs while
    claims are held (``renew(token, limit)``; a failed renewal is tried again next time: at worst the claim lapses
    and another run does that work too). Stopped by the store's ``close``."""

    def __init__(self, renew: Callable[[str, float], None]) -> None:
        self._renew = renew
        self._held: dict[str, float] = {}
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, token: str, limit: float) -> None:
        with self._guard:
            self._held[token] = limit
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                self._thread = threading.Thread(target=self._loop, name="soundcheck-lease-heartbeat", daemon=True)
                self._thread.start()

    def drop(self, token: str) -> None:
        with self._guard:
            self._held.pop(token, None)

    def stop(self) -> None:
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _loop(self) -> None:
        while not self._stopped.wait(LEASE_STEP / 3):
            with self._guard:
                held = list(self._held.items())
                if not held:
                    # Nothing to renew: end, so that no thread is left when no claim is held (``check`` forks
                    # only a process with no other thread: ``cli.beside``); the next ``hold`` starts another.
                    self._thread = None
                    return
            for token, limit in held:
                try:
                    self._renew(token, limit)
                except StoreError:
                    pass


def _owner(token: str) -> tuple[str, str]:
    """The host and pid of a lease's token (``host:pid:random``, ``facts.store.new_token``)."""
    parts = token.rsplit(":", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else ("?", "?")


def _dead_here(token: str) -> bool:
    """Whether a lease's owner is a process of this host that no longer exists."""
    host, pid = _owner(token)
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid))


def _passwords(url: str) -> list[str]:
    """The password(s) in a URL (``user:password@`` and/or ``?password=``), in the forms they may be shown."""
    found: set[str] = set()
    try:
        netloc = urlsplit(url).netloc
        if "@" in netloc:
            userinfo = netloc.rsplit("@", 1)[0]
            if ":" in userinfo:
                raw = userinfo.split(":", 1)[1]
                found |= {raw, unquote(raw)}
    except ValueError:
        pass
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    if password:
        found |= {str(password), quote(str(password), safe="")}
    return sorted((p for p in found if p), key=len, reverse=True)


def open_pg_store(url: str, *, require_schema: bool = True) -> PostgresFactStore:
    """Connect to the store at ``url``; with ``require_schema`` (the default) also check that its schema exists
    and is this version's. ``StoreError`` (password masked) when either fails."""
    store = PostgresFactStore(url)
    if require_schema:
        try:
            store.check_schema()
        except BaseException:
            store.close()
            raise
    return store
