"""The run-failure sensor on real failed runs: a landing file with a wrong header fails its load.

Runs are real `dg.materialize` runs of the ingest asset on a temporary landing zone; the sensor
is invoked with Dagster's test context built from the run and its failure event.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import alerts, ingest, settings
from orchestration.resources import WarehouseResource
from orchestration.seed.landing import seed_landing

DEFS = dg.Definitions(
    assets=ingest.ingest_assets,
    asset_checks=ingest.ingest_checks,
    resources={"warehouse": WarehouseResource()},
)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> settings.Settings:
    for variable in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    return settings.load()


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def failed_load(stack: settings.Settings, instance, day: date) -> dg.ExecuteInProcessResult:
    """A real run that fails: the day's flights file has a header that is not the contract's."""
    seed_landing(stack.landing_dir, start=day, end=day, progress=False)
    (stack.landing_dir / "flights" / f"{day}.csv").write_text("carrier,flight\nUA,1545\n")
    result = dg.materialize(
        assets=[*DEFS.assets, *DEFS.asset_checks],
        resources=DEFS.resources,
        selection='key:"raw/flights"',
        partition_key=day.isoformat(),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    return result


def notify(instance, result: dg.ExecuteInProcessResult) -> None:
    """What the daemon does when the run fails: evaluate the sensor for it."""
    context = dg.build_run_status_sensor_context(
        sensor_name=alerts.SENSOR_NAME,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    alerts.run_failure_alerts(context)


def test_a_failed_run_is_recorded_with_its_asset_day_step_and_error(
    stack, instance, caplog
) -> None:
    result = failed_load(stack, instance, date(2013, 1, 5))
    with caplog.at_level(logging.ERROR, logger="runway.alerts"):
        notify(instance, result)

    (row,) = alerts.read_failures(stack.alerts_path)
    run_id, job_name, failed_at, assets, partitions, failed_steps, error, recorded_at = row
    assert run_id == result.run_id
    assert job_name == result.dagster_run.job_name
    assert assets == "raw/flights"
    assert partitions == "2013-01-05"
    assert failed_steps == "raw__flights"
    assert "flights/2013-01-05.csv" in error and "header" in error.lower()
    record = instance.get_run_record_by_id(result.run_id)
    assert abs(failed_at.timestamp() - record.end_time) < 1  # stored as UTC, no time zone
    assert failed_at <= recorded_at
    assert any(result.run_id in message for message in caplog.messages)


def test_failures_accumulate_newest_first_once_per_run(stack, instance) -> None:
    first = failed_load(stack, instance, date(2013, 1, 5))
    notify(instance, first)
    second = failed_load(stack, instance, date(2013, 1, 6))
    notify(instance, second)
    notify(instance, second)  # the same failure evaluated again: still one row

    rows = alerts.read_failures(stack.alerts_path)
    assert [(row[0], row[4]) for row in rows] == [
        (second.run_id, "2013-01-06"),
        (first.run_id, "2013-01-05"),
    ]
    # The sensor never opens the warehouse: only the alerts file beside the snapshot.
    assert stack.alerts_path.parent == stack.serving_dir
    assert not list(stack.serving_dir.glob(".*.tmp")), "no temporary file left behind"


def test_only_the_newest_failures_are_kept(stack, instance) -> None:
    result = failed_load(stack, instance, date(2013, 1, 5))
    notify(instance, result)
    (stored,) = alerts.read_failures(stack.alerts_path)
    template = alerts.RunFailure(*stored[:7])
    for n in range(4):
        later = template.failed_at + timedelta(minutes=n + 1)
        failure = alerts.RunFailure(
            **{**template.__dict__, "run_id": f"later-{n}", "failed_at": later}
        )
        alerts.record_failure(stack.alerts_path, failure, max_rows=3)
    kept = [row[0] for row in alerts.read_failures(stack.alerts_path)]
    assert kept == ["later-3", "later-2", "later-1"]


def test_the_snapshot_gets_a_copy_of_the_failures(stack, instance, tmp_path) -> None:
    snapshot = tmp_path / "snapshot.duckdb"
    assert alerts.copy_run_failures(snapshot, stack.alerts_path) == 0  # no alerts yet: empty

    result = failed_load(stack, instance, date(2013, 1, 5))
    notify(instance, result)
    snapshot.unlink()
    assert alerts.copy_run_failures(snapshot, stack.alerts_path) == 1
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT run_id FROM meta.run_failures").fetchall() == [(result.run_id,)]
