"""Overview: headline KPIs of the filtered flights and the daily trend."""

from __future__ import annotations

import streamlit as st

from dashboards import data, filters, ui

st.title("Overview")
chosen = filters.current()
st.caption(f"NYC departures, from the serving snapshot: {chosen.describe()}.")

kpis = data.load("kpis", chosen.params()).iloc[0]
if kpis["flights"] == 0:
    ui.no_flights(chosen)

flights, on_time, delay, cancelled, as_of = st.columns(5)
flights.metric("Flights", ui.fmt_count(kpis["flights"]))
on_time.metric("On-time departures", ui.fmt_share(kpis["on_time_share"]), help=ui.ON_TIME_HELP)
delay.metric(
    "Avg departure delay",
    ui.fmt_minutes(kpis["avg_dep_delay_minutes"]),
    help="Mean departure delay of departed flights (early departures count as negative).",
)
cancelled.metric(
    "Cancellations",
    ui.fmt_count(kpis["cancelled_flights"]),
    help="Flights that never departed.",
)
as_of.metric(
    "Data as of",
    ui.fmt_date(kpis["as_of_date"]),
    help=f"Last flight date in the selection (first: {ui.fmt_date(kpis['first_flight_date'])}).",
)

st.subheader("Daily trend")
daily = data.load("daily_flights", chosen.params())
flights_tab, on_time_tab, delay_tab, cancelled_tab = st.tabs(
    ["Flights", "On-time share", "Avg departure delay", "Cancellations"]
)
with flights_tab:
    st.altair_chart(
        ui.time_series(daily, y="flights", y_title="Flights", mark="bar"), width="stretch"
    )
with on_time_tab:
    st.altair_chart(
        ui.time_series(daily, y="on_time_share", y_title="On-time share", y_format=".0%"),
        width="stretch",
    )
with delay_tab:
    st.altair_chart(
        ui.time_series(daily, y="avg_dep_delay_minutes", y_title="Avg departure delay (min)"),
        width="stretch",
    )
with cancelled_tab:
    st.altair_chart(
        ui.time_series(daily, y="cancelled_flights", y_title="Cancelled flights", mark="bar"),
        width="stretch",
    )
