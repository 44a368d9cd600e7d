"""Scoring: one delay probability per flight, cancelled flights included."""

from __future__ import annotations

from typing import Any

import polars as pl

from ml.features import DATE_COLUMN, FEATURES, ID_COLUMN, require_columns, to_pandas_features
from ml.features import with_date_column as _with_date_column
from ml.train import positive_proba

PREDICTION_COLUMN = "predicted_delay_probability"
PREDICTION_SCHEMA = {ID_COLUMN: pl.String, DATE_COLUMN: pl.Date, PREDICTION_COLUMN: pl.Float64}


def score(pipeline: Any, features: pl.DataFrame) -> pl.DataFrame:
    """flight_id, flight_date, predicted_delay_probability for every row of `features`.

    `pipeline` is a fitted classifier taking the raw feature frame (the candidate pipeline, or
    the one returned by `ml.registry.load_champion`). The label column is not needed.
    """
    require_columns(features, [ID_COLUMN, DATE_COLUMN, *FEATURES])
    features = _with_date_column(features)
    if features.height == 0:
        return pl.DataFrame(schema=PREDICTION_SCHEMA)
    proba = positive_proba(pipeline, to_pandas_features(features))
    return features.select(
        pl.col(ID_COLUMN).cast(pl.String),
        pl.col(DATE_COLUMN),
        pl.Series(PREDICTION_COLUMN, proba, dtype=pl.Float64),
    )
