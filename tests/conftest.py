"""Shared fixtures: a PostgreSQL server for the session, a fresh schema per test, and ``any_store``.

- ``pg_server`` (session): the base URL of a PostgreSQL server: env ``SOUNDCHECK_TEST_PG_URL`` if set, else a
  throwaway cluster started with ``tests/pg_support.py`` (stopped at the end). When neither is possible the tests
  that need it are skipped, unless env ``SOUNDCHECK_REQUIRE_PG=1`` (CI), which makes them fail with the reason.
- ``pg_url`` (function): a URL whose connections use a new, empty schema (``options=-csearch_path=...``), dropped
  after the test. Nothing is created in it: ``init_store(pg_url)`` or ``any_store`` does that.
- ``any_store`` (function, params ``disk`` and ``postgres``): an opened, initialised, empty ``FactStore``;
  ``any_store_factory`` opens more instances on the same backend (another process's view).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # ``import pg_support`` from tests and from spawned test processes

import pg_support  # noqa: E402

# Per-user caches (the catalog parse cache of a database store) go to a folder of this test session, not ~/.cache;
# spawned soundcheck processes inherit it.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="soundcheck-tests-cache-")

PG_URL_ENV = "SOUNDCHECK_TEST_PG_URL"
REQUIRE_PG_ENV = "SOUNDCHECK_REQUIRE_PG"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_PG_ENV, "").strip() not in ("", "0"):
        pytest.fail(f"PostgreSQL is required ({REQUIRE_PG_ENV}=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def _pg_cluster() -> Iterator[pg_support.Cluster | str]:
    """The started cluster, or the reason none could be started (reported by ``pg_server`` on use)."""
    if os.environ.get(PG_URL_ENV):
        yield os.environ[PG_URL_ENV]
        return
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        yield f"psycopg is not installed ({exc})"
        return
    try:
        cluster = pg_support.start_cluster()
    except (pg_support.ClusterUnavailable, OSError) as exc:
        yield str(exc)
        return
    try:
        yield cluster
    finally:
        pg_support.stop_cluster(cluster)


@pytest.fixture(scope="session")
def pg_server(_pg_cluster: pg_support.Cluster | str) -> str:
    """Base URL of the session's PostgreSQL server (see module doc)."""
    if isinstance(_pg_cluster, pg_support.Cluster):
        return _pg_cluster.url
    if os.environ.get(PG_URL_ENV):
        return os.environ[PG_URL_ENV]
    _unavailable(_pg_cluster)
    raise AssertionError("unreachable")


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL on ``pg_server`` whose connections use a fresh, empty schema (dropped after the test)."""
    try:
        schema = pg_support.fresh_schema(pg_server)
        url = schema.__enter__()
    except Exception as exc:  # the server went away, or the env URL is wrong
        _unavailable(f"cannot create a schema on {pg_support.masked(pg_server)}: {exc}")
    try:
        yield url
    finally:
        schema.__exit__(None, None, None)


def _open(kind: str, where: str):
    if kind == "disk":
        from soundcheck_cli.facts.store import open_store

        return open_store(where)
    from soundcheck_cli.facts.pg_store import open_pg_store

    return open_pg_store(where)


@pytest.fixture(params=["disk", "postgres"])
def any_store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], object]]:
    """Opens (and closes at the end) store instances on one initialised backend: a folder, or a fresh schema."""
    if request.param == "disk":
        where = str(tmp_path / "store")
    else:
        from soundcheck_cli.facts.locate import init_store

        where = request.getfixturevalue("pg_url")
        init_store(where)
    opened: list = []

    def factory():
        store = _open(request.param, where)
        opened.append(store)
        return store

    factory.kind = request.param  # type: ignore[attr-defined]
    factory.where = where  # type: ignore[attr-defined]
    try:
        yield factory
    finally:
        for store in opened:
            store.close()


@pytest.fixture
def any_store(any_store_factory: Callable[[], object]):
    """An opened, initialised, empty fact store: ``disk`` (DiskFactStore) or ``postgres`` (PostgresFactStore)."""
    return any_store_factory()
