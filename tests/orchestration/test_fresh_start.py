"""The automation on a fresh instance (`make dev` from nothing, or after its bootstrap failed).

`since_last_handled()` clears every trigger on a condition's first evaluation, and
`any_deps_updated` sees only updates made after it: if `landing_zone_sensor`'s load runs finish
before `runway_automation_sensor` first ticks (a slow first tick, or the sensor started later in
the UI), no later update comes, and with plain triggers nothing downstream was ever built (the
views, the days, the whole tables, then no model and no snapshot). The conditions latch
`missing_at_start` for that (orchestration/conditions.py). On an empty warehouse the days wait
for the views they read, which are built with the whole tables in one dbt run; a run that fails
is not requested again at every tick. Evaluated with Dagster's own evaluator on a real instance,
running the requested work for real where the next tick depends on it.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pipeline_base import use_stack
from test_automation_conditions import (
    DAILY,
    HISTORY_VIEWS,
    RANGE_END,
    RANGE_START,
    REFERENCE_MARTS,
    SCORED,
    TRAINING,
    Automation,
    keys,
    load_day,
)

from orchestration import conditions, ml_assets, settings
from orchestration.seed.landing import seed_landing

DAYS = ("2013-01-01", "2013-01-02")
REFERENCE = ("airlines", "airports", "planes")


def _selection(names) -> str:
    return " or ".join(f'key:"{name}"' for name in sorted(names))


def _with_training_after(defs: dg.Definitions, days: int) -> dg.Definitions:
    """The same graph, with a model that retrains after `days` new days of features."""
    model = defs.get_assets_def(ml_assets.MODEL)
    changed = model.map_asset_specs(
        lambda spec: (
            spec.replace_attributes(
                automation_condition=conditions.training_condition(
                    ml_assets.FEATURES, "0 3 * * 1", days
                )
            )
            if spec.key == ml_assets.MODEL
            else spec
        )
    )
    return dg.Definitions(
        assets=[a for a in defs.assets if a is not model] + [changed],
        asset_checks=defs.asset_checks,
        resources=defs.resources,
    )


def test_a_sensor_that_starts_after_the_loads_still_builds_everything_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stack(monkeypatch, tmp_path)
    from orchestration.definitions import defs

    with dg.instance_for_test() as instance:
        automation = Automation(defs, instance)
        # What landing_zone_sensor loads on a fresh instance, before the automation's first tick.
        seed_landing(settings.load().landing_dir, days=len(DAYS), progress=False)
        assert automation.materialize(_selection(f"raw/{name}" for name in REFERENCE)).success
        for day in DAYS:
            load_day(automation, day)

        first = automation.evaluate()

        views = {
            key.to_user_string()
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if key.path[0] in ("staging", "intermediate")
        }
        tables = views | REFERENCE_MARTS
        assert first == {key: {None} for key in tables}, (
            "the first tick builds what is missing and has its upstream data: the views and the "
            "reference marts (one dbt run); the days wait for the views"
        )
        assert automation.evaluate() == {}, "requested once, not at every tick"
        assert automation.materialize(_selection(tables)).success

        assert automation.evaluate() == {key: set(DAYS) for key in DAILY - SCORED}
        built = automation.materialize(
            _selection(DAILY - SCORED), **{RANGE_START: DAYS[0], RANGE_END: DAYS[-1]}
        )
        assert built.success
        # The whole-history views, once the daily tables they add up exist.
        assert automation.evaluate() == {key: {None} for key in HISTORY_VIEWS}
        assert automation.materialize(_selection(HISTORY_VIEWS)).success

        # No model yet: two days of features are not enough for the default (7 days), and
        # scoring, monitoring and the snapshot wait for a model.
        assert automation.evaluate() == {}
        # A training evaluator that first ticks now, when the features are already there (the
        # count was reached before its first tick): it still trains, once.
        after_two = Automation(_with_training_after(defs, len(DAYS)), instance)
        assert keys(after_two.evaluate(), TRAINING) == {key: {None} for key in TRAINING}
        assert not keys(after_two.evaluate(), TRAINING), "requested once"


def test_a_fresh_instance_repeats_a_failed_first_build_only_when_its_upstream_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty data dir whose automation sensor ticks before the first loads (`make dev`
    without its bootstrap run): the views and whole tables are requested once data arrived; their
    run fails, and the automation does not request it again at every tick (the triggers and the
    `missing_at_start` latch are cleared by the request), only once an upstream asset updates;
    the day, latched since the first tick, waits for the views it reads, then is built.

    The failure is real: the warehouse lost `raw.planes` (Dagster still records it loaded), so
    dbt fails on it (`Catalog Error`, as a fresh `make dev` once did) and skips what reads it,
    which stays missing; the rest of the run is built.
    """
    use_stack(monkeypatch, tmp_path)
    from orchestration.definitions import defs

    with dg.instance_for_test() as instance:
        automation = Automation(defs, instance)
        assert automation.evaluate() == {}, "nothing to build before the first delivery"
        current = settings.load()
        seed_landing(current.landing_dir, days=1, progress=False)
        assert automation.materialize(_selection(f"raw/{name}" for name in REFERENCE)).success
        load_day(automation, DAYS[0])
        views = {
            key.to_user_string()
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if key.path[0] in ("staging", "intermediate")
        }
        tables = views | REFERENCE_MARTS
        # The views and the reference marts (one dbt run); the day waits for the views it reads.
        assert automation.evaluate() == {key: {None} for key in tables}

        with duckdb.connect(str(current.warehouse_path)) as con:
            con.execute("drop table raw.planes")
        assert not automation.materialize(_selection(tables)).success
        missing = {
            key
            for key in tables
            if instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key)) is None
        }
        planes_readers = {"staging/stg_nycflights13__planes", "intermediate/int_flights_enriched"}
        assert planes_readers <= missing < tables

        assert automation.evaluate() == {}, "a failed request is not repeated"
        assert automation.evaluate() == {}, "nor at a later tick"

        # An upstream update (the planes snapshot reloaded) requests what is still missing.
        assert automation.materialize('key:"raw/planes"').success
        assert automation.evaluate() == {key: {None} for key in missing}
        assert automation.materialize(_selection(missing)).success
        assert automation.evaluate() == {key: {DAYS[0]} for key in DAILY - SCORED}
