"""Training, scoring and publishing retry what a later attempt may not meet, and nothing else
(issue #7, point 4).

They open the warehouse (and MLflow's SQLite store) like the raw loads and dbt do, so they carry
the same `WAREHOUSE_RETRY` policy and wrap their body in `retry_only_transient`. The behaviour is
checked on the publish step, the cheapest of the three to run for real: it meets the warehouse
lock held by another process, is retried and publishes; a failure no retry can cure (the snapshot
folder cannot be created) fails on the first attempt.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from cli_runs import LOCK_ERROR

from orchestration import settings
from orchestration.publish import warehouse_snapshot
from orchestration.resources import WAREHOUSE_RETRY, WarehouseResource

RETRIED = {
    dg.AssetKey(["ml", "flight_delay_model"]),
    dg.AssetKey(["ml", "flight_delay_predictions"]),
    dg.AssetKey(["serving", "warehouse_snapshot"]),
}


def test_training_scoring_and_publishing_carry_the_warehouse_retry_policy() -> None:
    from orchestration.definitions import defs

    found = set()
    for assets_def in defs.assets:
        keys = set(assets_def.keys) & RETRIED
        if keys:
            assert assets_def.node_def.retry_policy == WAREHOUSE_RETRY, keys
            found |= keys
    assert found == RETRIED


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    current = settings.load()
    current.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(current.warehouse_path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.carriers AS SELECT 'AA' AS carrier_code")
    con.close()
    return tmp_path / "data"


# Another process holds a write connection on the warehouse (argv[1]) until stdin closes.
LOCK_HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
con.close()
"""


def hold_lock_until_first_retry(dagster: dg.DagsterInstance, db_path: Path):
    """Lock the warehouse from another process; release it once a step is up for retry."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    retry = dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)

    def release_after_first_retry() -> None:
        while holder.poll() is None:  # (killed if the run ends without a retry)
            if dagster.get_event_records(retry, limit=1):
                holder.stdin.close()
                holder.wait(timeout=60)
                return
            threading.Event().wait(0.05)

    watcher = threading.Thread(target=release_after_first_retry, daemon=True)
    watcher.start()
    return holder, watcher


def _retries(result: dg.ExecuteInProcessResult) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]


def test_a_publish_that_met_the_lock_is_retried_and_succeeds(data_dir: Path) -> None:
    current = settings.load()
    with dg.instance_for_test() as dagster:
        holder, watcher = hold_lock_until_first_retry(dagster, current.warehouse_path)
        try:
            result = dg.materialize(
                [warehouse_snapshot],
                resources={"warehouse": WarehouseResource(lock_timeout_seconds=0)},
                instance=dagster,
                raise_on_error=False,
            )
            watcher.join(timeout=60)
        finally:
            holder.kill()
            holder.wait(timeout=60)
    assert result.success
    retries = _retries(result)
    assert len(retries) == 1
    assert LOCK_ERROR in retries[0].event_specific_data.error.to_string()
    con = duckdb.connect(str(current.snapshot_path), read_only=True)
    try:
        assert con.execute("SELECT carrier_code FROM marts.carriers").fetchall() == [("AA",)]
    finally:
        con.close()


def test_a_publish_error_no_retry_can_cure_fails_at_once(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "serving-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("RUNWAY_SERVING_DIR", str(not_a_folder))
    with dg.instance_for_test() as dagster:
        result = dg.materialize(
            [warehouse_snapshot],
            resources={"warehouse": WarehouseResource(lock_timeout_seconds=0)},
            instance=dagster,
            raise_on_error=False,
        )
    assert not result.success
    assert _retries(result) == []
    (failure,) = result.get_step_failure_events()
    assert "FileExistsError" in failure.event_specific_data.error.to_string()
