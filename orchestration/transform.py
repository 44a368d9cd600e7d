"""Transform assets: the dbt project, one Dagster asset per dbt model.

Asset keys mirror the warehouse (`[schema, model]`), groups mirror the layer, and dbt sources map
onto the keys of the assets that write them (`nycflights13` → the ingest assets `raw/<table>`,
`ml_outputs` → the scoring asset `ml/flight_delay_predictions`), so lineage has no gap.

Three `@dbt_assets` definitions split the project so that the op graph has no cycle:

- `dbt_models`: everything unpartitioned upstream of the daily models or beside them (staging
  views, intermediate views, `carriers`, `airports`);
- `dbt_daily_models` (dbt tag `daily`, partitioned like the raw flights): the incremental marts
  and features; a run passes its partition window ([start, end)) to dbt in the environment
  (`RUNWAY_DBT_MIN_DATE`/`RUNWAY_DBT_MAX_DATE`, read by macros/date_window.sql), and dbt
  rebuilds only those days (delete+insert);
- `dbt_history_models` (tag `history`): the whole-history marts `routes` and
  `weather_delay_impact`, views that add up the daily tables `daily_route_performance` and
  `daily_weather_delay_impact` (issue #17: a new day rebuilds one day of those, never the
  history). Their own definition because they read daily models, which read `dbt_models`' views:
  in one definition with those, a run of everything would need `dbt_models` twice, and a
  subsetted dbt call runs every test with one selected parent (dbt's eager indirect selection),
  such as `flights`' relationship tests before `flights` exists;
- `dbt_monitoring_models` (tag `monitoring`): the model-monitoring mart, downstream of the
  Python scoring asset (dbt features → Python scoring → dbt monitoring). Partitioned like the
  scoring asset so that automation runs it with its day's predictions; it rebuilds its (small)
  table whole.

Automation conditions (orchestration/conditions.py) are set by `RunwayDbtTranslator`; dbt views
are virtual assets that the conditions look through.

Backfills: every daily asset (raw flights and weather, the daily dbt models, scoring, monitoring)
has a single-run backfill policy, so a backfill of a month is one run over the whole range.
Dagster's asset backfill puts a child in its parent's run only when the child is a *direct*
child with the same partitions; the views between `raw/*` and the daily models would split the
backfill into a raw run and a later run for the rest. So the daily models also declare the raw
daily assets they read through those views as direct dependencies (`_with_raw_day_deps`).

Each runs `dbt build`: dbt tests become asset checks on their models, and a failing (error)
test fails `dbt build`, hence the step, which stops the assets downstream (ML, publish).
Row counts: dagster-dbt's `fetch_row_counts()` keeps a read-only DuckDB connection open in this
process after the step, which locks the next writer out (see tests/dbt/test_transform_assets.py).
So each step counts the rows itself once the dbt process has ended, with a connection it closes,
and attaches `dagster/row_count` to each model's materialization.

dbt's cost per call: starting dbt costs ≈ 7 s of imports here, parsing the whole project ≈ 5 s
more. dbt re-parses everything when `--vars` or the profile change, so the window goes in the
environment (only the three daily models re-parse), and each data dir keeps its own
`partial_parse.msgpack` beside its dbt target folders (`<data dir>/dbt/target`).

Failures: a dbt build that failed on the warehouse lock or on I/O is retried (`WAREHOUSE_RETRY`,
with backoff); any other failure (a model error, a failing test) fails the step at once, since
another attempt would fail the same way. dbt runs through `orchestration/dbt_guard.py` (see
`orchestration/resources.py`): if the run process dies, dbt dies with it, and an incremental
model's delete+insert, one transaction, is rolled back by DuckDB at the next open.
"""

import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration import conditions, ingest, settings
from orchestration.dbt_project import runway_dbt_project
from orchestration.ingest import daily_partitions
from orchestration.resources import (
    WAREHOUSE_RETRY,
    WarehouseResource,
    environment,
    is_transient_error,
    stop_process,
)

DAILY_SELECT = "tag:daily"
HISTORY_SELECT = "tag:history"
MONITORING_SELECT = "tag:monitoring"
# Full snapshots: their updates do not trigger a rebuild of every day (conditions.daily_condition).
REFERENCE_TABLES = dg.AssetSelection.assets(
    *(dg.AssetKey(["raw", name]) for name in ("airlines", "airports", "planes"))
)


class RunwayDbtTranslator(DagsterDbtTranslator):
    """Keys `[schema, name]` for models and sources alike; group = schema.

    dbt views are Dagster virtual assets, and each model gets its automation condition
    (orchestration/conditions.py): views are built when missing or changed, the daily and
    monitoring models update the days whose upstream days updated, the other tables update after
    any upstream change. Updates of the reference tables do not rebuild every day.
    """

    def __init__(self, settings: DagsterDbtTranslatorSettings | None = None):
        super().__init__(
            settings or DagsterDbtTranslatorSettings(enable_dbt_views_as_virtual_assets=True)
        )

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
        if spec.is_virtual:
            condition = conditions.view_condition()
        elif {"daily", "monitoring"} & set(props.get("tags", [])):
            condition = conditions.daily_condition(REFERENCE_TABLES)
        else:
            condition = conditions.whole_table_condition()
        return spec.replace_attributes(
            key=dg.AssetKey([schema, props["name"]]),
            group_name=schema,
            automation_condition=condition,
        )


WINDOW_ENV = ("RUNWAY_DBT_MIN_DATE", "RUNWAY_DBT_MAX_DATE")
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# dbt target folders of past steps kept for debugging (compiled SQL, run_results.json, dbt.log).
KEEP_TARGET_DIRS = 10


def dbt_target_root() -> Path:
    """Where dbt's target folders go: the data dir, not the repository.

    dagster-dbt gives each dbt call its own target folder; in `dbt_project/target` they piled up
    (600 MB after a benchmark) and outlived `make clean`. Here they belong to the stack they
    describe and go with it.
    """
    return settings.load().data_dir / "dbt" / "target"


def window_env(window: tuple[date, date] | None) -> dict[str, str]:
    """The environment variables that hand dbt the days [start, end) (macros/date_window.sql).

    Not `--vars`: dbt re-parses the whole project whenever the vars change, which every
    partition run would do. Empty when there is no window, so that no stale window leaks in.
    """
    if window is None:
        return dict.fromkeys(WINDOW_ENV, "")
    return dict(zip(WINDOW_ENV, (day.isoformat() for day in window), strict=True))


@contextmanager
def _stack_environment(window: tuple[date, date] | None = None) -> Iterator[Path]:
    """Our settings in the environment while dbt starts, as before afterwards; yields the root of
    dbt's target folders.

    dbt's profiles.yml reads RUNWAY_WAREHOUSE: the dbt process must see the same file as we do.
    dagster-dbt reads DBT_TARGET_PATH for the target folders and for the `partial_parse.msgpack`
    that it copies into each of them.
    """
    root = dbt_target_root()
    wanted = {
        **settings.load().env(),
        **window_env(window),
        "DBT_TARGET_PATH": str(root),
    }
    _seed_partial_parse(root)
    with environment(wanted):
        yield root


def _seed_partial_parse(root: Path) -> None:
    """Start a new data dir from the parse state that `make` prepared with the manifest.

    dbt reuses it only if the profile matches (the warehouse path is part of it): true for
    `data/`, so `make run` never parses the whole project; another data dir pays one full parse,
    then `_keep_partial_parse` keeps that state for its next calls.
    """
    mine = root / PARTIAL_PARSE_FILE
    prepared = settings.DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE
    if not mine.exists() and prepared.exists():
        root.mkdir(parents=True, exist_ok=True)
        _replace_atomically(prepared, mine)


def _keep_partial_parse(root: Path, target_path: Path) -> None:
    """Keep the parse state the finished dbt call wrote, for the next call in this data dir, and
    drop all but the newest `KEEP_TARGET_DIRS` target folders."""
    written = target_path / PARTIAL_PARSE_FILE
    if written.exists():
        _replace_atomically(written, root / PARTIAL_PARSE_FILE)
    folders = sorted(
        (path for path in root.iterdir() if path.is_dir()),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in folders[KEEP_TARGET_DIRS:]:
        shutil.rmtree(old, ignore_errors=True)


def _replace_atomically(source: Path, destination: Path) -> None:
    # Another run's dbt may copy the file at any moment: it must never see half of it.
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, partial)
    os.replace(partial, destination)


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
    counted and yielded. If dbt failed, what it built is still reported before the step fails:
    with a retryable error if the cause was the lock or I/O, else with `dg.Failure` that no
    retry policy repeats. Whatever happens, dbt has ended before the step does.
    """
    with _stack_environment(window) as target_root:
        invocation = dbt.cli(["build"], context=context)  # starts the dbt process
    events: list[Any] = []
    failure: Exception | None = None
    try:
        events.extend(invocation.stream())
    except Exception as error:  # dbt build failed: report what it built, then fail the step
        failure = error
    finally:
        # Reading stopped early (an error, an interrupt): dbt would go on holding the lock.
        stop_process(invocation.process)
        _keep_partial_parse(target_root, invocation.target_path)
    counts = _count_rows(warehouse, _relations(invocation.manifest, events), window)
    for event in events:
        if isinstance(event, dg.Output | dg.AssetMaterialization):
            extra = counts.get(event.metadata["unique_id"].value, {})
            event = event.with_metadata({**event.metadata, **extra})
        yield event
    if failure is not None:
        if is_transient_error(failure):
            context.log.warning("dbt failed on the warehouse lock or I/O: the step will retry")
            raise failure
        raise dg.Failure(description=str(failure), allow_retries=False) from failure


@dbt_assets(
    manifest=runway_dbt_project.manifest_path,
    project=runway_dbt_project,
    exclude=f"{DAILY_SELECT} {HISTORY_SELECT} {MONITORING_SELECT}",
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.warehouse_pool("dbt_models"),
    retry_policy=WAREHOUSE_RETRY,
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
    pool=settings.warehouse_pool("dbt_daily_models"),
    retry_policy=WAREHOUSE_RETRY,
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
    select=HISTORY_SELECT,
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.warehouse_pool("dbt_history_models"),
    retry_policy=WAREHOUSE_RETRY,
)
def dbt_history_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """The whole-history marts: views adding up the daily tables (built when missing or changed)."""
    yield from build_with_row_counts(context, dbt, warehouse)


@dbt_assets(
    manifest=runway_dbt_project.manifest_path,
    project=runway_dbt_project,
    select=MONITORING_SELECT,
    # Partitioned like the scoring asset, so that a day's monitoring runs in the same run as its
    # predictions and the snapshot publishes once per day; the model rebuilds its whole table.
    partitions_def=daily_partitions,
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.warehouse_pool("dbt_monitoring_models"),
    retry_policy=WAREHOUSE_RETRY,
)
def dbt_monitoring_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """Model monitoring: the scoring asset's predictions against the flights' outcomes."""
    yield from build_with_row_counts(context, dbt, warehouse)


def _with_raw_day_deps(
    daily: dg.AssetsDefinition, upstream: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    """`daily` with each model depending directly on the raw daily assets that it reads through
    the `upstream` dbt models (the staging and intermediate views).

    Same lineage, drawn one step shorter: a month backfill of the daily assets then runs as one
    run, like `dagster asset materialize --partition-range` (see the module docstring).
    """
    raw_days = {ingest.raw_flights.key, ingest.raw_weather.key}
    specs = {spec.key: spec for spec in upstream.specs}

    def raw_upstream(keys) -> set[dg.AssetKey]:
        found: set[dg.AssetKey] = set()
        for key in keys:
            if key in raw_days:
                found.add(key)
            elif key in specs:
                found |= raw_upstream(dep.asset_key for dep in specs[key].deps)
        return found

    def add_raw(spec: dg.AssetSpec) -> dg.AssetSpec:
        direct = {dep.asset_key for dep in spec.deps}
        extra = sorted(raw_upstream(direct) - direct, key=lambda key: key.path)
        return spec.replace_attributes(deps=[*spec.deps, *extra])

    return dg.map_asset_specs(add_raw, [daily])[0]


dbt_daily_models = _with_raw_day_deps(dbt_daily_models, dbt_models)
transform_assets = [dbt_models, dbt_daily_models, dbt_history_models, dbt_monitoring_models]
