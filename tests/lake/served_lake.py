"""A lake holding fixture tables, and the environment that points the app's readers at it.

Shared by the lake tests of the Streamlit app (test_lake_dashboards.py) and of Evidence
(test_lake_evidence.py); the frames are tests/dashboards/snapshot_fixture.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchestration.lake import LakeCatalog, connect_lake

DASHBOARD_TESTS = Path(__file__).resolve().parents[1] / "dashboards"
if str(DASHBOARD_TESTS) not in sys.path:
    sys.path.insert(0, str(DASHBOARD_TESTS))
from snapshot_fixture import create_tables  # noqa: E402


def fill_lake(lake: LakeCatalog, extension_dir: Path, frames) -> None:
    """Create ``frames`` as contract tables in ``lake``, in one commit."""
    con = connect_lake(lake, extension_dir)
    try:
        con.execute("BEGIN TRANSACTION")
        create_tables(con, frames)
        con.execute("COMMIT")
    finally:
        con.close()


def lake_env(mp: pytest.MonkeyPatch, root: Path, lake: LakeCatalog, extension_dir: Path) -> None:
    """The app's environment on the lake target; the serving dir is ``root/serving``."""
    mp.setenv("RUNWAY_TARGET", "lake")
    mp.setenv("RUNWAY_LAKE_CATALOG", lake.catalog)
    mp.setenv("RUNWAY_LAKE_DATA_PATH", lake.data_path)
    mp.setenv("RUNWAY_DUCKDB_EXTENSION_DIR", str(extension_dir))
    mp.setenv("RUNWAY_DATA_DIR", str(root / "data"))
    # A warehouse file that does not exist: the app must need neither it nor the file target.
    mp.setenv("RUNWAY_WAREHOUSE", str(root / "no-warehouse" / "warehouse.duckdb"))
    mp.setenv("RUNWAY_SERVING_DIR", str(root / "serving"))
    # On `lake` MLflow's store defaults to the lake's PostgreSQL (orchestration/postgres.py), which
    # has no MLflow database here: point the score form at an absent SQLite store instead, as the
    # dashboard tests do (the form is not what these tests are about).
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'data' / 'mlflow' / 'mlflow.db'}")
