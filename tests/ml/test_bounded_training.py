"""The training cap (`TrainConfig.train_max_rows`): a seeded sample for fitting, every row for
validation, nothing sampled under the cap."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from ml.features import LABEL, labelled, to_label, to_pandas_features
from ml.split import sample_positions, sample_rows, time_split
from ml.train import BASE_RATE, CANDIDATE, LOGISTIC_REGRESSION, build_pipeline, train_and_evaluate

CAP = 500


@pytest.fixture(scope="module")
def capped(features, fast_config):
    return train_and_evaluate(features, replace(fast_config, train_max_rows=CAP))


def _split(features, config):
    """The split as training sees it: labelled rows in the canonical (date, flight id) order."""
    return time_split(
        labelled(features).sort(["flight_date", "flight_id"]),
        config.validation_fraction,
        config.validation_start,
        train_start=config.train_start,
        validation_end=config.validation_end,
    )


def test_sample_is_seeded_exact_and_keeps_the_order() -> None:
    rows = sample_positions(10_000, 1_000, seed=3)
    assert rows.size == np.unique(rows).size == 1_000
    assert np.all(np.diff(rows) > 0) and rows[0] >= 0 and rows[-1] < 10_000
    assert np.array_equal(rows, sample_positions(10_000, 1_000, seed=3))
    assert not np.array_equal(rows, sample_positions(10_000, 1_000, seed=4))
    assert sample_positions(5, 10, seed=3).tolist() == [0, 1, 2, 3, 4]
    assert sample_positions(5, None, seed=3).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="max_rows"):
        sample_positions(5, 0, seed=3)

    frame = pl.DataFrame({"i": range(2_000)})
    assert sample_rows(frame, 3_000, seed=1) is frame  # under the cap: no copy, no sampling
    sampled = sample_rows(frame, 700, seed=1)
    assert sampled.height == 700
    assert sampled["i"].to_list() == sample_positions(2_000, 700, seed=1).tolist()


def test_the_cap_is_applied_to_the_candidate_and_both_baselines(capped, features, fast_config):
    train, _, window = _split(features, fast_config)
    assert window.train_rows > CAP  # the fixture's training window is over the cap
    assert (capped.train_rows_available, capped.train_rows_used) == (window.train_rows, CAP)
    assert capped.split.train_rows == window.train_rows  # the split reports the window

    # The rows fitted on are the seeded sample, and all three models saw exactly those rows.
    sample = train[sample_positions(train.height, CAP, fast_config.seed)]
    y_sample = to_label(sample)
    assert capped.train_positive_rate == pytest.approx(y_sample.mean())
    assert capped.baselines[BASE_RATE].class_prior_[1] == pytest.approx(y_sample.mean())
    reference = build_pipeline(fast_config).fit(to_pandas_features(sample), y_sample)
    np.testing.assert_array_equal(
        reference.predict_proba(capped.X_valid)[:, 1], capped.valid_proba[CANDIDATE]
    )
    assert capped.baselines[LOGISTIC_REGRESSION].n_features_in_ == len(capped.X_valid.columns)


def test_capped_training_is_deterministic_and_follows_the_seed(capped, features, fast_config):
    again = train_and_evaluate(features, replace(fast_config, train_max_rows=CAP))
    for model, proba in capped.valid_proba.items():
        np.testing.assert_array_equal(proba, again.valid_proba[model])
    other = train_and_evaluate(features, replace(fast_config, train_max_rows=CAP, seed=7))
    assert other.train_rows_used == CAP
    assert not np.array_equal(other.valid_proba[CANDIDATE], capped.valid_proba[CANDIDATE])
    assert other.train_positive_rate != capped.train_positive_rate


def test_the_rows_order_does_not_change_the_model(capped, features, fast_config):
    # The same flights in another order (another warehouse's storage order): the same sample,
    # the same models, the same importance sample.
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=5)
    assert shuffled["flight_id"].to_list() != features["flight_id"].to_list()
    again = train_and_evaluate(shuffled, replace(fast_config, train_max_rows=CAP))
    for model, proba in capped.valid_proba.items():
        np.testing.assert_array_equal(proba, again.valid_proba[model])
    assert again.importance.equals(capped.importance)


def test_validation_uses_every_validation_row(capped, features, fast_config):
    _, valid, window = _split(features, fast_config)
    valid_ids = set(valid["flight_id"])
    assert len(valid_ids) == window.valid_rows > CAP  # more validation rows than the cap
    assert len(capped.y_valid) == len(capped.X_valid) == window.valid_rows
    assert capped.split.valid_rows == window.valid_rows
    np.testing.assert_array_equal(capped.y_valid, to_label(valid))
    assert all(proba.size == window.valid_rows for proba in capped.valid_proba.values())
    assert capped.calibration["flights"].sum() == window.valid_rows
    assert capped.valid_positive_rate == pytest.approx(valid[LABEL].cast(pl.Float64).mean())


def test_no_sampling_under_the_cap(features, fast_config):
    uncapped = train_and_evaluate(features, replace(fast_config, train_max_rows=None))
    under = train_and_evaluate(features, replace(fast_config, train_max_rows=1_000_000))
    assert uncapped.train_rows_used == uncapped.train_rows_available == uncapped.split.train_rows
    assert under.train_rows_used == under.train_rows_available == uncapped.split.train_rows
    for model, proba in uncapped.valid_proba.items():
        np.testing.assert_array_equal(proba, under.valid_proba[model])


def test_a_cap_below_one_row_is_an_error(features, fast_config):
    with pytest.raises(ValueError, match="max_rows"):
        train_and_evaluate(features, replace(fast_config, train_max_rows=0))
