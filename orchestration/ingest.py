"""Ingest assets: landing-zone files → `raw.*` in the warehouse.

`raw/flights` and `raw/weather` are daily-partitioned over the settings' date range; a backfill of
many days runs as one run (single-run backfill policy) that loads them in one transaction.
The reference tables are full snapshots, unpartitioned.
"""

from datetime import date

import dagster as dg

from orchestration import raw_loader, settings
from orchestration.resources import WarehouseResource

_current = settings.load()
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_current.start_date.isoformat(),
    # The partitions end with the data (2013), not with today's date.
    end_date=date.fromordinal(_current.end_date.toordinal() + 1).isoformat(),
)


def _load_metadata(report: raw_loader.LoadReport) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(report.rows_loaded),
        "files": dg.MetadataValue.int(len(report.files)),
        "table": dg.MetadataValue.text(report.table),
    }


def _daily_asset(entity: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", entity],
        group_name="raw",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=settings.WAREHOUSE_POOL,
        kinds={"duckdb", "csv"},
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        days = [date.fromisoformat(key) for key in context.partition_keys]
        with warehouse.connect() as con:
            report = raw_loader.load_daily(con, settings.load().landing_dir, entity, days)
        context.log.info(f"loaded {report.rows_loaded} rows from {len(report.files)} file(s)")
        return dg.MaterializeResult(metadata=_load_metadata(report))

    return _asset


def _reference_asset(entity: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", entity],
        group_name="raw",
        pool=settings.WAREHOUSE_POOL,
        kinds={"duckdb", "csv"},
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            report = raw_loader.load_reference(con, settings.load().landing_dir, entity)
        context.log.info(f"loaded {report.rows_loaded} rows from {report.files[0]}")
        return dg.MaterializeResult(metadata=_load_metadata(report))

    return _asset


raw_flights = _daily_asset(
    "flights",
    "Scheduled and actual departures from NYC, one landing file per day "
    "(`landing/flights/YYYY-MM-DD.csv`), loaded with a declared schema. A partition run replaces "
    "exactly that day's rows.",
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
