"""Transform assets: the dbt project, one Dagster asset per dbt model.

Asset keys mirror the warehouse (`[schema, model]`), groups mirror the layer, and dbt sources map
onto the keys of the assets that write them (`nycflights13` → the ingest assets `raw/<table>`,
`ml_outputs` → the scoring asset `ml/flight_delay_predictions`), so lineage has no gap.

Three `@dbt_assets` definitions split the project so that the op graph has no cycle:

- `dbt_models`: everything unpartitioned upstream of the daily models or beside them (staging
  views, intermediate views, `carriers`, `airports`, `routes`, `weather_delay_impact`);
- `dbt_daily_models` (dbt tag `daily`, partitioned like the raw flights): the incremental marts
  and features; a run passes its partition window to dbt as vars `min_date`/`max_date`
  ([start, end)), and dbt rebuilds only those days (delete+insert);
- `dbt_monitoring_models` (tag `monitoring`): the model-monitoring mart, downstream of the
  Python scoring asset (dbt features → Python scoring → dbt monitoring).

Each runs `dbt build`: dbt tests become asset checks on their models, and a failing (error)
test fails `dbt build`, hence the step, which stops the assets downstream (ML, publish).
Row counts: dagster-dbt's `fetch_row_counts()` keeps a read-only DuckDB connection open in this
process after the step, which locks the next writer out (see tests/dbt/test_transform_assets.py).
So each step counts the rows itself once the dbt process has ended, with a connection it closes,
and attaches `dagster/row_count` to each model's materialization.
"""

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import settings
from orchestration.dbt_project import runway_dbt_project
from orchestration.ingest import daily_partitions
from orchestration.resources import WarehouseResource

DAILY_SELECT = "tag:daily"
MONITORING_SELECT = "tag:monitoring"


class RunwayDbtTranslator(DagsterDbtTranslator):
    """Keys `[schema, name]` for models and sources alike; group = schema."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        # Sources: `raw.flights` is the ingest asset `raw/flights`, `ml.flight_delay_predictions`
        # the scoring asset `ml/flight_delay_predictions`.
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey([props["schema"], props["name"]]))
        schema = props["schema"]
        return spec.replace_attributes(key=dg.AssetKey([schema, props["name"]]), group_name=schema)


@contextmanager
def _stack_environment() -> Iterator[None]:
    """Our settings in the environment while dbt starts, as before afterwards.

    dbt's profiles.yml reads RUNWAY_WAREHOUSE: the dbt process must see the same file as we do.
    """
    wanted = settings.load().env()
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def window_vars(start: date, end: date) -> dict[str, str]:
    """dbt vars for the days [start, end)."""
    return {"min_date": start.isoformat(), "max_date": end.isoformat()}


def _relations(manifest: Mapping[str, Any], events: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """The dbt nodes of the materialization events, by unique_id."""
    nodes = {}
    for event in events:
        if isinstance(event, dg.Output | dg.AssetMaterialization):
            unique_id = event.metadata["unique_id"].value
            nodes[unique_id] = manifest["nodes"][unique_id]
    return nodes


def _count_rows(
    warehouse: WarehouseResource,
    nodes: Mapping[str, Mapping[str, Any]],
    window: tuple[date, date] | None,
) -> dict[str, dict[str, int]]:
    """Row counts of the built relations (views too), after dbt released the warehouse.

    With a window, also the rows of those days (`unique_key` of a daily model is its date).
    """
    counts: dict[str, dict[str, int]] = {}
    if not nodes:
        return counts
    with warehouse.connect() as con:
        for unique_id, node in nodes.items():
            relation = f"{node['schema']}.{node['alias']}"
            counts[unique_id] = {
                "dagster/row_count": con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
            }
            date_column = node["config"].get("unique_key")
            if window is not None and isinstance(date_column, str):
                in_window = f"{date_column} >= ? AND {date_column} < ?"
                (rows,) = con.execute(
                    f"SELECT count(*) FROM {relation} WHERE {in_window}", list(window)
                ).fetchone()
                counts[unique_id]["window_row_count"] = rows
    return counts


def build_with_row_counts(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    window: tuple[date, date] | None = None,
) -> Iterator[Any]:
    """`dbt build` of the selected models; their events, each with the model's row count.

    The events are held until dbt has exited (DuckDB: one process at a time on the file), then
    counted and yielded. If dbt failed, what it built is still reported before the step fails.
    """
    args = ["build"]
    if window is not None:
        args += ["--vars", json.dumps(window_vars(*window))]
    with _stack_environment():
        invocation = dbt.cli(args, context=context)  # starts the dbt process
    events: list[Any] = []
    failure: Exception | None = None
    try:
        events.extend(invocation.stream())
    except Exception as error:  # dbt build failed: report what it built, then fail the step
        failure = error
    counts = _count_rows(warehouse, _relations(invocation.manifest, events), window)
    for event in events:
        if isinstance(event, dg.Output | dg.AssetMaterialization):
            extra = counts.get(event.metadata["unique_id"].value, {})
            event = event.with_metadata({**event.metadata, **extra})
        yield event
    if failure is not None:
        raise failure


@dbt_assets(
    manifest=runway_dbt_project.manifest_path,
    project=runway_dbt_project,
    exclude=f"{DAILY_SELECT} {MONITORING_SELECT}",
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.WAREHOUSE_POOL,
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """Staging and intermediate views, reference marts and the whole-history aggregates."""
    yield from build_with_row_counts(context, dbt, warehouse)


@dbt_assets(
    manifest=runway_dbt_project.manifest_path,
    project=runway_dbt_project,
    select=DAILY_SELECT,
    partitions_def=daily_partitions,
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.WAREHOUSE_POOL,
)
def dbt_daily_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """The daily incremental models: rebuild exactly the days of the run's partitions."""
    time_window = context.partition_time_window
    window = (time_window.start.date(), time_window.end.date())
    context.log.info(f"dbt rebuilds the days [{window[0]}, {window[1]})")
    yield from build_with_row_counts(context, dbt, warehouse, window)


@dbt_assets(
    manifest=runway_dbt_project.manifest_path,
    project=runway_dbt_project,
    select=MONITORING_SELECT,
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.WAREHOUSE_POOL,
)
def dbt_monitoring_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """Model monitoring: the scoring asset's predictions against the flights' outcomes."""
    yield from build_with_row_counts(context, dbt, warehouse)


transform_assets = [dbt_models, dbt_daily_models, dbt_monitoring_models]
