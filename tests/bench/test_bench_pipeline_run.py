"""The benchmark's backfill run selects what Dagster's asset backfill of a range of days runs."""

from bench.pipeline_run import backfill_selection

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


def test_the_backfill_selects_exactly_the_daily_assets_and_their_checks() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    selection = backfill_selection()
    assert {key.to_user_string() for key in selection.resolve(graph)} == DAILY_ASSETS
    checks = {(c.asset_key.to_user_string(), c.name) for c in selection.resolve_checks(graph)}
    assert {("raw/flights", "rows_reconcile"), ("raw/weather", "rows_reconcile")} <= checks
