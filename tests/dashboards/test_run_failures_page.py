"""The Pipeline health page's failed runs: live from the alerts file, else the snapshot's copy.

The alerts file is written by the real writer (`orchestration.alerts.record_failure`, what the
run-failure sensor calls); the page is rendered with AppTest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app_helpers import as_count, metrics, rerun, run_app, texts
from snapshot_fixture import legacy

from orchestration import alerts, settings

PAGE = "views/pipeline_health.py"


def failure(n: int, **changes) -> alerts.RunFailure:
    fields = {
        "run_id": f"run-{n}",
        "job_name": "__ASSET_JOB",
        "failed_at": datetime(2026, 11, 22, 8, 0) + timedelta(minutes=n),
        "assets": "marts/flights, ml/flight_features",
        "partitions": f"2013-02-{n + 1:02d}",
        "failed_steps": "dbt_daily_models",
        "error": f"dbt build failed (day {n + 1})",
    }
    return alerts.RunFailure(**{**fields, **changes})


def failed_runs_table(at):
    (table,) = [t.value for t in at.dataframe if "failed_steps" in t.value.columns]
    return table


def test_failures_come_live_from_the_alerts_file(publish_snapshot, frames) -> None:
    publish_snapshot(frames)  # its copy holds other failures: the live file wins
    path = settings.load().alerts_path
    for n in range(3):
        alerts.record_failure(path, failure(n))

    at = run_app(PAGE)

    assert as_count(metrics(at)["Failed runs"]) == 3
    (warning,) = at.warning
    assert "3 failed run(s)" in warning.value
    assert "marts/flights, ml/flight_features" in warning.value  # the newest: run-2
    shown = failed_runs_table(at)
    assert shown["run_id"].tolist() == ["run-2", "run-1", "run-0"]
    assert shown["partitions"].tolist() == ["2013-02-03", "2013-02-02", "2013-02-01"]

    # A new failure is shown on the next rerun, without a new snapshot.
    alerts.record_failure(path, failure(3, job_name="live_feed", assets=None, error="No space"))
    rerun(at)
    assert as_count(metrics(at)["Failed runs"]) == 4
    (warning,) = at.warning
    assert "`live_feed`" in warning.value and "No space" in warning.value
    assert failed_runs_table(at)["run_id"].iloc[0] == "run-3"


def test_without_alerts_file_the_snapshot_copy_is_shown(publish_snapshot, frames) -> None:
    publish_snapshot(frames)
    want = frames[("meta", "run_failures")].sort_values("failed_at", ascending=False)

    at = run_app(PAGE)

    assert as_count(metrics(at)["Failed runs"]) == len(want)
    assert failed_runs_table(at)["run_id"].tolist() == want["run_id"].tolist()


def test_no_failures_recorded_is_a_friendly_empty_state(publish_snapshot, frames) -> None:
    publish_snapshot(legacy(frames))  # published before the alerts table existed

    at = run_app(PAGE)

    assert as_count(metrics(at)["Failed runs"]) == 0
    assert "No failed runs recorded." in texts(at.success)
    assert not at.warning
