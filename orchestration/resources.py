"""Resources: the warehouse connection, the dbt CLI, MLflow tracking (through dagster-mlflow)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration import settings
from orchestration.dbt_project import runway_dbt_project


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Only pipeline steps in the `warehouse` pool open it.

    `path` defaults to `settings.load().warehouse_path`, read when a step runs (not when the code
    loads), so tests can point the whole stack at a temporary directory.
    """

    path: str | None = None

    def resolved_path(self) -> str:
        return self.path or str(settings.load().warehouse_path)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.resolved_path()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(path)
        try:
            yield con
        finally:
            con.close()


@dg.resource(
    config_schema={
        "experiment_name": dg.Field(str, default_value=settings.MLFLOW_EXPERIMENT),
    },
    description="MLflow tracking through dagster-mlflow: one MLflow run per Dagster run, in the "
    "SQLite store and artifact folder of settings.load().",
)
def mlflow_tracking(init_context: dg.InitResourceContext):
    """dagster-mlflow's resource, created lazily.

    Importing mlflow costs ≈ 7 s here, so it happens only in runs that use this resource. The
    experiment is created first with an explicit artifact location: dagster-mlflow would otherwise
    create it with MLflow's default, relative to the working directory.
    """
    from dagster_mlflow.resources import MlFlow

    from ml.registry import ensure_experiment

    current = settings.load()
    current.mlflow_dir.mkdir(parents=True, exist_ok=True)
    experiment = init_context.resource_config["experiment_name"]
    ensure_experiment(current.mlflow_tracking_uri, experiment, current.mlflow_artifact_location)
    # MlFlow reads its settings from `resource_config`: hand it the resolved ones.
    resolved = init_context.replace_config(
        {
            "experiment_name": experiment,
            "mlflow_tracking_uri": current.mlflow_tracking_uri,
            "parent_run_id": None,
            "mlflow_run_id": None,
            "env": {},
            "env_to_tag": None,
            "extra_tags": {},
        }
    )
    tracking = MlFlow(resolved)
    try:
        yield tracking
    finally:
        # dagster-mlflow's `end_mlflow_on_run_finished` hook ends the MLflow run after the first
        # step (dagster#21872); we end it when the Dagster run releases its resources instead.
        # A failed step has already ended it with status FAILED (see ml_assets.py).
        tracking.end_run()


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter, so that a run works without the venv on PATH.
    local_dbt = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=runway_dbt_project,
        dbt_executable=str(local_dbt) if local_dbt.exists() else "dbt",
    )
