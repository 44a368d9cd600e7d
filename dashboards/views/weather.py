"""Weather: how departure delays grow with poor visibility, strong wind and precipitation."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

FACTORS = {
    "visibility": ("Visibility", "Visibility at the origin airport"),
    "wind_speed": ("Wind speed", "Wind speed at the origin airport"),
    "precipitation": ("Precipitation", "Precipitation in the hour of departure"),
}

st.title("Weather")
st.caption(
    "All of the snapshot's flights by the weather at the origin airport in the hour of departure "
    "(the sidebar filters do not apply here). Bucket 1 is the best weather."
)

impact = data.load("weather_delay_impact")
if impact.empty:
    st.info("The serving snapshot has no weather impact yet. Run `make run` to compute it.")
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
        help="Share of departed flights that left 15+ minutes late in the worst bucket, and the "
        "difference with the best one.",
    )

for factor in factors:
    rows = impact[impact["weather_factor"] == factor].sort_values("bucket_order")
    title, description = FACTORS.get(factor, (factor, factor))
    st.subheader(title)
    chart_col, table_col = st.columns([3, 2])
    chart_col.altair_chart(ui.bucket_bars(rows, title=description), width="stretch")
    table_col.dataframe(
        rows,
        hide_index=True,
        column_order=[
            "bucket_label",
            "flights",
            "delayed_15_share",
            "avg_dep_delay_minutes",
        ],
        column_config={
            "bucket_label": st.column_config.TextColumn(title),
            "flights": st.column_config.NumberColumn("Flights", format="localized"),
            "delayed_15_share": st.column_config.NumberColumn("15+ min late", format="percent"),
            "avg_dep_delay_minutes": st.column_config.NumberColumn(
                "Avg delay (min)", format="%.1f"
            ),
        },
    )
