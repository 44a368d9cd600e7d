"""Carriers: league table of the filtered flights and each carrier's on-time trend."""

from __future__ import annotations

import streamlit as st

from dashboards import data, filters, ui

PERIODS = {"day": "Day", "week": "Week", "month": "Month"}
TREND_KEY = "carriers_trend_selection"
PERIOD_KEY = "carriers_trend_period"

st.title("Carriers")
chosen = filters.current()
st.caption(f"From the serving snapshot: {chosen.describe()}.")

league = data.load("carrier_league", chosen.params())
if league.empty:
    ui.no_flights(chosen)

st.subheader("League table")
st.caption(f"Ranked by on-time share. {ui.ON_TIME_HELP}")
st.dataframe(
    league,
    hide_index=True,
    column_order=[
        "league_rank",
        "carrier_name",
        "carrier_code",
        "flights",
        "on_time_share",
        "avg_dep_delay_minutes",
        "cancelled_flights",
        "cancelled_share",
    ],
    column_config={
        "league_rank": st.column_config.NumberColumn("Rank", format="%d"),
        "carrier_name": st.column_config.TextColumn("Carrier"),
        "carrier_code": st.column_config.TextColumn("Code"),
        "flights": st.column_config.NumberColumn("Flights", format="localized"),
        "on_time_share": st.column_config.ProgressColumn(
            "On-time share", format="percent", min_value=0.0, max_value=1.0
        ),
        "avg_dep_delay_minutes": st.column_config.NumberColumn(
            "Avg departure delay (min)", format="%.1f"
        ),
        "cancelled_flights": st.column_config.NumberColumn("Cancelled", format="localized"),
        "cancelled_share": st.column_config.NumberColumn("Cancelled share", format="percent"),
    },
)

st.subheader("Trends")
names = dict(zip(league["carrier_code"], league["carrier_name"], strict=True))
busiest = league.sort_values(["flights", "carrier_code"], ascending=[False, True])
offered = list(busiest["carrier_code"])
stored = st.session_state.get(TREND_KEY)
if stored is None:
    st.session_state[TREND_KEY] = offered[:5]  # the five busiest
else:  # keep the carriers the (new) filters still offer; if none is left, the busiest again
    kept = [code for code in stored if code in names]
    st.session_state[TREND_KEY] = kept if kept or not stored else offered[:5]
pick_col, period_col = st.columns([3, 1])
selected = pick_col.multiselect(
    "Carriers to compare",
    options=offered,
    format_func=lambda code: f"{names[code]} ({code})",
    key=TREND_KEY,
)
period = period_col.segmented_control(
    "Per", options=list(PERIODS), format_func=PERIODS.get, default="week", key=PERIOD_KEY
)
trend = data.load("carrier_on_time", {**chosen.params(), "period": period or "week"})
shown = trend[trend["carrier_code"].isin(selected)]
if shown.empty:
    st.info("Pick at least one carrier.")
else:
    on_time_tab, delay_tab = st.tabs(["On-time share", "Avg departure delay"])
    with on_time_tab:
        st.altair_chart(
            ui.time_series(
                shown,
                x="period_start",
                y="on_time_share",
                y_title="On-time share",
                y_format=".0%",
                color="carrier_name",
                color_title="Carrier",
            ),
            width="stretch",
        )
    with delay_tab:
        st.altair_chart(
            ui.time_series(
                shown,
                x="period_start",
                y="avg_dep_delay_minutes",
                y_title="Avg departure delay (min)",
                color="carrier_name",
                color_title="Carrier",
            ),
            width="stretch",
        )
