"""The landing-zone sensor on real files in a temporary landing zone.

The sensor is evaluated the way the daemon does (`evaluate_tick`, which also resolves each request
onto its asset job) with a persistent test instance; the cursor it returns is passed to the next
tick, as Dagster persists it. Requests are executed on their job to show they load what they say.
"""

import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import automation, delivery, ingest, settings
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
START = "dagster/asset_partition_range_start"
END = "dagster/asset_partition_range_end"

DEFS = dg.Definitions(
    assets=ingest.ingest_assets,
    asset_checks=ingest.ingest_checks,
    sensors=[automation.landing_zone_sensor],
    resources={"warehouse": WarehouseResource()},
)


def deliver(landing: Path, of_day: int, flights: int = 2, weather: bool = True) -> None:
    """Flights (and weather) files for 2013-01-<of_day>, with `flights` rows."""
    name = f"2013-01-{of_day:02d}.csv"
    rows = [
        f"2013,1,{of_day},517,515,2,830,819,11,UA,{n},N1,EWR,IAH,227,1400,5,15,"
        f"2013-01-{of_day:02d}T10:00:00Z"
        for n in range(1, flights + 1)
    ]
    (landing / "flights").mkdir(parents=True, exist_ok=True)
    (landing / "flights" / name).write_text("\n".join([HEADER, *rows]) + "\n")
    if weather:
        row = f"EWR,2013,1,{of_day},1,39,26,59,270,10,NA,0,1012,10,2013-01-{of_day:02d}T06:00:00Z"
        (landing / "weather").mkdir(parents=True, exist_ok=True)
        (landing / "weather" / name).write_text(f"{WEATHER_HEADER}\n{row}\n")


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    landing = settings.load().landing_dir
    landing.mkdir(parents=True)
    return landing


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def tick(instance, cursor: str | None):
    sensor = DEFS.resolve_sensor_def(automation.SENSOR_NAME)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=DEFS)
    return sensor.evaluate_tick(context)


def describe(request: dg.RunRequest) -> tuple:
    """(assets, first day, last day) of a request, whatever its form."""
    assets = tuple(sorted(key.to_user_string() for key in request.asset_selection))
    if START in request.tags:
        return assets, request.tags[START], request.tags[END]
    partition = request.tags.get("dagster/partition")
    return assets, partition, partition


def execute(instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run a request on the job the sensor resolved it to, with its tags and selection."""
    job = DEFS.resolve_job_def(request.job_name)
    return job.execute_in_process(
        instance=instance,
        tags=request.tags,
        asset_selection=list(request.asset_selection),
        raise_on_error=False,
    )


def test_new_days_become_one_run_per_contiguous_range(landing: Path, instance) -> None:
    for of_day in (1, 2, 3, 5):
        deliver(landing, of_day)
    deliver(landing, 6, weather=False)
    (landing / "airlines.csv").write_text("carrier,name\nUA,United Air Lines Inc.\n")

    result = tick(instance, None)

    requests = {describe(request): request for request in result.run_requests}
    assert set(requests) == {
        (("raw/flights", "raw/weather"), "2013-01-01", "2013-01-03"),
        (("raw/flights",), "2013-01-05", "2013-01-06"),
        (("raw/weather",), "2013-01-05", "2013-01-05"),
        (("raw/airlines",), None, None),
    }
    assert len({request.run_key for request in result.run_requests}) == 4
    # The reconciliation checks run with the loads.
    range_request = requests[(("raw/flights", "raw/weather"), "2013-01-01", "2013-01-03")]
    assert {key.name for key in range_request.asset_check_keys} == {ingest.RECONCILE_CHECK}

    # The range request is one run that loads exactly those days.
    run = execute(instance, range_request)
    assert run.success
    with duckdb.connect(str(settings.load().warehouse_path)) as con:
        days = con.execute("SELECT DISTINCT day FROM raw.flights ORDER BY 1").fetchall()
    assert days == [(1,), (2,), (3,)]
    checked = {(e.asset_key, e.partition) for e in run.get_asset_check_evaluations()}
    assert checked == {(key, f"2013-01-0{d}") for key in (FLIGHTS, WEATHER) for d in (1, 2, 3)}


def test_an_unchanged_file_never_triggers_twice(landing: Path, instance) -> None:
    deliver(landing, 1)
    deliver(landing, 2)
    first = tick(instance, None)
    assert len(first.run_requests) == 1

    # Nothing changed: nothing to do, also after a restart (a new context, the stored cursor).
    again = tick(instance, first.cursor)
    assert not again.run_requests and again.skip_message
    restarted = tick(instance, str(first.cursor))
    assert not restarted.run_requests

    # Touched (new mtime) but the same bytes: no run; the cursor records the new mtime.
    path = landing / "flights" / "2013-01-02.csv"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = tick(instance, again.cursor)
    assert not touched.run_requests
    assert touched.cursor != again.cursor

    # New content: exactly that day of that entity.
    deliver(landing, 2, flights=3, weather=False)
    changed = tick(instance, touched.cursor)
    assert [describe(r) for r in changed.run_requests] == [
        (("raw/flights",), "2013-01-02", "2013-01-02")
    ]
    # Evaluated twice from the same cursor (a retried tick), the run key is the same, so
    # Dagster launches one run.
    assert tick(instance, touched.cursor).run_requests[0].run_key == changed.run_requests[0].run_key
    assert not tick(instance, changed.cursor).run_requests


def test_first_tick_requests_only_what_the_instance_has_not_loaded(landing: Path, instance) -> None:
    deliver(landing, 1)
    deliver(landing, 2)
    loaded = dg.materialize(
        [*ingest.ingest_assets, *ingest.ingest_checks],
        resources={"warehouse": WarehouseResource()},
        instance=instance,
        selection=[FLIGHTS, WEATHER],
        tags={START: "2013-01-01", END: "2013-01-02"},
    )
    assert loaded.success
    deliver(landing, 3)
    # Day 1's weather is corrected after the load (its mtime is later than the load).
    path = landing / "weather" / "2013-01-01.csv"
    path.write_text(path.read_text().replace(",39,", ",41,"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 60_000_000_000))

    result = tick(instance, None)

    assert sorted(describe(r) for r in result.run_requests) == [
        (("raw/flights", "raw/weather"), "2013-01-03", "2013-01-03"),
        (("raw/weather",), "2013-01-01", "2013-01-01"),
    ]


def test_a_stray_file_requests_a_run_that_quarantines_it(landing: Path, instance) -> None:
    deliver(landing, 1)
    deliver(landing, 2)
    cursor = tick(instance, None).cursor
    stray = landing / "flights" / "2013-13-01.csv"
    stray.write_text(HEADER + "\n")

    result = tick(instance, cursor)

    (request,) = result.run_requests
    assert describe(request) == (("raw/flights",), "2013-01-02", "2013-01-02")
    run = execute(instance, request)
    assert not run.success
    (failure,) = run.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert "flights/2013-13-01.csv: the file name is not a day of the partition range" in message
    assert not stray.exists()
    assert (settings.load().quarantine_dir / "flights" / "2013-13-01.csv.reason").exists()
    # The day it ran for still loaded.
    assert instance.get_materialized_partitions(FLIGHTS) == {"2013-01-02"}


def test_the_code_location_runs_the_sensor_by_default() -> None:
    from orchestration.definitions import defs

    sensor = defs.resolve_sensor_def(automation.SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # It may target everything: a first run on a fresh instance builds the whole graph.
    graph = defs.resolve_asset_graph()
    assert sensor.asset_selection.resolve(graph) == dg.AssetSelection.all().resolve(graph)


def test_a_delivered_day_is_carried_to_the_snapshot_in_one_run() -> None:
    """In the code location, a day's request selects the raw days and everything downstream but
    training and the dbt views, over a range (the snapshot is unpartitioned)."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    selected = {
        key.to_user_string() for key in delivery.delivery_selection([FLIGHTS, WEATHER], graph)
    }
    assert selected == {
        "raw/flights",
        "raw/weather",
        "marts/flights",
        "marts/daily_carrier_performance",
        "marts/daily_route_performance",
        "marts/daily_weather_delay_impact",
        "ml/flight_features",
        "ml/flight_delay_predictions",
        "ml/flight_delay_monitoring",
        "serving/warehouse_snapshot",
    }


def test_nothing_built_yet_makes_the_first_request_the_whole_graph(landing: Path, instance) -> None:
    """A fresh instance (no snapshot ever materialized): the earliest range becomes one run of
    every asset, the reference snapshots merged into it; a later range stays a day request."""
    from orchestration.definitions import defs

    for of_day in (1, 2, 4):
        deliver(landing, of_day)
    (landing / "airlines.csv").write_text("carrier,name\nUA,United Air Lines Inc.\n")
    sensor = defs.resolve_sensor_def(automation.SENSOR_NAME)
    context = dg.build_sensor_context(instance=instance, cursor=None, definitions=defs)
    requests = sensor.evaluate_tick(context).run_requests

    graph = defs.resolve_asset_graph()
    everything = {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert [
        (set(r.asset_selection) == everything, r.tags[START], r.tags[END]) for r in requests
    ] == [
        (True, "2013-01-01", "2013-01-02"),
        (False, "2013-01-04", "2013-01-04"),
    ]
    assert requests[0].tags["runway/bootstrap"] == "true"
    assert set(requests[1].asset_selection) == set(
        delivery.delivery_selection([FLIGHTS, WEATHER], graph)
    )
