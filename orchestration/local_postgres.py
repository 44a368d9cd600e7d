"""A throwaway PostgreSQL cluster on this machine: for the DuckLake catalog in tests and benchmarks.

The lake target (orchestration/lake.py) keeps its catalog in PostgreSQL. Tests (tests/lake) and
the benchmark (bench/lake.py) need a real server that nobody else uses and that leaves nothing
behind, without a container: the server binaries are on the machine (``initdb``, ``pg_ctl``; on
PATH or Debian's ``/usr/lib/postgresql/<version>/bin``), not a Python package.

``start_cluster()`` runs ``initdb`` in a new directory directly under the temp root, with trust
authentication, and starts the server listening on 127.0.0.1 on a free port, with its own
unix-socket directory, fsync off (durability is not what a throwaway cluster is for). The
superuser is ``postgres``. ``PostgresCluster.stop()`` stops it (fast, else immediate) and deletes
the directory; ``throwaway_cluster()`` does both around a ``with`` block.

``initdb`` and ``pg_ctl`` refuse to run as root: under root they run as ``nobody`` through
``setpriv``, and the directory is handed to that user (a directory under a 0700 root-owned tree,
such as pytest's tmp dirs, would be unreachable for it).

Plain Python (psycopg2 only when connecting), no Dagster or pytest import.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import glob
from pathlib import Path

SUPERUSER = "postgres"
HOST = "127.0.0.1"
# What the server binaries are called; both are needed.
SERVER_BINARIES = ("initdb", "pg_ctl")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not on this machine."""


class ClusterStartError(RuntimeError):
    """``initdb`` or ``pg_ctl start`` failed (the message ends with the server log's tail)."""


def find_pg_binary(name: str) -> str | None:
    """The path of a server binary (``initdb``, ``pg_ctl``), or None."""
    found = shutil.which(name)
    if found:
        return found
    # Debian installs the server outside PATH; the newest version first.
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix (and the uid/gid to own the files) that runs the server unprivileged.

    Empty when not root. Under root: ``setpriv`` to ``nobody``; RuntimeError without setpriv.
    """
    if os.geteuid() != 0:
        return [], None, None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError(
            "running as root, and setpriv is missing to drop to an unprivileged user "
            "(initdb and pg_ctl refuse root)"
        )
    nobody = pwd.getpwnam("nobody")
    prefix = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    return prefix, nobody.pw_uid, nobody.pw_gid


@dataclass(frozen=True)
class PostgresCluster:
    """A running throwaway cluster: superuser ``postgres``, trust auth, TCP on 127.0.0.1."""

    host: str
    port: int
    user: str
    data_dir: Path
    log_file: Path
    # What stop() needs: the directory to delete, pg_ctl and the unprivileged-user prefix.
    root: Path | None = None
    pg_ctl: str | None = None
    prefix: tuple[str, ...] = ()

    def libpq(self, dbname: str) -> str:
        """A libpq connection string for ``dbname`` (what ``RUNWAY_LAKE_CATALOG`` takes)."""
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def connect(self, dbname: str = "postgres"):
        """A psycopg2 connection in autocommit mode (CREATE DATABASE refuses a transaction)."""
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname)
        con.autocommit = True
        return con

    def create_database(self, dbname: str) -> str:
        """Create an empty database (e.g. a new lake's catalog); returns its name."""
        con = self.connect()
        try:
            con.cursor().execute(f'CREATE DATABASE "{dbname}"')
        finally:
            con.close()
        return dbname

    def stop(self, remove: bool = True) -> None:
        """Stop the server (fast shutdown, else immediate) and delete its directory."""
        if self.pg_ctl is not None:
            stop = [*self.prefix, self.pg_ctl, "-D", str(self.data_dir), "-w", "-t", "60", "stop"]
            if subprocess.run([*stop, "-m", "fast"], capture_output=True).returncode != 0:
                subprocess.run([*stop, "-m", "immediate"], capture_output=True)
        if remove and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ClusterStartError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def start_cluster(max_connections: int = 100) -> PostgresCluster:
    """initdb a new cluster in a new temp directory and start it; the caller stops it.

    Raises PostgresUnavailable without the server binaries, ClusterStartError when initdb or the
    start fails (the directory is deleted then), RuntimeError as root without setpriv.
    """
    initdb, pg_ctl = (find_pg_binary(name) for name in SERVER_BINARIES)
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or /usr/lib/postgresql"
        )
    prefix, uid, gid = server_user()
    root = Path(tempfile.mkdtemp(prefix="runway-pg-"))
    if uid is not None:
        os.chown(root, uid, gid)
    data_dir, log_file = root / "data", root / "server.log"
    port = free_port()
    try:
        _run(
            [*prefix, initdb, "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust"]
            + ["--encoding=UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses={HOST} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
            f" -c max_connections={max_connections}"
        )
        _run(
            [*prefix, pg_ctl, "-D", str(data_dir), "-l", str(log_file), "-o", options]
            + ["-w", "-t", "60", "start"],
            "pg_ctl start",
        )
    except ClusterStartError as error:
        log = log_file.read_text(errors="replace") if log_file.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise ClusterStartError(f"{error}\nserver log:\n{log[-2000:]}") from None
    return PostgresCluster(HOST, port, SUPERUSER, data_dir, log_file, root, pg_ctl, tuple(prefix))


@contextmanager
def throwaway_cluster(max_connections: int = 100) -> Iterator[PostgresCluster]:
    """``with throwaway_cluster() as cluster:`` a started cluster, stopped and deleted after."""
    cluster = start_cluster(max_connections)
    try:
        yield cluster
    finally:
        cluster.stop()
