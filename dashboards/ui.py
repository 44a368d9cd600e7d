"""Presentation helpers shared by the pages: number formats, charts, the routes map, empty
states. No data access."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    import pydeck

    from dashboards.filters import Filters

ON_TIME_HELP = "Share of departed (not cancelled) flights that left less than 15 minutes late."
MISSING = "–"


def is_missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def fmt_text(value: Any) -> str:
    """Any value as text, ``"–"`` when missing."""
    return MISSING if is_missing(value) else str(value)


def fmt_count(value: Any) -> str:
    """``12345`` -> ``"12,345"``."""
    return MISSING if is_missing(value) else f"{int(value):,}"


def fmt_share(value: Any) -> str:
    """``0.8123`` -> ``"81.2%"``."""
    return MISSING if is_missing(value) else f"{float(value):.1%}"


def fmt_minutes(value: Any) -> str:
    """``12.345`` -> ``"12.3 min"``."""
    return MISSING if is_missing(value) else f"{float(value):.1f} min"


def fmt_signed(value: Any, digits: int = 4) -> str:
    """``0.01234`` -> ``"+0.0123"``."""
    return MISSING if is_missing(value) else f"{float(value):+.{digits}f}"


def no_flights(filters: Filters) -> None:
    """Say why there is nothing to show (a filter, or no data yet) and stop the page."""
    if filters.is_active:
        st.info(
            f"No flights match the filters ({filters.describe()}). Widen them in the sidebar.",
            icon=":material/filter_alt_off:",
        )
    else:
        st.info(
            "The serving snapshot has no flights yet. Run `make run` to load some.",
            icon=":material/info:",
        )
    st.stop()


def fmt_date(value: Any) -> str:
    """A date or timestamp -> ``"2013-12-31"``."""
    return MISSING if is_missing(value) else pd.Timestamp(value).date().isoformat()


def fmt_timestamp(value: Any) -> str:
    """A timestamp -> ``"2013-12-31 23:59"``."""
    return MISSING if is_missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def time_series(
    frame: pd.DataFrame,
    *,
    y: str,
    y_title: str,
    x: str = "flight_date",
    color: str | None = None,
    color_title: str | None = None,
    y_format: str | None = None,
    mark: str = "line",
    height: int = 320,
) -> alt.Chart:
    """A daily chart of ``y`` over ``x`` (optionally one line per ``color``).

    ``y_format`` is a d3 format such as ``".0%"``; ``mark`` is ``"line"`` or ``"bar"``.
    """
    y_axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    encodings: dict[str, Any] = {
        "x": alt.X(f"{x}:T", title="Date"),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=y_axis),
        "tooltip": [
            alt.Tooltip(f"{x}:T", title="Date"),
            alt.Tooltip(f"{y}:Q", title=y_title, format=y_format or ",.2~f"),
        ],
    }
    if color:
        encodings["color"] = alt.Color(f"{color}:N", title=color_title or color)
        encodings["tooltip"].insert(1, alt.Tooltip(f"{color}:N", title=color_title or color))
    base = alt.Chart(frame)
    chart = base.mark_bar() if mark == "bar" else base.mark_line(point=len(frame) <= 62)
    return chart.encode(**encodings).properties(height=height)


def comparison_series(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    y_title: str,
    x: str = "flight_date",
    y_format: str | None = None,
    series_title: str = "Series",
    height: int = 320,
) -> alt.Chart:
    """Several wide columns of ``frame`` as one line each; ``columns`` maps column -> label."""
    long = frame.melt(
        id_vars=[x], value_vars=list(columns), var_name="series", value_name="value"
    ).assign(series=lambda d: d["series"].map(columns))
    return time_series(
        long,
        x=x,
        y="value",
        y_title=y_title,
        color="series",
        color_title=series_title,
        y_format=y_format,
        height=height,
    )


def grouped_bars(
    frame: pd.DataFrame,
    *,
    category: str,
    columns: Mapping[str, str],
    value_title: str,
    group_title: str = "Model",
    height: int = 280,
) -> alt.Chart:
    """Bars grouped by ``category`` row, one per wide column (``columns``: col -> label)."""
    long = (
        frame.melt(id_vars=[category], value_vars=list(columns), var_name="group", value_name="v")
        .assign(group=lambda d: d["group"].map(columns))
        .dropna(subset=["v"])
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(f"{category}:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("group:N", sort=list(columns.values())),
            y=alt.Y("v:Q", title=value_title),
            color=alt.Color("group:N", title=group_title, sort=list(columns.values())),
            tooltip=[
                alt.Tooltip(f"{category}:N", title="Metric"),
                alt.Tooltip("group:N", title=group_title),
                alt.Tooltip("v:Q", title=value_title, format=".4f"),
            ],
        )
        .properties(height=height)
    )


def bucket_bars(frame: pd.DataFrame, *, title: str, height: int = 260) -> alt.Chart:
    """Delayed share per weather bucket (``bucket_label``, in ``bucket_order``), flights in the
    tooltip."""
    order = frame.sort_values("bucket_order")["bucket_label"].tolist()
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("bucket_label:N", title=title, sort=order, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                "delayed_15_share:Q", title="Departures 15+ min late", axis=alt.Axis(format=".0%")
            ),
            color=alt.Color("delayed_15_share:Q", scale=alt.Scale(scheme="orangered"), legend=None),
            tooltip=[
                alt.Tooltip("bucket_label:N", title=title),
                alt.Tooltip("delayed_15_share:Q", title="15+ min late", format=".1%"),
                alt.Tooltip("avg_dep_delay_minutes:Q", title="Avg delay (min)", format=".1f"),
                alt.Tooltip("flights:Q", title="Flights", format=","),
            ],
        )
        .properties(height=height)
    )


def calibration_chart(frame: pd.DataFrame, height: int = 320) -> alt.Chart:
    """Observed late share against mean predicted probability per bin, with the diagonal."""
    top = float(max(frame["mean_predicted"].max(), frame["observed_rate"].max(), 0.05))
    diagonal = pd.DataFrame({"x": [0.0, top], "y": [0.0, top]})
    line = (
        alt.Chart(diagonal)
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x=alt.X("x:Q"), y=alt.Y("y:Q"))
    )
    points = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "mean_predicted:Q", title="Mean predicted probability", axis=alt.Axis(format=".0%")
            ),
            y=alt.Y("observed_rate:Q", title="Observed late share", axis=alt.Axis(format=".0%")),
            tooltip=[
                alt.Tooltip("bin:O", title="Bin"),
                alt.Tooltip("mean_predicted:Q", title="Predicted", format=".1%"),
                alt.Tooltip("observed_rate:Q", title="Observed", format=".1%"),
                alt.Tooltip("flights:Q", title="Flights", format=","),
            ],
        )
    )
    return (points + line).properties(height=height)


def importance_chart(frame: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Permutation importance per feature as bars, ± one standard deviation as error bars."""
    frame = frame.assign(
        low=frame["importance_mean"] - frame["importance_std"].fillna(0.0),
        high=frame["importance_mean"] + frame["importance_std"].fillna(0.0),
    )
    order = frame.sort_values("importance_mean", ascending=False)["feature"].tolist()
    y = alt.Y("feature:N", title=None, sort=order)
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("importance_mean:Q", title="Drop in validation ROC AUC when shuffled"),
            y=y,
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("importance_mean:Q", title="Mean", format=".4f"),
                alt.Tooltip("importance_std:Q", title="Std", format=".4f"),
            ],
        )
    )
    errors = alt.Chart(frame).mark_rule(color="black").encode(x="low:Q", x2="high:Q", y=y)
    return (bars + errors).properties(height=height or 22 * len(frame) + 40)


def on_time_color(share: Any) -> list[int]:
    """RGB(A) from red (low on-time share) to green (high); grey when unknown."""
    if is_missing(share):
        return [150, 150, 150, 160]
    t = min(max((float(share) - 0.5) / 0.4, 0.0), 1.0)  # 50% -> red, 90% -> green
    return [int(220 * (1 - t) + 30 * t), int(50 * (1 - t) + 170 * t), 60, 200]


def routes_deck(routes: pd.DataFrame, airports: pd.DataFrame) -> pydeck.Deck:
    """Arcs from each NYC airport to its destinations (width ~ flights, colour ~ on-time share)
    and the airports as dots. ``routes`` must have coordinates (no NULLs)."""
    import pydeck

    busiest = float(routes["flights"].max()) if len(routes) else 1.0
    arcs = routes.assign(
        source=lambda d: d[["origin_longitude", "origin_latitude"]].values.tolist(),
        target=lambda d: d[["dest_longitude", "dest_latitude"]].values.tolist(),
        width=lambda d: 1 + 7 * d["flights"] / busiest,
        color=lambda d: d["on_time_share"].map(on_time_color),
        label=lambda d: (
            d["origin_airport_code"]
            + " → "
            + d["dest_airport_code"]
            + ": "
            + d["flights"].map(fmt_count)
            + " flights, on time "
            + d["on_time_share"].map(fmt_share)
        ),
    )[
        [
            "origin_airport_code",
            "dest_airport_code",
            "flights",
            "on_time_share",
            "source",
            "target",
            "width",
            "color",
            "label",
        ]
    ]
    dots = airports.assign(position=lambda d: d[["longitude", "latitude"]].values.tolist())[
        ["position", "label", "radius"]
    ]
    return pydeck.Deck(
        layers=[
            pydeck.Layer(
                "ArcLayer",
                id="routes",
                data=arcs,
                get_source_position="source",
                get_target_position="target",
                get_source_color="color",
                get_target_color="color",
                get_width="width",
                pickable=True,
            ),
            pydeck.Layer(
                "ScatterplotLayer",
                id="airports",
                data=dots,
                get_position="position",
                get_radius="radius",
                radius_units="pixels",
                get_fill_color=[40, 90, 200, 220],
                pickable=True,
            ),
        ],
        initial_view_state=pydeck.ViewState(latitude=38.5, longitude=-92.0, zoom=3, pitch=30),
        tooltip={"text": "{label}"},
        map_style=None,  # Streamlit picks a basemap matching its theme (needs internet tiles)
    )
