"""Process bodies for the DuckLake concurrency tests (module-level so `spawn` can import them).

Each worker opens its own DuckDB connection to the lake, as separate Dagster steps or machines
would, and reports back through a queue as ``(name, outcome, detail)``. Workers synchronise on
a barrier *before committing*, so both transactions are open on the same snapshot when the
first one commits: the overlap is forced by the protocol, not hoped for from timing.
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path

import duckdb

BARRIER_TIMEOUT = 120


def _open(catalog: str, data_path: str, extension_dir: str):
    from orchestration.lake import LakeCatalog, connect_lake

    return connect_lake(LakeCatalog(catalog, data_path), Path(extension_dir))


def replace_day(
    catalog: str,
    data_path: str,
    extension_dir: str,
    table: str,
    day: int,
    writer: str,
    rows: int,
    barrier,
    results,
    retry: bool,
) -> None:
    """Delete+insert one day of ``table`` in one transaction, as an incremental dbt model does.

    With ``retry`` a transaction conflict re-runs the whole transaction
    (orchestration.lake.retry_on_conflict).
    """
    statements = [
        f"DELETE FROM {table} WHERE day = {int(day)}",
        f"INSERT INTO {table} SELECT {int(day)}, range, '{writer}' FROM range({int(rows)})",
    ]
    run_statements(catalog, data_path, extension_dir, writer, statements, barrier, results, retry)


def write_versions(
    catalog: str,
    data_path: str,
    extension_dir: str,
    versions: int,
    rows: int,
    seen,
    reader_started,
    done,
    results,
) -> None:
    """Rewrite ``main.a`` and ``main.b`` ``versions`` times, both in one transaction each time.

    Every committed state has ``rows`` rows per table, all of one version, the same in both
    tables. After each commit the writer lets the reader catch up (``seen``) so that the reader
    observes several versions while the writer keeps writing.
    """
    import time

    try:
        con = _open(catalog, data_path, extension_dir)
        if not reader_started.wait(BARRIER_TIMEOUT):
            raise TimeoutError("reader never started")
        for version in range(1, versions + 1):
            con.execute("BEGIN TRANSACTION")
            for table in ("a", "b"):
                con.execute(f"DELETE FROM main.{table}")
                con.execute(
                    f"INSERT INTO main.{table} SELECT ?, range FROM range(?)", [version, rows]
                )
            con.execute("COMMIT")
            deadline = time.monotonic() + BARRIER_TIMEOUT
            while seen.value < version:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reader did not see version {version}")
                time.sleep(0.01)
        con.close()
        results.put(("writer", "ok", versions))
    except Exception:
        results.put(("writer", "error", traceback.format_exc()))
    finally:
        done.set()


def poll_versions(
    catalog: str, data_path: str, extension_dir: str, seen, reader_started, done, results
) -> None:
    """Read both tables in one transaction until the writer is done; report every state read."""
    import time

    states: list[tuple] = []
    errors: list[str] = []
    con = _open(catalog, data_path, extension_dir)
    reader_started.set()
    deadline = time.monotonic() + 5 * BARRIER_TIMEOUT
    finished = False
    while not finished:
        # Read once more after the writer finished, to see its last commit.
        finished = done.is_set() or time.monotonic() > deadline or len(errors) > 20
        try:
            con.execute("BEGIN TRANSACTION")
            state = con.execute(
                "SELECT (SELECT count(*) FROM main.a), (SELECT min(version) FROM main.a),"
                " (SELECT max(version) FROM main.a), (SELECT count(*) FROM main.b),"
                " (SELECT min(version) FROM main.b), (SELECT max(version) FROM main.b)"
            ).fetchone()
            con.execute("COMMIT")
            states.append(state)
            if state[2] is not None:
                seen.value = max(seen.value, state[2])
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
    con.close()
    results.put(("reader", states, errors))


def run_statements(
    catalog: str,
    data_path: str,
    extension_dir: str,
    writer: str,
    statements: list[str],
    barrier,
    results,
    retry: bool,
) -> None:
    """Run ``statements`` in one transaction, waiting at ``barrier`` before the first COMMIT."""
    attempts: list[str] = []
    try:
        from orchestration import lake

        con = _open(catalog, data_path, extension_dir)

        def transaction() -> None:
            attempts.append("attempt")
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in statements:
                    con.execute(statement)
                if len(attempts) == 1:
                    barrier.wait(BARRIER_TIMEOUT)
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise

        if retry:
            lake.retry_on_conflict(transaction, attempts=10, first_wait=0.05)
        else:
            transaction()
        con.close()
        results.put((writer, "ok", len(attempts)))
    except Exception as exc:
        # Release the other writer at once instead of leaving it waiting for the timeout.
        barrier.abort()
        results.put((writer, "error", f"{type(exc).__name__}: {exc}"))
