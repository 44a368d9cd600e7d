"""Fixtures for the DuckLake tests: a throwaway PostgreSQL cluster and the offline extensions.

The cluster is a real PostgreSQL server (the binaries are on the machine, not a Python package):
`initdb` in a temporary directory, trust authentication, listening on 127.0.0.1 on a free port,
started once per session and stopped (then deleted) at the end. `initdb` and `pg_ctl` refuse to
run as root, so under root they run as ``nobody`` through `setpriv`.

Without the server binaries the tests are skipped, except under ``CI=true`` where they fail:
CI must never go green by skipping the lake.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import pytest

# Project dependencies (pyproject.toml): missing only in a venv that is not synced.
LAKE_DEPS = (
    "duckdb_extension_ducklake",
    "duckdb_extension_postgres_scanner",
    "psycopg2",
    "dagster_postgres",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lake: DuckLake on a throwaway PostgreSQL cluster (tests/lake)"
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _find_pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian installs the server outside PATH.
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class PostgresCluster:
    """A running throwaway cluster: superuser ``postgres``, trust auth, TCP on 127.0.0.1."""

    host: str
    port: int
    user: str
    data_dir: Path
    log_file: Path

    def libpq(self, dbname: str) -> str:
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def connect(self, dbname: str = "postgres"):
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname)
        con.autocommit = True
        return con

    def create_database(self, dbname: str) -> str:
        con = self.connect()
        try:
            con.cursor().execute(f'CREATE DATABASE "{dbname}"')
        finally:
            con.close()
        return dbname


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix (and uid/gid to own files) that runs the server as a non-root user."""
    if os.geteuid() != 0:
        return [], None, None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root, and setpriv is missing to drop to an unprivileged user")
    nobody = pwd.getpwnam("nobody")
    prefix = [
        setpriv,
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
    ]
    return prefix, nobody.pw_uid, nobody.pw_gid


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def lake_deps() -> None:
    """Skip the lake tests where the lake's Python dependencies are not installed (never in CI)."""
    import importlib.util

    missing = [name for name in LAKE_DEPS if importlib.util.find_spec(name) is None]
    if missing:
        reason = f"lake dependencies not installed: {', '.join(missing)} (run `make install`)"
        if _in_ci():
            pytest.fail(reason + " (CI=true: the lake tests must run in CI)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_cluster(lake_deps: None) -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the session: initdb, start; stop and delete at the end."""
    initdb, pg_ctl = _find_pg_binary("initdb"), _find_pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or /usr/lib"
        if _in_ci():
            pytest.fail(reason + " (CI=true: the lake tests must run in CI)")
        pytest.skip(reason)

    prefix, uid, gid = _as_server_user()
    # Directly under the temp root (not pytest's 0700 tmp tree) so that `nobody` can reach it.
    root = Path(tempfile.mkdtemp(prefix="runway-pg-"))
    if uid is not None:
        os.chown(root, uid, gid)
    data_dir, log_file = root / "data", root / "server.log"
    port = _free_port()
    try:
        _run(
            [*prefix, initdb, "-D", str(data_dir), "-U", "postgres", "--auth=trust"]
            + ["--encoding=UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )
        # Durability is not under test: fsync off keeps the cluster cheap on a shared CI box.
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        _run(
            [*prefix, pg_ctl, "-D", str(data_dir), "-l", str(log_file), "-o", options]
            + ["-w", "-t", "60", "start"],
            "pg_ctl start",
        )
    except Exception:
        log = log_file.read_text() if log_file.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        if _in_ci():
            raise
        pytest.skip(f"could not start a throwaway PostgreSQL cluster: {log[-2000:]}")
    try:
        yield PostgresCluster("127.0.0.1", port, "postgres", data_dir, log_file)
    finally:
        stop = [*prefix, pg_ctl, "-D", str(data_dir), "-w", "-t", "60", "stop"]
        if subprocess.run([*stop, "-m", "fast"], capture_output=True).returncode != 0:
            subprocess.run([*stop, "-m", "immediate"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def extension_dir(lake_deps: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project-local-style extension directory filled from the pinned PyPI wheels."""
    from orchestration import lake

    return lake.install_extensions(tmp_path_factory.mktemp("duckdb_extensions"))


_database_ids = itertools.count()


@pytest.fixture
def lake_catalog(postgres_cluster: PostgresCluster, tmp_path: Path):
    """A fresh, empty DuckLake: its own catalog database on the cluster and its own data path."""
    from orchestration.lake import LakeCatalog

    dbname = postgres_cluster.create_database(f"lake_{os.getpid()}_{next(_database_ids)}")
    return LakeCatalog(catalog=postgres_cluster.libpq(dbname), data_path=str(tmp_path / "lake"))
