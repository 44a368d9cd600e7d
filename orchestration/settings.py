"""Every path and setting of Runway, read from environment variables.

This module is plain Python (no Dagster import) so that the dashboards, the seeder, tests and
scripts can share it. Values are read when `load()` is called, not at import, so a test can point
the whole stack at a temporary directory by setting ``RUNWAY_DATA_DIR`` first.

Environment variables (all optional):

- ``RUNWAY_DATA_DIR``: runtime state root (default: ``<repo>/data``)
- ``RUNWAY_WAREHOUSE``: the DuckDB warehouse file (default: ``$RUNWAY_DATA_DIR/warehouse.duckdb``);
  dbt's ``profiles.yml`` reads the same variable
- ``RUNWAY_SERVING_DIR``: the read-only snapshot folder (default: ``$RUNWAY_DATA_DIR/serving``)
- ``MLFLOW_TRACKING_URI``: MLflow store (default: SQLite under ``$RUNWAY_DATA_DIR/mlflow``; on the
  ``lake`` target, the database ``RUNWAY_MLFLOW_DB`` on the lake's PostgreSQL, see
  orchestration/postgres.py); the artifacts always go under ``$RUNWAY_DATA_DIR/mlflow/artifacts``
- ``RUNWAY_START_DATE`` / ``RUNWAY_END_DATE``: the daily partition range (default: 2013)
- ``RUNWAY_TARGET``: the dbt target, ``duckdb`` (default), ``lake`` or ``spark``
  (docs/portability.md, docs/scale-out.md); dbt's profiles.yml reads the same variable

Automation (``orchestration/automation.py``; read when the code location loads):

- ``RUNWAY_DEMO_FEED``: ``1`` starts ``live_feed_schedule`` by default (``make dev`` sets it)
- ``RUNWAY_FEED_CRON``: when the demo feed delivers the next day (default: every 5 minutes)
- ``RUNWAY_RETRAIN_CRON``: the weekly retraining cron (default: Mondays 03:00 UTC)
- ``RUNWAY_RETRAIN_AFTER_DAYS``: retrain once this many new days have arrived (default: 7)
- ``RUNWAY_REFERENCE_CRON``: daily refresh of airlines/airports/planes (default: 06:00 UTC)
- ``RUNWAY_FRESHNESS_MINUTES``: marts, predictions and snapshot older than this fail their
  freshness check (default: 1560, a daily delivery plus two hours)
- ``RUNWAY_SENSOR_INTERVAL_SECONDS``: how often the landing-zone and run-failure sensors tick
  (default: 5, the sensor daemon's own loop): a delivered day waits at most this long for its run
- ``RUNWAY_AUTOMATION_INTERVAL_SECONDS``: how often declarative automation and the freshness
  checks are evaluated (default: 30). Deliveries do not wait for it (the landing sensor's run
  carries a day to the snapshot); it catches what arrives another way (a redelivered or
  backfilled day, a reference refresh, retraining), and each tick costs the code server CPU
"""

from __future__ import annotations

import os
import re
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
# Failed runs, written by the run-failure sensor beside the snapshot (never the warehouse).
ALERTS_FILE = "alerts.duckdb"

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


DBT_TARGETS = ("duckdb", "lake", "spark")
LAKE_POOL_PREFIX = "lake_"


def dbt_target() -> str:
    """The dbt target named by ``RUNWAY_TARGET`` (default ``duckdb``), checked."""
    target = os.environ.get("RUNWAY_TARGET", "").strip() or "duckdb"
    if target not in DBT_TARGETS:
        raise ValueError(f"RUNWAY_TARGET must be one of {', '.join(DBT_TARGETS)}, got {target!r}")
    return target


def warehouse_pool(writes: str) -> str:
    """The Dagster pool of a step that writes the table(s) named ``writes``.

    DuckDB file (default): every writer is in the one `warehouse` pool (limit 1): one writing
    process per file. DuckLake (`RUNWAY_TARGET=lake`): a pool per table (or dbt step), so runs
    that write different tables run at once; two steps that write the same table through
    different pools may still meet, and the loser's commit is retried (resources.py).
    """
    if dbt_target() == "lake":
        return LAKE_POOL_PREFIX + re.sub(r"[^A-Za-z0-9_]+", "_", writes)
    return WAREHOUSE_POOL


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
    demo_feed: bool = False
    feed_cron: str = "*/5 * * * *"
    retrain_cron: str = "0 3 * * 1"
    retrain_after_days: int = 7
    reference_cron: str = "0 6 * * *"
    freshness_minutes: int = 26 * 60
    sensor_interval_seconds: int = 5
    automation_interval_seconds: int = 30

    @property
    def snapshot_path(self) -> Path:
        return self.serving_dir / SNAPSHOT_FILE

    @property
    def alerts_path(self) -> Path:
        return self.serving_dir / ALERTS_FILE

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


def _mlflow_tracking_uri(mlflow_dir: Path) -> str:
    if "MLFLOW_TRACKING_URI" in os.environ:
        return os.environ["MLFLOW_TRACKING_URI"]
    if dbt_target() == "lake":
        # The store beside the lake's catalog: shared by every machine that writes the lake.
        from orchestration.postgres import LakePostgres

        return LakePostgres.from_env().mlflow_url
    return f"sqlite:///{mlflow_dir / 'mlflow.db'}"


def _int(name: str, default: int, minimum: int = 1) -> int:
    value = int(os.environ.get(name) or default)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


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
        mlflow_tracking_uri=_mlflow_tracking_uri(mlflow_dir),
        mlflow_artifact_location=(mlflow_dir / "artifacts").as_uri(),
        dagster_home=_path("DAGSTER_HOME", data_dir / "dagster_home"),
        start_date=date.fromisoformat(os.environ.get("RUNWAY_START_DATE", "2013-01-01")),
        end_date=date.fromisoformat(os.environ.get("RUNWAY_END_DATE", "2013-12-31")),
        demo_feed=os.environ.get("RUNWAY_DEMO_FEED", "").strip().lower() in {"1", "true", "yes"},
        feed_cron=os.environ.get("RUNWAY_FEED_CRON") or "*/5 * * * *",
        retrain_cron=os.environ.get("RUNWAY_RETRAIN_CRON") or "0 3 * * 1",
        retrain_after_days=_int("RUNWAY_RETRAIN_AFTER_DAYS", 7),
        reference_cron=os.environ.get("RUNWAY_REFERENCE_CRON") or "0 6 * * *",
        freshness_minutes=_int("RUNWAY_FRESHNESS_MINUTES", 26 * 60),
        sensor_interval_seconds=_int("RUNWAY_SENSOR_INTERVAL_SECONDS", 5, minimum=5),
        automation_interval_seconds=_int("RUNWAY_AUTOMATION_INTERVAL_SECONDS", 30, minimum=5),
    )
