import math
from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.pipeline import Pipeline
from synthetic_flights import make_features

from ml.features import FEATURES, to_pandas_features
from ml.predict import score
from ml.train import (
    BASE_RATE,
    CANDIDATE,
    LOGISTIC_REGRESSION,
    METRICS,
    TrainConfig,
    build_pipeline,
    probability_metrics,
    train_and_evaluate,
)


@pytest.fixture(scope="module")
def result(features, fast_config):
    return train_and_evaluate(features, fast_config)


def test_result_has_all_metrics_and_windows(result, features):
    assert isinstance(result.pipeline, Pipeline)
    assert set(result.metrics) == {CANDIDATE, BASE_RATE, LOGISTIC_REGRESSION}
    for values in result.metrics.values():
        assert set(values) == set(METRICS)
        assert all(math.isfinite(v) for v in values.values())
    assert result.split.train_end < result.split.valid_start
    labelled_rows = features.height - features["is_departure_delayed_15"].null_count()
    assert result.split.train_rows + result.split.valid_rows == labelled_rows
    assert len(result.X_valid) == len(result.y_valid) == result.split.valid_rows


def test_candidate_beats_base_rate(result):
    candidate, base = result.metrics[CANDIDATE], result.metrics[BASE_RATE]
    assert base["roc_auc"] == pytest.approx(0.5)
    assert candidate["roc_auc"] > base["roc_auc"] + 0.1
    assert candidate["pr_auc"] > base["pr_auc"]
    assert candidate["log_loss"] < base["log_loss"]
    assert candidate["brier"] < base["brier"]


def test_training_is_reproducible(features, fast_config):
    first = train_and_evaluate(features, fast_config)
    second = train_and_evaluate(features, fast_config)
    for model, values in first.metrics.items():
        for metric, value in values.items():
            assert round(value, 6) == round(second.metrics[model][metric], 6), (model, metric)
    assert first.calibration.equals(second.calibration)
    assert first.importance.equals(second.importance)
    X = first.X_valid
    np.testing.assert_allclose(
        first.pipeline.predict_proba(X), second.pipeline.predict_proba(X), rtol=0, atol=1e-12
    )


def test_pipeline_scores_raw_columns_with_unseen_categories_and_nulls(result):
    raw = pd.DataFrame(
        {
            "carrier_code": ["ZZ", None, np.nan, "UA"],
            "origin_airport_code": ["XXX", "JFK", None, "EWR"],
            "dest_airport_code": ["NOWHERE", None, "ORD", pd.NA],
            "month": [1, np.nan, 12, 6],
            "day_of_week": [0, 6, None, 3],
            "scheduled_departure_hour": [18, 5, 23, np.nan],
            "distance_miles": [np.nan, 100.0, 2500.0, 700.0],
            "plane_year": [None, 2001.0, np.nan, 1999.0],
            "plane_seats": [np.nan, np.nan, 150.0, 200.0],
            "temperature_f": [np.nan, 30.0, 80.0, 50.0],
            "wind_speed_mph": [np.nan, 0.0, 10.0, 5.0],
            "precipitation_in": [np.nan, 0.0, 0.5, 0.0],
            "visibility_miles": [np.nan, 10.0, 2.0, 10.0],
        }
    )
    # Extra columns (ids, label) are ignored; column order does not matter.
    raw["flight_id"] = "x"
    raw = raw[list(reversed(raw.columns))]
    proba = result.pipeline.predict_proba(raw)
    assert proba.shape == (4, 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_pipeline_is_one_unfitted_pipeline():
    pipeline = build_pipeline(TrainConfig(seed=7))
    assert [name for name, _ in pipeline.steps] == ["preprocess", "classifier"]
    assert pipeline.named_steps["classifier"].random_state == 7


def test_single_class_validation_gives_nan_not_crash(features, fast_config):
    cut = features["flight_date"].sort().unique()[-10]
    late = pl.col("flight_date") >= cut
    all_on_time = features.with_columns(
        pl.when(late & pl.col("is_departure_delayed_15").is_not_null())
        .then(False)
        .otherwise(pl.col("is_departure_delayed_15"))
        .alias("is_departure_delayed_15")
    )
    result = train_and_evaluate(all_on_time, fast_config)
    for values in result.metrics.values():
        assert math.isnan(values["roc_auc"]) and math.isnan(values["pr_auc"])
        assert math.isfinite(values["log_loss"]) and math.isfinite(values["brier"])


def test_single_class_training_window_is_a_clear_error(fast_config):
    frame = make_features(days=4).with_columns(pl.lit(False).alias("is_departure_delayed_15"))
    with pytest.raises(ValueError, match="single"):
        train_and_evaluate(frame, fast_config)


def test_three_days_of_data_train_with_the_default_config():
    result = train_and_evaluate(make_features(days=3), TrainConfig())
    assert (result.split.train_dates, result.split.valid_dates) == (2, 1)
    assert math.isfinite(result.metrics[CANDIDATE]["log_loss"])


def test_probability_metrics_empty_and_values():
    assert all(math.isnan(v) for v in probability_metrics(np.array([]), np.array([])).values())
    metrics = probability_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3]))
    assert metrics["roc_auc"] == 1.0
    assert metrics["brier"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.09) / 4)


def test_metrics_table_matches_the_contract(result):
    table = result.metrics_table("3")
    assert table.columns == ["model_version", "metric", "model", "value", "trained_at"]
    assert table.schema["trained_at"] == pl.Datetime("us")
    assert table.height == 3 * len(METRICS)
    assert set(table["model"]) == {"candidate", "base_rate", "logistic_regression"}
    assert set(table["model_version"]) == {"3"}


def test_score_every_flight_including_cancelled(result, features):
    scored = score(result.pipeline, features.drop("is_departure_delayed_15"))
    assert scored.columns == ["flight_id", "flight_date", "predicted_delay_probability"]
    assert scored.schema["flight_date"] == pl.Date
    assert scored.height == features.height
    assert scored["flight_id"].to_list() == features["flight_id"].to_list()
    p = scored["predicted_delay_probability"]
    assert p.null_count() == 0 and p.min() >= 0 and p.max() <= 1
    expected = result.pipeline.predict_proba(to_pandas_features(features))[:, 1]
    np.testing.assert_allclose(p.to_numpy(), expected)
    empty = score(result.pipeline, features.head(0))
    assert empty.height == 0 and empty.columns == scored.columns


def test_scoring_in_chunks_changes_no_prediction(result, features):
    whole = score(result.pipeline, features, chunk_rows=features.height)
    chunked = score(result.pipeline, features, chunk_rows=7)  # the last chunk is partial
    assert features.height % 7 and chunked.height == features.height
    assert chunked["flight_id"].to_list() == features["flight_id"].to_list()
    np.testing.assert_array_equal(
        chunked["predicted_delay_probability"].to_numpy(),
        whole["predicted_delay_probability"].to_numpy(),
    )
    with pytest.raises(ValueError, match="chunk_rows"):
        score(result.pipeline, features, chunk_rows=0)


def test_feature_list_is_the_contract():
    assert len(FEATURES) == 13 and len(set(FEATURES)) == 13


def test_calibration_and_importance_are_on_the_validation_set(result, features):
    valid = features.filter(
        (pl.col("flight_date") >= result.split.valid_start)
        & pl.col("is_departure_delayed_15").is_not_null()
    )
    calibration = result.calibration
    assert calibration["bin"].to_list() == list(range(1, 11))
    assert calibration["flights"].sum() == valid.height
    observed = (calibration["observed_rate"] * calibration["flights"]).sum() / valid.height
    assert observed == pytest.approx(valid["is_departure_delayed_15"].cast(pl.Float64).mean())
    predicted = (calibration["mean_predicted"] * calibration["flights"]).sum() / valid.height
    assert predicted == pytest.approx(result.valid_proba[CANDIDATE].mean())
    assert result.importance["feature"].to_list() == list(FEATURES)
    top = result.importance.sort("importance_mean", descending=True)["feature"].head(2)
    assert "scheduled_departure_hour" in top.to_list()  # the synthetic delays follow the hour


def test_valid_proba_are_the_scored_metrics(result):
    for model, proba in result.valid_proba.items():
        assert len(proba) == len(result.y_valid)
        assert probability_metrics(result.y_valid, proba) == result.metrics[model]


def test_calibration_and_importance_rows_match_the_contract(result):
    calibration = result.calibration_rows("3")
    assert calibration.columns == [
        "model_version",
        "bin",
        "mean_predicted",
        "observed_rate",
        "flights",
    ]
    assert calibration.schema["bin"] == pl.Int32 and calibration.schema["flights"] == pl.Int64
    importance = result.importance_rows("3")
    assert importance.columns == ["model_version", "feature", "importance_mean", "importance_std"]
    assert set(importance["model_version"]) == set(calibration["model_version"]) == {"3"}
    assert importance.height == len(FEATURES)


def test_config_window_limits_the_training_data(features, fast_config):
    from dataclasses import replace

    config = replace(
        fast_config,
        train_start=date(2013, 1, 5),
        validation_start=date(2013, 1, 25),
        validation_end=date(2013, 1, 31),
    )
    result = train_and_evaluate(features, config)
    assert (result.split.train_start, result.split.valid_end) == (
        date(2013, 1, 5),
        date(2013, 1, 31),
    )
    assert result.split.valid_start == date(2013, 1, 25)
