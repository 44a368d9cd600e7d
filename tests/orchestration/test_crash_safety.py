"""A run SIGKILLed in the middle of a load or of a dbt build leaves nothing half done, and the
next run succeeds (issue #7, point 6).

Real parts: a copy of the session's materialized three-day stack (tests/pipeline_base.py) with its
persistent Dagster instance and the `warehouse` pool, new deliveries of the three days twenty
times bigger (`seed --scale 20`: new flight ids, new file hashes), the project's CLI
(`dagster asset materialize`) in its own process, killed with SIGKILL:

- during the raw load, at the moment its commit is being written (the DuckDB write-ahead log
  appears): every day then holds either all of its previous delivery or all of the new one,
  never a mix, a gap or a duplicate; the next run loads the new files, and the rows equal the
  files' rows counted with Python's csv module;
- during `dbt build`, once an incremental model has started its delete+insert: the dbt
  process dies with the run (orchestration/dbt_guard.py) instead of holding the warehouse lock;
  the marts hold the old or the new days; the next run rebuilds them, and they equal raw.

In both cases the killed run kept its slot in the `warehouse` pool: the next run frees it
(`WarehouseResource` at run start) instead of waiting for it forever, and marks the run failed.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pytest
from cli_runs import (
    LOCK_ERROR,
    instance,
    run_id_of,
    start_materialize,
    stop,
    wait_for_output,
)
from pipeline_base import clone, use_stack

from orchestration import settings
from orchestration.ingest import count_data_rows
from orchestration.raw_loader import file_sha256

SCALE = 20
DAYS = [date(2013, 1, 1) + timedelta(days=i) for i in range(3)]
RANGE = f"{DAYS[0]}...{DAYS[-1]}"
DAILY_DBT = ("marts/flights", "marts/daily_carrier_performance", "ml/flight_features")
# A rerun that waited forever for the killed run's pool slot would hang the suite: fail instead.
RERUN_TIMEOUT = 900


@pytest.fixture(scope="module")
def stack(pipeline_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from orchestration.seed.landing import seed_landing

    root = clone(pipeline_base, tmp_path_factory.mktemp("crash_safety"))
    with pytest.MonkeyPatch.context() as mp:
        use_stack(mp, root)
        seed_landing(settings.load().landing_dir, days=len(DAYS), scale=SCALE, progress=False)
        yield root


def warehouse() -> Path:
    return settings.load().warehouse_path


def query(sql: str, params: list | None = None) -> list[tuple]:
    # Read-write: opening the file after a kill replays or drops its write-ahead log, as the
    # next run would.
    with duckdb.connect(str(warehouse())) as con:
        return con.execute(sql, params or []).fetchall()


def raw_days() -> dict[date, tuple[str, ...]]:
    """Per day of raw.flights: the file hashes its rows came from, and its row count."""
    rows = query(
        "SELECT _partition_date, list(DISTINCT _file_hash ORDER BY _file_hash), count(*) "
        "FROM raw.flights GROUP BY 1"
    )
    return {day: (*hashes, count) for day, hashes, count in rows}


def delivered_days() -> dict[date, tuple[str, int]]:
    """Per day: the landing file's hash and its data rows (Python's csv module)."""
    landing = settings.load().landing_dir
    return {
        day: (
            file_sha256(landing / "flights" / f"{day}.csv"),
            count_data_rows(landing / "flights" / f"{day}.csv"),
        )
        for day in DAYS
    }


def assert_no_duplicates() -> None:
    ((rows, lines, flights),) = query(
        "SELECT count(*), count(DISTINCT (_source_file, _source_row)), "
        "count(DISTINCT (year, month, day, carrier, flight, origin)) FROM raw.flights"
    )
    assert rows == lines == flights


def warehouse_holders(timeout: float) -> list[str]:
    """Processes that still have the warehouse file open, once `timeout` has passed."""
    path = str(warehouse().resolve())
    deadline = time.monotonic() + timeout
    while True:
        holders = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(f.path == path for f in process.open_files()):
                    holders.append(f"{process.pid} {' '.join(process.info['cmdline'] or [])}")
        if not holders or time.monotonic() > deadline:
            return holders
        time.sleep(0.5)


def wal_written(wal: Path) -> bool:
    try:
        return wal.stat().st_size > 0
    except FileNotFoundError:
        return False


@contextmanager
def rerun_deadline() -> Iterator[None]:
    faulthandler.dump_traceback_later(RERUN_TIMEOUT, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def rerun(selection: dg.AssetSelection) -> dg.ExecuteInProcessResult:
    """The next run, in this process, on the stack's instance (as `make run` does)."""
    from orchestration.materialize import materialize_all

    with rerun_deadline(), dg.DagsterInstance.get() as dagster:
        result = materialize_all(DAYS[0], DAYS[-1], dagster, selection=selection)
    assert result.success, [event.step_key for event in result.get_step_failure_events()]
    retried = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert retried == []  # nothing had to wait for a lock
    return result


def assert_killed_run_failed_and_released(root: Path, killed_run: str) -> None:
    with instance(root) as dagster:
        assert dagster.get_run_by_id(killed_run).status == dg.DagsterRunStatus.FAILURE
        pool = dagster.event_log_storage.get_concurrency_info(settings.WAREHOUSE_POOL)
        assert killed_run not in pool.active_run_ids


def test_kill_during_the_raw_commit_leaves_whole_days(stack: Path) -> None:
    before = raw_days()
    delivered = delivered_days()
    for day in DAYS:  # the new deliveries differ from what is loaded
        assert before[day] != delivered[day]
        assert len(before[day]) == 2  # one hash per day

    wal = Path(f"{warehouse()}.wal")
    log = stack / "kill_load.log"
    process = start_materialize(stack, log, "--select", "raw/flights", "--partition-range", RANGE)
    try:
        wait_for_output(process, log, 'STEP_START - Started execution of step "raw__flights"')
        # The load validates and stages the files, then commits them in one transaction: the
        # write-ahead log appears when the commit is being written. Kill the run right then.
        polls = 0
        while not wal_written(wal):
            polls += 1
            if polls % 100 == 0:
                assert process.poll() is None, log.read_text()[-3000:]
                assert "raw.flights: loaded" not in log.read_text(), "missed the commit"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        stop(process)
    assert process.returncode == -signal.SIGKILL
    output = log.read_text()
    assert "raw.flights: loaded" not in output  # the step never reported its load
    assert 'STEP_SUCCESS - Finished execution of step "raw__flights"' not in output
    killed_run = run_id_of(log)

    after = raw_days()
    assert set(after) == set(DAYS)
    # One transaction: every day is the old delivery, or every day is the new one.
    assert after in (before, delivered), (before, after, delivered)
    print(f"killed in the commit; the days hold the {'old' if after == before else 'new'} rows")
    assert_no_duplicates()
    audit = dict(
        query(
            "SELECT partition_date, file_hash FROM raw.load_audit "
            "WHERE entity = 'flights' AND partition_date IS NOT NULL"
        )
    )
    assert {day: audit[day] for day in DAYS} == {day: after[day][0] for day in DAYS}

    result = rerun(dg.AssetSelection.assets(dg.AssetKey(["raw", "flights"])))
    assert raw_days() == delivered
    assert_no_duplicates()
    checks = [e for e in result.get_asset_check_evaluations() if e.check_name == "rows_reconcile"]
    assert sorted(e.partition for e in checks) == [str(day) for day in DAYS]
    assert all(e.passed for e in checks)
    assert_killed_run_failed_and_released(stack, killed_run)


def marts_days() -> dict[str, dict[date, int]]:
    """Rows per day of the daily dbt models (daily_carrier_performance: flights per day)."""
    return {
        "marts/flights": dict(query("SELECT flight_date, count(*) FROM marts.flights GROUP BY 1")),
        "ml/flight_features": dict(
            query("SELECT flight_date, count(*) FROM ml.flight_features GROUP BY 1")
        ),
        "marts/daily_carrier_performance": dict(
            query(
                "SELECT flight_date, sum(flights)::BIGINT FROM marts.daily_carrier_performance "
                "GROUP BY 1"
            )
        ),
    }


def assert_unique_flight_ids() -> None:
    for table in ("marts.flights", "ml.flight_features"):
        ((rows, ids),) = query(f"SELECT count(*), count(DISTINCT flight_id) FROM {table}")
        assert rows == ids, table


def test_kill_during_dbt_build_ends_dbt_and_the_next_run_rebuilds(stack: Path) -> None:
    # raw holds the new (bigger) days, the marts still the old ones.
    rerun(
        dg.AssetSelection.assets(dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"]))
    )
    raw = {
        day: rows
        for day, *_, rows in query("SELECT _partition_date, count(*) FROM raw.flights GROUP BY 1")
    }
    before = marts_days()
    for counts in before.values():
        assert all(counts[day] < raw[day] for day in DAYS)

    log = stack / "kill_dbt.log"
    selection = ",".join(DAILY_DBT)
    process = start_materialize(stack, log, "--select", selection, "--partition-range", RANGE)
    try:
        # dbt prints this when an incremental model starts (its delete+insert of the days).
        wait_for_output(process, log, "START sql incremental model")
        dbt = [
            child
            for child in psutil.Process(process.pid).children(recursive=True)
            if "dbt" in " ".join(child.cmdline())
        ]
        assert dbt
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        stop(process)
    assert process.returncode == -signal.SIGKILL
    assert "Finished running" not in log.read_text()  # dbt was still building
    killed_run = run_id_of(log)
    # dbt dies with the run: no orphan keeps the warehouse locked. The run's child is the guard
    # (orchestration/dbt_guard.py); with warm dbt the dbt itself is the dbt server's child.
    _, alive = psutil.wait_procs(dbt, timeout=30)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]
    holders = warehouse_holders(timeout=30)
    assert holders == [], holders

    after = marts_days()
    states = {key: "old" if after[key] == before[key] else "new" for key in after}
    print(f"killed during dbt build; the daily models hold: {states}")
    for key, counts in after.items():
        for day in DAYS:  # each day the old rows or the new ones, nothing in between
            assert counts.get(day) in (before[key][day], raw[day]), (key, day)
    assert_unique_flight_ids()

    result = rerun(dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(k) for k in DAILY_DBT)))
    messages = "\n".join(str(event.message) for event in result.all_events)
    assert LOCK_ERROR not in messages
    rebuilt = marts_days()
    assert rebuilt["marts/flights"] == {day: raw[day] for day in DAYS}
    assert rebuilt["ml/flight_features"] == {day: raw[day] for day in DAYS}
    assert rebuilt["marts/daily_carrier_performance"] == {day: raw[day] for day in DAYS}
    assert_unique_flight_ids()
    assert_killed_run_failed_and_released(stack, killed_run)
