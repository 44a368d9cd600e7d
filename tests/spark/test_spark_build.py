"""The dbt project on Spark local, full then incremental, gives the same marts as on DuckDB.

One process, one SparkSession (conftest.py): `dbtRunner` builds the whole project with
``RUNWAY_TARGET=spark`` (full; its generic data tests are left to the second build, which runs
every kind of them), then rebuilds one day (``RUNWAY_DBT_MIN_DATE``/``MAX_DATE``:
``insert_overwrite`` of that day's partition on Spark). Every mart (schemas `marts` and `ml`) is
read back from both engines and compared: columns, row count and an ordering-independent
checksum of the normalised rows (floats to 9 significant digits, timestamps as UTC epoch
seconds, decimals as floats).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from spark_dbt import INCREMENTAL_DAY, Builds, invoke_dbt, mart_names

pytestmark = pytest.mark.spark

MARTS = mart_names()


def _normalise(value):
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return float(f"{value:.9g}") + 0.0  # + 0.0: -0.0 and 0.0 compare and print alike
    return value


def _normalise_rows(rows) -> list[tuple]:
    return [tuple(_normalise(v) for v in row) for row in rows]


def checksum(rows: list[tuple]) -> str:
    """Independent of row order: the hash of the sorted representations."""
    return hashlib.sha256("\n".join(sorted(repr(r) for r in rows)).encode()).hexdigest()


def read_duckdb(db_path: Path, table: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        columns = con.execute(f"DESCRIBE {table}").fetchall()
        select = ", ".join(
            f"cast(epoch({name}) as bigint)" if dtype.startswith("TIMESTAMP") else name
            for name, dtype, *_ in columns
        )
        rows = con.execute(f"SELECT {select} FROM {table}").fetchall()
    finally:
        con.close()
    return [c[0].lower() for c in columns], _normalise_rows(rows)


def read_spark(spark, table: str, columns: list[str] | None = None):
    """(column names, normalised rows); ``columns``: select these, in this order.

    Spark stores a partitioned table's partition columns last (`flight_date` of the daily
    models), so rows are compared in DuckDB's column order.
    """
    dtypes = dict(spark.table(table).dtypes)
    names = columns or list(dtypes)
    # collect() would turn timestamps into datetimes in the Python process's local zone:
    # take epoch seconds in Spark (timestamp_ntz read as UTC, the session zone) instead.
    select = ", ".join(
        f"unix_timestamp(cast({name} as timestamp))"
        if dtypes[name].startswith("timestamp")
        else name
        for name in names
    )
    rows = [tuple(r) for r in spark.sql(f"SELECT {select} FROM {table}").collect()]
    return [name.lower() for name in dtypes], _normalise_rows(rows)


def files_per_day(spark, table: str) -> dict[date, frozenset[str]]:
    rows = spark.sql(f"SELECT DISTINCT flight_date, input_file_name() FROM {table}").collect()
    files: dict[date, set[str]] = {}
    for day, path in rows:
        files.setdefault(day, set()).add(path)
    return {day: frozenset(paths) for day, paths in files.items()}


@pytest.fixture(scope="session")
def builds(spark, duckdb_marts: Path, spark_root: Path) -> Builds:
    """Full Spark build, the marts it gives, then the incremental run of one day."""
    work = spark_root / "dbt_spark"
    # Generic data tests run once, in the incremental build below (every kind of them is among
    # its 47: test_every_kind_of_data_test_ran_on_spark). Each is a Spark job of about a second
    # here, and the full build's 113 were 40 % of the module's time; the marts are compared row by
    # row with DuckDB's, which pass them all. Singular and unit tests run in both builds.
    full = invoke_dbt(["build", "--exclude", "test_type:generic"], work, RUNWAY_TARGET="spark")
    assert full.success, f"full dbt build on spark failed: {full.error}"
    after_full = {
        table: read_spark(spark, table, read_duckdb(duckdb_marts, table)[0])[1] for table in MARTS
    }
    files_after_full = files_per_day(spark, "marts.flights")
    incremental = invoke_dbt(
        ["build", "--select", "tag:daily+"],
        work,
        RUNWAY_TARGET="spark",
        RUNWAY_DBT_MIN_DATE=INCREMENTAL_DAY[0],
        RUNWAY_DBT_MAX_DATE=INCREMENTAL_DAY[1],
    )
    assert incremental.success, f"incremental dbt build on spark failed: {incremental.error}"
    print(
        f"spark: full build {full.seconds:.1f} s ({len(full.results)} nodes), "
        f"incremental build of {INCREMENTAL_DAY[0]} {incremental.seconds:.1f} s "
        f"({len(incremental.results)} nodes)"
    )
    return Builds(duckdb_marts, full, incremental, after_full, files_after_full, work)


def _compare(table: str, duck: tuple[list[str], list[tuple]], spark_rows: list[tuple]) -> None:
    _, duck_rows = duck
    assert len(spark_rows) == len(duck_rows), f"{table}: row counts differ"
    if checksum(spark_rows) != checksum(duck_rows):
        only_spark = Counter(spark_rows) - Counter(duck_rows)
        only_duck = Counter(duck_rows) - Counter(spark_rows)
        pytest.fail(
            f"{table}: checksums differ; {sum(only_spark.values())} rows only on Spark, e.g. "
            f"{list(only_spark)[:2]}; only on DuckDB, e.g. {list(only_duck)[:2]}"
        )


@pytest.mark.parametrize("table", MARTS)
def test_full_spark_build_equals_duckdb(builds: Builds, spark, table: str):
    duck = read_duckdb(builds.duckdb_path, table)
    spark_columns, _ = read_spark(spark, table, duck[0])
    assert sorted(spark_columns) == sorted(duck[0])
    assert duck[1], f"{table} is empty on duckdb: nothing compared"
    _compare(table, duck, builds.marts_after_full[table])


@pytest.mark.parametrize("table", MARTS)
def test_incremental_spark_build_keeps_marts_equal_to_duckdb(builds: Builds, spark, table: str):
    duck = read_duckdb(builds.duckdb_path, table)
    _compare(table, duck, read_spark(spark, table, duck[0])[1])


def test_incremental_run_rebuilt_only_the_window_day(builds: Builds, spark):
    """insert_overwrite replaced the window day's partition files and left the other days'."""
    statuses = dict(builds.spark_incremental.results)
    daily = ["model.runway.flights", "model.runway.daily_carrier_performance"]
    assert all(statuses.get(uid) == "success" for uid in daily), statuses
    before = builds.flights_files_after_full
    after = files_per_day(spark, "marts.flights")
    days = [date(2013, 1, d) for d in (1, 2, 3)]
    assert set(before) == set(after) == set(days)
    window_day = date.fromisoformat(INCREMENTAL_DAY[0])
    for day in days:
        if day == window_day:
            assert after[day].isdisjoint(before[day]), f"{day}: partition not rewritten"
        else:
            assert after[day] == before[day], f"{day}: outside the window, yet rewritten"


def test_spark_marts_are_parquet_partitioned_by_day(builds: Builds, spark):
    """insert_overwrite on Parquet needs the day partitions (else it overwrites the table)."""
    for table in ("marts.flights", "marts.daily_carrier_performance", "ml.flight_features"):
        detail = {row[0]: row[1] for row in spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()}
        assert detail.get("Provider", "").lower() == "parquet", (table, detail.get("Provider"))
        partitions = spark.sql(f"SHOW PARTITIONS {table}").collect()
        assert len(partitions) == 3, (table, partitions)


def _test_kind(node: dict) -> str:
    return (node.get("test_metadata") or {}).get("name", "singular")


def test_every_kind_of_data_test_ran_on_spark(builds: Builds):
    """Each generic test macro (ours are portable SQL too) and each singular test ran on Spark
    and passed: the generic ones in the incremental build, the singular ones in the full one."""
    manifest = json.loads((builds.spark_work / "target" / "manifest.json").read_text())
    tests = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    ran = dict(builds.spark_incremental.results) | dict(builds.spark_full.results)
    passed = {uid for uid, status in ran.items() if status in ("pass", "warn")}
    kinds = {_test_kind(node) for node in tests.values()}
    assert {"not_null", "unique", "accepted_range", "relationships"} <= kinds
    kinds_passed = {_test_kind(tests[uid]) for uid in passed if uid in tests}
    assert kinds_passed == kinds
    singular = {uid for uid, node in tests.items() if _test_kind(node) == "singular"}
    assert singular and singular <= {uid for uid, _ in builds.spark_full.results}
    assert singular <= passed
