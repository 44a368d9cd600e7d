"""Ingest assets: landing-zone files → `raw.*` in the warehouse, validated (docs/landing_zone.md).

`raw/flights` and `raw/weather` are daily-partitioned over the settings' date range; a backfill of
many days runs as one run (single-run backfill policy) that loads them in one transaction.
The reference tables are full snapshots, unpartitioned.

A run loads every valid file it was asked for. Files that cannot be loaded (bad header, empty,
unreadable, a name that is not a day of the range) are quarantined by the loader; the run then
records the days that did load and fails with one message naming each file, what is wrong and how
to fix it. Row-level problems do not fail the run: bad rows go to `raw.rejected_rows` and the
materialization shows their count and a sample.

Resilience: the raw assets and their checks are in the `warehouse` pool and retry transient
errors (`WAREHOUSE_RETRY`: the file lock, I/O) with backoff; a bad file or any other error is not
retried (`dg.Failure(allow_retries=False)`). A load commits in one transaction, so a run killed
mid-load leaves each day as it was before, and the next run loads it
(tests/orchestration/test_crash_safety.py).

Every raw asset has a `rows_reconcile` check: the rows in the landing file, counted here with
Python's csv module (independently of DuckDB), must equal the rows in the table plus the rejected
rows. For the daily assets it reports one result per partition of the run.
"""

import csv
import gzip
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import raw_loader, settings
from orchestration.resources import WAREHOUSE_RETRY, WarehouseResource, retry_only_transient

_current = settings.load()
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_current.start_date.isoformat(),
    # The partitions end with the data (2013), not with today's date.
    end_date=date.fromordinal(_current.end_date.toordinal() + 1).isoformat(),
)
RECONCILE_CHECK = "rows_reconcile"

_TABLE_COLUMN_TYPES = {"INTEGER": "int", "DOUBLE": "float", "VARCHAR": "string"}


def partition_range() -> tuple[date, date]:
    """The first and last day of the daily partitions."""
    return (
        date.fromisoformat(daily_partitions.get_first_partition_key()),
        date.fromisoformat(daily_partitions.get_last_partition_key()),
    )


# ---------------------------------------------------------------------------------------------
# Metadata


def _cell(value: object) -> str | int | float | bool | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _preview_table(entity: str, rows: list[dict]) -> dg.MetadataValue:
    columns = {**raw_loader.DAILY_TABLES, **raw_loader.REFERENCE_TABLES}[entity]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name, _TABLE_COLUMN_TYPES.get(dtype, dtype.lower()))
            for name, dtype in columns.items()
        ]
    )
    records = [dg.TableRecord({name: _cell(row.get(name)) for name in columns}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def _rejects_table(sample: list[dict]) -> dg.MetadataValue:
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("line", "int"),
            dg.TableColumn("column", "string"),
            dg.TableColumn("reason", "string"),
        ]
    )
    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: _cell(v) for k, v in row.items()}) for row in sample],
        schema=schema,
    )


def file_metadata(load: raw_loader.FileLoad) -> dict[str, dg.MetadataValue]:
    """What came in with one file: counts, size, hash, the first rows, the first rejects."""
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(load.rows_loaded),
        "source_file": dg.MetadataValue.text(load.source_file),
        "rows_in_file": dg.MetadataValue.int(load.rows_in_file),
        "rows_loaded": dg.MetadataValue.int(load.rows_loaded),
        "rows_rejected": dg.MetadataValue.int(load.rows_rejected),
        "file_bytes": dg.MetadataValue.int(load.file_bytes),
        "file_sha256": dg.MetadataValue.text(load.file_hash),
        "preview": _preview_table(load.entity, load.preview),
    }
    if load.header_only:
        metadata["note"] = dg.MetadataValue.text("header-only file: the day has no rows")
    if load.rows_rejected:
        metadata["rejects_sample"] = _rejects_table(load.reject_sample)
    return metadata


def _summary_metadata(report: raw_loader.LoadReport) -> dict[str, dg.MetadataValue]:
    return {
        "table": dg.MetadataValue.text(report.table),
        "files_in_run": dg.MetadataValue.int(len(report.loads)),
        "rows_loaded_in_run": dg.MetadataValue.int(report.rows_loaded),
        "rows_rejected_in_run": dg.MetadataValue.int(report.rows_rejected),
    }


def _log_report(context: dg.AssetExecutionContext, report: raw_loader.LoadReport) -> None:
    for load in report.loads:
        if load.header_only:
            context.log.info(f"{load.source_file}: header only, 0 rows (the day has no rows)")
        if load.rows_rejected:
            context.log.warning(
                f"{load.source_file}: {load.rows_rejected} row(s) rejected, "
                f"{load.rows_loaded} loaded; see raw.rejected_rows"
            )
    context.log.info(
        f"{report.table}: loaded {report.rows_loaded} row(s) from {len(report.loads)} file(s), "
        f"rejected {report.rows_rejected} row(s), {len(report.problems)} file(s) not loaded"
    )


def _failure(report: raw_loader.LoadReport) -> dg.Failure:
    quarantined = [str(p.quarantine_path) for p in report.problems if p.quarantine_path]
    return dg.Failure(
        description=report.failure_message(),
        metadata={
            "files_not_loaded": dg.MetadataValue.json([p.source_file for p in report.problems]),
            "quarantined": dg.MetadataValue.json(quarantined),
        },
        allow_retries=False,
    )


# ---------------------------------------------------------------------------------------------
# Assets


def _daily_asset(entity: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", entity],
        group_name="raw",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=settings.warehouse_pool(f"raw_{entity}"),
        retry_policy=WAREHOUSE_RETRY,
        kinds={"duckdb", "csv"},
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
        days = [date.fromisoformat(key) for key in context.partition_keys]
        current = settings.load()
        with retry_only_transient(), warehouse.connect() as con:
            report = raw_loader.load_daily(
                con,
                current.landing_dir,
                entity,
                days,
                quarantine_dir=current.quarantine_dir,
                partition_range=partition_range(),
                run_id=context.run_id,
            )
        _log_report(context, report)
        if report.problems:
            # The days that loaded are materialized; the others fail with one message.
            for load in report.loads:
                yield dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=load.partition_date.isoformat(),
                    metadata={**_summary_metadata(report), **file_metadata(load)},
                )
            raise _failure(report)
        for load in report.loads:
            context.add_asset_metadata(
                file_metadata(load), partition_key=load.partition_date.isoformat()
            )
        yield dg.MaterializeResult(metadata=_summary_metadata(report))

    return _asset


def _reference_asset(entity: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", entity],
        group_name="raw",
        pool=settings.warehouse_pool(f"raw_{entity}"),
        retry_policy=WAREHOUSE_RETRY,
        kinds={"duckdb", "csv"},
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        current = settings.load()
        with retry_only_transient(), warehouse.connect() as con:
            report = raw_loader.load_reference(
                con,
                current.landing_dir,
                entity,
                quarantine_dir=current.quarantine_dir,
                run_id=context.run_id,
            )
        _log_report(context, report)
        if report.problems:
            raise _failure(report)
        return dg.MaterializeResult(
            metadata={**_summary_metadata(report), **file_metadata(report.loads[0])}
        )

    return _asset


raw_flights = _daily_asset(
    "flights",
    "Scheduled and actual departures from NYC, one landing file per day "
    "(`landing/flights/YYYY-MM-DD.csv`), validated and loaded with a declared schema. A partition "
    "run replaces exactly that day's rows; bad rows go to `raw.rejected_rows`, bad files to "
    "`quarantine/`.",
)
raw_weather = _daily_asset(
    "weather",
    "Hourly weather at EWR, JFK and LGA, one landing file per day "
    "(`landing/weather/YYYY-MM-DD.csv`). A partition run replaces exactly that day's rows.",
)
raw_airlines = _reference_asset("airlines", "Airline codes and names (full snapshot).")
raw_airports = _reference_asset(
    "airports", "Airports with FAA code, name, coordinates and time zone (full snapshot)."
)
raw_planes = _reference_asset(
    "planes", "Aircraft by tail number: build year, model, seats (full snapshot)."
)

ingest_assets = [raw_flights, raw_weather, raw_airlines, raw_airports, raw_planes]


# ---------------------------------------------------------------------------------------------
# Checks: rows in the landing file = rows loaded + rows rejected


def count_data_rows(path: Path) -> int:
    """Data rows of a landing file, counted with Python's csv module (not with DuckDB).

    The header is not a row and neither is a blank line; a UTF-8 BOM, CRLF line endings, gzip and
    invalid UTF-8 bytes do not change the count.
    """
    content = path.read_bytes()
    if path.name.endswith(".gz"):
        content = gzip.decompress(content)
    text = content.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    records = sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record)
    return max(records - 1, 0)


def reconcile(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, entity: str, day: date | None
) -> tuple[bool, str, dict[str, dg.MetadataValue]]:
    """Compare the latest load of one file (a day, or a reference snapshot) with the file."""
    scope = "partition_date = ?" if day is not None else "partition_date IS NULL"
    params: list = [entity] + ([day] if day is not None else [])
    tables = {row[0] for row in con.execute("SHOW TABLES FROM raw").fetchall()}
    audit = None
    if "load_audit" in tables:
        audit = con.execute(
            "SELECT source_file, file_hash FROM raw.load_audit "
            f"WHERE entity = ? AND {scope} ORDER BY loaded_at DESC LIMIT 1",
            params,
        ).fetchone()
    if audit is None:
        return False, "no load of this file is recorded in raw.load_audit", {}
    source_file, loaded_hash = audit
    path = landing_dir / source_file
    metadata: dict[str, dg.MetadataValue] = {"source_file": dg.MetadataValue.text(source_file)}
    if not path.exists():
        return False, f"{source_file} is no longer in the landing zone", metadata
    if raw_loader.file_sha256(path) != loaded_hash:
        return (
            False,
            f"{source_file} changed since it was loaded: load the day again",
            metadata,
        )
    rows_in_file = count_data_rows(path)
    row_scope = "_partition_date = ?" if day is not None else "TRUE"
    (rows_loaded, rows_from_file) = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE _file_hash = ?) FROM raw.{entity} "
        f"WHERE {row_scope}",
        [loaded_hash] + ([day] if day is not None else []),
    ).fetchone()
    (rows_rejected,) = con.execute(
        "SELECT count(DISTINCT line) FROM raw.rejected_rows "
        f"WHERE entity = ? AND {scope} AND source_file = ?",
        [*params, source_file],
    ).fetchone()
    difference = rows_in_file - rows_loaded - rows_rejected
    metadata |= {
        "rows_in_file": dg.MetadataValue.int(rows_in_file),
        "rows_loaded": dg.MetadataValue.int(rows_loaded),
        "rows_rejected": dg.MetadataValue.int(rows_rejected),
        "difference": dg.MetadataValue.int(difference),
    }
    if rows_from_file != rows_loaded:
        return (
            False,
            f"raw.{entity} holds {rows_loaded - rows_from_file} row(s) for this day that did not "
            f"come from {source_file}",
            metadata,
        )
    passed = difference == 0
    description = (
        f"{source_file}: {rows_in_file} row(s) = {rows_loaded} loaded + {rows_rejected} rejected"
        if passed
        else f"{source_file}: {rows_in_file} row(s) in the file but {rows_loaded} loaded + "
        f"{rows_rejected} rejected ({difference:+d} unaccounted for)"
    )
    return passed, description, metadata


def _audited_days(con: duckdb.DuckDBPyConnection, entity: str) -> list[date]:
    tables = {row[0] for row in con.execute("SHOW TABLES FROM raw").fetchall()}
    if "load_audit" not in tables:
        return []
    rows = con.execute(
        "SELECT DISTINCT partition_date FROM raw.load_audit "
        "WHERE entity = ? AND partition_date IS NOT NULL ORDER BY 1",
        [entity],
    ).fetchall()
    return [row[0] for row in rows]


def _daily_check(entity: str, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=RECONCILE_CHECK,
        partitions_def=daily_partitions,
        blocking=True,
        pool=settings.warehouse_pool(f"raw_{entity}"),
        retry_policy=WAREHOUSE_RETRY,
        description=(
            f"Per day: the data rows in the landing file (counted with Python's csv module) equal "
            f"the rows of that day in raw.{entity} plus its rejected rows."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator:
        op_context = context.op_execution_context
        landing_dir = settings.load().landing_dir
        with retry_only_transient(), warehouse.connect() as con:
            if op_context.has_partition_key or op_context.has_partition_key_range:
                days = [date.fromisoformat(key) for key in op_context.partition_keys]
            else:  # run without partitions: every day loaded so far
                days = _audited_days(con, entity)
            results = [(day, *reconcile(con, landing_dir, entity, day)) for day in days]
        failed = [day.isoformat() for day, passed, *_ in results if not passed]
        if failed:
            context.log.error(f"raw.{entity}: rows do not reconcile for {', '.join(failed)}")
        for day, passed, description, metadata in results:
            yield dg.AssetCheckEvaluation(
                asset_key=asset.key,
                check_name=RECONCILE_CHECK,
                passed=passed,
                metadata=metadata,
                description=description,
                severity=dg.AssetCheckSeverity.ERROR,
                blocking=True,
                partition=day.isoformat(),
            )
        yield dg.Output(None)

    return _check


def _reference_check(entity: str, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=RECONCILE_CHECK,
        blocking=True,
        pool=settings.warehouse_pool(f"raw_{entity}"),
        retry_policy=WAREHOUSE_RETRY,
        description=(
            f"The data rows in the snapshot file (counted with Python's csv module) equal the "
            f"rows in raw.{entity} plus its rejected rows."
        ),
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with retry_only_transient(), warehouse.connect() as con:
            passed, description, metadata = reconcile(
                con, settings.load().landing_dir, entity, None
            )
        return dg.AssetCheckResult(passed=passed, description=description, metadata=metadata)

    return _check


ingest_checks: list[dg.AssetChecksDefinition] = [
    _daily_check("flights", raw_flights),
    _daily_check("weather", raw_weather),
    _reference_check("airlines", raw_airlines),
    _reference_check("airports", raw_airports),
    _reference_check("planes", raw_planes),
]
