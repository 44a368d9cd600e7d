"""Evaluation plots (ROC curves, calibration, permutation importance) as matplotlib figures.

Figures are built with the object-oriented API (`matplotlib.figure.Figure`), never `pyplot`: no
GUI backend, no global figure registry, safe in a headless Dagster step (rendering uses Agg).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from matplotlib.figure import Figure


def roc_figure(y_true: np.ndarray, probas: Mapping[str, np.ndarray]) -> Figure:
    """ROC curve of each model (label: name and AUC) on the same validation rows."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure = Figure(figsize=(5.5, 5), layout="constrained")
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    if np.unique(y_true).size == 2:
        for name, proba in probas.items():
            fpr, tpr, _ = roc_curve(y_true, proba)
            axes.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y_true, proba):.3f})")
    else:
        axes.text(0.5, 0.5, "single class: ROC undefined", ha="center")
    axes.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC on the validation window",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="lower right")
    return figure


def calibration_figure(calibration: pl.DataFrame) -> Figure:
    """Reliability curve: observed late share against mean predicted probability, per bin."""
    figure = Figure(figsize=(5.5, 5), layout="constrained")
    axes = figure.subplots()
    predicted = calibration.get_column("mean_predicted").to_numpy()
    observed = calibration.get_column("observed_rate").to_numpy()
    top = float(max(1e-3, predicted.max(initial=0.0), observed.max(initial=0.0))) * 1.05
    axes.plot([0, top], [0, top], linestyle=":", color="grey", label="perfect calibration")
    axes.plot(predicted, observed, marker="o", label="candidate")
    axes.set(
        xlabel="mean predicted probability (per bin)",
        ylabel="observed share leaving 15+ min late",
        title=f"Calibration, {calibration.height} equal-count bins",
        xlim=(0, top),
        ylim=(0, top),
    )
    axes.legend(loc="upper left")
    return figure


def importance_figure(importance: pl.DataFrame) -> Figure:
    """Horizontal bars: permutation importance (ROC AUC drop) per feature, with its std."""
    ordered = importance.fill_null(0.0).sort("importance_mean")
    figure = Figure(figsize=(6.5, 0.35 * max(ordered.height, 4) + 1.2), layout="constrained")
    axes = figure.subplots()
    axes.barh(
        ordered.get_column("feature").to_list(),
        ordered.get_column("importance_mean").to_numpy(),
        xerr=ordered.get_column("importance_std").to_numpy(),
        color="tab:blue",
    )
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set(
        xlabel="drop in ROC AUC when the feature is shuffled",
        title="Permutation importance (validation sample)",
    )
    return figure
