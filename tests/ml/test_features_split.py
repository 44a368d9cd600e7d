from datetime import date

import numpy as np
import polars as pl
import pytest
from synthetic_flights import make_features

from ml.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    labelled,
    to_label,
    to_pandas_features,
)
from ml.split import time_split, validation_start_date


def test_time_split_train_dates_all_before_validation_dates(features):
    train, valid, window = time_split(features)
    assert train["flight_date"].max() < valid["flight_date"].min()
    assert train.height + valid.height == features.height
    assert (window.train_dates, window.valid_dates) == (30, 10)  # last 25% of 40 dates
    assert window.train_end < window.valid_start
    assert (window.train_rows, window.valid_rows) == (train.height, valid.height)


def test_time_split_works_on_three_days():
    train, valid, window = time_split(make_features(days=3))
    assert (window.train_dates, window.valid_dates) == (2, 1)
    assert train["flight_date"].max() < valid["flight_date"].min()


def test_time_split_explicit_cutoff(features):
    train, valid, window = time_split(features, validation_start=date(2013, 2, 1))
    assert window.train_end == date(2013, 1, 31)
    assert window.valid_start == date(2013, 2, 1)
    assert train["flight_date"].max() < date(2013, 2, 1) <= valid["flight_date"].min()


def test_time_split_refuses_what_it_cannot_split(features):
    with pytest.raises(ValueError, match="at least 2 distinct dates"):
        validation_start_date([date(2013, 1, 1)] * 5)
    with pytest.raises(ValueError, match="empty train or validation"):
        time_split(features, validation_start=date(2013, 1, 1))


def test_time_split_accepts_string_dates(features):
    as_text = features.with_columns(pl.col("flight_date").cast(pl.String))
    _, _, window = time_split(as_text)
    assert window.valid_start == time_split(features)[2].valid_start


def test_pandas_features_types_and_missing_values(features):
    X = to_pandas_features(features)
    assert list(X.columns) == list(FEATURES)
    for name in CATEGORICAL_FEATURES:
        assert X[name].dtype == object
    for name in NUMERIC_FEATURES:
        assert X[name].dtype == np.float64
    # NULLs become NaN (never None), so training sees a single missing marker.
    assert X["plane_year"].isna().any()
    nulled = features.with_columns(pl.lit(None, dtype=pl.String).alias("carrier_code"))
    carriers = to_pandas_features(nulled)["carrier_code"]
    assert all(isinstance(v, float) and np.isnan(v) for v in carriers)


def test_missing_column_is_named(features):
    with pytest.raises(ValueError, match="plane_seats"):
        to_pandas_features(features.drop("plane_seats"))


def test_labels_exclude_cancelled_flights(features):
    assert features["is_departure_delayed_15"].null_count() > 0
    rows = labelled(features)
    y = to_label(rows)
    assert (
        len(y) == rows.height == features.height - features["is_departure_delayed_15"].null_count()
    )
    assert set(np.unique(y)) == {0, 1}
    with pytest.raises(ValueError, match="NULL"):
        to_label(features)


def test_time_split_window_bounds(features):
    train, valid, window = time_split(
        features,
        validation_start=date(2013, 1, 20),
        train_start=date(2013, 1, 11),
        validation_end=date(2013, 1, 24),
    )
    assert (window.train_start, window.train_end) == (date(2013, 1, 11), date(2013, 1, 19))
    assert (window.valid_start, window.valid_end) == (date(2013, 1, 20), date(2013, 1, 24))
    assert train["flight_date"].min() == date(2013, 1, 11)
    assert valid["flight_date"].max() == date(2013, 1, 24)
    in_window = features.filter(
        (pl.col("flight_date") >= date(2013, 1, 11)) & (pl.col("flight_date") <= date(2013, 1, 24))
    )
    assert train.height + valid.height == in_window.height
    # Without validation_start, the fraction applies to the window's dates: 25% of 14 -> 4.
    _, _, by_fraction = time_split(
        features, train_start=date(2013, 1, 11), validation_end=date(2013, 1, 24)
    )
    assert (by_fraction.train_dates, by_fraction.valid_dates) == (10, 4)


def test_time_split_window_must_be_ordered(features):
    with pytest.raises(ValueError, match="after validation_end"):
        time_split(features, train_start=date(2013, 2, 1), validation_end=date(2013, 1, 1))
