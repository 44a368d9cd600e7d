"""Delay model: the champion, its metrics against the baselines, calibration, feature importance,
predicted vs actual delays per day, and a form that scores one flight with the champion."""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, scoring, ui

BASELINES = {"base_rate": "Base rate", "logistic_regression": "Logistic regression"}

st.title("Delay model")
st.caption(
    "Probability that a flight departs 15+ minutes late, from what is known before departure."
)

champion = data.load("champion_model").iloc[0]
metrics = data.load("model_metrics")
if metrics.empty and ui.is_missing(champion["champion_version"]):
    st.info("No trained model in the serving snapshot yet. Run `make run` to train one.")
    st.stop()

champion_version = (
    None if ui.is_missing(champion["champion_version"]) else str(champion["champion_version"])
)
champion_col, scored_col, trained_col = st.columns(3)
champion_col.metric(
    "Champion model version",
    ui.fmt_text(champion_version),
    help="Registered version of `flight_delay` (alias `champion`) that scored the predictions.",
    border=True,
    delta="alias champion" if champion_version is not None else "none yet",
    delta_color="off",
    delta_arrow="off",
)
scored_col.metric(
    "Flights scored",
    ui.fmt_count(champion["scored_flights"]),
    help=f"Scored at {ui.fmt_timestamp(champion['scored_at'])} UTC.",
    border=True,
    delta=f"scored {ui.fmt_timestamp(champion['scored_at'])} UTC",
    delta_color="off",
    delta_arrow="off",
)
trained_col.metric(
    "Latest trained version",
    ui.fmt_text(champion["latest_trained_version"]),
    help=f"Trained at {ui.fmt_timestamp(champion['trained_at'])} UTC.",
    border=True,
    delta=f"trained {ui.fmt_timestamp(champion['trained_at'])} UTC",
    delta_color="off",
    delta_arrow="off",
)

st.subheader("Metrics vs baselines")
if metrics.empty:
    st.info("No model metrics in the serving snapshot.", icon=":material/info:")
else:
    version = str(metrics["model_version"].iloc[0])
    if champion_version is not None and not metrics["is_champion"].iloc[0]:
        st.warning(
            f"Version {version} was trained last but did not replace champion "
            f"v{champion_version}; these are version {version}'s validation metrics."
        )
    st.caption(
        f"Model v{version} and two baselines on the validation days (trained "
        f"{ui.fmt_timestamp(metrics['trained_at'].max())} UTC): ↑ higher is better "
        "(ROC AUC, PR AUC), ↓ lower is better (log loss, Brier score). The base rate predicts "
        "the training days' late share for every flight."
    )
    models = {"candidate": f"Model v{version}", **BASELINES}
    palette = dict(zip(models.values(), (ui.BLUE, ui.GREY, ui.TEAL), strict=True))
    table_col, chart_col = st.columns([2, 3])
    table_col.dataframe(
        metrics.assign(metric_label=metrics["metric"].map(lambda m: ui.METRIC_LABELS.get(m, m))),
        hide_index=True,
        placeholder=ui.MISSING,
        column_order=["metric_label", *models],
        column_config={
            "metric_label": st.column_config.TextColumn("Metric"),
            **{
                column: st.column_config.NumberColumn(label, format="%.4f")
                for column, label in models.items()
            },
        },
    )
    chart_col.altair_chart(
        ui.metric_bars(metrics, columns=models, palette=palette), width="stretch"
    )


def shown_version(frame: pd.DataFrame) -> str | None:
    """The champion's version if ``frame`` has rows for it, else the latest trained one's."""
    versions = set(frame["model_version"].astype(str))
    for candidate in (champion_version, champion["latest_trained_version"]):
        if not ui.is_missing(candidate) and str(candidate) in versions:
            return str(candidate)
    return max(versions, key=lambda v: (len(v), v)) if versions else None


calibration_col, importance_col = st.columns(2)
with calibration_col:
    st.subheader("Calibration")
    calibration = data.optional_load("model_calibration")
    if calibration is not None:
        version = shown_version(calibration)
        if version is None:
            st.info("No calibration in the serving snapshot yet.", icon=":material/info:")
        else:
            rows = calibration[calibration["model_version"].astype(str) == version]
            st.caption(
                f"Model v{version} on its validation days, predictions in 10 bins: on the dashed "
                "diagonal the predicted probability matches the observed late share."
            )
            st.altair_chart(ui.calibration_chart(rows), width="stretch")
with importance_col:
    st.subheader("Feature importance")
    importance = data.optional_load("feature_importance")
    if importance is not None:
        version = shown_version(importance)
        if version is None:
            st.info("No feature importance in the serving snapshot yet.", icon=":material/info:")
        else:
            rows = importance[importance["model_version"].astype(str) == version]
            st.caption(
                f"Model v{version}: how much the validation ROC AUC drops when one feature is "
                "shuffled (permutation importance, ± one standard deviation)."
            )
            st.altair_chart(ui.importance_chart(rows), width="stretch")

st.subheader("Predicted vs actual late share per day")
chosen = filters.current()
daily = data.load("predictions_vs_actuals", chosen.params())
long_range = ui.date_span_days(daily["flight_date"]) > 90 if len(daily) else False
st.caption(
    f"Departed flights only ({chosen.describe()}); predicted = mean predicted probability, "
    "actual = share that left 15+ minutes late."
    + (" Faint = each day, bold = centred 7-day mean." if long_range else "")
)
if daily.empty:
    st.info(
        "No scored flights match the filters in the serving snapshot.",
        icon=":material/filter_alt_off:",
    )
else:
    st.altair_chart(
        ui.comparison_series(
            daily,
            columns={
                "actual_late_share": "Actual",
                "predicted_late_share": "Predicted",
            },
            y_title="Late share",
            y_format=".0%",
            palette={"Actual": ui.DARK, "Predicted": ui.ORANGE},
            dashes={"Actual": [1, 0], "Predicted": [6, 3]},
        ),
        width="stretch",
    )

monitoring = data.optional_load(
    "model_monitoring", {"start_date": chosen.start_date, "end_date": chosen.end_date}
)
if monitoring is not None and not monitoring.empty:
    scored = monitoring.dropna(subset=["roc_auc"]).assign(
        model=lambda d: "v" + d["model_version"].astype(str)
    )
    versions = sorted(set(monitoring["model_version"].astype(str)), key=lambda v: (len(v), v))
    st.caption(
        "Daily ROC AUC of each model version's predictions (all carriers and airports; days "
        "with a single class are left out). 0.5 = no better than chance (dotted)."
    )
    chance = (
        alt.Chart(pd.DataFrame({"chance": [0.5]}))
        .mark_rule(strokeDash=[2, 3], color=ui.GREY)
        .encode(y="chance:Q")
    )
    st.altair_chart(
        ui.time_series(
            scored,
            y="roc_auc",
            y_title="ROC AUC",
            y_format=".2f",
            color="model",
            color_title="Model version",
            palette=ui.category_palette([f"v{v}" for v in versions]),
            extra_tooltips=[alt.Tooltip("departed_flights:Q", title="Flights", format=",")],
        )
        + chance,
        width="stretch",
    )

st.subheader("Score a flight")
uri = scoring.tracking_uri()
store_message = scoring.missing_store_message(uri)
if store_message:
    st.info(store_message, icon=":material/info:")
    st.stop()

options = filters.FilterOptions.from_frame(data.load("filter_options"))
routes = data.optional_load("routes")
destinations = sorted(set(routes["dest_airport_code"])) if routes is not None else []
st.caption(
    "Asks the champion in the MLflow registry, the very pipeline object that scored the "
    "flights above. Leave the distance empty to use the route's."
)
with st.form("score_flight"):
    carrier_col, origin_col, dest_col = st.columns(3)
    carrier = carrier_col.selectbox(
        "Carrier", list(options.carriers), format_func=options.carriers.get, key="score_carrier"
    )
    origin = origin_col.selectbox(
        "From", list(options.origins), format_func=options.origins.get, key="score_origin"
    )
    if destinations:
        dest = dest_col.selectbox("To", destinations, key="score_dest")
    else:
        dest = dest_col.text_input("To (airport code)", value="ATL", key="score_dest")
    date_col, hour_col, distance_col = st.columns(3)
    flight_date = date_col.date_input(
        "Date", value=options.last_date or date(2013, 12, 31), key="score_date"
    )
    hour = hour_col.slider("Scheduled departure hour", 0, 23, 17, key="score_hour")
    distance = distance_col.number_input(
        "Distance (miles)", min_value=0.0, value=None, key="score_distance"
    )
    temp_col, wind_col, precip_col, visib_col = st.columns(4)
    temperature = temp_col.number_input("Temperature (°F)", value=55.0, key="score_temperature")
    wind = wind_col.number_input("Wind (mph)", min_value=0.0, value=10.0, key="score_wind")
    precipitation = precip_col.number_input(
        "Precipitation (in)", min_value=0.0, value=0.0, step=0.01, key="score_precipitation"
    )
    visibility = visib_col.number_input(
        "Visibility (miles)", min_value=0.0, max_value=10.0, value=10.0, key="score_visibility"
    )
    submitted = st.form_submit_button("Score this flight", key="score_submit")

if submitted:
    if distance is None and routes is not None:
        route = routes[
            (routes["origin_airport_code"] == origin) & (routes["dest_airport_code"] == dest)
        ]
        distance = None if route.empty else float(route["distance_miles"].iloc[0])
    flight = scoring.Flight(
        carrier_code=str(carrier),
        origin_airport_code=str(origin),
        dest_airport_code=str(dest).strip().upper(),
        flight_date=flight_date,
        scheduled_departure_hour=int(hour),
        distance_miles=distance,
        temperature_f=temperature,
        wind_speed_mph=wind,
        precipitation_in=precipitation,
        visibility_miles=visibility,
    )
    try:
        result = scoring.score_flight(flight, uri)
    except scoring.NoChampion as exc:
        st.info(str(exc), icon=":material/info:")
    else:
        st.metric(
            "Chance of leaving 15+ minutes late",
            ui.fmt_share(result.probability),
            help=f"Champion v{result.model_version} of `flight_delay` in the MLflow registry.",
            border=True,
            width="content",
        )
        st.caption(
            f"{flight.carrier_code} {flight.origin_airport_code}→{flight.dest_airport_code} on "
            f"{flight.flight_date.isoformat()} at {flight.scheduled_departure_hour}:00, "
            f"{ui.fmt_count(flight.distance_miles)} miles; scored by champion "
            f"v{result.model_version}: {result.probability:.4f}."
        )
