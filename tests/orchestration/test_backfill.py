"""A backfill of a month of the daily assets is one run over the whole month (issue #7, point 8).

The backfill is launched the way the UI launches it: the webserver's GraphQL mutation
`launchPartitionBackfill` with the assets and the 31 partition keys of January, on the real code
location (`orchestration.definitions`, loaded in this process). Then the backfill daemon's own
iteration (`execute_backfill_iteration`) plans and submits the runs. The instance queues runs
(`QueuedRunCoordinator`) instead of executing them: what is checked is the plan, i.e. how many
runs, over which partitions, with which assets. Executing a range in one run is tested per asset
elsewhere (tests/orchestration/test_ingest_assets.py, tests/dbt/test_transform_assets.py,
tests/orchestration/test_ml_assets.py) and end to end in tests/test_end_to_end.py.
"""

import logging
import os
from datetime import date, timedelta

import dagster as dg
import pytest

from orchestration import settings

JANUARY = [(date(2013, 1, 1) + timedelta(days=i)).isoformat() for i in range(31)]
DAILY_ASSETS = {
    "raw/flights",
    "raw/weather",
    "marts/flights",
    "marts/daily_carrier_performance",
    "marts/daily_route_performance",
    "marts/daily_weather_delay_impact",
    "ml/flight_features",
    "ml/flight_delay_predictions",
    "ml/flight_delay_monitoring",
}


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


def test_every_daily_asset_backfills_in_a_single_run(defs: dg.Definitions) -> None:
    """The daily assets are exactly the list above, and each runs a range in one run."""
    graph = defs.resolve_asset_graph()
    partitioned = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).partitions_def is not None
    }
    assert partitioned == DAILY_ASSETS
    for key in partitioned:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key


def test_a_month_backfill_from_the_ui_is_one_run(
    defs: dg.Definitions, tmp_path, monkeypatch
) -> None:
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.client.query import LAUNCH_PARTITION_BACKFILL_MUTATION
    from dagster_graphql.test.utils import execute_dagster_graphql

    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            module_name="orchestration.definitions",
            attribute="defs",
            working_directory=str(settings.REPO_ROOT),
        ),
        location_name="runway",
    )
    queued = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    with (
        dg.instance_for_test(overrides={"run_coordinator": queued}) as instance,
        create_test_daemon_workspace_context(
            InProcessWorkspaceLoadTarget(origin), instance
        ) as workspace,
    ):
        launched = execute_dagster_graphql(
            workspace.create_request_context(),
            LAUNCH_PARTITION_BACKFILL_MUTATION,
            {
                "backfillParams": {
                    "partitionNames": JANUARY,
                    "assetSelection": [{"path": key.split("/")} for key in sorted(DAILY_ASSETS)],
                }
            },
        )
        assert launched.errors is None, launched.errors
        result = launched.data["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        backfill_id = result["backfillId"]
        # Three daemon ticks: a plan that left assets for later would submit them by then
        # (nothing executes, so a later tick can only add runs, never finish the backfill).
        for _ in range(3):
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))

        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 1, [sorted(map(str, run.asset_selection or [])) for run in runs]
        (run,) = runs
        assert {key.to_user_string() for key in run.asset_selection} == DAILY_ASSETS
        assert run.tags["dagster/asset_partition_range_start"] == JANUARY[0]
        assert run.tags["dagster/asset_partition_range_end"] == JANUARY[-1]
        # The raw assets' reconciliation checks run in the same run.
        checks = {(c.asset_key.to_user_string(), c.name) for c in run.asset_check_selection}
        assert {("raw/flights", "rows_reconcile"), ("raw/weather", "rows_reconcile")} <= checks
    assert os.environ["RUNWAY_DATA_DIR"] == str(tmp_path / "data")
