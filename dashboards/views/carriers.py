"""Carriers: league table of the filtered flights and each carrier's on-time trend."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data, filters, ui

PERIODS = {"day": "Day", "week": "Week", "month": "Month"}
GRAINS = {"auto": "Auto", **PERIODS}
TREND_KEY = "carriers_trend_selection"
PERIOD_KEY = "carriers_trend_period"

st.title("Carriers")
chosen = filters.current()
st.caption(f"NYC departures in the serving snapshot: {chosen.describe()}.")

league = data.load("carrier_league", chosen.params())
if league.empty:
    ui.no_flights(chosen)
options = filters.FilterOptions.from_frame(data.load("filter_options"))

st.subheader("League table")
st.caption(f"{len(league)} carriers ranked by on-time share. {ui.ON_TIME_HELP}")
st.dataframe(
    ui.percent_points(league, ["on_time_share", "cancelled_share"]),
    hide_index=True,
    height="content",
    placeholder=ui.MISSING,
    column_order=[
        "league_rank",
        "carrier_name",
        "carrier_code",
        "flights",
        "on_time_share_pct",
        "avg_dep_delay_minutes",
        "cancelled_flights",
        "cancelled_share_pct",
    ],
    column_config={
        "league_rank": st.column_config.NumberColumn("Rank", format="%d", width="small"),
        "carrier_name": st.column_config.TextColumn("Carrier", width=220),
        "carrier_code": st.column_config.TextColumn("Code", width="small"),
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
            "Avg departure delay (min)", format="%.1f"
        ),
        "cancelled_flights": st.column_config.NumberColumn("Cancelled", format="localized"),
        "cancelled_share_pct": st.column_config.NumberColumn("Cancelled share", format="%.1f%%"),
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


def carrier_label(code: str) -> str:
    return ui.carrier_label(code, names.get(code))


palette = options.carrier_palette()
if chosen.start_date and chosen.end_date:
    span = (chosen.end_date - chosen.start_date).days
elif options.first_date and options.last_date:
    span = (options.last_date - options.first_date).days
else:
    span = 0
auto = ui.grain_for_span(span)
pick_col, period_col = st.columns([3, 2], vertical_alignment="bottom")
selected = pick_col.multiselect(
    "Carriers to compare",
    options=offered,
    format_func=carrier_label,
    key=TREND_KEY,
    wrap=True,
    placeholder="Pick carriers",
)
grain = period_col.segmented_control(
    "Per",
    options=list(GRAINS),
    format_func=lambda g: f"Auto · {PERIODS[auto].lower()}" if g == "auto" else GRAINS[g],
    default="auto",
    key=PERIOD_KEY,
    help="Auto: per day up to about six weeks of dates, per week up to a year and a half, "
    "then per month.",
)
period = auto if grain in (None, "auto") else grain
trend = data.load("carrier_on_time", {**chosen.params(), "period": period})
shown = trend[trend["carrier_code"].isin(selected)].assign(
    carrier=lambda d: [
        ui.carrier_label(code, name)
        for code, name in zip(d["carrier_code"], d["carrier_name"], strict=True)
    ]
)
if shown.empty:
    st.info("Pick at least one carrier to compare.", icon=":material/touch_app:")
else:
    periods = shown["period_start"].nunique()
    st.caption(
        f"Per {period} ({periods:,} {period}{'s' if periods != 1 else ''}), "
        f"{ui.fmt_date(shown['period_start'].min())} to {ui.fmt_date(shown['period_start'].max())}"
        f"{' (period starts; weeks start on Monday)' if period != 'day' else ''}. "
        "Hover a point for the period's flights."
    )
    flights_tip = alt.Tooltip("flights:Q", title="Flights", format=",")
    on_time_tab, delay_tab = st.tabs(["On-time share", "Avg departure delay"])
    for tab, y, y_title, y_format in (
        (on_time_tab, "on_time_share", "On-time share", ".0%"),
        (delay_tab, "avg_dep_delay_minutes", "Avg departure delay (min)", ",.1f"),
    ):
        with tab:
            if periods == 1:
                st.caption(
                    f"A single {period} in the selection: one bar per carrier. Pick a shorter "
                    "period to see a trend."
                )
                chart = ui.single_period_bars(
                    shown,
                    category="carrier",
                    value=y,
                    value_title=y_title,
                    palette=palette,
                    value_format=y_format,
                )
            else:
                chart = ui.time_series(
                    shown,
                    x="period_start",
                    grain=period,
                    y=y,
                    y_title=y_title,
                    y_format=y_format,
                    color="carrier",
                    color_title="Carrier",
                    palette=palette,
                    smooth=False,
                    extra_tooltips=[flights_tip],
                )
            st.altair_chart(chart, width="stretch")
