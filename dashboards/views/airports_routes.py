"""Airports & routes: the three NYC airports, a map of the routes flown from them, the busiest
and the worst routes."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, filters, ui

NYC = ("EWR", "JFK", "LGA")
# Routes west of this longitude (Alaska, Hawaii) would zoom the map out to the Pacific: the
# initial view fits the others, and the caption says which are off-screen.
WESTMOST_FITTED = -130.0

st.title("Airports & routes")
chosen = filters.current()
st.caption(f"NYC departures in the serving snapshot: {chosen.describe()}.")

airports = data.load("origin_airports", chosen.params())
if airports.empty:
    ui.no_flights(chosen)

columns = st.columns(len(airports))
for column, airport in zip(columns, airports.itertuples(), strict=True):
    name = airport.airport_code if ui.is_missing(airport.airport_name) else airport.airport_name
    with column:
        st.metric(
            f"{airport.airport_code} on time",
            ui.fmt_share(airport.on_time_share),
            help=f"{name}: average departure delay "
            f"{ui.fmt_minutes(airport.avg_dep_delay_minutes)}. {ui.ON_TIME_HELP}",
            border=True,
            delta=f"{ui.fmt_count(airport.flights)} flights · "
            f"{ui.fmt_count(airport.destinations)} destinations",
            delta_color="off",
            delta_arrow="off",
        )

routes = data.load("routes", chosen.params())
coordinates = ["origin_latitude", "origin_longitude", "dest_latitude", "dest_longitude"]
mapped = routes.dropna(subset=coordinates)
routes = routes.assign(
    dest_airport_name=routes["dest_airport_name"].fillna("(not in the airports table)")
)

st.subheader("Routes from New York")
if mapped.empty:
    st.info("No route in the selection has airport coordinates.", icon=":material/map:")
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
        name=("dest_airport_name", "first"),
    )
    busiest_dest = float(dests["flights"].max())
    dots = pd.concat(
        [
            origins.assign(
                label="<b>"
                + origins["origin_airport_code"]
                + "</b> (New York)<br/>"
                + origins["flights"].map(ui.fmt_count)
                + " departures",
                radius=7.0,
                color=[[40, 40, 40, 235]] * len(origins),
            ),
            dests.assign(
                label="<b>"
                + dests["dest_airport_code"]
                + "</b> "
                + dests["name"].fillna("")
                + "<br/>"
                + dests["flights"].map(ui.fmt_count)
                + " flights from NYC",
                radius=(3 + 7 * (dests["flights"] / busiest_dest) ** 0.5).round(2),
                color=[[76, 120, 168, 230]] * len(dests),
            ),
        ],
        ignore_index=True,
    )
    # The NYC airports are a few miles apart: one label for them all, the busiest
    # destinations labelled with their codes.
    top = dests.nlargest(12, "flights")
    labels = pd.concat(
        [
            pd.DataFrame(
                {
                    "longitude": [origins["longitude"].mean()],
                    "latitude": [origins["latitude"].max()],
                    "text": [" / ".join(sorted(origins["origin_airport_code"]))],
                }
            ),
            pd.DataFrame(
                {
                    "longitude": top["longitude"],
                    "latitude": top["latitude"],
                    "text": top["dest_airport_code"],
                }
            ),
        ],
        ignore_index=True,
    )
    fitted = dots[dots["longitude"] >= WESTMOST_FITTED]
    fitted = fitted if len(fitted) else dots
    view = ui.fit_view(fitted["longitude"].tolist(), fitted["latitude"].tolist())
    st.pydeck_chart(
        ui.routes_deck(mapped, dots, labels=labels, view=view),
        height=540,
        alt="Map of the routes flown from the New York airports",
    )
    off_screen = sorted(set(dests[dests["longitude"] < WESTMOST_FITTED]["dest_airport_code"]))
    st.caption(
        f"{len(mapped):,} routes to {len(dests):,} airports. One arc per route: wider = more "
        f"flights; colour = on-time share ({ui.ON_TIME_LEGEND}). Dots: airports, sized by "
        "flights; hover for figures. Drawn over US state outlines (no basemap offline)."
        + (f" Off-screen to the west: {', '.join(off_screen)} (zoom out)." if off_screen else "")
    )
unmapped = routes[routes[coordinates].isna().any(axis=1)]
if len(unmapped):
    st.caption(
        f"Not on the map (airport without coordinates): "
        f"{', '.join(unmapped['origin_airport_code'] + '→' + unmapped['dest_airport_code'])}."
    )

ROUTE_COLUMNS = {
    "origin_airport_code": st.column_config.TextColumn("From", width="small"),
    "dest_airport_code": st.column_config.TextColumn("To", width="small"),
    "dest_airport_name": st.column_config.TextColumn("Destination", width="medium"),
    "flights": st.column_config.NumberColumn("Flights", format="localized"),
    "on_time_share_pct": st.column_config.ProgressColumn(
        "On-time share",
        help=ui.ON_TIME_HELP,
        format="%.1f%%",
        min_value=0.0,
        max_value=100.0,
        color=ui.GREEN,
    ),
    "avg_dep_delay_minutes": st.column_config.NumberColumn(
        "Avg dep. delay (min)", help="Mean departure delay of departed flights.", format="%.1f"
    ),
    "avg_arr_delay_minutes": st.column_config.NumberColumn(
        "Avg arr. delay (min)", help="Mean arrival delay of arrived flights.", format="%.1f"
    ),
    "cancelled_flights": st.column_config.NumberColumn("Cancelled", format="localized"),
    "distance_miles": st.column_config.NumberColumn("Distance (mi)", format="localized"),
}

st.subheader("Worst routes")
typical = int(routes["flights"].median()) if len(routes) else 1
min_col, _ = st.columns([1, 2])
min_flights = min_col.number_input(
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
eligible = int(((routes["flights"] >= min_flights) & routes["on_time_share"].notna()).sum())
if worst.empty:
    st.info("No route has that many flights in the selection.", icon=":material/filter_alt_off:")
else:
    st.caption(
        f"The {len(worst)} lowest on-time shares among {eligible:,} routes with at least "
        f"{min_flights:,} flights (ties: the longer average delay first)."
    )
    st.dataframe(
        ui.percent_points(worst, ["on_time_share"]),
        hide_index=True,
        height="content",
        placeholder=ui.MISSING,
        column_order=list(ROUTE_COLUMNS),
        column_config=ROUTE_COLUMNS,
    )

st.subheader("Busiest destinations")
per_dest = (
    routes.groupby(["dest_airport_code", "dest_airport_name"], as_index=False)
    .agg(
        flights=("flights", "sum"),
        departed=("departed_flights", "sum"),
        delayed=("delayed_15_flights", "sum"),
    )
    .assign(
        on_time_share=lambda d: (
            (d["departed"] - d["delayed"]) / d["departed"].where(d["departed"] > 0)
        )
    )
    .nlargest(15, "flights")
)
st.caption(
    f"The {len(per_dest)} destinations with the most flights from "
    f"{', '.join(chosen.origins) if chosen.origins else 'NYC'}, all origins together; "
    f"the bar's colour and the figure at its end are the on-time share ({ui.ON_TIME_LEGEND})."
)
on_time_colour = alt.Color(
    "on_time_share:Q",
    scale=alt.Scale(
        domain=[stop for stop, _ in ui.ON_TIME_STOPS],
        range=[f"rgb{rgb}" for _, rgb in ui.ON_TIME_STOPS],
        clamp=True,
    ),
    legend=None,
)
dest_base = alt.Chart(per_dest).encode(
    y=alt.Y("dest_airport_code:N", title=None, sort="-x", axis=alt.Axis(labelLimit=60)),
    x=alt.X("flights:Q", title="Flights", axis=alt.Axis(format=",d")),
)
st.altair_chart(
    (
        dest_base.mark_bar(height={"band": 0.75}).encode(
            color=on_time_colour,
            tooltip=[
                alt.Tooltip("dest_airport_code:N", title="Airport"),
                alt.Tooltip("dest_airport_name:N", title="Name"),
                alt.Tooltip("flights:Q", title="Flights", format=","),
                alt.Tooltip("on_time_share:Q", title="On time", format=".1%"),
            ],
        )
        + dest_base.mark_text(align="left", dx=4, fontSize=11, color=ui.DARK).encode(
            text=alt.Text("on_time_share:Q", format=".0%")
        )
    ).properties(height=28 * len(per_dest) + 60),
    width="stretch",
)
