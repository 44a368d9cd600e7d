"""The Runway code location: wires assets, checks, sensors, schedules, resources, the executor.

Each stage module exports its own lists; nothing else lives here.
"""

import dagster as dg

from orchestration import automation, freshness, ingest, ml_assets, publish, transform
from orchestration.resources import WarehouseResource, dbt_resource, mlflow_tracking

# What the steps import in their bodies (kept out of this module's import: a definitions load must
# stay fast), imported once by the warm run worker (orchestration/run_worker.py) for all its runs.
RUN_WORKER_PRELOAD = (
    "polars",
    "pyarrow",
    "sklearn.ensemble",
    "skops.io",
    "mlflow",
    "dagster_mlflow",
    "ml.predict",
    "ml.registry",
    "ml.train",
)

defs = dg.Definitions(
    assets=[
        *ingest.ingest_assets,
        *transform.transform_assets,
        *ml_assets.ml_assets,
        *publish.publish_assets,
    ],
    asset_checks=[
        *ingest.ingest_checks,
        *ml_assets.ml_checks,
        *publish.publish_checks,
        *freshness.freshness_checks,
    ],
    sensors=[*automation.sensors, freshness.freshness_checks_sensor],
    schedules=[*automation.schedules],
    jobs=[*automation.jobs],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": dbt_resource(),
        "mlflow": mlflow_tracking,
    },
    # Steps share one DuckDB file: running them in one process, one after another, is both safe
    # and far faster here than the multiprocess default (0.4 s vs 41 s for a 3-asset run).
    executor=dg.in_process_executor,
)
