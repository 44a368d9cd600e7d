"""Scoring: one delay probability per flight, cancelled flights included.

Rows are scored in chunks of `SCORE_CHUNK_ROWS`: the model's input is a pandas frame with object
columns (a Python string per categorical value) and the booster copies it into a float64 array,
so converting a whole year at scale 10 (3.36 M rows) at once would hold several of those copies.
Each row's probability depends on that row only, so chunking does not change any prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ml.features import DATE_COLUMN, FEATURES, ID_COLUMN, require_columns, to_pandas_features
from ml.features import with_date_column as _with_date_column
from ml.train import positive_proba

PREDICTION_COLUMN = "predicted_delay_probability"
SCORE_CHUNK_ROWS = 250_000
PREDICTION_SCHEMA = {ID_COLUMN: pl.String, DATE_COLUMN: pl.Date, PREDICTION_COLUMN: pl.Float64}


def score(
    pipeline: Any, features: pl.DataFrame, chunk_rows: int = SCORE_CHUNK_ROWS
) -> pl.DataFrame:
    """flight_id, flight_date, predicted_delay_probability for every row of `features`.

    `pipeline` is a fitted classifier taking the raw feature frame (the candidate pipeline, or
    the one returned by `ml.registry.load_champion`). The label column is not needed. At most
    `chunk_rows` rows are converted and predicted at a time (see the module docstring).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    require_columns(features, [ID_COLUMN, DATE_COLUMN, *FEATURES])
    features = _with_date_column(features)
    if features.height == 0:
        return pl.DataFrame(schema=PREDICTION_SCHEMA)
    proba = np.concatenate(
        [
            positive_proba(pipeline, to_pandas_features(features.slice(offset, chunk_rows)))
            for offset in range(0, features.height, chunk_rows)
        ]
    )
    return features.select(
        pl.col(ID_COLUMN).cast(pl.String),
        pl.col(DATE_COLUMN),
        pl.Series(PREDICTION_COLUMN, proba, dtype=pl.Float64),
    )
