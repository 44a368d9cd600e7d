"""Freshness checks: each mart (its daily tables for the two whole-history views), the
predictions, the monitoring mart and the serving snapshot must have been updated in the last
`RUNWAY_FRESHNESS_MINUTES` (default 26 h: one daily delivery plus two hours); a stale asset shows a
failing (ERROR) check in the UI and in `meta.asset_status`. Evaluated by `freshness_checks_sensor`
(every `RUNWAY_AUTOMATION_INTERVAL_SECONDS`) and with every run of their assets."""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from orchestration import settings

_current = settings.load()

# Views are as fresh as the tables they read: their own "last update" is when their SQL was last
# created, so the daily tables under `routes` and `weather_delay_impact` are checked instead.
_MART_VIEWS = {("marts", "routes"), ("marts", "weather_delay_impact")}
FRESHNESS_ASSETS = [
    *(
        dg.AssetKey([schema, table])
        for schema, table in settings.SERVING_TABLES
        if schema == "marts" and (schema, table) not in _MART_VIEWS
    ),
    dg.AssetKey(["marts", "daily_route_performance"]),
    dg.AssetKey(["marts", "daily_weather_delay_impact"]),
    dg.AssetKey(["ml", "flight_delay_predictions"]),
    dg.AssetKey(["ml", "flight_delay_monitoring"]),
    dg.AssetKey(["serving", "warehouse_snapshot"]),
]


def build_freshness_checks(window: timedelta) -> Sequence[dg.AssetChecksDefinition]:
    """One check per FRESHNESS_ASSETS key: fails (ERROR) if not updated within `window`.

    Freshness *checks* rather than the newer `FreshnessPolicy`: a stale asset then shows as a
    failing check, in the UI and in the snapshot's `meta.asset_status` (Pipeline health page).
    """
    return dg.build_last_update_freshness_checks(
        assets=FRESHNESS_ASSETS,
        lower_bound_delta=window,
        severity=dg.AssetCheckSeverity.ERROR,
    )


freshness_checks = build_freshness_checks(timedelta(minutes=_current.freshness_minutes))
freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks,
    name="freshness_checks_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=_current.automation_interval_seconds,
)
