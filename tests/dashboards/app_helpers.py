"""AppTest helpers shared by the dashboard page tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

APP_PATH = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PAGES = [
    "views/overview.py",
    "views/carriers.py",
    "views/airports_routes.py",
    "views/weather.py",
    "views/delay_model.py",
    "views/pipeline_health.py",
]

_components = None  # Streamlit's component registry, shared by every AppTest of this module


def run_app(page: str | None = None) -> AppTest:
    """A fresh session of the app, opened on ``page`` (default: the entrypoint's default page)."""
    global _components
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    # Every new AppTest scans all installed distributions for Streamlit components (~1 s here);
    # the result does not change within the test session, so reuse the first one.
    if _components is not None and hasattr(at, "_bidi_component_manager"):
        at._bidi_component_manager = _components
    if page is not None:
        at.switch_page(page)
    rerun(at)
    _components = getattr(at, "_bidi_component_manager", None)
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_frames(at: AppTest) -> list[pd.DataFrame]:
    """The data of every Vega-Lite (Altair) chart on the page, in order (one dataset each)."""
    frames = []
    for chart in at.get("vega_lite_chart"):
        datasets = [
            dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data)
            for d in chart.proto.datasets
        ]
        if chart.proto.HasField("data"):
            datasets.append(dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.data.data))
        frames.append(max(datasets, key=len))  # a layered chart may add a tiny helper dataset
    return frames


def deck_layers(at: AppTest) -> dict[str, list[dict]]:
    (deck,) = at.get("deck_gl_json_chart")
    spec = json.loads(deck.proto.json)
    return {layer["id"]: layer["data"] for layer in spec["layers"]}


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def as_count(text: str) -> int:
    return int(text.replace(",", ""))


def as_share(text: str) -> float:
    assert text.endswith("%")
    return float(text[:-1]) / 100


def as_minutes(text: str) -> float:
    number, unit = text.split()
    assert unit == "min"
    return float(number)


def departed(flights: pd.DataFrame) -> pd.DataFrame:
    return flights[~flights["is_cancelled"]]


def on_time_share(flights: pd.DataFrame) -> float:
    return float((~departed(flights)["is_departure_delayed_15"].astype(bool)).mean())


def set_filters(at: AppTest, *, dates=None, carriers=None, origins=None) -> AppTest:
    if dates is not None:
        at.date_input(key="filter_dates").set_value(dates)
    if carriers is not None:
        at.multiselect(key="filter_carriers").set_value(carriers)
    if origins is not None:
        at.multiselect(key="filter_origins").set_value(origins)
    return rerun(at)
