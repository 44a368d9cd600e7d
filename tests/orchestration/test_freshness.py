"""Freshness: the marts, predictions, monitoring and snapshot have checks; stale means failing.

The checks are the code location's own (`freshness.build_freshness_checks`), executed by
Dagster on a test instance. The asset they watch is a stand-in with the real key: what the check
reads is only the instance's record of the latest materialization.
"""

from __future__ import annotations

import time
from datetime import timedelta

import dagster as dg

from orchestration import freshness

FLIGHTS = dg.AssetKey(["marts", "flights"])


def test_the_served_tables_and_the_snapshot_have_error_freshness_checks() -> None:
    from orchestration.definitions import defs

    checked = {
        key.asset_key.to_user_string()
        for checks in freshness.freshness_checks
        for key in checks.check_keys
    }
    assert checked == {
        "marts/flights",
        "marts/daily_carrier_performance",
        "marts/carriers",
        "marts/airports",
        "marts/daily_route_performance",
        "marts/daily_weather_delay_impact",
        "ml/flight_delay_predictions",
        "ml/flight_delay_monitoring",
        "serving/warehouse_snapshot",
    }
    graph = defs.resolve_asset_graph()
    for key in freshness.FRESHNESS_ASSETS:
        assert graph.get(key).is_materializable, key  # a check on a real asset, not a typo
        # Not a view: a view's "last update" is when its SQL was created, not its data.
        assert not graph.get(key).is_virtual, key
    assert freshness.freshness_checks_sensor in defs.sensors


def test_a_stale_asset_fails_its_freshness_check() -> None:
    @dg.asset(key=FLIGHTS)
    def flights() -> None:
        """Stand-in for marts/flights."""

    checks_only = dg.AssetSelection.checks_for_assets(FLIGHTS)
    with dg.instance_for_test() as instance:
        assert dg.materialize([flights], instance=instance).success
        within_an_hour = freshness.build_freshness_checks(timedelta(hours=1))
        fresh = dg.materialize([flights, *within_an_hour], instance=instance, selection=checks_only)
        time.sleep(1.5)
        within_a_second = freshness.build_freshness_checks(timedelta(seconds=1))
        stale = dg.materialize(
            [flights, *within_a_second], instance=instance, selection=checks_only
        )

    (passed,) = fresh.get_asset_check_evaluations()
    assert passed.passed, passed.description
    (failed,) = stale.get_asset_check_evaluations()
    assert failed.asset_key == FLIGHTS
    assert not failed.passed
    assert failed.severity == dg.AssetCheckSeverity.ERROR
    assert "overdue" in failed.description
