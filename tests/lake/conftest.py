"""Fixtures for the DuckLake tests: a throwaway PostgreSQL cluster and the offline extensions.

The cluster is a real PostgreSQL server (the binaries are on the machine, not a Python package):
`initdb` in a temporary directory, trust authentication, listening on 127.0.0.1 on a free port,
started once per session and stopped (then deleted) at the end. `initdb` and `pg_ctl` refuse to
run as root, so under root they run as ``nobody`` through `setpriv`. The cluster code lives in
`orchestration/local_postgres.py` (the benchmark starts its lake's catalog the same way).

Without the server binaries the tests are skipped, except under ``CI=true`` where they fail:
CI must never go green by skipping the lake.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration import local_postgres
from orchestration.local_postgres import PostgresCluster

# The dashboard tests' fixture data, page checks and connector helpers are reused by the lake's
# reader tests as they are: tests/dashboards has no __init__.py, its modules are imported by file
# name (as pytest itself imports them), so its folder goes on the path once, here.
DASHBOARD_TESTS = Path(__file__).resolve().parents[1] / "dashboards"
if str(DASHBOARD_TESTS) not in sys.path:
    sys.path.insert(0, str(DASHBOARD_TESTS))

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


def _start_cluster(attempts: int = 3) -> PostgresCluster:
    """`start_cluster()`, again when its port was taken: the port is free when picked, but the
    server binds it only after initdb, and other processes (xdist's other workers start their
    own servers) may bind it meanwhile."""
    for attempt in range(attempts):
        try:
            return local_postgres.start_cluster()
        except local_postgres.ClusterStartError as error:
            if "Address already in use" not in str(error) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def postgres_cluster(lake_deps: None) -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the session (orchestration/local_postgres.py): initdb,
    start; stop and delete at the end."""
    try:
        cluster = _start_cluster()
    except local_postgres.PostgresUnavailable as error:
        if _in_ci():
            pytest.fail(f"{error} (CI=true: the lake tests must run in CI)")
        pytest.skip(str(error))
    except local_postgres.ClusterStartError as error:
        if _in_ci():
            raise
        pytest.skip(f"could not start a throwaway PostgreSQL cluster: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()


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
