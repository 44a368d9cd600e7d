"""Run the Streamlit app with AppTest against the fixture snapshot and check what it shows.

Expected figures are computed here with pandas from the fixture frames, independently of the
app's SQL. Filters are set through the sidebar widgets, as a user would.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from app_helpers import (
    PAGES,
    as_count,
    as_minutes,
    as_share,
    chart_frames,
    deck_layers,
    departed,
    metrics,
    on_time_share,
    rerun,
    run_app,
    set_filters,
    texts,
)
from snapshot_fixture import (
    CHAMPION_VERSION,
    FAILING_ASSET,
    FAILING_CHECKS,
    FIRST_DAY,
    WEATHER_BUCKETS,
    legacy,
)

from dashboards import data

# --------------------------------------------------------------------------------------------
# Overview


def test_app_opens_on_overview_with_kpis_from_the_snapshot(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    at = run_app()

    assert texts(at.title) == ["Overview"]
    shown = metrics(at)
    assert as_count(shown["Flights"]) == len(flights)
    assert as_count(shown["Cancellations"]) == int(flights["is_cancelled"].sum())
    assert as_share(shown["On-time departures"]) == pytest.approx(on_time_share(flights), abs=5e-4)
    assert as_minutes(shown["Avg departure delay"]) == pytest.approx(
        departed(flights)["dep_delay_minutes"].mean(), abs=0.05
    )
    assert shown["Data as of"] == max(flights["flight_date"]).isoformat()
    # What the pages read, dated (this check also runs on the lake: tests/lake).
    source = "Lake commit" if data.reads_lake() else "Snapshot published"
    assert source in at.sidebar.caption[0].value
    # The sidebar filters start at "everything".
    assert at.date_input(key="filter_dates").value == (
        min(flights["flight_date"]),
        max(flights["flight_date"]),
    )
    assert at.multiselect(key="filter_carriers").value == []
    assert at.multiselect(key="filter_origins").value == []


def test_overview_daily_trend_charts_match_the_snapshot(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    at = run_app("views/overview.py")

    charts = chart_frames(at)
    assert len(charts) == 4  # flights, on-time share, delay, cancellations
    per_day = flights.groupby("flight_date")
    daily = charts[0].assign(flight_date=lambda d: pd.to_datetime(d["flight_date"]).dt.date)
    assert (
        dict(zip(daily["flight_date"], daily["flights"], strict=True)) == per_day.size().to_dict()
    )
    on_time = {day: on_time_share(group) for day, group in per_day}
    assert charts[1]["on_time_share"].tolist() == pytest.approx(
        [on_time[day] for day in sorted(on_time)]
    )


def test_overview_filters_change_the_numbers(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    start, end = FIRST_DAY + timedelta(days=1), FIRST_DAY + timedelta(days=2)
    at = run_app()
    before = metrics(at)

    set_filters(at, dates=(start, end), carriers=["B6", "UA"], origins=["JFK"])
    expected = flights[
        flights["flight_date"].between(start, end)
        & flights["carrier_code"].isin(["B6", "UA"])
        & (flights["origin_airport_code"] == "JFK")
    ]
    assert 0 < len(expected) < len(flights)
    shown = metrics(at)
    assert shown != before
    assert as_count(shown["Flights"]) == len(expected)
    assert as_count(shown["Cancellations"]) == int(expected["is_cancelled"].sum())
    assert as_share(shown["On-time departures"]) == pytest.approx(on_time_share(expected), abs=5e-4)
    assert shown["Data as of"] == end.isoformat()
    (daily, *_) = chart_frames(at)
    assert daily["flights"].tolist() == expected.groupby("flight_date").size().tolist()
    assert "carriers B6, UA" in at.caption[0].value

    # A filter nothing matches says so instead of showing zeros.
    set_filters(at, dates=(FIRST_DAY, FIRST_DAY), carriers=["B6"], origins=["EWR", "JFK", "LGA"])
    expected = flights[(flights["flight_date"] == FIRST_DAY) & (flights["carrier_code"] == "B6")]
    assert as_count(metrics(at)["Flights"]) == len(expected)


# --------------------------------------------------------------------------------------------
# Carriers


def test_carriers_league_table_and_trends(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    carriers = dict(frames[("marts", "carriers")].itertuples(index=False))
    at = run_app("views/carriers.py")

    assert texts(at.title) == ["Carriers"]
    league = at.dataframe[0].value
    expected = {
        code: {
            "flights": len(group),
            "cancelled_flights": int(group["is_cancelled"].sum()),
            "on_time_share": on_time_share(group),
            "avg_dep_delay_minutes": departed(group)["dep_delay_minutes"].mean(),
        }
        for code, group in flights.groupby("carrier_code")
    }
    ranked = sorted(expected, key=lambda code: (-expected[code]["on_time_share"], code))
    assert league["carrier_code"].tolist() == ranked
    assert league["league_rank"].tolist() == list(range(1, len(carriers) + 1))
    for row in league.itertuples():
        want = expected[row.carrier_code]
        assert row.carrier_name == carriers[row.carrier_code]
        assert row.flights == want["flights"]
        assert row.cancelled_flights == want["cancelled_flights"]
        assert row.on_time_share == pytest.approx(want["on_time_share"])
        assert row.avg_dep_delay_minutes == pytest.approx(want["avg_dep_delay_minutes"])

    # Trends: the grain follows the date range by default ("Auto"), per day over the fixture's
    # few days; every carrier selected (fewer than 5).
    assert at.segmented_control(key="carriers_trend_period").value == "auto"
    on_time, delay = chart_frames(at)
    per_day = flights.groupby(["flight_date", "carrier_code"])
    assert len(on_time) == len(delay) == per_day.ngroups
    got = on_time.assign(day=pd.to_datetime(on_time["period_start"]).dt.date)
    for (day, code), group in per_day:
        row = got[(got["day"] == day) & (got["carrier_name"] == carriers[code])]
        assert row["on_time_share"].item() == pytest.approx(on_time_share(group))

    # Per week, chosen (weeks start on Monday).
    at.segmented_control(key="carriers_trend_period").set_value("week")
    rerun(at)
    on_time, delay = chart_frames(at)
    week = pd.to_datetime(flights["flight_date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    per_week = flights.assign(week=week).groupby(["week", "carrier_code"])
    assert len(on_time) == per_week.ngroups
    got = on_time.assign(week=pd.to_datetime(on_time["period_start"]).dt.date)
    for (week_start, code), group in per_week:
        row = got[(got["week"] == week_start) & (got["carrier_name"] == carriers[code])]
        assert row["on_time_share"].item() == pytest.approx(on_time_share(group))
    assert len(delay) == per_week.ngroups

    # Per day, one carrier: the chart follows.
    at.segmented_control(key="carriers_trend_period").set_value("day")
    at.multiselect(key="carriers_trend_selection").set_value(["B6"])
    rerun(at)
    on_time, _ = chart_frames(at)
    b6 = flights[flights["carrier_code"] == "B6"]
    assert set(on_time["carrier_name"]) == {carriers["B6"]}
    assert on_time["on_time_share"].tolist() == pytest.approx(
        [on_time_share(group) for _, group in b6.groupby("flight_date")]
    )


def test_carriers_filters_change_the_league(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    at = run_app("views/carriers.py")
    set_filters(at, dates=(FIRST_DAY, FIRST_DAY), origins=["LGA", "EWR"])

    expected = flights[
        (flights["flight_date"] == FIRST_DAY) & flights["origin_airport_code"].isin(["LGA", "EWR"])
    ]
    league = at.dataframe[0].value.set_index("carrier_code")
    assert league["flights"].to_dict() == expected.groupby("carrier_code").size().to_dict()
    for code, group in expected.groupby("carrier_code"):
        assert league.loc[code, "on_time_share"] == pytest.approx(on_time_share(group))

    # Filtering carriers in the sidebar narrows the league and the trend choice.
    set_filters(at, carriers=["EV"])
    assert at.dataframe[0].value["carrier_code"].tolist() == ["EV"]
    assert at.multiselect(key="carriers_trend_selection").value == ["EV"]


# --------------------------------------------------------------------------------------------
# Airports & routes


def expected_routes(flights: pd.DataFrame) -> dict[tuple[str, str], dict]:
    out = {}
    for route, group in flights.groupby(["origin_airport_code", "dest_airport_code"]):
        out[route] = {"flights": len(group), "on_time_share": on_time_share(group)}
    return out


def test_airports_and_routes_map_and_worst_routes(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    airports = frames[("marts", "airports")].set_index("airport_code")
    at = run_app("views/airports_routes.py")

    assert texts(at.title) == ["Airports & routes"]
    shown = metrics(at)
    for origin, group in flights.groupby("origin_airport_code"):
        assert as_share(shown[f"{origin} on time"]) == pytest.approx(on_time_share(group), abs=5e-4)

    routes = expected_routes(flights)
    layers = deck_layers(at)
    mapped = {
        (arc["origin_airport_code"], arc["dest_airport_code"]): arc for arc in layers["routes"]
    }
    # Every route to a known airport is an arc from the origin's to the destination's coordinates.
    assert set(mapped) == {route for route in routes if route[1] in airports.index}
    for (origin, dest), arc in mapped.items():
        assert arc["flights"] == routes[(origin, dest)]["flights"]
        assert arc["on_time_share"] == pytest.approx(routes[(origin, dest)]["on_time_share"])
        assert arc["source"] == [
            airports.loc[origin, "longitude"],
            airports.loc[origin, "latitude"],
        ]
        assert arc["target"] == [airports.loc[dest, "longitude"], airports.loc[dest, "latitude"]]
    # SJU has no coordinates: its routes are named instead of drawn.
    assert any("EWR→SJU" in c.value for c in at.caption)

    # Worst routes: lowest on-time share first, among routes with at least the median flights.
    minimum = at.number_input[0].value
    assert minimum == int(pd.Series([r["flights"] for r in routes.values()]).median())
    worst = at.dataframe[0].value
    eligible = sorted(
        (route for route, r in routes.items() if r["flights"] >= minimum),
        key=lambda route: routes[route]["on_time_share"],
    )
    got = list(zip(worst["origin_airport_code"], worst["dest_airport_code"], strict=True))
    assert got == eligible[:15]


def test_airports_and_routes_filter_by_origin_and_carrier(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    at = run_app("views/airports_routes.py")
    set_filters(at, origins=["JFK"], carriers=["AA"])

    expected = flights[
        (flights["origin_airport_code"] == "JFK") & (flights["carrier_code"] == "AA")
    ]
    assert [m.label for m in at.metric] == ["JFK on time"]
    assert as_share(at.metric[0].value) == pytest.approx(on_time_share(expected), abs=5e-4)
    arcs = deck_layers(at)["routes"]
    assert {arc["origin_airport_code"] for arc in arcs} == {"JFK"}
    by_dest = expected[expected["dest_airport_code"] != "SJU"].groupby("dest_airport_code").size()
    assert {arc["dest_airport_code"]: arc["flights"] for arc in arcs} == by_dest.to_dict()


# --------------------------------------------------------------------------------------------
# Weather


def test_weather_page_shows_delay_by_weather_bucket(shared_snapshot, frames):
    impact = frames[("marts", "weather_delay_impact")]
    at = run_app("views/weather.py")

    assert texts(at.title) == ["Weather"]
    assert [s.value for s in at.main.subheader] == ["Visibility", "Wind speed", "Precipitation"]
    charts = chart_frames(at)
    tables = [t.value for t in at.dataframe]
    assert len(charts) == len(tables) == 3
    for factor, chart, table in zip(WEATHER_BUCKETS, charts, tables, strict=True):
        rows = impact[impact["weather_factor"] == factor].sort_values("bucket_order")
        # In bucket order (best weather first), whatever order the table is stored in.
        assert table["bucket_label"].tolist() == WEATHER_BUCKETS[factor]
        assert table["delayed_15_share"].tolist() == pytest.approx(
            rows["delayed_15_share"].tolist()
        )
        assert table["flights"].tolist() == rows["flights"].tolist()
        assert sorted(chart["delayed_15_share"]) == pytest.approx(sorted(rows["delayed_15_share"]))
    worst_visibility = impact[
        (impact["weather_factor"] == "visibility") & (impact["bucket_label"] == "< 1 mi")
    ]
    assert as_share(metrics(at)["Visibility: < 1 mi"]) == pytest.approx(
        worst_visibility["delayed_15_share"].item(), abs=5e-4
    )


# --------------------------------------------------------------------------------------------
# Delay model


def latest_trained_metrics(model_metrics: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(version, metric x model table) of the most recently trained version."""
    version = model_metrics.sort_values("trained_at")["model_version"].iloc[-1]
    rows = model_metrics[model_metrics["model_version"] == version]
    return version, rows.pivot(index="metric", columns="model", values="value")


def predicted_vs_actual(flights: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    latest = predictions.sort_values("scored_at").drop_duplicates("flight_id", keep="last")
    labelled = latest.merge(departed(flights), on=["flight_id", "flight_date"])
    return labelled.groupby("flight_date").agg(
        predicted=("predicted_delay_probability", "mean"),
        actual=("is_departure_delayed_15", "mean"),
    )


def test_delay_model_page_shows_champion_metrics_calibration_importance(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    predictions = frames[("ml", "flight_delay_predictions")]
    champion_version = predictions.sort_values("scored_at")["model_version"].iloc[-1]
    trained_version, expected = latest_trained_metrics(frames[("ml", "model_metrics")])
    assert champion_version == trained_version == CHAMPION_VERSION
    at = run_app("views/delay_model.py")

    assert texts(at.title) == ["Delay model"]
    shown = metrics(at)
    assert shown["Champion model version"] == champion_version
    assert shown["Latest trained version"] == trained_version
    assert as_count(shown["Flights scored"]) == int(
        (predictions["model_version"] == champion_version).sum()
    )
    assert not at.warning

    table = at.dataframe[0].value.set_index("metric")
    assert list(table.index) == ["roc_auc", "pr_auc", "log_loss", "brier"]
    for model in ["candidate", "base_rate", "logistic_regression"]:
        assert table[model].to_dict() == pytest.approx(expected[model].to_dict())

    bars, calibration, importance, daily, monitoring = chart_frames(at)
    assert len(bars) == expected.size
    want_calibration = frames[("ml", "model_calibration")].query(
        "model_version == @champion_version"
    )
    assert calibration["observed_rate"].tolist() == pytest.approx(
        want_calibration.sort_values("bin")["observed_rate"].tolist()
    )
    want_importance = frames[("ml", "feature_importance")].query(
        "model_version == @champion_version"
    )
    assert dict(zip(importance["feature"], importance["importance_mean"], strict=True)) == (
        pytest.approx(
            dict(zip(want_importance["feature"], want_importance["importance_mean"], strict=True))
        )
    )

    want = predicted_vs_actual(flights, predictions)
    predicted = daily[daily["series"] == "Predicted"].sort_values("flight_date")
    actual = daily[daily["series"] == "Actual"].sort_values("flight_date")
    assert predicted["value"].tolist() == pytest.approx(want["predicted"].tolist())
    assert actual["value"].tolist() == pytest.approx(want["actual"].tolist())

    want_monitoring = frames[("ml", "flight_delay_monitoring")].dropna(subset=["roc_auc"])
    assert sorted(monitoring["roc_auc"]) == pytest.approx(sorted(want_monitoring["roc_auc"]))

    # No MLflow store in this environment: the form is replaced by what to run.
    assert any("No MLflow model registry" in text and "make run" in text for text in texts(at.info))


def test_delay_model_predictions_follow_the_filters(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    predictions = frames[("ml", "flight_delay_predictions")]
    at = run_app("views/delay_model.py")
    start, end = FIRST_DAY, FIRST_DAY + timedelta(days=1)
    set_filters(at, dates=(start, end), carriers=["UA"])

    selected = flights[
        flights["flight_date"].between(start, end) & (flights["carrier_code"] == "UA")
    ]
    want = predicted_vs_actual(selected, predictions)
    daily = chart_frames(at)[3]
    predicted = daily[daily["series"] == "Predicted"].sort_values("flight_date")
    assert predicted["value"].tolist() == pytest.approx(want["predicted"].tolist())
    monitoring = chart_frames(at)[4]
    assert set(pd.to_datetime(monitoring["flight_date"]).dt.date) <= {start, end}


def test_delay_model_page_when_latest_training_did_not_become_champion(publish_snapshot, frames):
    """Predictions come from an older champion; ml.model_metrics has the newer candidate."""
    predictions = frames[("ml", "flight_delay_predictions")]
    trained_version, expected = latest_trained_metrics(frames[("ml", "model_metrics")])
    older = predictions[predictions["model_version"] != trained_version]
    assert len(older) > 0
    publish_snapshot({**frames, ("ml", "flight_delay_predictions"): older})
    at = run_app("views/delay_model.py")

    shown = metrics(at)
    assert shown["Champion model version"] == older["model_version"].iloc[0]
    assert shown["Latest trained version"] == trained_version
    assert any("did not replace champion" in w.value for w in at.warning)
    table = at.dataframe[0].value.set_index("metric")
    assert table["candidate"].to_dict() == pytest.approx(expected["candidate"].to_dict())
    # Calibration is the champion's, not the latest trained version's.
    assert any(f"Model v{older['model_version'].iloc[0]} on its" in c.value for c in at.caption)


def test_page_without_trained_model_says_so(publish_snapshot, frames):
    empty = {key: frames[key].iloc[0:0] for key in frames if key[0] == "ml"}
    publish_snapshot({**frames, **empty})
    at = run_app("views/delay_model.py")
    assert any("No trained model" in i.value for i in at.info)


# --------------------------------------------------------------------------------------------
# Pipeline health


def test_pipeline_health_shows_assets_checks_rejects_and_quarantine(shared_snapshot, frames):
    status = frames[("meta", "asset_status")]
    audit = frames[("raw", "load_audit")]
    rejected = frames[("raw", "rejected_rows")]
    quarantined = frames[("raw", "quarantined_files")]
    at = run_app("views/pipeline_health.py")

    assert texts(at.title) == ["Pipeline health"]
    shown = metrics(at)
    assert as_count(shown["Assets"]) == len(status)
    assert as_count(shown["Failing checks"]) == int(status["failed_checks"].sum())
    assert as_count(shown["Rejected rows"]) == len(rejected) == int(audit["rows_rejected"].sum())
    assert as_count(shown["Quarantined files"]) == len(quarantined)
    (error,) = at.error
    assert FAILING_ASSET in error.value and FAILING_CHECKS in error.value

    assets, ingest, rejects, quarantine, _failed_runs = (t.value for t in at.dataframe)
    assert assets["asset_key"].iloc[0] == FAILING_ASSET  # failing first
    shown_counts = assets.set_index("asset_key")["row_count"].astype("Int64").fillna(-1)
    want_counts = status.set_index("asset_key")["row_count"].astype("Int64").fillna(-1)
    assert shown_counts.to_dict() == want_counts.to_dict()
    per_entity = audit.groupby("entity")
    assert ingest.set_index("entity")["rows_loaded"].to_dict() == (
        per_entity["rows_loaded"].sum().to_dict()
    )
    assert ingest.set_index("entity")["files"].to_dict() == per_entity.size().to_dict()
    assert sorted(zip(rejects["source_file"], rejects["line"], strict=True)) == sorted(
        zip(rejected["source_file"], rejected["line"], strict=True)
    )
    assert quarantine["source_file"].tolist() == quarantined["source_file"].tolist()


# --------------------------------------------------------------------------------------------
# Empty states


@pytest.mark.parametrize("page", [None, *PAGES])
def test_missing_snapshot_shows_make_run_hint(runway_env, page):
    at = run_app(page)
    infos = texts(at.info)
    assert any("make run" in text for text in infos), infos
    assert not at.metric
    assert not at.get("vega_lite_chart")
    if page is None:
        assert at.sidebar.caption[0].value == "No serving snapshot yet."


NEEDS_PLANNED_TABLES = {
    "views/airports_routes.py": ["marts.routes"],
    "views/weather.py": ["marts.weather_delay_impact"],
    "views/delay_model.py": [
        "ml.model_calibration",
        "ml.feature_importance",
        "ml.flight_delay_monitoring",
    ],
    "views/pipeline_health.py": [
        "meta.asset_status",
        "raw.load_audit",
        "raw.rejected_rows",
        "raw.quarantined_files",
    ],
}


@pytest.mark.parametrize("page", PAGES)
def test_snapshot_from_an_older_pipeline_degrades_gracefully(publish_snapshot, frames, page):
    """A snapshot without the planned tables: each page renders what it can and names what is
    missing, with what to run."""
    publish_snapshot(legacy(frames))
    at = run_app(page)

    infos = texts(at.info)
    for table in NEEDS_PLANNED_TABLES.get(page, []):
        assert any(f"`{table}`" in text and "make run" in text for text in infos), (table, infos)
    if page not in NEEDS_PLANNED_TABLES:
        assert not infos
    if page in ("views/overview.py", "views/carriers.py", "views/airports_routes.py"):
        assert at.metric or at.dataframe  # the parts built on the older tables still show
