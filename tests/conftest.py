"""Session fixtures shared by test packages (tests/<package>/conftest.py has the others)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_base import build_base


@pytest.fixture(scope="session")
def pipeline_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few days materialized through the whole graph (pipeline_base.py): copy, never change."""
    return build_base(tmp_path_factory.mktemp("pipeline_base"))
