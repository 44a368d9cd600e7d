"""Fixtures for the dbt project tests: a small raw warehouse and one real `dbt build` on it.

The raw warehouse holds the first three days of 2013 loaded by `raw_fixture.build_raw_fixture`,
plus `ml.flight_delay_predictions` as the Python scoring asset would write it (deterministic
scores, `raw_fixture.write_predictions`), so that the monitoring model builds too. It is built
once (`raw_template`) and copied for each consumer. The `dbt build` runs once per session; dbt's
target and log paths go to a temporary directory so the repository stays clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt_cli import DbtRun, ParseRun, run_dbt
from raw_fixture import (
    DEFAULT_DAYS,
    WAREHOUSE_FILE,
    RawFixture,
    build_raw_fixture,
    copy_raw,
    expected_flight_rows,
    write_predictions,
)


@pytest.fixture(scope="session")
def raw_template(tmp_path_factory: pytest.TempPathFactory) -> RawFixture:
    """Only `raw.*` (three days) and `ml.flight_delay_predictions`: copy it, never build on it."""
    db_path = tmp_path_factory.mktemp("raw_template") / WAREHOUSE_FILE
    fixture = build_raw_fixture(db_path, days=DEFAULT_DAYS)
    write_predictions(db_path, days=DEFAULT_DAYS)
    return fixture


@pytest.fixture(scope="session")
def session_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(warehouse dir, dbt work dir) of the session's build: one profile, one partial parse."""
    root = tmp_path_factory.mktemp("dbt_session")
    return root / "db", root / "dbt"


@pytest.fixture(scope="session")
def dbt_parse(session_dirs: tuple[Path, Path]) -> ParseRun:
    """`dbt parse` before the warehouse exists; the session's build then reuses its parse."""
    db_dir, work_dir = session_dirs
    run = run_dbt(["parse"], db_dir / WAREHOUSE_FILE, work_dir)
    return ParseRun(run=run, warehouse_existed=(db_dir / WAREHOUSE_FILE).exists())


@pytest.fixture(scope="session")
def raw_warehouse(
    raw_template: RawFixture, dbt_parse: ParseRun, session_dirs: tuple[Path, Path]
) -> RawFixture:
    """The warehouse the session's `dbt build` writes into (starts as a copy of the template)."""
    db_path = copy_raw(raw_template, session_dirs[0])
    return RawFixture(
        db_path=db_path,
        days=raw_template.days,
        row_counts=raw_template.row_counts,
        files=raw_template.files,
    )


@pytest.fixture(scope="session")
def dbt_build(raw_warehouse: RawFixture, session_dirs: tuple[Path, Path]) -> DbtRun:
    """`dbt build` of the whole project on the raw fixture (run once per session)."""
    work_dir = session_dirs[1] / "build"
    run = run_dbt(
        ["build"], raw_warehouse.db_path, work_dir, reuse_parse_from=session_dirs[1] / "target"
    )
    print(f"dbt build on {DEFAULT_DAYS} days took {run.seconds:.1f} s")
    return run


@pytest.fixture(scope="session")
def built(dbt_build: DbtRun, raw_warehouse: RawFixture) -> Path:
    """The warehouse after a successful `dbt build`."""
    assert dbt_build.returncode == 0, dbt_build.output[-5000:]
    return raw_warehouse.db_path


@pytest.fixture(scope="session")
def csv_flights() -> list[dict[str, str]]:
    """The fixture's flights read straight from the package CSV (for reconciling)."""
    return expected_flight_rows(DEFAULT_DAYS)
