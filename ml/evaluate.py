"""Evaluation beyond the headline metrics: calibration table and permutation importance.

Both are computed on the validation set (the later dates of the time split) and are plain polars
frames shaped like their warehouse tables (docs/architecture.md, "ML outputs") minus the
`model_version` column, which is known only once the model is registered.

- `calibration_table`: the validation flights sorted by predicted probability and cut into
  `bins` groups of equal size (deciles for 10 bins; bin 1 = the lowest predictions). Per bin: the
  mean predicted probability, the observed share of late departures, the number of flights. A
  well-calibrated model has mean_predicted ~= observed_rate in every bin. Equal-count bins (rather
  than equal-width ones) give every point of the reliability curve the same support; with delay
  probabilities mostly below 0.5, equal-width bins would leave the upper half empty.
- `permutation_importance_table`: for each raw feature column, the drop in ROC AUC when that
  column is shuffled (mean and standard deviation over `repeats` shuffles), on a seeded random
  sample of at most `max_rows` validation rows. Features are the raw input columns of the
  pipeline, so the encoder is part of what is measured.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from ml.split import sample_positions

CALIBRATION_SCHEMA = {
    "bin": pl.Int32,
    "mean_predicted": pl.Float64,
    "observed_rate": pl.Float64,
    "flights": pl.Int64,
}
IMPORTANCE_SCHEMA = {
    "feature": pl.String,
    "importance_mean": pl.Float64,
    "importance_std": pl.Float64,
}


def calibration_table(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """bin (1..bins), mean_predicted, observed_rate, flights: equal-count bins of `proba`.

    Rows are ranked by predicted probability (ties keep their input order, so the result is
    deterministic) and position i of n goes to bin floor(i * bins / n) + 1; bin sizes differ by
    at most one. With fewer rows than bins, only the non-empty bins are returned.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    y_true = np.asarray(y_true, dtype=np.float64)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.shape != proba.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and proba {proba.shape} must be equal 1-d shapes")
    n = proba.size
    if n == 0:
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    order = np.argsort(proba, kind="stable")
    bin_of_rank = (np.arange(n) * bins) // n  # 0-based
    bin_index = np.empty(n, dtype=np.int64)
    bin_index[order] = bin_of_rank
    flights = np.bincount(bin_index, minlength=bins)
    predicted = np.bincount(bin_index, weights=proba, minlength=bins)
    observed = np.bincount(bin_index, weights=y_true, minlength=bins)
    present = flights > 0
    return pl.DataFrame(
        {
            "bin": (np.arange(bins) + 1)[present],
            "mean_predicted": predicted[present] / flights[present],
            "observed_rate": observed[present] / flights[present],
            "flights": flights[present],
        },
        schema=CALIBRATION_SCHEMA,
    )


def importance_sample(n_rows: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted row positions of a seeded sample of min(n_rows, max_rows) rows (all if smaller)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    return sample_positions(n_rows, max_rows, seed)


def permutation_importance_table(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    repeats: int = 3,
    max_rows: int = 20_000,
    seed: int = 42,
) -> pl.DataFrame:
    """feature, importance_mean, importance_std: ROC AUC drop when a column is shuffled.

    One row per column of `X`, in column order. When ROC AUC is undefined on the sample (a single
    class), the importances are NULL.
    """
    from sklearn.inspection import permutation_importance

    y = np.asarray(y)
    columns = [str(c) for c in X.columns]
    rows = importance_sample(len(X), max_rows, seed)
    X_sample, y_sample = X.iloc[rows], y[rows]
    if np.unique(y_sample).size < 2:
        return pl.DataFrame(
            {"feature": columns, "importance_mean": None, "importance_std": None},
            schema=IMPORTANCE_SCHEMA,
        )
    result = permutation_importance(
        model,
        X_sample,
        y_sample,
        scoring="roc_auc",
        n_repeats=repeats,
        random_state=seed,
        n_jobs=1,
    )
    return pl.DataFrame(
        {
            "feature": columns,
            "importance_mean": [float(v) for v in result.importances_mean],
            "importance_std": [float(v) for v in result.importances_std],
        },
        schema=IMPORTANCE_SCHEMA,
    )


def with_model_version(table: pl.DataFrame, model_version: str) -> pl.DataFrame:
    """`table` with a leading `model_version` column (VARCHAR), as written to the warehouse."""
    return table.select(
        pl.lit(str(model_version), dtype=pl.String).alias("model_version"), pl.all()
    )


def finite_or_none(value: float) -> float | None:
    """`value`, or None when NaN/inf (for JSON and metadata, which have no NaN)."""
    return value if value is not None and math.isfinite(value) else None
