"""DuckLake on PostgreSQL with several processes at once: what `lake` promises the pipeline.

Every writer and reader is its own process with its own DuckDB connection (spawned, as separate
Dagster steps or machines would be). The writers meet at a barrier with their transactions open,
so the two commits always race on the same snapshot.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from pathlib import Path

import lake_workers
import pytest

pytestmark = pytest.mark.lake

ROWS = 1000  # above DuckLake's data-inlining limit, so the rows go to Parquet files
CONFLICT_TEXT = "Transaction conflict"


@pytest.fixture
def lake_con(lake_catalog, extension_dir):
    """The test's own connection: creates the lake (once, before any worker) and checks it.

    Two processes attaching a brand-new lake at once both try to create DuckLake's catalog
    tables and one fails, so the lake always exists before the workers start.
    """
    from orchestration.lake import connect_lake

    con = connect_lake(lake_catalog, extension_dir)
    yield con
    con.close()


def _setup(con, *tables: str) -> None:
    for table in tables:
        con.execute(f"CREATE TABLE {table} (day INTEGER, i BIGINT, writer VARCHAR)")
        con.execute(f"INSERT INTO {table} SELECT 1, range, 'setup' FROM range({ROWS})")


def _collect(results, processes, timeout: float) -> list[tuple]:
    """One report per process; fails at once, with the exit codes, if a process died without
    reporting (instead of waiting out the timeout)."""
    reports: list[tuple] = []
    deadline = time.monotonic() + timeout
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=1))
            continue
        except queue.Empty:
            pass
        exited = [p.exitcode for p in processes if p.exitcode is not None]
        if len(exited) == len(processes) and results.empty():
            pytest.fail(f"worker processes ended without reporting: exit codes {exited}")
        if time.monotonic() > deadline:
            pytest.fail(f"no report from the workers within {timeout:.0f} s")
    return reports


def _race(
    lake_catalog, extension_dir: Path, jobs: list[dict], target=lake_workers.replace_day
) -> dict[str, tuple]:
    """Run ``target`` once per job, each in its own process; return outcomes by writer."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    processes = [
        ctx.Process(
            target=target,
            args=(lake_catalog.catalog, lake_catalog.data_path, str(extension_dir)),
            kwargs=dict(job, barrier=barrier, results=results),
        )
        for job in jobs
    ]
    for p in processes:
        p.start()
    outcomes = {}
    for writer, outcome, detail in _collect(results, processes, timeout=300):
        outcomes[writer] = (outcome, detail)
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


def test_writers_on_different_tables_both_commit(lake_catalog, extension_dir, lake_con):
    """Two processes replacing a day in two different tables, committing together: both win."""
    _setup(lake_con, "main.flights", "main.weather")
    outcomes = _race(
        lake_catalog,
        extension_dir,
        [
            dict(table="main.flights", day=1, writer="w1", rows=ROWS, retry=False),
            dict(table="main.weather", day=1, writer="w2", rows=ROWS, retry=False),
        ],
    )
    assert outcomes == {"w1": ("ok", 1), "w2": ("ok", 1)}
    rows = lake_con.execute(
        "SELECT 'flights', writer, count(*) FROM main.flights GROUP BY ALL"
        " UNION ALL SELECT 'weather', writer, count(*) FROM main.weather GROUP BY ALL"
        " ORDER BY 1",
    ).fetchall()
    assert rows == [("flights", "w1", ROWS), ("weather", "w2", ROWS)]


def test_same_table_delete_insert_conflicts(lake_catalog, extension_dir, lake_con):
    """Two delete+insert transactions on one table: one commits, DuckLake refuses the other."""
    _setup(lake_con, "main.flights")
    outcomes = _race(
        lake_catalog,
        extension_dir,
        [dict(table="main.flights", day=1, writer=w, rows=ROWS, retry=False) for w in ("w1", "w2")],
    )
    by_outcome = sorted(outcomes.values(), key=lambda o: o[0])
    assert [o[0] for o in by_outcome] == ["error", "ok"]
    error = by_outcome[0][1]
    # The exact text, so that orchestration.lake.is_transaction_conflict keeps matching it.
    assert error.startswith(
        "TransactionException: TransactionContext Error: Failed to commit: "
        "Failed to commit DuckLake transaction.\n"
        'Transaction conflict - attempting to insert into table with index "'
    ), error
    assert error.endswith("but another transaction has deleted from it"), error
    winner = next(w for w, o in outcomes.items() if o[0] == "ok")
    assert lake_con.execute(
        "SELECT writer, count(*) FROM main.flights GROUP BY ALL"
    ).fetchall() == [(winner, ROWS)]


def test_same_table_delete_insert_retry_with_backoff(lake_catalog, extension_dir, lake_con):
    """With retry_on_conflict both transactions commit: the loser redoes its work after."""
    _setup(lake_con, "main.flights")
    outcomes = _race(
        lake_catalog,
        extension_dir,
        [dict(table="main.flights", day=1, writer=w, rows=ROWS, retry=True) for w in ("w1", "w2")],
    )
    assert {o[0] for o in outcomes.values()} == {"ok"}, outcomes
    attempts = sorted(o[1] for o in outcomes.values())
    assert attempts[0] == 1 and attempts[1] >= 2, outcomes
    last = max(outcomes, key=lambda w: outcomes[w][1])
    # The retried writer committed last, so its day replaced the other's: no duplicates.
    assert lake_con.execute(
        "SELECT writer, count(*) FROM main.flights GROUP BY ALL"
    ).fetchall() == [(last, ROWS)]


def test_dbt_like_table_swaps_on_different_tables_both_commit(
    lake_catalog, extension_dir, lake_con
):
    """dbt's table materialization (create tmp, rename, drop backup) on two tables at once."""
    _setup(lake_con, "main.carriers", "main.routes")

    def swap(table: str) -> list[str]:
        return [
            f"CREATE TABLE {table}__dbt_tmp AS SELECT 2 AS day, range AS i, 'new' AS writer"
            f" FROM range({ROWS})",
            f"ALTER TABLE {table} RENAME TO {table.split('.')[1]}__dbt_backup",
            f"ALTER TABLE {table}__dbt_tmp RENAME TO {table.split('.')[1]}",
            f"DROP TABLE {table}__dbt_backup",
        ]

    outcomes = _race(
        lake_catalog,
        extension_dir,
        [dict(writer=t, statements=swap(f"main.{t}"), retry=False) for t in ("carriers", "routes")],
        target=lake_workers.run_statements,
    )
    assert outcomes == {"carriers": ("ok", 1), "routes": ("ok", 1)}
    assert lake_con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' ORDER BY 1",
    ).fetchall() == [("carriers",), ("routes",)]


def test_first_runs_race_on_create_schema(lake_catalog, extension_dir, lake_con):
    """Two first runs both creating a schema conflict, even with IF NOT EXISTS; a retry fixes it.

    dbt creates each model's schema before building it, so on a fresh lake two parallel runs
    collide here: create the schemas once before starting parallel runs (or retry).
    """

    def jobs(schema: str, retry: bool) -> list[dict]:
        return [
            dict(
                writer=w,
                statements=[
                    f"CREATE SCHEMA IF NOT EXISTS {schema}",
                    f"CREATE TABLE {schema}.{w} AS SELECT 1 AS x",
                ],
                retry=retry,
            )
            for w in ("w1", "w2")
        ]

    target = lake_workers.run_statements
    outcomes = _race(lake_catalog, extension_dir, jobs("staging", False), target=target)
    errors = [detail for outcome, detail in outcomes.values() if outcome == "error"]
    assert len(errors) == 1, outcomes
    assert (
        'Transaction conflict - attempting to create schema with name "staging" - but another'
        " transaction has created a schema with this name already"
    ) in errors[0]

    # A fresh schema name, so that the race happens again, this time with retries.
    outcomes = _race(lake_catalog, extension_dir, jobs("marts", True), target=target)
    assert sorted(outcomes.values()) == [("ok", 1), ("ok", 2)], outcomes


def test_reader_sees_only_committed_states_while_writer_writes(
    lake_catalog, extension_dir, lake_con
):
    """A reader polling two tables while a writer rewrites both: whole versions, no errors."""
    for table in ("a", "b"):
        lake_con.execute(
            f"CREATE TABLE main.{table} AS SELECT 0 AS version, range AS i FROM range(0)"
        )

    versions = 8
    ctx = multiprocessing.get_context("spawn")
    seen, reader_started, done = ctx.Value("i", 0), ctx.Event(), ctx.Event()
    results = ctx.Queue()
    common = (lake_catalog.catalog, lake_catalog.data_path, str(extension_dir))
    writer = ctx.Process(
        target=lake_workers.write_versions,
        args=(*common, versions, ROWS, seen, reader_started, done, results),
    )
    reader = ctx.Process(
        target=lake_workers.poll_versions,
        args=(*common, seen, reader_started, done, results),
    )
    reader.start()
    writer.start()
    reports = {}
    for name, *rest in _collect(results, [writer, reader], timeout=600):
        reports[name] = rest
    for p in (writer, reader):
        p.join(timeout=60)
        assert p.exitcode == 0

    assert reports["writer"] == ["ok", versions]
    states, errors = reports["reader"]
    assert errors == []
    committed = {(0, None, None, 0, None, None)} | {
        (ROWS, v, v, ROWS, v, v) for v in range(1, versions + 1)
    }
    assert set(states) <= committed, set(states) - committed
    seen_versions = [s[2] for s in states if s[2] is not None]
    assert seen_versions == sorted(seen_versions), "a reader went back in time"
    assert set(seen_versions) == set(range(1, versions + 1))
