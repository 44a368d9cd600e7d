"""Overview: headline KPIs of the filtered flights and the daily trend."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data, filters, ui

st.title("Overview")
chosen = filters.current()
st.caption(f"NYC departures in the serving snapshot: {chosen.describe()}.")

kpis = data.load("kpis", chosen.params()).iloc[0]
if kpis["flights"] == 0:
    ui.no_flights(chosen)
daily = data.load("daily_flights", chosen.params())
# Sparklines only when there is a trend to see (a single day is a dot).
spark = len(daily) > 2

flights, on_time, delay, cancelled, as_of = st.columns([1, 1, 1, 1, 1.25])
flights.metric(
    "Flights",
    ui.fmt_count(kpis["flights"]),
    help="Scheduled departures in the selection, cancelled ones included.",
    border=True,
    chart_data=daily["flights"] if spark else None,
    chart_type="bar",
    delta_color="off",
)
on_time.metric(
    "On-time departures",
    ui.fmt_share(kpis["on_time_share"]),
    help=ui.ON_TIME_HELP,
    border=True,
    chart_data=daily["on_time_share"].fillna(0) if spark else None,
    delta_color="off",
)
delay.metric(
    "Avg departure delay",
    ui.fmt_minutes(kpis["avg_dep_delay_minutes"]),
    help="Mean departure delay of departed flights (early departures count as negative).",
    border=True,
    chart_data=daily["avg_dep_delay_minutes"].fillna(0) if spark else None,
    delta_color="off",
)
cancelled.metric(
    "Cancellations",
    ui.fmt_count(kpis["cancelled_flights"]),
    help=f"Flights that never departed: {ui.fmt_share(kpis['cancelled_flights'] / kpis['flights'])}"
    " of the selection.",
    border=True,
    chart_data=daily["cancelled_flights"] if spark else None,
    chart_type="bar",
    delta_color="off",
)
days = (kpis["as_of_date"] - kpis["first_flight_date"]).days + 1
as_of.metric(
    "Data as of",
    ui.fmt_date(kpis["as_of_date"]),
    help=f"Last flight date in the selection (first: {ui.fmt_date(kpis['first_flight_date'])}).",
    border=True,
    delta=f"{days:,} day{'s' if days != 1 else ''} of flights",
    delta_color="off",
    delta_arrow="off",
)

st.subheader("Daily trend")
span = ui.date_span_days(daily["flight_date"])
st.caption(
    f"One value per flight date, {ui.fmt_date(kpis['first_flight_date'])} to "
    f"{ui.fmt_date(kpis['as_of_date'])}."
    + (" Lines: faint = each day, bold = centred 7-day mean." if span > 90 else "")
)
flights_tab, on_time_tab, delay_tab, cancelled_tab = st.tabs(
    ["Flights", "On-time share", "Avg departure delay", "Cancellations"]
)
with flights_tab:
    st.altair_chart(
        ui.time_series(
            daily,
            y="flights",
            y_title="Flights",
            y_format=",d",
            mark="bar",
            extra_tooltips=[alt.Tooltip("on_time_share:Q", title="On time", format=".1%")],
        ),
        width="stretch",
    )
with on_time_tab:
    st.altair_chart(
        ui.time_series(
            daily,
            y="on_time_share",
            y_title="On-time share",
            y_format=".0%",
            mark_color=ui.GREEN,
            extra_tooltips=[alt.Tooltip("flights:Q", title="Flights", format=",")],
        ),
        width="stretch",
    )
with delay_tab:
    st.altair_chart(
        ui.time_series(
            daily,
            y="avg_dep_delay_minutes",
            y_title="Avg departure delay (min)",
            mark_color=ui.ORANGE,
            extra_tooltips=[alt.Tooltip("flights:Q", title="Flights", format=",")],
        ),
        width="stretch",
    )
with cancelled_tab:
    st.altair_chart(
        ui.time_series(
            daily,
            y="cancelled_flights",
            y_title="Cancelled flights",
            y_format=",d",
            mark="bar",
            mark_color=ui.RED,
            extra_tooltips=[alt.Tooltip("flights:Q", title="Flights", format=",")],
        ),
        width="stretch",
    )
