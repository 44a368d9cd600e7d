"""Every path and setting of Runway, read from environment variables.

This module is plain Python (no Dagster import) so that the dashboards, the seeder, tests and
scripts can share it. Values are read when `load()` is called, not at import, so a test can point
the whole stack at a temporary directory by setting ``RUNWAY_DATA_DIR`` first.

Environment variables (all optional):

- ``RUNWAY_DATA_DIR``: runtime state root (default: ``<repo>/data``)
- ``RUNWAY_WAREHOUSE``: the DuckDB warehouse file (default: ``$RUNWAY_DATA_DIR/warehouse.duckdb``);
  dbt's ``profiles.yml`` reads the same variable
- ``RUNWAY_SERVING_DIR``: the read-only snapshot folder (default: ``$RUNWAY_DATA_DIR/serving``)
- ``MLFLOW_TRACKING_URI``: MLflow store (default: SQLite under ``$RUNWAY_DATA_DIR/mlflow``)
- ``RUNWAY_START_DATE`` / ``RUNWAY_END_DATE``: the daily partition range (default: 2013)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DASHBOARD_QUERIES_DIR = REPO_ROOT / "dashboards" / "queries"

# One Dagster concurrency pool (limit 1) for every step that opens the warehouse file.
WAREHOUSE_POOL = "warehouse"
MLFLOW_EXPERIMENT = "flight_delay"
REGISTERED_MODEL = "flight_delay"
CHAMPION_ALIAS = "champion"
SNAPSHOT_FILE = "runway.duckdb"

# Tables copied into the serving snapshot, as (schema, table). Readers see only these.
SERVING_TABLES: tuple[tuple[str, str], ...] = (
    ("marts", "flights"),
    ("marts", "daily_carrier_performance"),
    ("marts", "carriers"),
    ("marts", "airports"),
    ("marts", "routes"),
    ("marts", "weather_delay_impact"),
    ("ml", "flight_delay_predictions"),
    ("ml", "model_metrics"),
    ("ml", "model_calibration"),
    ("ml", "feature_importance"),
    ("ml", "flight_delay_monitoring"),
    # Ingest audit tables: written by the raw assets as a side effect, not assets of their own.
    ("raw", "load_audit"),
    ("raw", "rejected_rows"),
    ("raw", "quarantined_files"),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    landing_dir: Path
    quarantine_dir: Path
    warehouse_path: Path
    serving_dir: Path
    mlflow_dir: Path
    mlflow_tracking_uri: str
    mlflow_artifact_location: str
    dagster_home: Path
    start_date: date
    end_date: date

    @property
    def snapshot_path(self) -> Path:
        return self.serving_dir / SNAPSHOT_FILE

    def env(self) -> dict[str, str]:
        """Variables a child process (dbt, dagster, streamlit) needs to see the same stack."""
        return {
            "RUNWAY_DATA_DIR": str(self.data_dir),
            "RUNWAY_WAREHOUSE": str(self.warehouse_path),
            "RUNWAY_SERVING_DIR": str(self.serving_dir),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def load() -> Settings:
    """Read the settings from the environment now."""
    data_dir = _path("RUNWAY_DATA_DIR", REPO_ROOT / "data")
    mlflow_dir = data_dir / "mlflow"
    return Settings(
        data_dir=data_dir,
        landing_dir=data_dir / "landing",
        quarantine_dir=data_dir / "quarantine",
        warehouse_path=_path("RUNWAY_WAREHOUSE", data_dir / "warehouse.duckdb"),
        serving_dir=_path("RUNWAY_SERVING_DIR", data_dir / "serving"),
        mlflow_dir=mlflow_dir,
        mlflow_tracking_uri=os.environ.get(
            "MLFLOW_TRACKING_URI", f"sqlite:///{mlflow_dir / 'mlflow.db'}"
        ),
        mlflow_artifact_location=(mlflow_dir / "artifacts").as_uri(),
        dagster_home=_path("DAGSTER_HOME", data_dir / "dagster_home"),
        start_date=date.fromisoformat(os.environ.get("RUNWAY_START_DATE", "2013-01-01")),
        end_date=date.fromisoformat(os.environ.get("RUNWAY_END_DATE", "2013-12-31")),
    )
