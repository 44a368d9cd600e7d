"""Runs requested at the same time all succeed: the `warehouse` pool serializes their writes
(issue #7, point 5).

Real parts: a copy of the session's materialized three-day stack (tests/pipeline_base.py) with
its persistent Dagster instance configured by the repository's `orchestration/dagster.yaml`
(pool limit 1), and three `dagster asset materialize` processes started at once, as a sensor, a
schedule and someone backfilling by hand would: the landing sensor's load of a day of weather, a
backfill of two days of flights, and the reference-tables schedule's reload of airlines, airports
and planes, with a publish of the snapshot (a reader of the warehouse) in the same run. Each run is
the least work that still writes the warehouse from its own process: no dbt (a dbt step takes the
pool the same way, test_raw_and_dbt_steps_are_in_the_pool_with_the_retry_policy below, and meets
a lock in test_a_dbt_build_that_met_the_lock_is_retried_and_succeeds), no training. To make sure
the three runs do compete, the pool is closed (limit 0, what
`dagster instance concurrency set warehouse 0` does) until each run has a step waiting for it,
then reopened at 1. DuckDB allows one writer: without the pool, two of three such runs fail with
"Could not set lock" (docs RECIPES). Here all three succeed, no output mentions the lock (nor
`WarehouseResource` waiting for it), and no two warehouse steps ever ran at the same time.

The other tests hold the warehouse lock from another process (`LOCK_HOLDER`, as a `duckdb` CLI
or a notebook would) and check what a pipeline step does then: opening the warehouse waits for
the lock and fails, past its timeout, naming the holder; a raw load that met the lock is retried
by its retry policy and succeeds once the lock is gone; an error that no retry can cure is not
retried.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from datetime import date
from itertools import combinations
from pathlib import Path

import dagster as dg
import pytest
from cli_runs import (
    LOCK_ERROR,
    LOCK_WAIT,
    instance,
    query,
    run_id_of,
    start_materialize,
    step_windows,
    stop,
    wait_for_output,
)
from pipeline_base import clone, use_stack

from orchestration import settings
from orchestration.ingest import count_data_rows, raw_flights
from orchestration.resources import (
    WarehouseLockedError,
    WarehouseResource,
    is_transient_error,
    retry_only_transient,
)

BLOCKED = "Step blocked by limit for pool warehouse"
REFERENCE = ("airlines", "airports", "planes")
RUNS = {
    "sensor": ("--select", "raw/weather", "--partition", "2013-01-03"),
    "backfill": ("--select", "raw/flights", "--partition-range", "2013-01-01...2013-01-02"),
    "schedule": (
        "--select",
        ",".join([*(f"raw/{t}" for t in REFERENCE), "serving/warehouse_snapshot"]),
    ),
}


@pytest.fixture
def stack(pipeline_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = clone(pipeline_base, tmp_path / "stack")
    use_stack(monkeypatch, root)
    return root


def test_three_runs_at_once_all_succeed_one_warehouse_step_at_a_time(stack: Path) -> None:
    with instance(stack) as dagster:
        storage = dagster.event_log_storage
        storage.set_concurrency_slots(settings.WAREHOUSE_POOL, 0)
        logs = {name: stack / f"{name}.log" for name in RUNS}
        started = time.time()
        processes = {name: start_materialize(stack, logs[name], *RUNS[name]) for name in RUNS}
        try:
            for name, process in processes.items():
                wait_for_output(process, logs[name], BLOCKED)
            storage.set_concurrency_slots(settings.WAREHOUSE_POOL, 1)
            for process in processes.values():
                process.wait(timeout=900)
        finally:
            for process in processes.values():
                stop(process)

        outputs = {name: log.read_text(errors="replace") for name, log in logs.items()}
        for name, process in processes.items():
            assert process.returncode == 0, outputs[name][-3000:]
            assert LOCK_ERROR not in outputs[name]
            assert LOCK_WAIT not in outputs[name]
        run_ids = {name: run_id_of(log) for name, log in logs.items()}
        windows = []
        for name, run_id in run_ids.items():
            assert dagster.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
            steps = step_windows(dagster, run_id)
            assert steps, name
            # Freshness checks read Dagster's event log, not the warehouse: not in the pool.
            windows += [
                (start, end, f"{name}:{step}")
                for step, (start, end) in steps.items()
                if not step.startswith("freshness_check")
            ]
        # Every other step of these runs opens the warehouse (all are in the pool): none overlap.
        for (start_a, end_a, a), (start_b, end_b, b) in combinations(sorted(windows), 2):
            assert end_a <= start_b, f"{a} [{start_a}, {end_a}] overlaps {b} [{start_b}, {end_b}]"
        assert {step.split(":")[0] for *_, step in windows} == set(RUNS)

    # What the three runs wrote, against the landing files.
    current = settings.load()
    for entity, days in (("flights", (1, 2)), ("weather", (3,))):
        for day in days:
            path = current.landing_dir / entity / f"2013-01-{day:02d}.csv"
            ((rows,),) = query(
                current.warehouse_path,
                f"SELECT count(*) FROM raw.{entity} WHERE _partition_date = ?",
                [date(2013, 1, day)],
            )
            assert rows == count_data_rows(path), path
    for table in REFERENCE:
        ((rows,),) = query(current.warehouse_path, f"SELECT count(*) FROM raw.{table}")
        assert rows == count_data_rows(current.landing_dir / f"{table}.csv"), table
    assert current.snapshot_path.stat().st_mtime > started  # published again


# Holds a write connection on the warehouse (argv[1]) until the file argv[2] exists.
LOCK_HOLDER = """
import sys, time, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.02)
con.close()
"""


class LockHolder:
    """Another process with the warehouse open for writing, until `release()`."""

    def __init__(self, db_path: Path, release: Path):
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.release_file = release
        self.process = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, str(db_path), str(release)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.release_file.touch()
        self.process.wait(timeout=60)

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc) -> None:
        self.release_file.touch()
        stop(self.process)


def release_after_first_retry(dagster: dg.DagsterInstance, holder: LockHolder) -> None:
    """Release the lock once a step has failed on it, before its retry (5 s later)."""
    retry = dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    while holder.process.poll() is None:
        if dagster.get_event_records(retry, limit=1):
            holder.release()
            return
        threading.Event().wait(0.05)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_opening_the_warehouse_waits_for_a_lock_held_outside_the_pool(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    warehouse = WarehouseResource()
    with LockHolder(settings.load().warehouse_path, tmp_path / "release") as holder:
        opened = threading.Event()

        def open_and_write() -> None:
            with warehouse.connect() as con:
                con.execute("CREATE TABLE written AS SELECT 1 AS x")
            opened.set()

        caplog.set_level(logging.WARNING, logger="orchestration.resources")
        writer = threading.Thread(target=open_and_write)
        writer.start()
        while not any(LOCK_WAIT in record.message for record in caplog.records):
            assert writer.is_alive() and not opened.is_set()  # it must wait, not fail or pass
            opened.wait(0.02)
        holder.release()
        writer.join(timeout=60)
    assert opened.is_set()
    assert query(settings.load().warehouse_path, "SELECT x FROM written") == [(1,)]


def test_a_lock_held_too_long_fails_naming_the_holder(data_dir: Path, tmp_path: Path) -> None:
    warehouse = WarehouseResource(lock_timeout_seconds=0.5)
    with LockHolder(settings.load().warehouse_path, tmp_path / "release") as holder:
        with pytest.raises(WarehouseLockedError) as raised, warehouse.connect():
            pass
        message = str(raised.value)
        assert f"PID {holder.process.pid}" in message  # DuckDB names the holder
        assert "'warehouse' pool" in message and "serving snapshot" in message
        assert is_transient_error(raised.value)  # the step's retry policy applies


def test_a_load_that_met_the_lock_is_retried_and_succeeds(data_dir: Path, tmp_path: Path) -> None:
    from orchestration.seed.landing import seed_landing

    landing = settings.load().landing_dir
    seed_landing(landing, days=1, progress=False)
    with (
        dg.instance_for_test() as dagster,
        LockHolder(settings.load().warehouse_path, tmp_path / "release") as holder,
    ):
        watcher = threading.Thread(
            target=release_after_first_retry, args=(dagster, holder), daemon=True
        )
        watcher.start()
        result = dg.materialize(
            [raw_flights],
            resources={"warehouse": WarehouseResource(lock_timeout_seconds=0)},
            instance=dagster,
            partition_key="2013-01-01",
            raise_on_error=False,
        )
        watcher.join(timeout=60)
    assert result.success
    retries = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert len(retries) == 1
    assert LOCK_ERROR in retries[0].event_specific_data.error.to_string()
    ((rows,),) = query(settings.load().warehouse_path, "SELECT count(*) FROM raw.flights")
    assert rows == count_data_rows(landing / "flights" / "2013-01-01.csv")


def test_an_error_no_retry_can_cure_is_not_retried() -> None:
    with pytest.raises(dg.Failure) as raised, retry_only_transient():
        {}["missing"]  # a bug: three more attempts would fail the same way
    assert raised.value.allow_retries is False
    assert isinstance(raised.value.__cause__, KeyError)
    with pytest.raises(OSError, match="Could not set lock"), retry_only_transient():
        raise OSError('IO Error: Could not set lock on file "warehouse.duckdb"')


def test_a_dbt_build_that_met_the_lock_is_retried_and_succeeds(
    pipeline_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt opens the warehouse itself: it fails on the lock, and the step's retry policy helps."""
    from orchestration.materialize import materialize_all

    root = clone(pipeline_base, tmp_path / "stack")
    use_stack(monkeypatch, root)
    carriers = dg.AssetKey(["marts", "carriers"])
    with (
        dg.instance_for_test() as dagster,
        LockHolder(settings.load().warehouse_path, tmp_path / "release") as holder,
    ):
        watcher = threading.Thread(
            target=release_after_first_retry, args=(dagster, holder), daemon=True
        )
        watcher.start()
        day = date(2013, 1, 1)
        result = materialize_all(day, day, dagster, selection=dg.AssetSelection.assets(carriers))
        watcher.join(timeout=60)
    assert result.success
    retries = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert [e.step_key for e in retries] == ["dbt_models"]
    assert LOCK_ERROR in retries[0].event_specific_data.error.to_string()
    ((rows,),) = query(settings.load().warehouse_path, "SELECT count(*) FROM marts.carriers")
    assert rows == count_data_rows(settings.load().landing_dir / "airlines.csv")


def test_raw_and_dbt_steps_are_in_the_pool_with_the_retry_policy() -> None:
    from orchestration import ingest, transform
    from orchestration.resources import WAREHOUSE_RETRY

    steps = [*ingest.ingest_assets, *ingest.ingest_checks, *transform.transform_assets]
    for step in steps:
        assert step.node_def.pool == settings.WAREHOUSE_POOL, step.node_def.name
        assert step.node_def.retry_policy == WAREHOUSE_RETRY, step.node_def.name
