"""The dbt project in Dagster (issue #4, acceptance 2 and 5), with real runs on the raw fixture.

Two runs, one after the other, on one warehouse (raw fixture + predictions table):
1. the lead's one-run materialization (`orchestration.materialize.materialize_all`) of every dbt
   asset, daily ones over days 1-2: the three `@dbt_assets` (unpartitioned, daily, monitoring)
   run in one run, in an order without cycles, each releasing the DuckDB file for the next;
   each model's materialization carries its row count; dbt tests are asset checks, and the
   real data gap (tail numbers missing from planes) is a WARN check with its failing-row count;
2. the daily dbt assets and everything downstream over days 2-3, after the raw rows of days 1
   and 2 changed and day 3 got a flight of an unknown carrier: the run passes its window to dbt,
   which rebuilds day 2 from the changed rows, adds day 3 and leaves day 1 alone; the days built
   one window at a time equal the session's full `dbt build` (checksums); the failing (error)
   test on the mart fails the step, and the ML scoring, monitoring and publish assets downstream
   do not run.

Needs the prepared manifest (`make install`), like tests/orchestration/test_definitions.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dbt_cli import query
from raw_fixture import (
    DEFAULT_DAYS,
    WAREHOUSE_FILE,
    RawFixture,
    copy_raw,
    fixture_days,
    read_source_lines,
)

DAYS = fixture_days(DEFAULT_DAYS)
TAIL_NUMBER_CHECK = "relationships_stg_nycflights13__flights_tail_number__tail_number__ref_stg"
CARRIER_CHECK = "relationships_flights_carrier_code__carrier_code__ref_carriers_"
DOWNSTREAM = (
    "ml/flight_delay_predictions",
    "ml/flight_delay_monitoring",
    "serving/warehouse_snapshot",
)


@pytest.fixture(scope="module")
def data_dir(raw_template: RawFixture, tmp_path_factory: pytest.TempPathFactory):
    """RUNWAY_DATA_DIR with a warehouse holding the raw fixture and the predictions table."""
    data = tmp_path_factory.mktemp("dagster") / "data"
    copy_raw(raw_template, data)
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI"):
            patch.delenv(variable, raising=False)
        patch.setenv("RUNWAY_DATA_DIR", str(data))
        yield data


def _dbt_keys() -> dict[str, set[dg.AssetKey]]:
    from orchestration import transform

    return {assets.node_def.name: set(assets.keys) for assets in transform.transform_assets}


def _materialize(start: date, end: date, keys) -> dg.ExecuteInProcessResult:
    from orchestration.materialize import materialize_all

    with dg.DagsterInstance.ephemeral() as instance:
        return materialize_all(start, end, instance, selection=dg.AssetSelection.assets(*keys))


@dataclass
class OneRun:
    result: dg.ExecuteInProcessResult
    row_counts: dict[str, int]  # of every dbt relation, right after the run


@pytest.fixture(scope="module")
def one_run(data_dir: Path) -> OneRun:
    """Every dbt asset, daily ones over days 1-2, in one run (what `make run` does)."""
    keys = set().union(*_dbt_keys().values())
    result = _materialize(DAYS[0], DAYS[1], keys)
    counts = {}
    for key in keys:
        schema, table = key.path
        (counts[key.to_user_string()],) = query(
            data_dir / WAREHOUSE_FILE, f"select count(*) from {schema}.{table}"
        )[0]
    return OneRun(result=result, row_counts=counts)


def checksum(db_path: Path, table: str, where: str) -> tuple[int, str]:
    """(rows, md5 of the sorted rows): equal only if the tables hold the same rows."""
    (rows, digest) = query(
        db_path,
        f"select count(*), md5(coalesce(string_agg(cast(t as varchar), chr(10)"
        f" order by cast(t as varchar)), '')) from {table} as t where {where}",
    )[0]
    return rows, digest


def _per_day(csv_flights) -> tuple[Counter, Counter]:
    """Flights per day, and (day, carrier) groups per day, from the CSV."""

    def day(row: dict[str, str]) -> date:
        return date(int(row["year"]), int(row["month"]), int(row["day"]))

    flights = Counter(day(row) for row in csv_flights)
    groups = Counter(d for d, _ in {(day(row), row["carrier"]) for row in csv_flights})
    return flights, groups


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, list]:
    found: dict[str, list] = {}
    for event in result.get_asset_materialization_events():
        found.setdefault(event.asset_key.to_user_string(), []).append(event.materialization)
    return found


def test_four_dbt_assets_split_the_project_without_cycles() -> None:
    from orchestration.ingest import daily_partitions
    from orchestration.transform import transform_assets

    by_name = {assets.node_def.name: assets for assets in transform_assets}
    daily = by_name["dbt_daily_models"]
    assert daily.partitions_def is daily_partitions
    assert {k.to_user_string() for k in daily.keys} == {
        "marts/flights",
        "marts/daily_carrier_performance",
        "marts/daily_route_performance",
        "marts/daily_weather_delay_impact",
        "ml/flight_features",
    }
    assert by_name["dbt_models"].partitions_def is None
    # The whole-history marts: views over the daily tables, unpartitioned, after them.
    history = by_name["dbt_history_models"]
    assert history.partitions_def is None
    assert {k.to_user_string() for k in history.keys} == {
        "marts/routes",
        "marts/weather_delay_impact",
    }
    # Partitioned so that automation runs it with its day's predictions (one publish per day).
    assert by_name["dbt_monitoring_models"].partitions_def is daily_partitions
    assert {k.to_user_string() for k in by_name["dbt_monitoring_models"].keys} == {
        "ml/flight_delay_monitoring"
    }
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["ml", "flight_delay_monitoring"])).parent_keys
    assert dg.AssetKey(["ml", "flight_delay_predictions"]) in parents  # the scoring asset
    assert graph.get(dg.AssetKey(["ml", "flight_delay_predictions"])).is_materializable


def test_one_run_materializes_every_dbt_model(one_run: OneRun) -> None:
    assert one_run.result.success
    materialized = _materializations(one_run.result)
    for name, keys in _dbt_keys().items():
        for key in keys:
            events = materialized.get(key.to_user_string(), [])
            if name in ("dbt_daily_models", "dbt_monitoring_models"):  # daily-partitioned
                assert [e.partition for e in events] == [d.isoformat() for d in DAYS[:2]], key
            else:
                assert len(events) == 1, key
                assert events[0].partition is None


def test_row_counts_are_recorded(one_run: OneRun, csv_flights) -> None:
    flights_per_day, groups_per_day = _per_day(csv_flights)
    window = DAYS[:2]
    expected_daily = {
        "marts/flights": sum(flights_per_day[d] for d in window),
        "ml/flight_features": sum(flights_per_day[d] for d in window),
        "marts/daily_carrier_performance": sum(groups_per_day[d] for d in window),
    }
    for key, events in _materializations(one_run.result).items():
        rows = one_run.row_counts[key]
        assert rows > 0, key
        if key in expected_daily:
            assert rows == expected_daily[key], key
        for event in events:  # views too
            assert event.metadata["dagster/row_count"].value == rows, key
            if key in expected_daily:
                assert event.metadata["window_row_count"].value == rows, key


def test_dbt_tests_are_checks_and_the_real_data_gap_warns_with_its_count(
    one_run: OneRun, csv_flights
) -> None:
    header, lines = read_source_lines("planes")
    planes = {line.split(",")[0].strip('"') for line in lines}
    missing = sum(1 for row in csv_flights if row["tailnum"] not in planes | {"NA"})
    evaluations = one_run.result.get_asset_check_evaluations()
    assert len(evaluations) > 100
    [tail] = [e for e in evaluations if e.check_name.startswith(TAIL_NUMBER_CHECK)]
    assert tail.asset_key == dg.AssetKey(["staging", "stg_nycflights13__flights"])
    assert not tail.passed
    assert tail.severity == dg.AssetCheckSeverity.WARN
    assert tail.metadata["dagster_dbt/failed_row_count"].value == missing
    failed_errors = [
        e.check_name
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert failed_errors == []
    checked = {e.asset_key.to_user_string() for e in evaluations}
    assert {"marts/flights", "marts/routes", "ml/flight_delay_monitoring"} <= checked


@pytest.fixture(scope="module")
def failing_partition_run(one_run: OneRun, data_dir: Path) -> dg.ExecuteInProcessResult:
    """Days 2-3, after days 1-2 changed (every departure 100 minutes later) and day 3 got a
    flight of a carrier that is not in airlines (breaks an error test on marts.flights)."""
    assert one_run.result.success
    con = duckdb.connect(str(data_dir / WAREHOUSE_FILE))
    try:
        con.execute(
            "update raw.flights set dep_delay = dep_delay + 100"
            " where _partition_date in (?, ?) and dep_delay is not null",
            [DAYS[0], DAYS[1]],
        )
        con.execute(
            "insert into raw.flights select * replace ('ZZ' as carrier) from raw.flights"
            " where _partition_date = ? limit 1",
            [DAYS[2]],
        )
    finally:
        con.close()
    return _materialize(DAYS[1], DAYS[2], _daily_and_downstream())


def _daily_and_downstream() -> set[dg.AssetKey]:
    """The daily dbt assets and everything downstream (ML, monitoring, publish), whole
    definitions (the ML multi-asset cannot be subset)."""
    from orchestration.definitions import defs

    daily = _dbt_keys()["dbt_daily_models"]
    wanted = dg.AssetSelection.assets(*daily).downstream().resolve(defs.resolve_asset_graph())
    keys: set[dg.AssetKey] = set()
    for assets in defs.assets:
        # training opens MLflow (seconds of imports): scoring stands for the ML stage here
        if set(assets.keys) & wanted and "mlflow" not in assets.required_resource_keys:
            keys |= set(assets.keys)
    assert {dg.AssetKey(k.split("/")) for k in DOWNSTREAM} <= keys
    return keys


def test_partition_run_rebuilds_only_its_days(
    failing_partition_run: dg.ExecuteInProcessResult, data_dir: Path, csv_flights
) -> None:
    first, second, third = DAYS
    flights = _materializations(failing_partition_run)["marts/flights"]
    assert [e.partition for e in flights] == [second.isoformat(), third.isoformat()]
    flights_per_day, _ = _per_day(csv_flights)
    for event in flights:  # one run, one count, reported on each of its partitions
        assert event.metadata["dagster/row_count"].value == sum(flights_per_day.values()) + 1
        in_window = flights_per_day[second] + flights_per_day[third] + 1
        assert event.metadata["window_row_count"].value == in_window
    late = dict(
        query(
            data_dir / WAREHOUSE_FILE,
            "select flight_date, avg(case when is_departure_delayed_15 then 1.0 else 0.0 end)"
            " from marts.flights where not is_cancelled group by 1",
        )
    )
    assert late[second] == 1.0  # rebuilt from the changed raw rows: all 100+ minutes late
    assert late[first] < 0.5  # the same change on day 1 is not picked up: not in the window
    (unknown,) = query(
        data_dir / WAREHOUSE_FILE, "select count(*) from marts.flights where carrier_code = 'ZZ'"
    )[0]
    assert unknown == 1


@pytest.mark.parametrize(
    "table", ["marts.flights", "marts.daily_carrier_performance", "ml.flight_features"]
)
def test_days_built_window_by_window_equal_the_full_build(
    failing_partition_run: dg.ExecuteInProcessResult, data_dir: Path, built: Path, table: str
) -> None:
    """Day 1 (first run's window) and day 3 (second run's), whose raw rows are unchanged, hold
    exactly the full build's rows (day 2 was rebuilt from changed rows; ZZ is the added flight)."""
    days = ", ".join(f"date '{d.isoformat()}'" for d in (DAYS[0], DAYS[2]))
    where = f"flight_date in ({days}) and carrier_code <> 'ZZ'"
    rows, digest = checksum(data_dir / WAREHOUSE_FILE, table, where)
    assert rows > 0
    assert (rows, digest) == checksum(built, table, where)


def test_failing_mart_test_blocks_ml_and_publish(
    failing_partition_run: dg.ExecuteInProcessResult,
) -> None:
    result = failing_partition_run
    assert not result.success
    assert {e.step_key for e in result.get_step_failure_events()} == {"dbt_daily_models"}
    [carrier] = [e for e in result.get_asset_check_evaluations() if e.check_name == CARRIER_CHECK]
    assert carrier.asset_key == dg.AssetKey(["marts", "flights"])
    assert not carrier.passed and carrier.severity == dg.AssetCheckSeverity.ERROR
    assert carrier.metadata["dagster_dbt/failed_row_count"].value == 1
    started = {
        event.step_key
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_START
    }
    assert started == {"dbt_daily_models"}  # nothing downstream ran
    materialized = set(_materializations(result))
    assert materialized == {k.to_user_string() for k in _dbt_keys()["dbt_daily_models"]}


def _parse_events(target: Path) -> list[str]:
    """Names of dbt's parse events in one dbt call's log (JSON lines, as dagster-dbt asks)."""
    import json

    names = []
    for line in (target / "dbt.log").read_text().splitlines():
        try:
            name = json.loads(line)["info"]["name"]
        except (ValueError, KeyError):
            continue
        if name in ("UnableToPartialParse", "PartialParsingEnabled"):
            names.append(name)
    return names


def test_dbt_parses_the_project_once_per_data_dir(
    failing_partition_run: dg.ExecuteInProcessResult, data_dir: Path
) -> None:
    """The window reaches dbt without --vars, and the data dir keeps dbt's parse state: only the
    first dbt call of this (new) data dir parses the whole project, every later one, whatever
    its window, re-parses only what changed. The target folders stay in the data dir."""
    from orchestration.settings import DBT_PROJECT_DIR

    root = data_dir / "dbt" / "target"
    calls = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    # one run: dbt_models, days 1-2, the history views, monitoring; the failing run: days 2-3
    assert len(calls) == 5, [p.name for p in calls]
    assert (root / "partial_parse.msgpack").exists()
    events = [_parse_events(call) for call in calls]
    assert events[0] == ["UnableToPartialParse"], events  # the profile names this temp warehouse
    assert all(later == ["PartialParsingEnabled"] for later in events[1:]), events
    run_ids = {call.name.split("-")[1] for call in calls}
    in_repo = DBT_PROJECT_DIR / "target"
    assert not [p for p in in_repo.glob("*-*-*") if p.name.split("-")[-2] in run_ids]
