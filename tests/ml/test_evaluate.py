"""ml.evaluate: calibration table and permutation importance, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from ml.evaluate import (
    calibration_table,
    importance_sample,
    permutation_importance_table,
    with_model_version,
)


def test_calibration_table_by_hand() -> None:
    # 20 rows, given out of order: bins of 2 once sorted by probability.
    proba = np.array([0.05 * k for k in range(20)])
    late = np.array([k % 2 for k in range(20)])  # every second flight was late
    shuffled = np.random.default_rng(0).permutation(20)
    table = calibration_table(late[shuffled], proba[shuffled], bins=10)
    assert table.columns == ["bin", "mean_predicted", "observed_rate", "flights"]
    assert table.schema["bin"] == pl.Int32 and table.schema["flights"] == pl.Int64
    assert table["bin"].to_list() == list(range(1, 11))
    assert table["flights"].to_list() == [2] * 10
    # bin b holds probabilities 0.1*(b-1) and 0.1*(b-1)+0.05, one on time and one late.
    np.testing.assert_allclose(table["mean_predicted"], [0.1 * b + 0.025 for b in range(10)])
    np.testing.assert_allclose(table["observed_rate"], [0.5] * 10)


def test_calibration_bins_are_equal_count_and_ordered() -> None:
    rng = np.random.default_rng(1)
    proba = rng.random(1003)
    late = (rng.random(1003) < proba).astype(int)
    table = calibration_table(late, proba, bins=10)
    sizes = table["flights"].to_list()
    assert sum(sizes) == 1003 and max(sizes) - min(sizes) <= 1
    means = table["mean_predicted"].to_list()
    assert means == sorted(means)
    # Weighted back together, the bins give the overall late share and mean prediction.
    assert (table["observed_rate"] * table["flights"]).sum() == pytest.approx(late.sum())
    assert (table["mean_predicted"] * table["flights"]).sum() == pytest.approx(proba.sum())
    # Every flight of bin b has a probability <= every flight of bin b+1.
    order = np.sort(proba)
    edges = np.cumsum(sizes)
    for b in range(9):
        assert order[edges[b] - 1] <= order[edges[b]]


def test_calibration_small_and_empty_inputs() -> None:
    table = calibration_table(np.array([1, 0, 1]), np.array([0.9, 0.1, 0.5]), bins=10)
    assert table["flights"].to_list() == [1, 1, 1]
    assert table["observed_rate"].to_list() == [0.0, 1.0, 1.0]
    assert calibration_table(np.array([]), np.array([])).height == 0
    with pytest.raises(ValueError, match="shapes"):
        calibration_table(np.array([1, 0]), np.array([0.5]))


class _UsesOneColumn(ClassifierMixin, BaseEstimator):
    """P(late) = the value of one column: shuffling any other column changes nothing."""

    def __init__(self, column: str = "signal"):
        self.column = column

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.clip(X[self.column].to_numpy(dtype=float), 0, 1)
        return np.column_stack([1 - p, p])


def test_permutation_importance_is_the_roc_auc_drop() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 4000)
    X = pd.DataFrame({"noise": rng.random(4000), "signal": np.where(y == 1, 0.9, 0.1)})
    model = _UsesOneColumn().fit(X, y)
    table = permutation_importance_table(model, X, y, repeats=3, max_rows=1000, seed=0)
    assert table.columns == ["feature", "importance_mean", "importance_std"]
    assert table["feature"].to_list() == ["noise", "signal"]
    values = dict(zip(table["feature"], table["importance_mean"], strict=True))
    assert values["noise"] == 0.0  # the model never reads it
    # Baseline AUC is 1; with the signal shuffled it is about 0.5.
    assert 0.4 < values["signal"] < 0.6
    again = permutation_importance_table(model, X, y, repeats=3, max_rows=1000, seed=0)
    assert again.equals(table)


def test_permutation_importance_single_class_sample_is_null() -> None:
    X = pd.DataFrame({"signal": [0.2, 0.4, 0.6]})
    table = permutation_importance_table(_UsesOneColumn().fit(X, [0, 1, 0]), X, np.zeros(3))
    assert table["importance_mean"].null_count() == 1


def test_importance_sample_is_seeded_sorted_and_bounded() -> None:
    assert importance_sample(5, 10, seed=1).tolist() == [0, 1, 2, 3, 4]
    rows = importance_sample(100_000, 20_000, seed=1)
    assert rows.size == np.unique(rows).size == 20_000
    assert (np.diff(rows) > 0).all() and rows.max() < 100_000
    assert np.array_equal(rows, importance_sample(100_000, 20_000, seed=1))
    assert not np.array_equal(rows, importance_sample(100_000, 20_000, seed=2))


def test_with_model_version_leads_with_a_string_column() -> None:
    table = with_model_version(pl.DataFrame({"bin": [1, 2]}), "7")
    assert table.columns == ["model_version", "bin"]
    assert table["model_version"].to_list() == ["7", "7"]
