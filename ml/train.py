"""Training and evaluation of the flight-delay model and its two baselines.

`TrainConfig` (defined in `ml.config`, re-exported here) holds every setting.
The candidate is ONE scikit-learn Pipeline (preprocessing + HistGradientBoostingClassifier with
native categorical handling) that takes the raw feature frame of `ml.features.to_pandas_features`
and is logged and served as a whole. The baselines are trained and scored on the same time split:
the base rate (`DummyClassifier(strategy="prior")`) and a logistic regression (one-hot + scaling).

Bounded cost: all three are fitted on at most `TrainConfig.train_max_rows` training rows (a
seeded uniform sample when the window holds more), and only that sample is converted to the
pandas frame the models take; the metrics and the calibration use every validation row, the
permutation importance a seeded sample of `importance_max_rows` of them. So fit time and memory
are bounded by the config, not by the history, and validation costs one prediction per row.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ml.config import TrainConfig
from ml.evaluate import calibration_table, permutation_importance_table, with_model_version
from ml.features import (
    CATEGORICAL_FEATURES,
    DATE_COLUMN,
    FEATURES,
    ID_COLUMN,
    LABEL,
    NUMERIC_FEATURES,
    require_columns,
    to_label,
    to_pandas_features,
)
from ml.split import TimeSplit, sample_rows, time_split

CANDIDATE = "candidate"
BASE_RATE = "base_rate"
LOGISTIC_REGRESSION = "logistic_regression"
MODELS: tuple[str, ...] = (CANDIDATE, BASE_RATE, LOGISTIC_REGRESSION)
METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "log_loss", "brier")
__all__ = ["TrainConfig", "TrainingResult", "build_pipeline", "train_and_evaluate"]


def build_pipeline(config: TrainConfig | None = None) -> Pipeline:
    """The candidate: raw feature frame -> predict_proba, as one sklearn Pipeline.

    Categoricals are ordinal-encoded (unknown and missing values -> NaN, which the booster routes
    as missing) and handled natively by the booster; numerics pass through (NaN allowed).
    """
    config = config or TrainConfig()
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=config.max_bins,
        dtype=np.float64,
    )
    preprocess = ColumnTransformer(
        [
            ("categorical", encoder, list(CATEGORICAL_FEATURES)),
            ("numeric", "passthrough", list(NUMERIC_FEATURES)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    booster = HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        max_bins=config.max_bins,
        categorical_features=list(CATEGORICAL_FEATURES),
        early_stopping=False,  # its internal split would be random across time
        random_state=config.seed,
    )
    return Pipeline([("preprocess", preprocess), ("classifier", booster)])


def build_logistic_baseline(config: TrainConfig | None = None) -> Pipeline:
    """Baseline: one-hot categoricals + imputed, scaled numerics -> logistic regression."""
    config = config or TrainConfig()
    preprocess = ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", min_frequency=5),
                list(CATEGORICAL_FEATURES),
            ),
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                list(NUMERIC_FEATURES),
            ),
        ],
        remainder="drop",
    )
    model = LogisticRegression(C=config.logistic_c, max_iter=2000, random_state=config.seed)
    return Pipeline([("preprocess", preprocess), ("classifier", model)])


def build_base_rate() -> DummyClassifier:
    """Baseline: always predicts the training positive rate."""
    return DummyClassifier(strategy="prior")


def positive_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    """P(delayed) from a fitted classifier with classes 0/1 (or False/True)."""
    classes = list(model.classes_)
    if 1 not in classes:
        raise ValueError(f"model has no positive class: classes_={classes}")
    return model.predict_proba(X)[:, classes.index(1)]


def probability_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """roc_auc, pr_auc (average precision), log_loss, brier; NaN where undefined.

    roc_auc and pr_auc need both classes in `y_true`: with a single class they are NaN.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.size == 0:
        return dict.fromkeys(METRICS, math.nan)
    both = np.unique(y_true).size == 2
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)) if both else math.nan,
        "pr_auc": float(average_precision_score(y_true, proba)) if both else math.nan,
        "log_loss": float(log_loss(y_true, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(np.mean((proba - y_true) ** 2)),
    }


@dataclass
class TrainingResult:
    """A fitted candidate, its baselines, their validation metrics and the data windows.

    `valid_proba` holds each model's P(delayed) on the validation rows; `calibration` and
    `importance` are the candidate's calibration table and permutation importance on them
    (see `ml.evaluate`, without the model_version column).
    """

    pipeline: Pipeline
    baselines: dict[str, Any]
    config: TrainConfig
    split: TimeSplit
    metrics: dict[str, dict[str, float]]  # model -> metric -> value
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    valid_proba: dict[str, np.ndarray]
    calibration: pl.DataFrame
    importance: pl.DataFrame
    train_positive_rate: float
    valid_positive_rate: float
    fit_seconds: float
    evaluate_seconds: float
    # Labelled rows of the training window, and how many of them the models were fitted on
    # (fewer when the window holds more than `config.train_max_rows`).
    train_rows_available: int
    train_rows_used: int
    trained_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    features: tuple[str, ...] = FEATURES

    @property
    def candidate_metrics(self) -> dict[str, float]:
        return self.metrics[CANDIDATE]

    def flat_metrics(self) -> dict[str, float]:
        """{"candidate_roc_auc": ..., "base_rate_brier": ..., ...}"""
        return {
            f"{model}_{metric}": value
            for model, values in self.metrics.items()
            for metric, value in values.items()
        }

    def metrics_table(self, model_version: str) -> pl.DataFrame:
        """Rows for `ml.model_metrics`: model_version, metric, model, value, trained_at."""
        rows = [
            (str(model_version), metric, model, value)
            for model, values in self.metrics.items()
            for metric, value in values.items()
        ]
        trained_at = self.trained_at.astimezone(UTC).replace(tzinfo=None)
        return pl.DataFrame(
            {
                "model_version": [r[0] for r in rows],
                "metric": [r[1] for r in rows],
                "model": [r[2] for r in rows],
                "value": [r[3] for r in rows],
                "trained_at": [trained_at] * len(rows),
            },
            schema={
                "model_version": pl.String,
                "metric": pl.String,
                "model": pl.String,
                "value": pl.Float64,
                "trained_at": pl.Datetime("us"),
            },
        )

    def calibration_rows(self, model_version: str) -> pl.DataFrame:
        """Rows for `ml.model_calibration`: model_version, bin, mean_predicted, observed_rate,
        flights."""
        return with_model_version(self.calibration, model_version)

    def importance_rows(self, model_version: str) -> pl.DataFrame:
        """Rows for `ml.feature_importance`: model_version, feature, importance_mean,
        importance_std."""
        return with_model_version(self.importance, model_version)


def train_and_evaluate(features: pl.DataFrame, config: TrainConfig | None = None) -> TrainingResult:
    """Fit the candidate and both baselines on the earlier dates, score them on the later ones.

    `features` is `ml.flight_features` (polars); rows with a NULL label are dropped first. The
    models are fitted on at most `config.train_max_rows` of the training rows (a seeded uniform
    sample: same data and config, same rows, same models, whatever order the rows come in);
    every validation row is scored. `features` needs `flight_id` (the canonical order's key).
    Raises ValueError if fewer than 2 labelled dates or a single class in the training set.
    """
    config = config or TrainConfig()
    # Only the columns the split and the models read: the copies below leave any other behind.
    needed = [DATE_COLUMN, ID_COLUMN, *FEATURES, LABEL]
    require_columns(features, needed)
    # One canonical row order (date, then flight id). The training sample, the booster's binning
    # subsample (drawn when there are over 200,000 rows) and the importance sample are drawn by
    # position: without it, the same flights stored in another order (the pipeline's warehouse
    # and the benchmark baseline's) would give another model.
    ordered = (
        features.lazy()
        .select(needed)
        .filter(pl.col(LABEL).is_not_null())
        .sort([DATE_COLUMN, ID_COLUMN])
        .collect()
    )
    train, valid, window = time_split(
        ordered,
        config.validation_fraction,
        config.validation_start,
        train_start=config.train_start,
        validation_end=config.validation_end,
    )
    # Sampled before the pandas conversion: the object columns of the categoricals cost far
    # more memory per row than the polars frame.
    train = sample_rows(train, config.train_max_rows, config.seed)
    X_train, y_train = to_pandas_features(train), to_label(train)
    train_rows_used = train.height
    del train
    X_valid, y_valid = to_pandas_features(valid), to_label(valid)
    del valid, ordered
    if np.unique(y_train).size < 2:
        raise ValueError(
            f"the training window {window.train_start}..{window.train_end} has a single "
            f"{LABEL} class; cannot train"
        )

    started = time.perf_counter()
    pipeline = build_pipeline(config).fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    baselines: dict[str, Any] = {BASE_RATE: build_base_rate().fit(X_train, y_train)}
    with warnings.catch_warnings():
        # e.g. a categorical seen only at validation time: ignored by design.
        warnings.filterwarnings("ignore", message=".*unknown categories.*")
        baselines[LOGISTIC_REGRESSION] = build_logistic_baseline(config).fit(X_train, y_train)
        valid_proba = {CANDIDATE: positive_proba(pipeline, X_valid)}
        for name, model in baselines.items():
            valid_proba[name] = positive_proba(model, X_valid)
    metrics = {name: probability_metrics(y_valid, proba) for name, proba in valid_proba.items()}

    started = time.perf_counter()
    calibration = calibration_table(y_valid, valid_proba[CANDIDATE], config.calibration_bins)
    importance = permutation_importance_table(
        pipeline,
        X_valid,
        y_valid,
        repeats=config.importance_repeats,
        max_rows=config.importance_max_rows,
        seed=config.seed,
    )
    evaluate_seconds = time.perf_counter() - started

    return TrainingResult(
        pipeline=pipeline,
        baselines=baselines,
        config=config,
        split=window,
        metrics=metrics,
        X_valid=X_valid,
        y_valid=y_valid,
        valid_proba=valid_proba,
        calibration=calibration,
        importance=importance,
        train_positive_rate=float(y_train.mean()),
        valid_positive_rate=float(y_valid.mean()),
        fit_seconds=fit_seconds,
        evaluate_seconds=evaluate_seconds,
        train_rows_available=window.train_rows,
        train_rows_used=train_rows_used,
    )
