"""Airports & routes: the three NYC airports, a map of the routes flown from them, the worst
routes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, filters, ui

st.title("Airports & routes")
chosen = filters.current()
st.caption(f"From the serving snapshot: {chosen.describe()}.")

airports = data.load("origin_airports", chosen.params())
if airports.empty:
    ui.no_flights(chosen)

columns = st.columns(len(airports))
for column, airport in zip(columns, airports.itertuples(), strict=True):
    name = airport.airport_code if ui.is_missing(airport.airport_name) else airport.airport_name
    column.metric(
        f"{airport.airport_code} on time",
        ui.fmt_share(airport.on_time_share),
        help=f"{name}: {ui.fmt_count(airport.flights)} flights to "
        f"{ui.fmt_count(airport.destinations)} destinations, average departure delay "
        f"{ui.fmt_minutes(airport.avg_dep_delay_minutes)}. {ui.ON_TIME_HELP}",
    )

routes = data.load("routes", chosen.params())
coordinates = ["origin_latitude", "origin_longitude", "dest_latitude", "dest_longitude"]
mapped = routes.dropna(subset=coordinates)

st.subheader("Routes from New York")
st.caption(
    "One arc per route: wider = more flights; green = mostly on time, red = often 15+ minutes "
    "late. The basemap needs an internet connection; the arcs do not."
)
if mapped.empty:
    st.info("No route in the selection has airport coordinates.")
else:
    origins = mapped.groupby("origin_airport_code", as_index=False).agg(
        latitude=("origin_latitude", "first"),
        longitude=("origin_longitude", "first"),
        flights=("flights", "sum"),
    )
    dests = mapped.groupby("dest_airport_code", as_index=False).agg(
        latitude=("dest_latitude", "first"),
        longitude=("dest_longitude", "first"),
        flights=("flights", "sum"),
    )
    dots = pd.concat(
        [
            origins.assign(label=origins["origin_airport_code"] + " (New York)", radius=7),
            dests.assign(
                label=dests["dest_airport_code"]
                + ": "
                + dests["flights"].map(ui.fmt_count)
                + " flights from NYC",
                radius=3,
            ),
        ],
        ignore_index=True,
    )
    st.pydeck_chart(ui.routes_deck(mapped, dots), height=520)
unmapped = routes[routes[coordinates].isna().any(axis=1)]
if len(unmapped):
    st.caption(
        f"Not on the map (airport without coordinates): "
        f"{', '.join(unmapped['origin_airport_code'] + '→' + unmapped['dest_airport_code'])}."
    )

st.subheader("Worst routes")
typical = int(routes["flights"].median()) if len(routes) else 1
min_flights = st.number_input(
    "Only routes with at least this many flights",
    min_value=1,
    value=max(1, typical),
    step=1,
    help="Routes with few flights have noisy shares; the default is the median route.",
)
worst = (
    routes[(routes["flights"] >= min_flights) & routes["on_time_share"].notna()]
    .sort_values(
        ["on_time_share", "avg_dep_delay_minutes", "origin_airport_code", "dest_airport_code"],
        ascending=[True, False, True, True],
    )
    .head(15)
)
if worst.empty:
    st.info("No route has that many flights in the selection.")
else:
    st.dataframe(
        worst,
        hide_index=True,
        column_order=[
            "origin_airport_code",
            "dest_airport_code",
            "dest_airport_name",
            "flights",
            "on_time_share",
            "avg_dep_delay_minutes",
            "avg_arr_delay_minutes",
            "cancelled_flights",
            "distance_miles",
        ],
        column_config={
            "origin_airport_code": st.column_config.TextColumn("From"),
            "dest_airport_code": st.column_config.TextColumn("To"),
            "dest_airport_name": st.column_config.TextColumn("Destination"),
            "flights": st.column_config.NumberColumn("Flights", format="localized"),
            "on_time_share": st.column_config.ProgressColumn(
                "On-time share", format="percent", min_value=0.0, max_value=1.0
            ),
            "avg_dep_delay_minutes": st.column_config.NumberColumn(
                "Avg departure delay (min)", format="%.1f"
            ),
            "avg_arr_delay_minutes": st.column_config.NumberColumn(
                "Avg arrival delay (min)", format="%.1f"
            ),
            "cancelled_flights": st.column_config.NumberColumn("Cancelled", format="localized"),
            "distance_miles": st.column_config.NumberColumn("Distance (mi)", format="localized"),
        },
    )
