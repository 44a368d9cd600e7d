"""Fixtures for the dbt project tests: a small raw warehouse and one real `dbt build` on it.

The raw warehouse holds the first three days of 2013 loaded by `raw_fixture.build_raw_fixture`,
plus `ml.flight_delay_predictions` as the Python scoring asset would write it (deterministic
scores, `raw_fixture.write_predictions`), so that the monitoring model builds too. It is built
once (`raw_template`) and copied for each consumer. The `dbt build` runs once per session; dbt's
target and log paths go to a temporary directory so the repository stays clean.

Under pytest-xdist the template and the session's parse and build are made once for all workers
(tests/shared_fixtures.py): `dbt parse`, the copy and `dbt build` in one step, in that order, so
that no worker reads the warehouse while dbt writes it. `built` is then each worker's own copy:
`dbt docs generate` (test_docs.py) opens it for writing, which would lock the other workers'
readers out of a shared file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
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
from shared_fixtures import build_once, xdist_worker


def _build_template(folder: Path) -> RawFixture:
    db_path = folder / WAREHOUSE_FILE
    fixture = build_raw_fixture(db_path, days=DEFAULT_DAYS)
    write_predictions(db_path, days=DEFAULT_DAYS)
    return fixture


def _dump_raw(fixture: RawFixture) -> dict:
    return asdict(fixture) | {
        "db_path": str(fixture.db_path),
        "days": [day.isoformat() for day in fixture.days],
    }


def _load_raw(stored: dict) -> RawFixture:
    return RawFixture(
        db_path=Path(stored["db_path"]),
        days=[date.fromisoformat(day) for day in stored["days"]],
        row_counts=stored["row_counts"],
        files=stored["files"],
    )


def _dump_run(run: DbtRun) -> dict:
    return asdict(run) | {"target_path": str(run.target_path)}


def _load_run(stored: dict) -> DbtRun:
    return DbtRun(**stored | {"target_path": Path(stored["target_path"])})


@pytest.fixture(scope="session")
def raw_template(request: pytest.FixtureRequest, tmp_path_factory) -> RawFixture:
    """Only `raw.*` (three days) and `ml.flight_delay_predictions`: copy it, never build on it."""
    return build_once(
        request.config, tmp_path_factory, "raw_template", _build_template, _dump_raw, _load_raw
    )


# The session's steps, each in `root` (warehouse dir `db`, dbt work dir `dbt`): one profile,
# one partial parse.
def _parse(root: Path) -> ParseRun:
    """`dbt parse` before the warehouse exists; the session's build then reuses its parse."""
    run = run_dbt(["parse"], root / "db" / WAREHOUSE_FILE, root / "dbt")
    return ParseRun(run=run, warehouse_existed=(root / "db" / WAREHOUSE_FILE).exists())


def _warehouse(template: RawFixture, root: Path) -> RawFixture:
    """The warehouse the session's `dbt build` writes into (starts as a copy of the template)."""
    db_path = copy_raw(template, root / "db")
    return RawFixture(
        db_path=db_path, days=template.days, row_counts=template.row_counts, files=template.files
    )


def _build(warehouse: RawFixture, root: Path) -> DbtRun:
    run = run_dbt(
        ["build"],
        warehouse.db_path,
        root / "dbt" / "build",
        reuse_parse_from=root / "dbt" / "target",
    )
    print(f"dbt build on {DEFAULT_DAYS} days took {run.seconds:.1f} s")
    return run


@dataclass
class DbtSession:
    parse: ParseRun
    warehouse: RawFixture
    build: DbtRun


def _dump_session(session: DbtSession) -> dict:
    return {
        "parse": {"run": _dump_run(session.parse.run), "existed": session.parse.warehouse_existed},
        "warehouse": _dump_raw(session.warehouse),
        "build": _dump_run(session.build),
    }


def _load_session(stored: dict) -> DbtSession:
    return DbtSession(
        parse=ParseRun(_load_run(stored["parse"]["run"]), stored["parse"]["existed"]),
        warehouse=_load_raw(stored["warehouse"]),
        build=_load_run(stored["build"]),
    )


@pytest.fixture(scope="session")
def shared_dbt_session(
    request: pytest.FixtureRequest, raw_template: RawFixture, tmp_path_factory
) -> DbtSession:
    """Under xdist: parse, copy and build, once for all workers."""

    def build(root: Path) -> DbtSession:
        parse = _parse(root)
        warehouse = _warehouse(raw_template, root)
        return DbtSession(parse, warehouse, _build(warehouse, root))

    return build_once(
        request.config, tmp_path_factory, "dbt_session", build, _dump_session, _load_session
    )


def _shared(request: pytest.FixtureRequest) -> DbtSession | None:
    if xdist_worker(request.config) is None:
        return None
    return request.getfixturevalue("shared_dbt_session")


@pytest.fixture(scope="session")
def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a session without xdist parses and builds, one step when a test first needs it."""
    return tmp_path_factory.mktemp("dbt_session")


@pytest.fixture(scope="session")
def dbt_parse(request: pytest.FixtureRequest) -> ParseRun:
    """`dbt parse` before the warehouse exists; the session's build then reuses its parse."""
    shared = _shared(request)
    return shared.parse if shared else _parse(request.getfixturevalue("session_root"))


@pytest.fixture(scope="session")
def raw_warehouse(
    request: pytest.FixtureRequest, raw_template: RawFixture, dbt_parse: ParseRun
) -> RawFixture:
    """The warehouse the session's `dbt build` writes into (starts as a copy of the template)."""
    shared = _shared(request)
    if shared:
        return shared.warehouse
    return _warehouse(raw_template, request.getfixturevalue("session_root"))


@pytest.fixture(scope="session")
def dbt_build(request: pytest.FixtureRequest, raw_warehouse: RawFixture) -> DbtRun:
    """`dbt build` of the whole project on the raw fixture (run once per session)."""
    shared = _shared(request)
    return (
        shared.build if shared else _build(raw_warehouse, request.getfixturevalue("session_root"))
    )


@pytest.fixture(scope="session")
def built(
    request: pytest.FixtureRequest, dbt_build: DbtRun, raw_warehouse: RawFixture, tmp_path_factory
) -> Path:
    """The warehouse after a successful `dbt build` (under xdist: this worker's copy of it)."""
    assert dbt_build.returncode == 0, dbt_build.output[-5000:]
    if xdist_worker(request.config) is None:
        return raw_warehouse.db_path
    return copy_raw(raw_warehouse, tmp_path_factory.mktemp("dbt_built"))


@pytest.fixture(scope="session")
def csv_flights() -> list[dict[str, str]]:
    """The fixture's flights read straight from the package CSV (for reconciling)."""
    return expected_flight_rows(DEFAULT_DAYS)
