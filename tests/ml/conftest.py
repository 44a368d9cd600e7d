"""Fixtures of the ml tests."""

from __future__ import annotations

import polars as pl
import pytest
from synthetic_flights import make_features


@pytest.fixture(scope="session")
def features() -> pl.DataFrame:
    return make_features()


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """One OpenMP/BLAS thread: the frames are tiny and spinning threads are slow on busy CPUs.

    Module scope, so that it is active before the modules' own fixtures that train models.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def fast_config():
    from ml.train import TrainConfig

    return TrainConfig(learning_rate=0.1, max_iter=80, min_samples_leaf=40, importance_repeats=2)
