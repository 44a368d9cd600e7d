"""Fixtures for the dbt project tests: a small raw warehouse and one real `dbt build` on it.

The build runs once per session (about 15 s) on the first three days of 2013 loaded by
`raw_fixture.build_raw_fixture`; dbt's target and log paths go to a temporary directory so the
repository stays clean.
"""

from __future__ import annotations

import pytest
from dbt_cli import DbtRun, run_dbt
from raw_fixture import DEFAULT_DAYS, RawFixture, build_raw_fixture


@pytest.fixture(scope="session")
def raw_warehouse(tmp_path_factory: pytest.TempPathFactory) -> RawFixture:
    """A DuckDB file with only the `raw` schema: the first three days of 2013."""
    db_path = tmp_path_factory.mktemp("dbt_warehouse") / "warehouse.duckdb"
    return build_raw_fixture(db_path, days=DEFAULT_DAYS)


@pytest.fixture(scope="session")
def dbt_build(raw_warehouse: RawFixture, tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    """`dbt build` of the whole project on the raw fixture (run once per session)."""
    run = run_dbt(["build"], raw_warehouse.db_path, tmp_path_factory.mktemp("dbt_build"))
    print(f"dbt build on {DEFAULT_DAYS} days took {run.seconds:.1f} s")
    return run
