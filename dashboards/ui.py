"""Presentation helpers shared by the pages: number formats and Altair charts. No data access."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

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
