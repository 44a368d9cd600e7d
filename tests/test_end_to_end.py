"""The whole asset graph on the first days of real data, in a temporary directory.

Real parts only: the session's `pipeline_base` (tests/pipeline_base.py) is the seeder's landing
files materialized by Dagster in one run over every asset (ingest, dbt build, training with
MLflow, scoring, publish), what `make run` does on a small model config. This test reads what
that run recorded in its Dagster instance and reconciles the warehouse and the serving snapshot
with the landing files read independently with the csv module, then renders the dashboards from
the snapshot. Sharing the base saves a second whole-graph run per session (issue #7: suite time).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_base import BASE_DAYS, clone, use_stack

from orchestration import settings


def _landing_counts(landing: Path) -> tuple[int, Counter, int]:
    flights = 0
    per_carrier: Counter = Counter()
    cancelled = 0
    for path in sorted((landing / "flights").glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                flights += 1
                per_carrier[row["carrier"]] += 1
                cancelled += row["dep_time"] == "NA"
    return flights, per_carrier, cancelled


@pytest.mark.e2e
def test_whole_graph_end_to_end(
    pipeline_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = clone(pipeline_base, tmp_path / "stack")
    use_stack(monkeypatch, root)
    from orchestration.definitions import defs

    current = settings.load()
    with dg.DagsterInstance.get() as instance:
        # The base is one `materialize_all` run: it succeeded and materialized every asset.
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
        ).records
        materialized = {
            record.event_log_entry.dagster_event.asset_key.to_user_string() for record in records
        }
        assert materialized >= {key.to_user_string() for key in defs.resolve_all_asset_keys()}

    flights, per_carrier, cancelled = _landing_counts(current.landing_dir)
    assert flights > 2_000

    # Readers use the snapshot; the pipeline is done, so the warehouse may be inspected too.
    with duckdb.connect(str(current.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.flights").fetchone()[0] == flights
        partitions = con.execute("SELECT count(DISTINCT _partition_date) FROM raw.flights")
        assert partitions.fetchone()[0] == BASE_DAYS

    with duckdb.connect(str(current.snapshot_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.flights").fetchone()[0] == flights
        by_carrier = dict(
            con.execute(
                "SELECT carrier_code, sum(flights) FROM marts.daily_carrier_performance "
                "GROUP BY carrier_code"
            ).fetchall()
        )
        assert by_carrier == dict(per_carrier)
        (mart_cancelled,) = con.execute(
            "SELECT sum(cancelled_flights) FROM marts.daily_carrier_performance"
        ).fetchone()
        assert mart_cancelled == cancelled
        (predicted, distinct, low, high) = con.execute(
            "SELECT count(*), count(DISTINCT flight_id), min(predicted_delay_probability), "
            "max(predicted_delay_probability) FROM ml.flight_delay_predictions"
        ).fetchone()
        assert predicted == distinct == flights
        assert 0.0 <= low <= high <= 1.0
        versions = con.execute("SELECT DISTINCT model_version FROM ml.model_metrics").fetchall()
        assert len(versions) == 1

    # The model went through dagster-mlflow into the SQLite store under the data dir.
    assert (current.mlflow_dir / "mlflow.db").exists()
    assert any((current.mlflow_dir / "artifacts").rglob("MLmodel"))

    # The dashboards render from this snapshot.
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(settings.REPO_ROOT / "dashboards" / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception
