"""The code location loads, lineage has no gaps, and loading never parses the dbt project."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration import settings
from orchestration.dbt_project import runway_dbt_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def asset_graph():
    from orchestration.definitions import defs

    dg.Definitions.validate_loadable(defs)
    return defs.resolve_asset_graph()


def _key(path: str) -> dg.AssetKey:
    return dg.AssetKey(path.split("/"))


def test_lineage_runs_raw_to_serving_without_gaps(asset_graph) -> None:
    chain = [
        "raw/flights",
        "staging/stg_nycflights13__flights",
        "marts/flights",
        "serving/warehouse_snapshot",
    ]
    ml_chain = [
        "ml/flight_features",
        "ml/flight_delay_model",
        "ml/flight_delay_predictions",
        "serving/warehouse_snapshot",
    ]
    for path in (chain, ml_chain):
        for upstream, downstream in zip(path, path[1:], strict=False):
            ancestors = _ancestors(asset_graph, _key(downstream))
            assert _key(upstream) in ancestors, f"{upstream} is not upstream of {downstream}"
    # Every dbt source is one of our ingest assets: no dangling external raw asset.
    for key in asset_graph.get_all_asset_keys():
        if key.path[0] == "raw":
            assert asset_graph.get(key).is_materializable, f"{key} is not an ingest asset"


def _ancestors(asset_graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    todo = [key]
    while todo:
        for parent in asset_graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_keys_mirror_warehouse_and_groups_mirror_layers(asset_graph) -> None:
    for key in asset_graph.get_all_asset_keys():
        node = asset_graph.get(key)
        if not node.is_materializable:
            continue
        assert len(key.path) == 2, key
        assert node.group_name == key.path[0], f"{key} is in group {node.group_name}"
    keys = {key.to_user_string() for key in asset_graph.get_all_asset_keys()}
    for expected in (
        "raw/flights",
        "raw/weather",
        "raw/airlines",
        "raw/airports",
        "raw/planes",
        "marts/daily_carrier_performance",
        "ml/flight_delay_model",
        "ml/flight_delay_predictions",
        "serving/warehouse_snapshot",
    ):
        assert expected in keys


def test_every_warehouse_writer_is_in_the_warehouse_pool() -> None:
    from orchestration.definitions import defs

    for assets_def in defs.assets:
        for spec_pool in {node.pool for node in assets_def.node_def.iterate_node_defs()}:
            assert spec_pool == settings.WAREHOUSE_POOL, assets_def.keys


def test_loading_never_parses_dbt() -> None:
    """Even with dagster's dev-CLI flag set (what `dagster dev` sets), the manifest is reused."""
    manifest = runway_dbt_project.manifest_path
    assert manifest.exists(), "run `make install` to prepare the manifest"
    before = manifest.stat().st_mtime_ns
    env = {**os.environ, "DAGSTER_IS_DEV_CLI": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "orchestration.definitions",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert manifest.stat().st_mtime_ns == before
    assert "Running dbt command" not in result.stdout + result.stderr


# Libraries the steps need when they run, never the code location when it loads (issue #8).
HEAVY_AT_RUN_TIME = (
    "polars",
    "pyarrow",
    "numpy",
    "pandas",
    "sklearn",
    "mlflow",
    "streamlit",
    "tqdm",
)


def test_loading_imports_no_data_or_ml_library() -> None:
    """A fresh interpreter that loads the definitions has imported none of those libraries."""
    probe = (
        "import sys\n"
        "from orchestration.definitions import defs\n"
        "assert defs.resolve_asset_graph().get_all_asset_keys()\n"
        f"print(','.join(m for m in {HEAVY_AT_RUN_TIME!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    loaded = lines[-1].split(",") if lines and lines[-1] else []
    assert loaded == [], f"imported at definitions load: {loaded}"


def test_every_sensor_and_schedule_runs_by_default_the_feed_in_demo_mode() -> None:
    """On a fresh instance (make dev) nothing has to be switched on in the UI: every sensor and
    schedule starts running, the demo feed only when RUNWAY_DEMO_FEED=1 (issue #7, point 2).
    Dagster's own automation-condition sensor, which starts stopped, is replaced by Runway's."""
    from orchestration.definitions import defs

    sensors = {sensor.name: sensor for sensor in defs.sensors}
    assert "runway_automation_sensor" in sensors
    assert "default_automation_condition_sensor" not in sensors
    assert {
        name
        for name, sensor in sensors.items()
        if sensor.default_status != dg.DefaultSensorStatus.RUNNING
    } == set()
    schedules = {schedule.name: schedule for schedule in defs.schedules}
    assert "reference_tables_schedule" in schedules
    demo = settings.load().demo_feed
    for name, schedule in schedules.items():
        running = schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert running == (demo if name == "live_feed_schedule" else True), name
