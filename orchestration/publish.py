"""Publish asset: the read-only serving snapshot that every reader uses.

DuckDB allows one writing process per file, and even a reader blocks the writer. So nothing but
pipeline steps opens the warehouse; the dashboards, Evidence and notebooks read a copy, written to a
temporary file and swapped in with `os.replace`: a reader sees the old or the new snapshot, never
half of one.

Besides the copied tables, each new snapshot gets the small aggregates some dashboard queries read
instead of joining row-level tables at every call (`orchestration/snapshot_tables.py`, issue #8),
derived in the new file from the rows just copied into it.

The asset retries a transient error (`WAREHOUSE_RETRY`: a file lock, I/O) with backoff and fails
at once on any other (`retry_only_transient`); a failed attempt leaves the published file as it was.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import alerts, conditions, settings, snapshot_tables
from orchestration.resources import WAREHOUSE_RETRY, WarehouseResource, retry_only_transient


def write_snapshot(
    con, snapshot_path: Path, tables: tuple[tuple[str, str], ...], before_swap=None
) -> dict[str, int]:
    """Copy `tables` from the open warehouse connection into a new file at `snapshot_path`, and
    derive `snapshot_tables.DERIVED_TABLES` in it from the copied rows.

    `before_swap(temp_path)` may add to the new file before it replaces the published one.
    """
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.tmp")
    temp_path.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    quoted = str(temp_path).replace("'", "''")  # ATTACH takes no bound parameters
    con.execute(f"ATTACH '{quoted}' AS snapshot")
    try:
        existing = set(
            con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database()"
            ).fetchall()
        )
        for schema, table in tables:
            if (schema, table) not in existing:
                # e.g. raw.quarantined_files before any file was quarantined: readers say so.
                continue
            con.execute(f"CREATE SCHEMA IF NOT EXISTS snapshot.{schema}")
            con.execute(f"CREATE TABLE snapshot.{schema}.{table} AS SELECT * FROM {schema}.{table}")
            counts[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*) FROM snapshot.{schema}.{table}"
            ).fetchone()[0]
        counts.update(snapshot_tables.add_derived_tables(con, "snapshot"))
    finally:
        con.execute("DETACH snapshot")
    if before_swap is not None:
        before_swap(temp_path)
    os.replace(temp_path, snapshot_path)
    return counts


def asset_status_rows(context: dg.AssetExecutionContext) -> list[tuple]:
    """One row per asset of this code location: its latest materialization and failing checks.

    Read from the Dagster instance (not the warehouse), so the dashboards' Pipeline health page can
    show it without touching Dagster's storage.
    """
    asset_graph = context.job_def.asset_layer.asset_graph
    keys = [
        key for key in asset_graph.get_all_asset_keys() if asset_graph.get(key).is_materializable
    ]
    latest = context.instance.get_latest_materialization_events(keys)
    failing: dict[dg.AssetKey, list[str]] = {key: [] for key in keys}
    check_keys = list(asset_graph.asset_check_keys)
    records = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    for check_key, record in records.items():
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        passed = getattr(evaluation, "passed", None)
        severity = getattr(getattr(evaluation, "severity", None), "value", "ERROR")
        if passed is False and severity == "ERROR" and check_key.asset_key in failing:
            failing[check_key.asset_key].append(check_key.name)
    rows = []
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        event = latest.get(key)
        materialization = event.asset_materialization if event else None
        row_count = None
        if materialization is not None:
            value = materialization.metadata.get("dagster/row_count")
            row_count = int(value.value) if value is not None else None
        rows.append(
            (
                key.to_user_string(),
                datetime.fromtimestamp(event.timestamp, UTC).replace(tzinfo=None)
                if event
                else None,
                event.run_id if event else None,
                row_count,
                len(failing[key]),
                ", ".join(sorted(failing[key])) or None,
            )
        )
    return rows


def write_asset_status(snapshot_path: Path, rows: list[tuple]) -> None:
    """Add `meta.asset_status` to a snapshot file that no reader sees yet."""
    con = duckdb.connect(str(snapshot_path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS meta")
        con.execute(
            "CREATE OR REPLACE TABLE meta.asset_status (asset_key VARCHAR, "
            "last_materialized_at TIMESTAMP, last_run_id VARCHAR, row_count BIGINT, "
            "failed_checks BIGINT, failed_check_names VARCHAR)"
        )
        con.executemany("INSERT INTO meta.asset_status VALUES (?, ?, ?, ?, ?, ?)", rows)
    finally:
        con.close()


@dg.asset(
    key=["serving", "warehouse_snapshot"],
    group_name="serving",
    deps=[dg.AssetKey(list(table)) for table in settings.SERVING_TABLES if table[0] != "raw"],
    pool=settings.warehouse_pool("serving_snapshot"),
    retry_policy=WAREHOUSE_RETRY,
    kinds={"duckdb"},
    automation_condition=conditions.publish_condition(),
)
def warehouse_snapshot(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Read-only copy of the marts and ML tables the dashboards use (`data/serving/runway.duckdb`).

    Also holds the per-day aggregates the dashboards read instead of the row-level tables
    (`ml.daily_prediction_outcomes`) and the pipeline's asset status. Swapped in atomically.
    Streamlit, Evidence and the model server read this, never the warehouse.
    Published automatically after any upstream change, once nothing upstream is still running.
    """
    with retry_only_transient():
        current = settings.load()
        snapshot_path = current.snapshot_path
        status = asset_status_rows(context)

        def add_meta(temp_path: Path) -> None:
            write_asset_status(temp_path, status)
            # For Evidence: the app reads the live alerts file itself (orchestration/alerts.py).
            alerts.copy_run_failures(temp_path, current.alerts_path)

        with warehouse.connect() as con:
            counts = write_snapshot(
                con, snapshot_path, settings.SERVING_TABLES, before_swap=add_meta
            )
        context.log.info(f"published {snapshot_path}: {counts}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(snapshot_path)),
                "row_counts": dg.MetadataValue.json(counts),
                "dagster/row_count": dg.MetadataValue.int(sum(counts.values())),
            }
        )


publish_assets = [warehouse_snapshot]
publish_checks: list[dg.AssetChecksDefinition] = []
