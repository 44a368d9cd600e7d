"""Session fixtures shared by test packages (tests/<package>/conftest.py has the others)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_base import build_base


@pytest.fixture(scope="session")
def pipeline_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few days materialized through the whole graph (pipeline_base.py): copy, never change."""
    return build_base(tmp_path_factory.mktemp("pipeline_base"))


_PYTEST_MAIN = sys.modules["__main__"]  # before any test (or module fixture) ran a Streamlit app


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Put pytest's `__main__` back after each test.

    Streamlit's script runner (AppTest) installs the app as `sys.modules["__main__"]` and leaves
    it there; a `multiprocessing` spawn child re-runs the parent's `__main__` first, so every later
    spawned worker would run the Streamlit app and die before doing its work (tests/lake).
    """
    yield
    sys.modules["__main__"] = _PYTEST_MAIN
