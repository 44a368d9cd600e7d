"""Fixtures for the dashboard tests: the environment, and the fixture snapshot published.

The snapshot's tables and contents are in ``snapshot_fixture.py`` (importable by the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from snapshot_fixture import make_frames, write_snapshot

from dashboards import data
from orchestration import settings


@pytest.fixture(autouse=True)
def _clear_streamlit_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()
    # dashboards.data keeps a connection per file: each test's files are its own.
    data.close_connections()


@pytest.fixture
def runway_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every Runway path at tmp_path; returns the serving dir (empty: no snapshot yet)."""
    serving_dir = tmp_path / "serving"
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    # A warehouse that does not exist: the dashboards must never need it.
    monkeypatch.setenv("RUNWAY_WAREHOUSE", str(tmp_path / "no-warehouse" / "warehouse.duckdb"))
    monkeypatch.setenv("RUNWAY_SERVING_DIR", str(serving_dir))
    # The MLflow store defaults to $RUNWAY_DATA_DIR/mlflow/mlflow.db: absent until a test makes one.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return serving_dir


@pytest.fixture
def frames() -> dict[tuple[str, str], pd.DataFrame]:
    return make_frames()


@pytest.fixture(scope="module")
def shared_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fixture snapshot published once per module in an environment like ``runway_env``'s,
    for tests that only read it (a test using ``runway_env`` overrides it for its duration)."""
    root = tmp_path_factory.mktemp("shared")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNWAY_DATA_DIR", str(root / "data"))
        mp.setenv("RUNWAY_WAREHOUSE", str(root / "no-warehouse" / "warehouse.duckdb"))
        mp.setenv("RUNWAY_SERVING_DIR", str(root / "serving"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield write_snapshot(settings.load().snapshot_path, make_frames())


@pytest.fixture(scope="session")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture snapshot written once, for tests that only read a given path."""
    return write_snapshot(
        tmp_path_factory.mktemp("serving") / settings.SNAPSHOT_FILE, make_frames()
    )


@pytest.fixture
def publish_snapshot(runway_env: Path) -> Callable[[dict[tuple[str, str], pd.DataFrame]], Path]:
    """Publish given frames as the serving snapshot (like the pipeline does)."""

    def publish(frames: dict[tuple[str, str], pd.DataFrame]) -> Path:
        return write_snapshot(runway_env / settings.SNAPSHOT_FILE, frames)

    return publish


@pytest.fixture
def snapshot(publish_snapshot, frames) -> Path:
    """The fixture snapshot, published; returns its path."""
    path = publish_snapshot(frames)
    assert path == settings.load().snapshot_path
    return path
