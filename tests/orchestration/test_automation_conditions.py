"""The automation conditions, evaluated with Dagster's own evaluator on a real instance.

Each test starts from a copy of a stack whose first three days went through the whole graph
(`pipeline_base`), changes it the way the pipeline would (a day delivered and loaded by the real
ingest asset, a day redelivered, a bad file, a reference refresh, a day's tables rebuilt by the
real dbt and scoring assets), and asks `dg.evaluate_automation_conditions` what would run next,
passing the cursor from one evaluation to the next as the automation sensor does. The first
evaluation of each test is made before the change: the sensor was already running.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pipeline_base import clone, use_stack

from orchestration import conditions, ml_assets, settings
from orchestration.seed.landing import seed_landing

DAILY = {
    "marts/flights",
    "marts/daily_carrier_performance",
    "marts/daily_route_performance",
    "marts/daily_weather_delay_impact",
    "ml/flight_features",
    "ml/flight_delay_predictions",
    "ml/flight_delay_monitoring",
}
# Also used by test_fresh_start.py (a fresh instance).
SCORED = {"ml/flight_delay_predictions", "ml/flight_delay_monitoring"}
# Whole-history marts: views over daily tables (issue #17), never rebuilt for a day of data.
HISTORY_VIEWS = {"marts/routes", "marts/weather_delay_impact"}
SNAPSHOT = "serving/warehouse_snapshot"
REFERENCE_MARTS = {"marts/carriers", "marts/airports"}
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
TRAINING = {
    "ml/flight_delay_model",
    "ml/model_metrics",
    "ml/model_calibration",
    "ml/feature_importance",
}


@pytest.fixture
def stack(pipeline_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = clone(pipeline_base, tmp_path / "stack")
    use_stack(monkeypatch, root)
    yield root


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


class Automation:
    """The automation sensor's loop, one evaluation at a time, on one instance."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs = defs
        self.instance = instance
        self.cursor = None

    def evaluate(self) -> dict[str, set[str | None]]:
        """{asset key: requested partition keys (None when unpartitioned)} of one evaluation."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        requested = {}
        for key in self.defs.resolve_asset_graph().get_all_asset_keys():
            partitions = result.get_requested_partitions(key)
            if partitions:
                requested[key.to_user_string()] = set(partitions)
        return requested

    def materialize(self, selection: str, partition: str | None = None, **tags: str):
        """A real run of `selection` (a partition, or a range given as tags)."""
        return dg.materialize(
            assets=[*self.defs.assets, *self.defs.asset_checks],
            resources=self.defs.resources,
            selection=selection,
            partition_key=partition,
            tags=tags or None,
            instance=self.instance,
            raise_on_error=False,
        )


def deliver(day: date) -> None:
    seed_landing(settings.load().landing_dir, start=day, end=day, progress=False)


def load_day(automation: Automation, day: str, entities=("flights", "weather")) -> None:
    selection = " or ".join(f'key:"raw/{entity}"' for entity in entities)
    assert automation.materialize(selection, day).success


def keys(requested: dict, of: set[str]) -> dict:
    return {key: value for key, value in requested.items() if key in of}


@pytest.fixture
def automation(stack: Path, defs: dg.Definitions) -> Iterator[Automation]:
    with dg.DagsterInstance.get() as instance:
        automation = Automation(defs, instance)
        assert automation.evaluate() == {}, "the base stack is up to date: nothing to do"
        yield automation


def test_a_new_day_flows_to_its_tables_and_the_snapshot_once(automation: Automation) -> None:
    deliver(date(2013, 1, 4))
    load_day(automation, "2013-01-04")

    requested = automation.evaluate()

    # The day's tables, one run; views (the whole-history marts too), reference marts and the
    # model are not rebuilt for a day of data. The snapshot waits for that run.
    assert requested == {key: {"2013-01-04"} for key in DAILY}

    # The run, for real (what the daemon launches), then the next ticks.
    daily = " or ".join(f'key:"{key}"' for key in sorted(DAILY))
    assert automation.materialize(daily, "2013-01-04").success

    assert automation.evaluate() == {SNAPSHOT: {None}}, "published once, after the day's run"
    assert automation.evaluate() == {}, "the same change is never requested twice"


def test_a_redelivered_older_day_is_propagated(automation: Automation) -> None:
    # The latest day is 2013-01-03; the upstream redelivers 2013-01-02 (plain eager() would not
    # look at it: it is not in the latest time window).
    load_day(automation, "2013-01-02", entities=("flights",))

    requested = automation.evaluate()

    assert keys(requested, DAILY) == {key: {"2013-01-02"} for key in DAILY}
    assert SNAPSHOT not in requested  # it follows once the day is rebuilt


def test_a_failed_day_does_not_stop_later_days(automation: Automation) -> None:
    landing = settings.load().landing_dir
    deliver(date(2013, 1, 4))
    (landing / "flights" / "2013-01-04.csv").write_text("not,the,header\n1,2,3\n")
    deliver(date(2013, 1, 5))
    failed = automation.materialize('key:"raw/flights"', "2013-01-04")
    assert not failed.success  # the bad file is quarantined and the run fails
    assert automation.evaluate() == {}, "nothing downstream of a failed load"

    load_day(automation, "2013-01-05")
    requested = automation.evaluate()

    assert keys(requested, DAILY) == {key: {"2013-01-05"} for key in DAILY}


def test_a_reference_refresh_rebuilds_the_reference_marts_not_every_day(
    automation: Automation,
) -> None:
    assert automation.materialize('key:"raw/airlines" or key:"raw/planes"').success

    requested = automation.evaluate()

    # Carriers read airlines; the daily tables keep the days they were built with (no rebuild
    # of the year); routes and the weather impact are views, read as they are now.
    assert requested == {"marts/carriers": {None}}


def test_training_waits_for_enough_new_days(automation: Automation, defs) -> None:
    # Two evaluators on the same instance: the defaults (retrain after 7 new days) and a copy
    # of the graph whose model retrains after 3.
    model = defs.get_assets_def(ml_assets.MODEL)
    after_three = model.map_asset_specs(
        lambda spec: (
            spec.replace_attributes(
                automation_condition=conditions.training_condition(
                    ml_assets.FEATURES, "0 3 * * 1", 3
                )
            )
            if spec.key == ml_assets.MODEL
            else spec
        )
    )
    three = Automation(
        dg.Definitions(
            assets=[a for a in defs.assets if a is not model] + [after_three],
            asset_checks=defs.asset_checks,
            resources=defs.resources,
        ),
        automation.instance,
    )
    assert three.evaluate() == {}
    counter = conditions.NewPartitionsSinceLastRun(ml_assets.FEATURES, 10)
    assert counter.count(automation.instance, ml_assets.MODEL) == 0

    # A new day, 2013-01-04, and two older days rebuilt with it by the real dbt build, in one
    # run over 2013-01-02...2013-01-04: three days of features updated since the training.
    deliver(date(2013, 1, 4))
    load_day(automation, "2013-01-04")
    rebuilt = automation.materialize(
        'key:"marts/flights" or key:"marts/daily_carrier_performance" or key:"ml/flight_features"',
        **{RANGE_START: "2013-01-02", RANGE_END: "2013-01-04"},
    )
    assert rebuilt.success
    assert counter.count(automation.instance, ml_assets.MODEL) == 3

    assert not keys(automation.evaluate(), TRAINING), "the default waits for 7 days"
    requested = three.evaluate()
    # The training step is one multi-asset: its tables are requested with the model.
    assert keys(requested, TRAINING) == {key: {None} for key in TRAINING}
    assert not keys(three.evaluate(), TRAINING), "requested once, not at every tick"
