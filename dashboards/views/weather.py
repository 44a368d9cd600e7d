"""Weather: how departure delays grow with poor visibility, strong wind and precipitation."""

from __future__ import annotations

import streamlit as st

from dashboards import data, filters, ui

FACTORS = {
    "visibility": ("Visibility", "Visibility at the origin airport"),
    "wind_speed": ("Wind speed", "Wind speed at the origin airport"),
    "precipitation": ("Precipitation", "Precipitation in the hour of departure"),
}

st.title("Weather")
options = filters.FilterOptions.from_frame(data.load("filter_options"))
st.caption(
    "Departed flights of the whole serving snapshot "
    f"({ui.fmt_date(options.first_date)} to {ui.fmt_date(options.last_date)}) by the weather at "
    "the origin airport in the hour of departure; the sidebar filters do not apply here. "
    "Buckets run from the best weather to the worst."
)

impact = data.load("weather_delay_impact")
if impact.empty:
    st.info(
        "The serving snapshot has no weather impact yet. Run `make run` to compute it.",
        icon=":material/info:",
    )
    st.stop()

factors = [f for f in FACTORS if f in set(impact["weather_factor"])]
factors += sorted(set(impact["weather_factor"]) - set(factors))
columns = st.columns(len(factors))
for column, factor in zip(columns, factors, strict=True):
    rows = impact[impact["weather_factor"] == factor].sort_values("bucket_order")
    best, worst = rows.iloc[0], rows.iloc[-1]
    title = FACTORS.get(factor, (factor, factor))[0]
    column.metric(
        f"{title}: {worst['bucket_label']}",
        ui.fmt_share(worst["delayed_15_share"]),
        delta=f"{(worst['delayed_15_share'] - best['delayed_15_share']) * 100:+.1f} pts vs "
        f"{best['bucket_label']}",
        delta_color="inverse",
        help="Share of departed flights that left 15+ minutes late in the worst bucket "
        f"({ui.fmt_count(worst['flights'])} flights), and the difference with the best one "
        f"({ui.fmt_count(best['flights'])} flights).",
        border=True,
    )

for factor in factors:
    rows = impact[impact["weather_factor"] == factor].sort_values("bucket_order")
    title, description = FACTORS.get(factor, (factor, factor))
    st.subheader(title)
    chart_col, table_col = st.columns([1, 1], vertical_alignment="center")
    chart_col.altair_chart(ui.bucket_bars(rows, title=description), width="stretch")
    table_col.dataframe(
        ui.percent_points(rows, ["delayed_15_share"]).assign(
            flights_share_pct=lambda d: 100 * d["flights"] / d["flights"].sum()
        ),
        hide_index=True,
        placeholder=ui.MISSING,
        column_order=[
            "bucket_label",
            "flights",
            "flights_share_pct",
            "delayed_15_share_pct",
            "avg_dep_delay_minutes",
        ],
        column_config={
            "bucket_label": st.column_config.TextColumn(title),
            "flights": st.column_config.NumberColumn("Flights", format="localized"),
            "flights_share_pct": st.column_config.NumberColumn(
                "Of flights", format="%.1f%%", help="Share of the flights in this bucket."
            ),
            "delayed_15_share_pct": st.column_config.NumberColumn("15+ min late", format="%.1f%%"),
            "avg_dep_delay_minutes": st.column_config.NumberColumn(
                "Avg delay (min)", format="%.1f"
            ),
        },
    )
