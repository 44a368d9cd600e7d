"""Run the Streamlit app with AppTest against the fixture snapshot and check what it shows.

Expected figures are computed here with pandas from the fixture frames, independently of the
app's SQL.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

APP_PATH = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PAGES = ["views/overview.py", "views/carriers.py", "views/delay_model.py"]


def run_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=30).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_frames(at: AppTest) -> list[pd.DataFrame]:
    """The data of every Vega-Lite (Altair) chart on the page, in order."""
    frames = []
    for chart in at.get("vega_lite_chart"):
        datasets = [
            dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data)
            for d in chart.proto.datasets
        ]
        if chart.proto.HasField("data"):
            datasets.append(dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.data.data))
        assert len(datasets) == 1
        frames.append(datasets[0])
    return frames


def as_count(text: str) -> int:
    return int(text.replace(",", ""))


def as_share(text: str) -> float:
    assert text.endswith("%")
    return float(text[:-1]) / 100


def as_minutes(text: str) -> float:
    number, unit = text.split()
    assert unit == "min"
    return float(number)


def departed(flights: pd.DataFrame) -> pd.DataFrame:
    return flights[~flights["is_cancelled"]]


def on_time_share(flights: pd.DataFrame) -> float:
    return float((~departed(flights)["is_departure_delayed_15"].astype(bool)).mean())


def test_app_opens_on_overview_with_kpis_from_the_snapshot(snapshot, frames):
    flights = frames[("marts", "flights")]
    at = run_app()

    assert [t.value for t in at.title] == ["Overview"]
    shown = metrics(at)
    assert as_count(shown["Flights"]) == len(flights)
    assert as_count(shown["Cancellations"]) == int(flights["is_cancelled"].sum())
    assert as_share(shown["On-time departures"]) == pytest.approx(on_time_share(flights), abs=5e-4)
    assert as_minutes(shown["Avg departure delay"]) == pytest.approx(
        departed(flights)["dep_delay_minutes"].mean(), abs=0.05
    )
    assert shown["Data as of"] == max(flights["flight_date"]).isoformat()
    assert "Snapshot published" in at.sidebar.caption[0].value


def test_overview_daily_trend_charts_match_the_snapshot(snapshot, frames):
    flights = frames[("marts", "flights")]
    at = run_app("views/overview.py")

    charts = chart_frames(at)
    assert len(charts) == 4  # flights, on-time share, delay, cancellations
    per_day = flights.groupby("flight_date")
    expected_flights = per_day.size()
    daily = charts[0].assign(flight_date=lambda d: pd.to_datetime(d["flight_date"]).dt.date)
    assert (
        dict(zip(daily["flight_date"], daily["flights"], strict=True)) == expected_flights.to_dict()
    )
    on_time = {day: on_time_share(group) for day, group in per_day}
    assert charts[1]["on_time_share"].tolist() == pytest.approx(
        [on_time[day] for day in sorted(on_time)]
    )


def test_carriers_league_table_and_trend(snapshot, frames):
    flights = frames[("marts", "flights")]
    carriers = dict(frames[("marts", "carriers")].itertuples(index=False))
    at = run_app("views/carriers.py")

    assert [t.value for t in at.title] == ["Carriers"]
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
    assert set(league["carrier_code"]) == set(carriers)
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

    # Trend: every carrier selected by default (fewer than 5), one point per day and carrier.
    (trend,) = chart_frames(at)
    assert len(trend) == flights.groupby(["flight_date", "carrier_code"]).ngroups

    # Narrow the selection to one carrier: the chart follows.
    at.multiselect(key="carriers_trend_selection").set_value(["B6"]).run()
    assert not at.exception
    (trend,) = chart_frames(at)
    b6 = flights[flights["carrier_code"] == "B6"]
    assert set(trend["carrier_name"]) == {carriers["B6"]}
    assert trend["on_time_share"].tolist() == pytest.approx(
        [on_time_share(group) for _, group in b6.groupby("flight_date")]
    )


def latest_trained_metrics(model_metrics: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(version, metric x model table) of the most recently trained version."""
    version = model_metrics.sort_values("trained_at")["model_version"].iloc[-1]
    rows = model_metrics[model_metrics["model_version"] == version]
    return version, rows.pivot(index="metric", columns="model", values="value")


def test_delay_model_page_shows_champion_metrics_and_predictions(snapshot, frames):
    flights = frames[("marts", "flights")]
    predictions = frames[("ml", "flight_delay_predictions")]
    # The champion is the version that scored the latest predictions; here also the latest trained.
    champion_version = predictions.sort_values("scored_at")["model_version"].iloc[-1]
    trained_version, expected = latest_trained_metrics(frames[("ml", "model_metrics")])
    assert champion_version == trained_version
    at = run_app("views/delay_model.py")

    assert [t.value for t in at.title] == ["Delay model"]
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

    bars, daily = chart_frames(at)
    assert len(bars) == expected.size
    latest = predictions.sort_values("scored_at").drop_duplicates("flight_id", keep="last")
    labelled = latest.merge(departed(flights), on=["flight_id", "flight_date"])
    per_day = labelled.groupby("flight_date")
    want_predicted = per_day["predicted_delay_probability"].mean().tolist()
    want_actual = per_day["is_departure_delayed_15"].mean().tolist()
    predicted = daily[daily["series"] == "Predicted"].sort_values("flight_date")
    actual = daily[daily["series"] == "Actual"].sort_values("flight_date")
    assert predicted["value"].tolist() == pytest.approx(want_predicted)
    assert actual["value"].tolist() == pytest.approx(want_actual)


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


@pytest.mark.parametrize("page", [None, *PAGES])
def test_missing_snapshot_shows_make_run_hint(runway_env, page):
    at = run_app(page)
    infos = [i.value for i in at.info]
    assert any("make run" in text for text in infos), infos
    assert not at.metric
    if page is None:  # the entrypoint itself ran (switch_page runs the page file on its own)
        assert at.sidebar.caption[0].value == "No serving snapshot yet."


def test_page_without_trained_model_says_so(publish_snapshot, frames):
    empty_ml = dict(frames)
    empty_ml[("ml", "model_metrics")] = frames[("ml", "model_metrics")].iloc[0:0]
    empty_ml[("ml", "flight_delay_predictions")] = frames[("ml", "flight_delay_predictions")].iloc[
        0:0
    ]
    publish_snapshot(empty_ml)
    at = run_app("views/delay_model.py")
    assert any("No trained model" in i.value for i in at.info)
