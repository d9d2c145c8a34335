"""A throwaway PostgreSQL cluster for tests and benchmarks (``bench/`` scripts import this module too).

``start_cluster()`` finds the server binaries (``pg_config --bindir``, else ``/usr/lib/postgresql/*/bin``), runs
``initdb`` into a fresh temporary folder and ``pg_ctl start`` listening on 127.0.0.1 on a free port, with the unix
socket in that folder and durability switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the
data is thrown away anyway. ``stop_cluster()`` stops it and removes the folder. ``pg_cluster()`` does both as a
context manager. PostgreSQL refuses to run as root: as root (CI, the sandbox) both commands run through
``runuser -u postgres --`` with the folder handed to ``postgres``.

Authentication: ``trust`` over the unix socket, ``scram-sha-256`` over TCP with a random password for the
``postgres`` user, so that the URL the tests use carries a password (tests check it never leaks) and a wrong
password is refused as on a real server.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL cluster can be started here (no server binaries, no ``postgres`` user as root...)."""


@dataclass
class Cluster:
    url: str  # postgresql://postgres:<password>@127.0.0.1:<port>/postgres
    port: int
    password: str
    root: str  # temporary folder: data/, the socket, server.log
    bindir: str
    run_as: list[str]  # command prefix (``runuser -u postgres --`` as root, else nothing)

    @property
    def datadir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def logfile(self) -> str:
        return os.path.join(self.root, "server.log")


def find_bindir() -> str | None:
    """The folder holding ``initdb``/``pg_ctl``, or None."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    # Debian/Ubuntu: one folder per major version; the newest first.
    found = glob.glob("/usr/lib/postgresql/*/bin")
    found.sort(key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
    candidates += found
    for extra in (shutil.which("initdb"),):
        if extra:
            candidates.append(os.path.dirname(extra))
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, "initdb")) and os.path.isfile(os.path.join(folder, "pg_ctl")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT + 30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClusterUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise ClusterUnavailable(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")


def start_cluster() -> Cluster:
    """Start a new cluster; ``ClusterUnavailable`` says why when that is impossible here."""
    bindir = find_bindir()
    if bindir is None:
        raise ClusterUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) found: install the postgresql package")
    run_as: list[str] = []
    root = tempfile.mkdtemp(prefix="soundcheck-pg-")  # under /tmp: reachable by the postgres user
    try:
        password = secrets.token_hex(12)
        pwfile = os.path.join(root, "pwfile")
        with open(pwfile, "w") as fh:
            fh.write(password + "\n")
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ClusterUnavailable("running as root and `runuser` is missing: cannot start PostgreSQL as postgres")
            try:
                import pwd

                user = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable("running as root and there is no `postgres` user to run the server") from None
            run_as = [runuser, "-u", "postgres", "--"]
            os.chown(root, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        datadir = os.path.join(root, "data")
        _run(
            [*run_as, os.path.join(bindir, "initdb"), "-D", datadir, "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )
        os.remove(pwfile)
        last: ClusterUnavailable | None = None
        for _ in range(3):  # the free port may be taken between choosing it and the server binding it
            port = _free_port()
            options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
                       "-c full_page_writes=off -c max_connections=200")
            try:
                _run([*run_as, os.path.join(bindir, "pg_ctl"), "-D", datadir, "-l", os.path.join(root, "server.log"),
                      "-w", "-t", str(START_TIMEOUT), "-o", options, "start"], "pg_ctl start")
            except ClusterUnavailable as exc:
                last = exc
                continue
            url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
            return Cluster(url=url, port=port, password=password, root=root, bindir=bindir, run_as=run_as)
        assert last is not None
        raise last
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def stop_server(cluster: Cluster) -> None:
    """Stop the server and keep its data (``pg_ctl stop -m fast``: clients are disconnected), for outage tests."""
    _run([*cluster.run_as, os.path.join(cluster.bindir, "pg_ctl"), "-D", cluster.datadir, "-m", "fast", "-w",
          "stop"], "pg_ctl stop")


def start_server(cluster: Cluster) -> None:
    """Start a stopped server again on its port (after ``stop_server``)."""
    options = (f"-p {cluster.port} -c listen_addresses=127.0.0.1 -k {cluster.root} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    _run([*cluster.run_as, os.path.join(cluster.bindir, "pg_ctl"), "-D", cluster.datadir, "-l", cluster.logfile,
          "-w", "-t", str(START_TIMEOUT), "-o", options, "start"], "pg_ctl start")


def stop_cluster(cluster: Cluster) -> None:
    """Stop the server (immediately: the data is thrown away) and remove its folder."""
    try:
        subprocess.run([*cluster.run_as, os.path.join(cluster.bindir, "pg_ctl"), "-D", cluster.datadir, "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pass
    shutil.rmtree(cluster.root, ignore_errors=True)


@contextmanager
def pg_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (``options=-csearch_path=<schema>``, percent-encoded)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def fresh_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """A new empty schema on the server of ``base_url``; yields a URL using it; drops it afterwards."""
    import psycopg

    schema = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(base_url, schema)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    import re

    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
