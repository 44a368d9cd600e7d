"""Failure awareness: every failed run becomes a row of the alerts table and an error in the log.

`run_failure_alerts` (a run-failure sensor, running by default) records, for each failed run of
this code location: the run id, the job, when it failed, the assets the failing step(s) were to
materialize, the partition(s), the failed steps and the error message. It logs the same line
(sensor log in the UI and the daemon's log).

Where: `meta.run_failures` in its own small DuckDB file, `data/serving/alerts.duckdb`
(`settings.alerts_path`), beside the serving snapshot. Never in the warehouse: DuckDB allows one
writer per file, and the warehouse's writers are the pipeline steps, serialized by the
`warehouse` pool; a sensor that waited for that pool would report failures late or not at all.
The sensor is the file's only writer: it reads the old rows, adds the new one, writes a temporary
file and swaps it in with `os.replace`, so a reader (the dashboards) sees the old or the new
table, never half of one. The newest `MAX_ROWS` failures are kept; a run recorded twice (a
sensor tick evaluated again) keeps one row. The publish asset copies the table into the serving
snapshot too (for Evidence); the Streamlit app reads this file directly, so a failure shows up
before the next publish, and even when publishing is what fails.
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import settings

logger = logging.getLogger("runway.alerts")

SENSOR_NAME = "run_failure_alerts"
TABLE = "meta.run_failures"
MAX_ROWS = 1000
MAX_ERROR_CHARS = 2000
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

RUN_FAILURES_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR,
    job_name VARCHAR,
    failed_at TIMESTAMP,
    assets VARCHAR,
    partitions VARCHAR,
    failed_steps VARCHAR,
    error VARCHAR,
    recorded_at TIMESTAMP
)
"""


@dataclass(frozen=True)
class RunFailure:
    """One failed run, as stored (timestamps are UTC without time zone, like every table here)."""

    run_id: str
    job_name: str
    failed_at: datetime
    assets: str | None
    partitions: str | None
    failed_steps: str | None
    error: str

    def summary(self) -> str:
        what = self.assets or self.job_name
        days = f" [{self.partitions}]" if self.partitions else ""
        return f"run {self.run_id} ({self.job_name}) failed: {what}{days}: {self.error}"


def _error_text(error) -> str | None:
    """A SerializableErrorInfo's message and its causes' (no stack traces), one line each."""
    lines = []
    while error is not None and len(lines) < 5:
        text = error.message.strip()
        # "dagster._core.definitions.events.Failure: ..." → the description alone; other
        # exceptions keep their short class name ("ValueError: ...").
        prefix, separator, rest = text.partition(": ")
        if separator and prefix.rsplit(".", 1)[-1] == error.cls_name:
            text = rest if error.cls_name == "Failure" else f"{error.cls_name}: {rest}"
        lines.append(text)
        error = error.cause
    return "\n".join(line for line in lines if line) or None


def _partitions(run: dg.DagsterRun) -> str | None:
    if RANGE_START_TAG in run.tags:
        start, end = run.tags[RANGE_START_TAG], run.tags.get(RANGE_END_TAG, "")
        return start if start == end else f"{start}...{end}"
    return run.tags.get("dagster/partition")


def _step_assets(instance: dg.DagsterInstance, run: dg.DagsterRun, step_keys: set[str]) -> list:
    """The asset keys the given steps of the run were to materialize."""
    if not run.execution_plan_snapshot_id:
        return []
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    keys = set()
    for step in plan.steps:
        if step.key in step_keys:
            for output in step.outputs:
                if output.properties is not None and output.properties.asset_key is not None:
                    keys.add(output.properties.asset_key)
    if run.asset_selection:  # a subset of a multi-asset: only what the run targeted
        keys &= set(run.asset_selection)
    return sorted(keys, key=lambda key: key.to_user_string())


def describe_failure(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    failure_event: dg.DagsterEvent,
    step_failures: Sequence[dg.DagsterEvent],
) -> RunFailure:
    """What failed in `run`: failed steps and their assets, else the run's own failure."""
    failed_steps = sorted({event.step_key for event in step_failures if event.step_key})
    errors = [
        _error_text(getattr(event.event_specific_data, "error", None)) for event in step_failures
    ]
    error = "\n".join(dict.fromkeys(e for e in errors if e))  # distinct, in order
    if not error:  # no step failed: the run itself (launch, resources, a crash)
        run_error = getattr(failure_event.event_specific_data, "error", None)
        error = _error_text(run_error) or failure_event.message or "run failed"
    assets = _step_assets(instance, run, set(failed_steps))
    if not assets and not failed_steps and run.asset_selection:
        assets = sorted(run.asset_selection, key=lambda key: key.to_user_string())
    record = instance.get_run_record_by_id(run.run_id)
    failed_at = record.end_time if record is not None and record.end_time else None
    return RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_at=datetime.fromtimestamp(failed_at, UTC).replace(tzinfo=None)
        if failed_at
        else datetime.now(UTC).replace(tzinfo=None),
        assets=", ".join(key.to_user_string() for key in assets) or None,
        partitions=_partitions(run),
        failed_steps=", ".join(failed_steps) or None,
        error=error[:MAX_ERROR_CHARS],
    )


def read_failures(path: Path) -> list[tuple]:
    """Every stored row, newest first; [] when there is no alerts file yet."""
    if not path.exists():
        return []
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {TABLE} ORDER BY failed_at DESC, run_id").fetchall()
    finally:
        con.close()


def record_failure(path: Path, failure: RunFailure, max_rows: int = MAX_ROWS) -> int:
    """Add `failure` to the alerts file (atomically, see the module docstring); rows kept."""
    recorded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [row for row in read_failures(path) if row[0] != failure.run_id]
    # Newest failure first; on a tie the row just recorded wins its place.
    rows = sorted([(*astuple(failure), recorded_at), *rows], key=lambda r: r[2], reverse=True)
    rows = rows[:max_rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp_path.unlink(missing_ok=True)
    con = duckdb.connect(str(temp_path))
    try:
        con.execute("CREATE SCHEMA meta")
        con.execute(RUN_FAILURES_DDL)
        con.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    finally:
        con.close()
    os.replace(temp_path, path)
    return len(rows)


def copy_run_failures(snapshot_path: Path, alerts_path: Path) -> int:
    """Put `meta.run_failures` into a snapshot file no reader sees yet (empty if no alerts)."""
    con = duckdb.connect(str(snapshot_path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS meta")
        con.execute(RUN_FAILURES_DDL)
        if alerts_path.exists():
            quoted = str(alerts_path).replace("'", "''")  # ATTACH takes no bound parameters
            con.execute(f"ATTACH '{quoted}' AS alerts (READ_ONLY)")
            try:
                con.execute(f"INSERT INTO {TABLE} SELECT * FROM alerts.{TABLE}")
            finally:
                con.execute("DETACH alerts")
        return con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    finally:
        con.close()


@dg.run_failure_sensor(
    name=SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=settings.load().sensor_interval_seconds,
    description="Records each failed run of this code location (run, job, assets, partitions, "
    "failed steps, error, time) in meta.run_failures of data/serving/alerts.duckdb, shown on "
    "the dashboards' Pipeline health page, and logs it.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    failure = describe_failure(
        context.instance,
        context.dagster_run,
        context.failure_event,
        context.get_step_failure_events(),
    )
    path = settings.load().alerts_path
    record_failure(path, failure)
    context.log.error(failure.summary())
    logger.error(failure.summary())
