"""The ML assets under real Dagster: training writes its tables and records the champion decision,
the launchpad config reaches the model, and daily scoring replaces exactly its days' rows.

Real parts: a DuckDB warehouse file and a SQLite MLflow store in a temporary RUNWAY_DATA_DIR,
`dg.materialize` with the project's resources (dagster-mlflow included). `ml.flight_features` is a
synthetic frame shaped like the dbt model (tests/ml/synthetic_flights.py, 40 days from
2013-01-01), so that the expected figures are known without running dbt.
"""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from ml.config import TrainConfig
from orchestration import settings
from orchestration.ml_assets import (
    CALIBRATION,
    IMPORTANCE,
    METRICS,
    MODEL,
    PREDICTIONS,
    ModelTrainingConfig,
    flight_delay_model,
    flight_delay_predictions,
)
from orchestration.resources import WarehouseResource, mlflow_tracking

_SYNTHETIC = Path(__file__).resolve().parents[1] / "ml" / "synthetic_flights.py"
FAST = {"learning_rate": 0.1, "max_iter": 60, "min_samples_leaf": 40, "importance_repeats": 2}
MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
)


def _make_features() -> pl.DataFrame:
    spec = importlib.util.spec_from_file_location("synthetic_flights", _SYNTHETIC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_features()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A temporary data dir whose warehouse holds `ml.flight_features`; the trained model v1."""
    from threadpoolctl import threadpool_limits

    data_dir = tmp_path_factory.mktemp("ml_assets") / "data"
    # One OpenMP thread: the frames are tiny and spinning threads are slow on busy CPUs.
    with pytest.MonkeyPatch.context() as mp, threadpool_limits(limits=1):
        for name in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", *MLFLOW_ENV):
            mp.delenv(name, raising=False)
        mp.setenv("RUNWAY_DATA_DIR", str(data_dir))
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        current = settings.load()
        features = _make_features()
        current.warehouse_path.parent.mkdir(parents=True)
        with duckdb.connect(str(current.warehouse_path)) as con:
            con.execute("CREATE SCHEMA ml")
            con.register("_features", features.to_arrow())
            con.execute("CREATE TABLE ml.flight_features AS SELECT * FROM _features")
        instance = dg.DagsterInstance.ephemeral()
        resources = {"warehouse": WarehouseResource(), "mlflow": mlflow_tracking}

        def materialize(assets, **kwargs):
            return dg.materialize(assets, instance=instance, resources=resources, **kwargs)

        config = {**FAST, "validation_start": "2013-02-01", "first_model_must_beat_baseline": True}
        trained = materialize(
            [flight_delay_model],
            run_config={"ops": {"flight_delay_model": {"config": config}}},
        )
        yield SimpleNamespace(
            current=current,
            features=features,
            materialize=materialize,
            trained=trained,
            config=config,
        )
        instance.dispose()


def _query(stack, sql: str) -> list[tuple]:
    with duckdb.connect(str(stack.current.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    (event,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == key
    ]
    return {name: value.value for name, value in event.metadata.items()}


def _mlflow_client(stack):
    from mlflow import MlflowClient

    uri = stack.current.mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_config_defaults_are_the_train_config_defaults() -> None:
    assert ModelTrainingConfig().to_train_config() == TrainConfig()


def test_config_maps_every_setting_to_the_train_config() -> None:
    config = ModelTrainingConfig(
        train_start="2013-01-05",
        validation_start="2013-02-01",
        validation_end="2013-02-07",
        validation_fraction=0.3,
        learning_rate=0.2,
        max_iter=7,
        max_leaf_nodes=5,
        min_samples_leaf=3,
        l2_regularization=0.5,
        max_bins=64,
        logistic_c=0.1,
        calibration_bins=5,
        importance_max_rows=100,
        importance_repeats=1,
        train_max_rows=1_000,
        seed=3,
    )
    assert config.to_train_config() == TrainConfig(
        train_start=date(2013, 1, 5),
        validation_start=date(2013, 2, 1),
        validation_end=date(2013, 2, 7),
        validation_fraction=0.3,
        learning_rate=0.2,
        max_iter=7,
        max_leaf_nodes=5,
        min_samples_leaf=3,
        l2_regularization=0.5,
        max_bins=64,
        logistic_c=0.1,
        calibration_bins=5,
        importance_max_rows=100,
        importance_repeats=1,
        train_max_rows=1_000,
        seed=3,
    )
    assert ModelTrainingConfig(validation_start="").to_train_config().validation_start is None
    assert ModelTrainingConfig(train_max_rows=None).to_train_config().train_max_rows is None


@pytest.mark.parametrize(
    "bad",
    [{"validation_start": "2013-02-30"}, {"validation_fraction": 1.0}, {"max_bins": 300}],
)
def test_config_rejects_invalid_settings(bad) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ModelTrainingConfig(**bad)


def test_training_run_records_the_decision_and_both_scores(stack) -> None:
    assert stack.trained.success
    meta = _metadata(stack.trained, MODEL)
    assert meta["model_version"] == "1"
    assert meta["is_champion"] is True
    assert meta["champion_decision"] == "promoted"
    assert meta["reference"] == "logistic_regression"
    assert meta["candidate_roc_auc"] > meta["reference_roc_auc"] > 0.5
    assert "logistic_regression baseline" in meta["champion_decision_reason"]
    assert meta["valid_window"] == "2013-02-01..2013-02-09"
    # The same decision and scores are tags of the MLflow run and of the model version.
    version = _mlflow_client(stack).get_model_version(settings.REGISTERED_MODEL, "1")
    assert version.tags["champion_decision"] == "promoted"
    assert float(version.tags["candidate_roc_auc"]) == pytest.approx(meta["candidate_roc_auc"])
    assert float(version.tags["reference_roc_auc"]) == pytest.approx(meta["reference_roc_auc"])


def test_launchpad_config_reaches_the_model_and_mlflow(stack) -> None:
    run_id = _metadata(stack.trained, MODEL)["mlflow_run_id"]
    params = _mlflow_client(stack).get_run(run_id).data.params
    assert params["max_iter"] == "60" and params["learning_rate"] == "0.1"
    assert params["importance_repeats"] == "2"
    assert params["validation_start"] == "2013-02-01"
    assert params["data_valid_start"] == "2013-02-01"
    assert params["data_train_end"] == "2013-01-31"


def test_training_writes_metrics_calibration_and_importance(stack) -> None:
    labelled = stack.features.filter(pl.col("is_departure_delayed_15").is_not_null())
    valid = labelled.filter(pl.col("flight_date") >= date(2013, 2, 1))
    late_share = valid["is_departure_delayed_15"].cast(pl.Float64).mean()

    calibration = _query(
        stack,
        "SELECT model_version, bin, mean_predicted, observed_rate, flights "
        "FROM ml.model_calibration ORDER BY bin",
    )
    assert [row[1] for row in calibration] == list(range(1, 11))
    assert {row[0] for row in calibration} == {"1"}
    assert sum(row[4] for row in calibration) == valid.height
    observed = sum(row[3] * row[4] for row in calibration) / valid.height
    assert observed == pytest.approx(late_share)
    means = [row[2] for row in calibration]
    assert means == sorted(means)

    importance = dict(_query(stack, "SELECT feature, importance_mean FROM ml.feature_importance"))
    assert len(importance) == 13
    # The synthetic delays depend on the hour and on rain, not on the distance.
    ranked = sorted(importance, key=importance.get, reverse=True)
    assert "scheduled_departure_hour" in ranked[:2]
    assert importance["scheduled_departure_hour"] > 0.05
    assert abs(importance["distance_miles"]) < 0.02

    columns = _query(
        stack,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'ml' AND table_name IN ('model_calibration', 'feature_importance') "
        "ORDER BY table_name, ordinal_position",
    )
    assert columns == [
        ("feature_importance", "model_version", "VARCHAR"),
        ("feature_importance", "feature", "VARCHAR"),
        ("feature_importance", "importance_mean", "DOUBLE"),
        ("feature_importance", "importance_std", "DOUBLE"),
        ("model_calibration", "model_version", "VARCHAR"),
        ("model_calibration", "bin", "INTEGER"),
        ("model_calibration", "mean_predicted", "DOUBLE"),
        ("model_calibration", "observed_rate", "DOUBLE"),
        ("model_calibration", "flights", "BIGINT"),
    ]
    materialized = {e.asset_key for e in stack.trained.get_asset_materialization_events()}
    assert materialized == {MODEL, METRICS, CALIBRATION, IMPORTANCE}


def _predictions(stack) -> list[tuple]:
    return _query(
        stack,
        "SELECT flight_id, flight_date, predicted_delay_probability, model_version, scored_at "
        "FROM ml.flight_delay_predictions ORDER BY flight_id",
    )


def _day(rows: list[tuple], day: date) -> list[tuple]:
    return [row for row in rows if row[1] == day]


def test_scoring_replaces_exactly_its_days_and_is_idempotent(stack) -> None:
    import mlflow

    day, other = date(2013, 1, 5), date(2013, 1, 6)
    first = stack.materialize([flight_delay_predictions], partition_key=day.isoformat())
    assert first.success
    rows_once = _predictions(stack)
    expected_ids = stack.features.filter(pl.col("flight_date") == day)["flight_id"].sort()
    assert [row[0] for row in rows_once] == expected_ids.to_list()  # cancelled flights included

    # The probabilities are the champion's P(late), loaded here through MLflow's own pyfunc.
    mlflow.set_tracking_uri(stack.current.mlflow_tracking_uri)
    try:
        served = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(None)
    from ml.features import to_pandas_features

    day_features = stack.features.filter(pl.col("flight_date") == day).sort("flight_id")
    expected = np.asarray(served.predict(to_pandas_features(day_features)))[:, 1]
    np.testing.assert_allclose([row[2] for row in rows_once], expected)
    assert {row[3] for row in rows_once} == {"1"}

    stack.materialize([flight_delay_predictions], partition_key=other.isoformat())
    stack.materialize([flight_delay_predictions], partition_key=day.isoformat())
    rows = _predictions(stack)
    again = _day(rows, day)
    assert [row[:4] for row in again] == [row[:4] for row in rows_once]
    assert again[0][4] > rows_once[0][4]  # rewritten, not left alone
    assert len(_day(rows, other)) == stack.features.filter(pl.col("flight_date") == other).height
    assert len(rows) == len(again) + len(_day(rows, other))


def test_a_range_run_scores_every_day_once_and_keeps_other_days(stack) -> None:
    stack.materialize([flight_delay_predictions], partition_key="2013-01-05")
    before = {row[0]: row for row in _predictions(stack) if row[1] == date(2013, 1, 5)}
    assert before
    result = stack.materialize(
        [flight_delay_predictions],
        tags={
            "dagster/asset_partition_range_start": "2013-02-01",
            "dagster/asset_partition_range_end": "2013-02-09",
        },
    )
    assert result.success
    partitions = {
        e.partition for e in result.get_asset_materialization_events() if e.asset_key == PREDICTIONS
    }
    assert len(partitions) == 9
    rows = _predictions(stack)
    window = [row for row in rows if date(2013, 2, 1) <= row[1] <= date(2013, 2, 9)]
    expected = stack.features.filter(pl.col("flight_date") >= date(2013, 2, 1))
    assert sorted(row[0] for row in window) == sorted(expected["flight_id"].to_list())
    assert len({row[0] for row in rows}) == len(rows)
    assert {row[0]: row for row in rows if row[1] == date(2013, 1, 5)} == before


def test_scoring_creates_the_table_with_the_contract_columns(stack) -> None:
    columns = _query(
        stack,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'ml' AND table_name = 'flight_delay_predictions' "
        "ORDER BY ordinal_position",
    )
    assert columns == [
        ("flight_id", "VARCHAR"),
        ("flight_date", "DATE"),
        ("predicted_delay_probability", "DOUBLE"),
        ("model_version", "VARCHAR"),
        ("scored_at", "TIMESTAMP"),
    ]
