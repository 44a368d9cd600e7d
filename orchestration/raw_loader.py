"""Load landing-zone CSV files into the warehouse's `raw` schema.

Plain DuckDB code, no Dagster: the ingest assets (``orchestration/ingest.py``) call it. Every file
is read with a declared schema (no type sniffing: a sniffed file silently degrades to VARCHAR on one
bad value), and every row keeps its lineage (`_source_file`, `_source_row`, `_file_hash`,
`_loaded_at`). A daily table's rows also carry `_partition_date`, the day of the file, so that
loading a day replaces exactly that day's rows inside one transaction: loading the same days again
leaves the table identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

# Declared schemas of the landing files (column order as the upstream ships them).
FLIGHTS_COLUMNS: dict[str, str] = {
    "year": "INTEGER",
    "month": "INTEGER",
    "day": "INTEGER",
    "dep_time": "INTEGER",
    "sched_dep_time": "INTEGER",
    "dep_delay": "DOUBLE",
    "arr_time": "INTEGER",
    "sched_arr_time": "INTEGER",
    "arr_delay": "DOUBLE",
    "carrier": "VARCHAR",
    "flight": "INTEGER",
    "tailnum": "VARCHAR",
    "origin": "VARCHAR",
    "dest": "VARCHAR",
    "air_time": "DOUBLE",
    "distance": "DOUBLE",
    "hour": "INTEGER",
    "minute": "INTEGER",
    "time_hour": "TIMESTAMP",
}
WEATHER_COLUMNS: dict[str, str] = {
    "origin": "VARCHAR",
    "year": "INTEGER",
    "month": "INTEGER",
    "day": "INTEGER",
    "hour": "INTEGER",
    "temp": "DOUBLE",
    "dewp": "DOUBLE",
    "humid": "DOUBLE",
    "wind_dir": "DOUBLE",
    "wind_speed": "DOUBLE",
    "wind_gust": "DOUBLE",
    "precip": "DOUBLE",
    "pressure": "DOUBLE",
    "visib": "DOUBLE",
    "time_hour": "TIMESTAMP",
}
AIRLINES_COLUMNS: dict[str, str] = {"carrier": "VARCHAR", "name": "VARCHAR"}
AIRPORTS_COLUMNS: dict[str, str] = {
    "faa": "VARCHAR",
    "name": "VARCHAR",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "alt": "INTEGER",
    "tz": "INTEGER",
    "dst": "VARCHAR",
    "tzone": "VARCHAR",
}
PLANES_COLUMNS: dict[str, str] = {
    "tailnum": "VARCHAR",
    "year": "INTEGER",
    "type": "VARCHAR",
    "manufacturer": "VARCHAR",
    "model": "VARCHAR",
    "engines": "INTEGER",
    "seats": "INTEGER",
    "speed": "INTEGER",
    "engine": "VARCHAR",
}

DAILY_TABLES: dict[str, dict[str, str]] = {"flights": FLIGHTS_COLUMNS, "weather": WEATHER_COLUMNS}
REFERENCE_TABLES: dict[str, dict[str, str]] = {
    "airlines": AIRLINES_COLUMNS,
    "airports": AIRPORTS_COLUMNS,
    "planes": PLANES_COLUMNS,
}
LINEAGE_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "_file_hash": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}
NULL_STRINGS = ["NA", ""]


class LandingFileError(Exception):
    """A landing file is missing or cannot be read with its declared schema."""


@dataclass
class LoadReport:
    table: str
    rows_loaded: int = 0
    files: list[str] = field(default_factory=list)
    rows_per_file: dict[str, int] = field(default_factory=dict)


def daily_file(landing_dir: Path, entity: str, day: date) -> Path | None:
    """The landing file for one entity and day (``.csv`` or ``.csv.gz``), if delivered."""
    for suffix in (".csv", ".csv.gz"):
        candidate = landing_dir / entity / f"{day.isoformat()}{suffix}"
        if candidate.exists():
            return candidate
    return None


def reference_file(landing_dir: Path, entity: str) -> Path | None:
    for suffix in (".csv", ".csv.gz"):
        candidate = landing_dir / f"{entity}{suffix}"
        if candidate.exists():
            return candidate
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _table_ddl(table: str, columns: dict[str, str], daily: bool) -> str:
    all_columns = {**columns, **LINEAGE_COLUMNS}
    if daily:
        all_columns["_partition_date"] = "DATE"
    body = ", ".join(f"{name} {dtype}" for name, dtype in all_columns.items())
    return f"CREATE TABLE IF NOT EXISTS raw.{table} ({body})"


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    if table in DAILY_TABLES:
        con.execute(_table_ddl(table, DAILY_TABLES[table], daily=True))
    else:
        con.execute(_table_ddl(table, REFERENCE_TABLES[table], daily=False))


def _read_file(
    con: duckdb.DuckDBPyConnection, path: Path, columns: dict[str, str], relative_name: str
) -> pa.Table:
    """Read one file strictly with its declared schema; add the lineage columns."""
    try:
        table = con.execute(
            "SELECT * FROM read_csv(?, auto_detect = false, header = true, delim = ',', "
            "quote = '\"', columns = ?, nullstr = ?)",
            [str(path), columns, NULL_STRINGS],
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise LandingFileError(
            f"{relative_name}: cannot be read with its declared schema: {exc}"
        ) from exc
    rows = table.num_rows
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    # Line 1 is the header, so data row i sits on line i + 1 of the file.
    return (
        table.append_column("_source_file", pa.array([relative_name] * rows, pa.string()))
        .append_column("_source_row", pa.array(range(2, rows + 2), pa.int64()))
        .append_column("_file_hash", pa.array([file_sha256(path)] * rows, pa.string()))
        .append_column("_loaded_at", pa.array([loaded_at] * rows, pa.timestamp("us")))
    )


def load_daily(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, table: str, days: Sequence[date]
) -> LoadReport:
    """Replace the rows of ``raw.<table>`` for ``days`` with the content of their files.

    One transaction: either every day in ``days`` is replaced, or nothing changes.
    """
    columns = DAILY_TABLES[table]
    files = {day: daily_file(landing_dir, table, day) for day in days}
    missing = [day.isoformat() for day, path in files.items() if path is None]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise LandingFileError(
            f"{len(missing)} day(s) of {table} not delivered to {landing_dir / table}: {shown}. "
            "Seed them first (`uv run python -m orchestration.seed`) or materialize only "
            "delivered days."
        )
    report = LoadReport(table=f"raw.{table}")
    ensure_raw_table(con, table)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"DELETE FROM raw.{table} WHERE _partition_date IN (SELECT unnest(?::DATE[]))",
            [list(days)],
        )
        for day, path in files.items():
            relative = path.relative_to(landing_dir).as_posix()
            batch = _read_file(con, path, columns, relative)
            batch = batch.append_column(
                "_partition_date", pa.array([day] * batch.num_rows, pa.date32())
            )
            con.register("_batch", batch)
            con.execute(f"INSERT INTO raw.{table} BY NAME SELECT * FROM _batch")
            con.unregister("_batch")
            report.files.append(relative)
            report.rows_per_file[relative] = batch.num_rows
            report.rows_loaded += batch.num_rows
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


def load_reference(con: duckdb.DuckDBPyConnection, landing_dir: Path, table: str) -> LoadReport:
    """Replace ``raw.<table>`` with the current full snapshot file, in one transaction."""
    path = reference_file(landing_dir, table)
    if path is None:
        raise LandingFileError(
            f"{table}.csv not delivered to {landing_dir}. "
            "Seed it first (`uv run python -m orchestration.seed`)."
        )
    relative = path.relative_to(landing_dir).as_posix()
    batch = _read_file(con, path, REFERENCE_TABLES[table], relative)
    ensure_raw_table(con, table)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM raw.{table}")
        con.register("_batch", batch)
        con.execute(f"INSERT INTO raw.{table} BY NAME SELECT * FROM _batch")
        con.unregister("_batch")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return LoadReport(
        table=f"raw.{table}",
        rows_loaded=batch.num_rows,
        files=[relative],
        rows_per_file={relative: batch.num_rows},
    )


def days_between(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)
