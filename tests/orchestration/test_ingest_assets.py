"""The ingest assets in real Dagster runs: per-day metadata, the reconciliation check per
partition, a quarantined file failing the run with one message while the good days load.

Real parts: the seeder's files (or hand-written ones), a DuckDB file and a Dagster instance in a
temporary directory. Expected figures are read from the landing files with the csv module.
"""

import csv
import hashlib
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import ingest, settings
from orchestration.resources import WarehouseResource

HEADER = (
    "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,"
    "carrier,flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour"
)
WEATHER_HEADER = (
    "origin,year,month,day,hour,temp,dewp,humid,wind_dir,wind_speed,wind_gust,precip,pressure,"
    "visib,time_hour"
)
FLIGHTS = dg.AssetKey(["raw", "flights"])
WEATHER = dg.AssetKey(["raw", "weather"])


def flight(of_day: int, number: int, dep_delay: str = "2") -> str:
    return (
        f"2013,1,{of_day},517,515,{dep_delay},830,819,11,UA,{number},N14228,EWR,IAH,227,1400,5,15,"
        f"2013-01-{of_day:02d}T10:00:00Z"
    )


def write_day(landing: Path, of_day: int, rows: list[str], header: str = HEADER) -> Path:
    path = landing / "flights" / f"2013-01-{of_day:02d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def materialize(instance, selection, *, start: str, end: str | None = None):
    """One run over [start, end] (as `make run` and the sensor do), checks included."""
    tags = (
        {
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        }
        if end
        else {}
    )
    return dg.materialize(
        [*ingest.ingest_assets, *ingest.ingest_checks],
        resources={"warehouse": WarehouseResource()},
        instance=instance,
        selection=selection,
        partition_key=None if end else start,
        tags=tags,
        raise_on_error=False,
    )


def check_results(result) -> dict[tuple[str, str | None], dg.AssetCheckEvaluation]:
    return {
        (evaluation.asset_key.to_user_string(), evaluation.partition): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


def materializations(result, key: dg.AssetKey) -> dict[str, dict]:
    return {
        event.materialization.partition: {
            name: value.value for name, value in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
        if event.asset_key == key
    }


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_range_run_records_per_day_metadata_and_reconciles_every_partition(
    data_dir: Path, instance
) -> None:
    from orchestration.seed.landing import seed_landing

    landing = settings.load().landing_dir
    seed_landing(landing, days=3, progress=False)
    result = materialize(
        instance, dg.AssetSelection.groups("raw"), start="2013-01-01", end="2013-01-03"
    )
    assert result.success

    flights_meta = materializations(result, FLIGHTS)
    assert sorted(flights_meta) == ["2013-01-01", "2013-01-02", "2013-01-03"]
    for day, meta in flights_meta.items():
        path = landing / "flights" / f"{day}.csv"
        rows = csv_rows(path)
        assert meta["rows_loaded"] == meta["dagster/row_count"] == len(rows) > 500
        assert meta["rows_rejected"] == 0 and meta["rows_in_file"] == len(rows)
        assert meta["file_bytes"] == path.stat().st_size
        assert meta["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert meta["source_file"] == f"flights/{day}.csv"
        preview = meta["preview"].records
        assert len(preview) == 5
        assert [(r.data["carrier"], r.data["flight"]) for r in preview] == [
            (row["carrier"], int(row["flight"])) for row in rows[:5]
        ]
    assert materializations(result, dg.AssetKey(["raw", "airports"]))[None]["rows_loaded"] == len(
        csv_rows(landing / "airports.csv")
    )

    checks = check_results(result)
    days = ["2013-01-01", "2013-01-02", "2013-01-03"]
    expected = {("raw/flights", day) for day in days} | {("raw/weather", day) for day in days}
    expected |= {(f"raw/{name}", None) for name in ("airlines", "airports", "planes")}
    assert set(checks) == expected
    assert all(evaluation.passed for evaluation in checks.values())
    day2 = checks[("raw/flights", "2013-01-02")].metadata
    assert day2["rows_in_file"].value == len(csv_rows(landing / "flights" / "2013-01-02.csv"))

    with duckdb.connect(str(settings.load().warehouse_path)) as con:
        audit = con.execute(
            "SELECT entity, partition_date, rows_in_file, rows_loaded, run_id "
            "FROM raw.load_audit WHERE entity = 'weather' ORDER BY 2"
        ).fetchall()
    assert [(row[1].isoformat(), row[2], row[3]) for row in audit] == [
        (
            day,
            len(csv_rows(landing / "weather" / f"{day}.csv")),
            len(csv_rows(landing / "weather" / f"{day}.csv")),
        )
        for day in days
    ]
    assert {row[4] for row in audit} == {result.run_id}


def test_rejects_show_in_the_metadata_and_still_reconcile(data_dir: Path, instance) -> None:
    landing = settings.load().landing_dir
    write_day(landing, 1, [flight(1, 1), flight(1, 2, dep_delay="late"), flight(1, 3)])
    result = materialize(instance, dg.AssetSelection.assets(FLIGHTS), start="2013-01-01")
    assert result.success
    meta = materializations(result, FLIGHTS)["2013-01-01"]
    assert (meta["rows_in_file"], meta["rows_loaded"], meta["rows_rejected"]) == (3, 2, 1)
    (sample,) = meta["rejects_sample"].records
    assert sample.data == {
        "line": 3,
        "column": "dep_delay",
        "reason": '"late" is not a valid DOUBLE',
    }
    evaluation = check_results(result)[("raw/flights", "2013-01-01")]
    assert evaluation.passed
    assert (
        evaluation.metadata["rows_loaded"].value,
        evaluation.metadata["rows_rejected"].value,
    ) == (
        2,
        1,
    )


def test_header_only_day_loads_zero_rows_and_says_so(data_dir: Path, instance) -> None:
    landing = settings.load().landing_dir
    write_day(landing, 1, [])
    result = materialize(instance, dg.AssetSelection.assets(FLIGHTS), start="2013-01-01")
    assert result.success
    meta = materializations(result, FLIGHTS)["2013-01-01"]
    assert meta["dagster/row_count"] == 0 and meta["rows_in_file"] == 0
    assert "header-only" in meta["note"]
    assert check_results(result)[("raw/flights", "2013-01-01")].passed


def test_quarantined_file_fails_the_run_with_one_message_and_the_other_days_load(
    data_dir: Path, instance
) -> None:
    current = settings.load()
    write_day(current.landing_dir, 1, [flight(1, 1)])
    write_day(current.landing_dir, 2, [flight(2, 1)], header=HEADER.replace("dep_delay", "delay"))
    write_day(current.landing_dir, 3, [flight(3, 1), flight(3, 2)])

    result = materialize(
        instance, dg.AssetSelection.assets(FLIGHTS), start="2013-01-01", end="2013-01-03"
    )

    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert message.count("flights/2013-01-02.csv: ") == 1
    assert "missing column(s) dep_delay; unexpected column(s) 'delay'" in message
    assert "Fix: deliver the file again with this exact first line: " + HEADER in message
    moved = current.quarantine_dir / "flights" / "2013-01-02.csv"
    assert moved.exists() and Path(f"{moved}.reason").exists()
    assert str(moved) in message
    assert instance.get_materialized_partitions(FLIGHTS) == {"2013-01-01", "2013-01-03"}
    status = instance.get_status_by_partition(FLIGHTS, ["2013-01-02"], ingest.daily_partitions)[
        "2013-01-02"
    ]
    assert status == dg.AssetPartitionStatus.FAILED
    with duckdb.connect(str(current.warehouse_path)) as con:
        per_day = con.execute(
            "SELECT day, count(*) FROM raw.flights GROUP BY day ORDER BY day"
        ).fetchall()
        quarantined = con.execute("SELECT source_file FROM raw.quarantined_files").fetchall()
    assert per_day == [(1, 1), (3, 2)]
    assert quarantined == [("flights/2013-01-02.csv",)]


def test_reconcile_check_fails_when_rows_are_lost_or_the_file_changed(
    data_dir: Path, instance
) -> None:
    current = settings.load()
    write_day(current.landing_dir, 1, [flight(1, 1), flight(1, 2), flight(1, 3)])
    assert materialize(instance, dg.AssetSelection.assets(FLIGHTS), start="2013-01-01").success
    check_only = dg.AssetSelection.checks(ingest.ingest_checks[0])

    def run_check() -> dg.AssetCheckEvaluation:
        result = dg.materialize(
            [ingest.raw_flights, ingest.ingest_checks[0]],
            resources={"warehouse": WarehouseResource()},
            instance=instance,
            selection=check_only,
            tags={"dagster/partition": "2013-01-01"},
            raise_on_error=False,
        )
        assert result.get_asset_materialization_events() == []  # the load did not run again
        return check_results(result)[("raw/flights", "2013-01-01")]

    assert run_check().passed
    with duckdb.connect(str(current.warehouse_path)) as con:
        con.execute("DELETE FROM raw.flights WHERE _source_row = 3")
    lost = run_check()
    assert not lost.passed and lost.metadata["difference"].value == 1
    assert "3 row(s) in the file but 2 loaded + 0 rejected" in lost.description

    write_day(current.landing_dir, 1, [flight(1, 1)])
    changed = run_check()
    assert not changed.passed and "changed since it was loaded" in changed.description
