"""Carriers: league table over the whole snapshot and each carrier's daily on-time share."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Carriers")

league = data.load("carrier_league")
if league.empty:
    st.info("The serving snapshot has no carrier performance yet. Run `make run` to load some.")
    st.stop()

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

st.subheader("On-time trend")
trend = data.load("carrier_on_time")
names = dict(zip(league["carrier_code"], league["carrier_name"], strict=True))
busiest = league.sort_values(["flights", "carrier_code"], ascending=[False, True])
selected = st.multiselect(
    "Carriers",
    options=list(league["carrier_code"]),
    default=list(busiest["carrier_code"].head(5)),
    format_func=lambda code: f"{names[code]} ({code})",
    key="carriers_trend_selection",
)
shown = trend[trend["carrier_code"].isin(selected)]
if shown.empty:
    st.info("Pick at least one carrier.")
else:
    st.altair_chart(
        ui.time_series(
            shown,
            y="on_time_share",
            y_title="On-time share",
            y_format=".0%",
            color="carrier_name",
            color_title="Carrier",
        ),
        width="stretch",
    )
