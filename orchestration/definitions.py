"""The Runway code location: wires assets, resources and the executor. Nothing else lives here."""

import dagster as dg

from orchestration.ingest import ingest_assets
from orchestration.ml_assets import ml_assets
from orchestration.publish import warehouse_snapshot
from orchestration.resources import WarehouseResource, dbt_resource, mlflow_tracking
from orchestration.transform import runway_dbt_models

defs = dg.Definitions(
    assets=[*ingest_assets, runway_dbt_models, *ml_assets, warehouse_snapshot],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": dbt_resource(),
        "mlflow": mlflow_tracking,
    },
    # Steps share one DuckDB file: running them in one process, one after another, is both safe
    # and far faster here than the multiprocess default (0.4 s vs 41 s for a 3-asset run).
    executor=dg.in_process_executor,
)
