"""Publish asset: the read-only serving snapshot that every reader uses.

DuckDB allows one writing process per file, and even a reader blocks the writer. So nothing but
pipeline steps opens the warehouse; the dashboards, Evidence and notebooks read a copy, written to a
temporary file and swapped in with `os.replace`: a reader sees the old or the new snapshot, never
half of one.
"""

import os
from pathlib import Path

import dagster as dg

from orchestration import settings
from orchestration.resources import WarehouseResource


def write_snapshot(con, snapshot_path: Path, tables: tuple[tuple[str, str], ...]) -> dict[str, int]:
    """Copy `tables` from the open warehouse connection into a new file at `snapshot_path`."""
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.tmp")
    temp_path.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    quoted = str(temp_path).replace("'", "''")  # ATTACH takes no bound parameters
    con.execute(f"ATTACH '{quoted}' AS snapshot")
    try:
        for schema, table in tables:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS snapshot.{schema}")
            con.execute(f"CREATE TABLE snapshot.{schema}.{table} AS SELECT * FROM {schema}.{table}")
            counts[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*) FROM snapshot.{schema}.{table}"
            ).fetchone()[0]
    finally:
        con.execute("DETACH snapshot")
    os.replace(temp_path, snapshot_path)
    return counts


@dg.asset(
    key=["serving", "warehouse_snapshot"],
    group_name="serving",
    deps=[dg.AssetKey(list(table)) for table in settings.SERVING_TABLES],
    pool=settings.WAREHOUSE_POOL,
    kinds={"duckdb"},
)
def warehouse_snapshot(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Read-only copy of the marts and ML tables the dashboards use (`data/serving/runway.duckdb`).

    Swapped in atomically. Streamlit, Evidence and the model server read this, never the warehouse.
    """
    snapshot_path = settings.load().snapshot_path
    with warehouse.connect() as con:
        counts = write_snapshot(con, snapshot_path, settings.SERVING_TABLES)
    context.log.info(f"published {snapshot_path}: {counts}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(snapshot_path)),
            "row_counts": dg.MetadataValue.json(counts),
            "dagster/row_count": dg.MetadataValue.int(sum(counts.values())),
        }
    )
