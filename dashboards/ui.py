"""Presentation helpers shared by the pages: number formats, names, colours, charts, the routes
map, empty states. No data access.

Charts follow a few rules so that every page reads the same way: dates on a date axis whose
ticks suit the range shown (days for a few days, months for a year), bars as wide as their day,
one fixed colour per carrier, per model and per meaning (blue = a count or the model, grey = a
baseline, green to red = on time to late), legends above the plot, formatted tooltips.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    import pydeck

    from dashboards.filters import Filters

ON_TIME_HELP = "Share of departed (not cancelled) flights that left less than 15 minutes late."
MISSING = "–"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"

# Colours (Vega's tableau10, so Altair's defaults and ours agree).
BLUE = "#4c78a8"
ORANGE = "#f58518"
RED = "#e45756"
TEAL = "#72b7b2"
GREEN = "#54a24b"
GREY = "#9d9d9d"
DARK = "#3b3b3b"
# Categories (carriers, models): tableau10 first, then six more that stay apart from them.
CATEGORY_COLORS = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#bab0ac",
    "#17becf",
    "#393b79",
    "#8c6d31",
    "#843c39",
    "#637939",
    "#7b4173",
)

METRIC_LABELS = {
    "roc_auc": "ROC AUC ↑",
    "pr_auc": "PR AUC ↑",
    "log_loss": "Log loss ↓",
    "brier": "Brier score ↓",
}
FEATURE_LABELS = {
    "carrier_code": "Carrier",
    "origin_airport_code": "Origin airport",
    "dest_airport_code": "Destination airport",
    "month": "Month",
    "day_of_week": "Day of week",
    "scheduled_departure_hour": "Scheduled departure hour",
    "distance_miles": "Distance",
    "plane_year": "Plane year built",
    "plane_seats": "Plane seats",
    "temperature_f": "Temperature",
    "wind_speed_mph": "Wind speed",
    "precipitation_in": "Precipitation",
    "visibility_miles": "Visibility",
}
# Name endings dropped for short carrier names ("United Air Lines Inc." -> "United").
_CARRIER_SUFFIXES = (" Inc.", " Co.", " Corporation", " Airlines", " Air Lines", " Airways", " Air")

# --------------------------------------------------------------------------------------------
# Formats


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


def fmt_date(value: Any) -> str:
    """A date or timestamp -> ``"2013-12-31"``."""
    return MISSING if is_missing(value) else pd.Timestamp(value).date().isoformat()


def fmt_timestamp(value: Any) -> str:
    """A timestamp -> ``"2013-12-31 23:59"``."""
    return MISSING if is_missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def short_carrier_name(name: Any, code: Any = None) -> str:
    """``"United Air Lines Inc."`` -> ``"United"``, ``"US Airways Inc."`` -> ``"US Airways"``:
    short enough for chips and legends; the code when the name is missing."""
    if is_missing(name):
        return fmt_text(code)
    short = str(name)
    for suffix in _CARRIER_SUFFIXES:
        trimmed = short.removesuffix(suffix)
        if len(trimmed) > 3:  # "US Airways" stays, not "US"
            short = trimmed
    return short


def carrier_label(code: str, name: Any = None) -> str:
    """``("UA", "United Air Lines Inc.")`` -> ``"United (UA)"``: for chips and legends."""
    return f"{short_carrier_name(name, code)} ({code})" if not is_missing(name) else str(code)


def feature_label(feature: str) -> str:
    """A model feature's column name as a person would say it."""
    return FEATURE_LABELS.get(feature, feature.replace("_", " ").capitalize())


def percent_points(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Copies of share columns (0..1) as percentages (0..100) named ``<column>_pct``, for tables:
    Streamlit's ``"percent"`` format drops trailing zeros ("70%", "2.38%"); ``"%.1f%%"`` on the
    percentage shows every row with one decimal."""
    return frame.assign(**{f"{c}_pct": frame[c] * 100 for c in columns})


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


# --------------------------------------------------------------------------------------------
# Date axes

# Vega-Lite time units in UTC: the dates arrive as midnight UTC, and a local time unit would put
# them on the previous evening for a reader west of Greenwich.
_TIME_UNITS = {"day": "utcyearmonthdate", "week": "utcyearmonthdate", "month": "utcyearmonth"}
_TOOLTIP_FORMATS = {"day": "%a %b %-d, %Y", "week": "Week of %b %-d, %Y", "month": "%B %Y"}


def date_span_days(dates: pd.Series) -> int:
    """Days from the first to the last date (0 for one date or none)."""
    values = pd.to_datetime(dates.dropna())
    return 0 if values.empty else int((values.max() - values.min()).days)


def grain_for_span(days: int) -> str:
    """The period a trend over ``days`` days reads best in: a point per day up to about six
    weeks, per week up to about a year and a half, then per month."""
    if days <= 45:
        return "day"
    if days <= 550:
        return "week"
    return "month"


def date_x(field: str, dates: pd.Series, *, grain: str = "day") -> alt.X:
    """A date x encoding whose ticks and labels suit the range: every day (or every other) over
    a few days, weeks over a few months, months over a year; the year in the title when it is
    the same for every date."""
    values = pd.to_datetime(dates.dropna())
    span = date_span_days(dates)
    single_year = not values.empty and values.min().year == values.max().year
    axis: dict[str, Any] = {"labelAngle": 0, "labelOverlap": True, "grid": False}
    if values.empty:
        pass
    elif grain == "month" or span > 120:
        axis.update(tickCount={"interval": "month", "step": 1 if span <= 450 else 3})
        axis.update(format="%b" if single_year else "%b %Y")
    elif span > 31:
        axis.update(tickCount={"interval": "week", "step": 1}, format="%b %-d")
    else:
        step = max(1, math.ceil((span + 1) / 14))
        axis.update(tickCount={"interval": "day", "step": step}, format="%b %-d")
    title = f"Flight date ({values.min().year})" if single_year else "Flight date"
    if grain != "day":
        title = title.replace("Flight date", f"{grain.capitalize()} starting")
    return alt.X(f"{field}:T", timeUnit=_TIME_UNITS[grain], title=title, axis=alt.Axis(**axis))


def date_tooltip(field: str, *, grain: str = "day", title: str = "Date") -> alt.Tooltip:
    return alt.Tooltip(
        f"{field}:T", timeUnit=_TIME_UNITS[grain], title=title, format=_TOOLTIP_FORMATS[grain]
    )


def _legend() -> alt.Legend:
    return alt.Legend(orient="top", title=None, symbolStrokeWidth=3, labelLimit=220)


def _color(field: str, palette: Mapping[str, str] | None) -> alt.Color:
    if palette:
        scale = alt.Scale(domain=list(palette), range=list(palette.values()))
    else:
        scale = alt.Scale(range=list(CATEGORY_COLORS))
    return alt.Color(f"{field}:N", scale=scale, legend=_legend())


def category_palette(names: Sequence[str]) -> dict[str, str]:
    """A fixed colour per name, in the order given (give every name the snapshot has, not only
    those shown, so that a carrier keeps its colour whatever the selection)."""
    return {
        name: CATEGORY_COLORS[i % len(CATEGORY_COLORS)]
        for i, name in enumerate(dict.fromkeys(names))
    }


# --------------------------------------------------------------------------------------------
# Charts


def time_series(
    frame: pd.DataFrame,
    *,
    y: str,
    y_title: str,
    x: str = "flight_date",
    grain: str = "day",
    color: str | None = None,
    color_title: str | None = None,
    palette: Mapping[str, str] | None = None,
    dashes: Mapping[str, Sequence[int]] | None = None,
    y_format: str | None = None,
    mark: str = "line",
    mark_color: str = BLUE,
    smooth: bool | None = None,
    extra_tooltips: Sequence[alt.Tooltip] = (),
    height: int = 320,
) -> alt.Chart | alt.LayerChart:
    """``y`` per ``grain`` period starting at date ``x`` (optionally one line per ``color``).

    ``y_format`` is a d3 format such as ``".0%"``; ``mark`` is ``"line"`` or ``"bar"`` (bars are
    as wide as their day). ``smooth`` (default: daily lines over more than 90 days) draws each
    line faint with its centred 7-day mean bold on top, so that a year of days still shows the
    trend. ``dashes`` maps a ``color`` value to a stroke dash pattern.
    """
    span = date_span_days(frame[x]) if len(frame) else 0
    if smooth is None:
        smooth = mark == "line" and grain == "day" and span > 90
    y_axis = alt.Axis(format=y_format, titlePadding=8) if y_format else alt.Axis(titlePadding=8)
    tooltip = [
        date_tooltip(x, grain=grain),
        alt.Tooltip(f"{y}:Q", title=y_title, format=y_format or ",.1f"),
        *extra_tooltips,
    ]
    # Lines show change, so their y axis fits the data; bars show amounts, so start at zero.
    y_scale = alt.Scale(zero=mark == "bar")
    encodings: dict[str, Any] = {
        "x": date_x(x, frame[x], grain=grain),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=y_axis, scale=y_scale),
        "tooltip": tooltip,
    }
    if color:
        present = set(frame[color])
        # Only the colours of the series shown, else the legend lists every carrier.
        palette = {k: v for k, v in (palette or {}).items() if k in present} or None
        encodings["color"] = _color(color, palette)
        tooltip.insert(1, alt.Tooltip(f"{color}:N", title=color_title or color))
        if dashes:
            encodings["strokeDash"] = alt.StrokeDash(
                f"{color}:N",
                scale=alt.Scale(domain=list(dashes), range=[list(d) for d in dashes.values()]),
                legend=None,
            )
    base = alt.Chart(frame)
    if mark == "bar":
        bar = {} if color else {"color": mark_color}
        # Centred on the day's tick (bandPosition 0), 85% of the day wide.
        encodings["x"] = encodings["x"].copy()
        encodings["x"].bandPosition = 0
        chart = base.mark_bar(width={"band": 0.85}, **bar)
        return chart.encode(**encodings).properties(height=height)
    line = {} if color else {"color": mark_color}
    if not smooth:
        points = len(frame) <= (62 if not color else 62 * max(1, frame[color].nunique()))
        point: Any = False
        if points and span <= 62:
            point = alt.OverlayMarkDef(filled=True, size=40, **line)
        chart = base.mark_line(point=point, strokeWidth=2, **line)
        return chart.encode(**encodings).properties(height=height)
    raw = base.mark_line(strokeWidth=1, opacity=0.3, **line).encode(**encodings)
    mean_encodings = {
        **{k: v for k, v in encodings.items() if k != "tooltip"},
        "y": alt.Y("rolling_mean:Q", title=y_title, axis=y_axis, scale=y_scale),
    }
    mean = (
        base.transform_window(
            rolling_mean=f"mean({y})",
            frame=[-3, 3],
            sort=[alt.SortField(x)],
            groupby=[color] if color else [],
        )
        .mark_line(strokeWidth=2.5, **line)
        .encode(**mean_encodings)
    )
    return (raw + mean).properties(height=height)


def comparison_series(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    y_title: str,
    x: str = "flight_date",
    y_format: str | None = None,
    series_title: str = "Series",
    palette: Mapping[str, str] | None = None,
    dashes: Mapping[str, Sequence[int]] | None = None,
    height: int = 320,
) -> alt.Chart | alt.LayerChart:
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
        palette=palette,
        dashes=dashes,
        y_format=y_format,
        height=height,
    )


def single_period_bars(
    frame: pd.DataFrame,
    *,
    category: str,
    value: str,
    value_title: str,
    palette: Mapping[str, str] | None = None,
    value_format: str | None = None,
) -> alt.Chart:
    """One horizontal bar per ``category``: a trend with a single period has no line to draw."""
    order = frame.sort_values(value, ascending=False)[category].tolist()
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=None, sort=order, axis=alt.Axis(labelLimit=220)),
            x=alt.X(f"{value}:Q", title=value_title, axis=alt.Axis(format=value_format)),
            color=alt.Color(
                f"{category}:N",
                scale=alt.Scale(domain=list(palette), range=list(palette.values()))
                if palette
                else alt.Scale(range=list(CATEGORY_COLORS)),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip(f"{category}:N", title="Carrier"),
                alt.Tooltip(f"{value}:Q", title=value_title, format=value_format or ",.1f"),
            ],
        )
        .properties(height=36 * len(order) + 50)
    )


def metric_bars(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    palette: Mapping[str, str] | None = None,
    height: int | None = None,
) -> alt.Chart:
    """The validation metrics (one row per ``metric``) as horizontal bars, one per model
    (``columns``: wide column -> label), the value printed at the end of each bar."""
    long = (
        frame.melt(id_vars=["metric"], value_vars=list(columns), var_name="model", value_name="v")
        .assign(
            model=lambda d: d["model"].map(columns),
            metric_label=lambda d: d["metric"].map(lambda m: METRIC_LABELS.get(m, m)),
        )
        .dropna(subset=["v"])
    )
    metric_order = [METRIC_LABELS.get(m, m) for m in dict.fromkeys(frame["metric"])]
    models = list(columns.values())
    palette = palette or dict(zip(models, CATEGORY_COLORS, strict=False))
    base = alt.Chart(long).encode(
        y=alt.Y("metric_label:N", title=None, sort=metric_order, axis=alt.Axis(labelLimit=200)),
        yOffset=alt.YOffset("model:N", sort=models),
        x=alt.X("v:Q", title="Value on the validation days", scale=alt.Scale(domainMin=0)),
    )
    bars = base.mark_bar(height={"band": 0.9}).encode(
        color=alt.Color(
            "model:N",
            sort=models,
            scale=alt.Scale(domain=list(palette), range=list(palette.values())),
            legend=_legend(),
        ),
        tooltip=[
            alt.Tooltip("metric_label:N", title="Metric"),
            alt.Tooltip("model:N", title="Model"),
            alt.Tooltip("v:Q", title="Value", format=".4f"),
        ],
    )
    labels = base.mark_text(align="left", dx=4, fontSize=11, color=DARK).encode(
        text=alt.Text("v:Q", format=".3f")
    )
    rows = len(metric_order) * len(models)
    return (bars + labels).properties(height=height or 22 * rows + 60)


def bucket_bars(frame: pd.DataFrame, *, title: str, height: int = 260) -> alt.Chart:
    """Delayed share per weather bucket (``bucket_label``, in ``bucket_order``), flights in the
    tooltip and the share printed on each bar."""
    order = frame.sort_values("bucket_order")["bucket_label"].tolist()
    base = alt.Chart(frame).encode(
        x=alt.X("bucket_label:N", title=title, sort=order, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(
            "delayed_15_share:Q",
            title="Departures 15+ min late",
            axis=alt.Axis(format=".0%"),
            scale=alt.Scale(domainMin=0),
        ),
    )
    bars = base.mark_bar(width={"band": 0.7}).encode(
        color=alt.Color(
            "delayed_15_share:Q",
            scale=alt.Scale(scheme="orangered", domainMin=0),
            legend=None,
        ),
        tooltip=[
            alt.Tooltip("bucket_label:N", title=title),
            alt.Tooltip("delayed_15_share:Q", title="15+ min late", format=".1%"),
            alt.Tooltip("avg_dep_delay_minutes:Q", title="Avg delay (min)", format=".1f"),
            alt.Tooltip("flights:Q", title="Flights", format=","),
        ],
    )
    labels = base.mark_text(baseline="bottom", dy=-3, fontSize=11, color=DARK).encode(
        text=alt.Text("delayed_15_share:Q", format=".0%")
    )
    return (bars + labels).properties(height=height)


def calibration_chart(frame: pd.DataFrame, height: int = 320) -> alt.Chart:
    """Observed late share against mean predicted probability per bin, with the diagonal; the
    points sized by the flights in their bin."""
    top = float(max(frame["mean_predicted"].max(), frame["observed_rate"].max(), 0.05))
    top = min(1.0, math.ceil(top * 10 + 0.5) / 10)
    diagonal = pd.DataFrame({"x": [0.0, top], "y": [0.0, top]})
    scale = alt.Scale(domain=[0, top])
    line = (
        alt.Chart(diagonal)
        .mark_line(strokeDash=[4, 4], color=GREY)
        .encode(x=alt.X("x:Q", scale=scale), y=alt.Y("y:Q", scale=scale))
    )
    x = alt.X(
        "mean_predicted:Q",
        title="Mean predicted probability",
        axis=alt.Axis(format=".0%"),
        scale=scale,
    )
    y = alt.Y(
        "observed_rate:Q", title="Observed late share", axis=alt.Axis(format=".0%"), scale=scale
    )
    tooltip = [
        alt.Tooltip("bin:O", title="Bin"),
        alt.Tooltip("mean_predicted:Q", title="Predicted", format=".1%"),
        alt.Tooltip("observed_rate:Q", title="Observed", format=".1%"),
        alt.Tooltip("flights:Q", title="Flights", format=","),
    ]
    path = alt.Chart(frame).mark_line(color=BLUE, strokeWidth=2).encode(x=x, y=y, order="bin:O")
    points = (
        alt.Chart(frame)
        .mark_circle(color=BLUE, opacity=0.9)
        .encode(
            x=x,
            y=y,
            size=alt.Size("flights:Q", legend=None, scale=alt.Scale(range=[30, 300])),
            tooltip=tooltip,
        )
    )
    return (line + path + points).properties(height=height)


def importance_chart(frame: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Permutation importance per feature (named as a person would) as bars, ± one standard
    deviation as error bars."""
    frame = frame.assign(
        feature_label=frame["feature"].map(feature_label),
        low=frame["importance_mean"] - frame["importance_std"].fillna(0.0),
        high=frame["importance_mean"] + frame["importance_std"].fillna(0.0),
    )
    order = frame.sort_values("importance_mean", ascending=False)["feature_label"].tolist()
    y = alt.Y(
        "feature_label:N",
        title=None,
        sort=order,
        axis=alt.Axis(labelLimit=220, labelOverlap=False),
    )
    bars = (
        alt.Chart(frame)
        .mark_bar(color=BLUE, height={"band": 0.75})
        .encode(
            x=alt.X("importance_mean:Q", title="Drop in validation ROC AUC when shuffled"),
            y=y,
            tooltip=[
                alt.Tooltip("feature_label:N", title="Feature"),
                alt.Tooltip("feature:N", title="Column"),
                alt.Tooltip("importance_mean:Q", title="Mean", format=".4f"),
                alt.Tooltip("importance_std:Q", title="Std", format=".4f"),
            ],
        )
    )
    errors = alt.Chart(frame).mark_rule(color=DARK).encode(x="low:Q", x2="high:Q", y=y)
    return (bars + errors).properties(height=height or 24 * len(frame) + 50)


# --------------------------------------------------------------------------------------------
# Routes map

# On-time share -> colour: red at 55% or less, amber at 72%, green at 88% or more.
ON_TIME_STOPS = ((0.55, (215, 48, 39)), (0.72, (244, 165, 50)), (0.88, (26, 152, 80)))
ON_TIME_LEGEND = ":red[red ≤ 55%] · :orange[amber ≈ 72%] · :green[green ≥ 88%] on time"


def on_time_color(share: Any, alpha: int = 210) -> list[int]:
    """RGBA from red (often late) through amber to green (on time); grey when unknown."""
    if is_missing(share):
        return [150, 150, 150, 160]
    share = float(share)
    (low, low_rgb), *_ = ON_TIME_STOPS
    if share <= low:
        return [*low_rgb, alpha]
    for (a, rgb_a), (b, rgb_b) in zip(ON_TIME_STOPS, ON_TIME_STOPS[1:], strict=False):
        if share <= b:
            t = (share - a) / (b - a)
            return [round(ca + (cb - ca) * t) for ca, cb in zip(rgb_a, rgb_b, strict=True)] + [
                alpha
            ]
    return [*ON_TIME_STOPS[-1][1], alpha]


@cache
def us_states() -> dict[str, Any]:
    """The US states' outlines (GeoJSON, ``assets/us_states.geojson``), or an empty collection
    when the file is missing."""
    try:
        return json.loads((ASSETS_DIR / "us_states.geojson").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"type": "FeatureCollection", "features": []}


def fit_view(
    longitudes: Sequence[float], latitudes: Sequence[float], *, width: int = 900, height: int = 540
) -> dict[str, float]:
    """Centre and zoom (Web Mercator) that show every point in a ``width`` x ``height`` map."""
    lon_min, lon_max = min(longitudes), max(longitudes)
    lat_min, lat_max = min(latitudes), max(latitudes)

    def mercator_y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    y_min, y_max = mercator_y(lat_min), mercator_y(lat_max)
    centre_y = (y_min + y_max) / 2
    centre_lat = math.degrees(2 * math.atan(math.exp(centre_y)) - math.pi / 2)
    lon_span = max(lon_max - lon_min, 1.0) * 1.15
    y_span = max(y_max - y_min, 0.02) * 1.4
    zoom_x = math.log2(width * 360 / (512 * lon_span))
    zoom_y = math.log2(height * 2 * math.pi / (512 * y_span))
    return {
        "longitude": (lon_min + lon_max) / 2,
        "latitude": centre_lat,
        "zoom": max(0.5, min(zoom_x, zoom_y, 7.0)),
    }


def routes_deck(
    routes: pd.DataFrame,
    airports: pd.DataFrame,
    *,
    labels: pd.DataFrame | None = None,
    view: Mapping[str, float] | None = None,
) -> pydeck.Deck:
    """Arcs from each NYC airport to its destinations (width ~ flights, colour ~ on-time share)
    over the US states' outlines (no basemap needed), the airports as dots sized by flights.
    ``routes`` must have coordinates (no NULLs); ``airports`` has ``longitude``, ``latitude``,
    ``label`` (tooltip HTML), ``radius`` (pixels) and ``color``; ``labels`` (``longitude``,
    ``latitude``, ``text``) are written on the map."""
    import pydeck
    from pydeck.types import String  # a bare string would be read as an expression

    busiest = float(routes["flights"].max()) if len(routes) else 1.0
    arcs = routes.assign(
        source=lambda d: d[["origin_longitude", "origin_latitude"]].values.tolist(),
        target=lambda d: d[["dest_longitude", "dest_latitude"]].values.tolist(),
        width=lambda d: (1 + 7 * (d["flights"] / busiest) ** 0.5).round(2),
        color=lambda d: d["on_time_share"].map(on_time_color),
        label=lambda d: (
            "<b>"
            + d["origin_airport_code"]
            + " → "
            + d["dest_airport_code"]
            + "</b><br/>"
            + d["flights"].map(fmt_count)
            + " flights · on time "
            + d["on_time_share"].map(fmt_share)
            + "<br/>avg departure delay "
            + d["avg_dep_delay_minutes"].map(fmt_minutes)
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
    dots = airports.assign(position=lambda d: d[["longitude", "latitude"]].values.tolist())
    if labels is None:
        labels = pd.DataFrame({"longitude": [], "latitude": [], "text": []})
    texts = labels.assign(position=lambda d: d[["longitude", "latitude"]].values.tolist())[
        ["position", "text"]
    ]
    view = view or fit_view(dots["longitude"].tolist(), dots["latitude"].tolist())
    return pydeck.Deck(
        layers=[
            pydeck.Layer(
                "GeoJsonLayer",
                id="states",
                data=us_states(),
                stroked=True,
                filled=True,
                get_fill_color=[238, 238, 232, 255],
                get_line_color=[190, 190, 185, 255],
                line_width_min_pixels=1,
                pickable=False,
            ),
            pydeck.Layer(
                "ArcLayer",
                id="routes",
                data=arcs,
                get_source_position="source",
                get_target_position="target",
                get_source_color="color",
                get_target_color="color",
                get_width="width",
                width_units=String("pixels"),
                get_height=0.35,
                get_tilt=90,  # the arc lies on the map: a curve seen from above, not a line
                pickable=True,
                auto_highlight=True,
            ),
            pydeck.Layer(
                "ScatterplotLayer",
                id="airports",
                data=dots[["position", "label", "radius", "color"]],
                get_position="position",
                get_radius="radius",
                radius_units=String("pixels"),
                radius_min_pixels=2,
                radius_max_pixels=14,
                billboard=True,
                stroked=True,
                get_fill_color="color",
                get_line_color=[255, 255, 255, 255],
                line_width_min_pixels=1,
                pickable=True,
            ),
            pydeck.Layer(
                "TextLayer",
                id="codes",
                data=texts,
                get_position="position",
                get_text="text",
                get_size=12,
                size_units=String("pixels"),
                get_color=[40, 40, 40, 255],
                get_pixel_offset=[0, -9],
                font_family=String("Source Sans, Helvetica, Arial, sans-serif"),
                font_weight=600,
                get_text_anchor=String("middle"),
                get_alignment_baseline=String("bottom"),
                background=True,
                get_background_color=[255, 255, 255, 200],
                background_padding=[2, 0],
                pickable=False,
            ),
        ],
        initial_view_state=pydeck.ViewState(**view, pitch=0, bearing=0),
        tooltip={
            "html": "{label}",
            "style": {"fontSize": "13px", "backgroundColor": "#333", "color": "white"},
        },
        map_style=None,  # Streamlit's theme basemap when online; the state outlines offline
    )
