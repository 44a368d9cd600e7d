"""The presentation helpers: names, the trend grain, date axes, the routes map's spec."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from dashboards import ui


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("United Air Lines Inc.", "United"),
        ("Delta Air Lines Inc.", "Delta"),
        ("ExpressJet Airlines Inc.", "ExpressJet"),
        ("AirTran Airways Corporation", "AirTran"),
        ("Southwest Airlines Co.", "Southwest"),
        ("Endeavor Air Inc.", "Endeavor"),
        ("US Airways Inc.", "US Airways"),  # not "US"
        ("Virgin America", "Virgin America"),
    ],
)
def test_short_carrier_names_drop_legal_and_generic_endings(name, short):
    assert ui.short_carrier_name(name, "XX") == short
    assert ui.carrier_label("XX", name) == f"{short} (XX)"


def test_missing_carrier_name_falls_back_to_the_code():
    assert ui.short_carrier_name(None, "ZZ") == "ZZ"
    assert ui.carrier_label("ZZ", None) == "ZZ"


def test_every_model_feature_has_a_human_label():
    from ml.features import FEATURES

    for feature in FEATURES:
        assert feature in ui.FEATURE_LABELS, feature
        assert "_" not in ui.feature_label(feature)


@pytest.mark.parametrize(("days", "grain"), [(0, "day"), (45, "day"), (46, "week"), (364, "week")])
def test_trend_grain_follows_the_date_range(days, grain):
    assert ui.grain_for_span(days) == grain
    assert ui.grain_for_span(2000) == "month"


def _x_axis(chart) -> dict:
    spec = chart.to_dict()
    layer = spec["layer"][0] if "layer" in spec else spec
    return layer["encoding"]["x"]


def test_date_axis_ticks_days_over_days_and_months_over_a_year():
    days = pd.Series(pd.date_range("2013-03-07", periods=4, freq="D"))
    x = _x_axis(ui.time_series(pd.DataFrame({"flight_date": days, "n": 1}), y="n", y_title="N"))
    # UTC day units: a date must not become the previous evening west of Greenwich.
    assert x["timeUnit"] == "utcyearmonthdate"
    assert x["axis"]["tickCount"] == {"interval": "day", "step": 1}
    assert x["axis"]["format"] == "%b %-d"

    year = pd.Series(pd.date_range("2013-01-01", "2013-12-31", freq="D"))
    chart = ui.time_series(pd.DataFrame({"flight_date": year, "n": 1.0}), y="n", y_title="N")
    x = _x_axis(chart)
    assert x["axis"]["tickCount"]["interval"] == "month"
    assert x["axis"]["format"] == "%b"
    assert x["title"] == "Flight date (2013)"
    assert "layer" in chart.to_dict()  # a year of daily values: the 7-day mean on top


def test_daily_bars_fill_their_day_centred_on_its_tick():
    days = pd.Series(pd.date_range("2013-03-07", periods=4, freq="D"))
    spec = ui.time_series(
        pd.DataFrame({"flight_date": days, "n": 1}), y="n", y_title="N", mark="bar"
    ).to_dict()
    assert spec["encoding"]["x"]["bandPosition"] == 0
    assert spec["mark"]["width"] == {"band": 0.85}


def test_a_carrier_keeps_its_colour_and_the_legend_lists_only_those_shown():
    palette = ui.category_palette(["A (A)", "B (B)", "C (C)"])
    assert len(set(palette.values())) == 3
    frame = pd.DataFrame(
        {
            "period_start": pd.to_datetime(["2013-03-04", "2013-03-11"] * 2),
            "carrier": ["C (C)", "C (C)", "A (A)", "A (A)"],
            "share": [0.5, 0.6, 0.7, 0.8],
        }
    )
    spec = ui.time_series(
        frame,
        x="period_start",
        grain="week",
        y="share",
        y_title="S",
        color="carrier",
        palette=palette,
    ).to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == ["A (A)", "C (C)"]
    assert scale["range"] == [palette["A (A)"], palette["C (C)"]]


def test_on_time_colour_runs_from_red_through_amber_to_green():
    red, amber, green = (rgb for _, rgb in ui.ON_TIME_STOPS)
    assert ui.on_time_color(0.30)[:3] == list(red)
    assert ui.on_time_color(0.72)[:3] == list(amber)
    assert ui.on_time_color(0.95)[:3] == list(green)
    assert ui.on_time_color(None)[:3] == [150, 150, 150]


def test_fit_view_shows_every_point():
    lons, lats = [-73.8, -118.4, -84.4, -122.4], [40.6, 33.9, 33.6, 47.4]
    view = ui.fit_view(lons, lats, width=900, height=540)
    world = 512 * 2 ** view["zoom"]  # pixels across 360 degrees at this zoom
    assert (max(lons) - min(lons)) / 360 * world <= 900

    def y(lat):
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    assert (y(max(lats)) - y(min(lats))) / (2 * math.pi) * world <= 540
    assert min(lons) < view["longitude"] < max(lons)


def test_routes_deck_sizes_in_pixels_over_an_offline_outline():
    routes = pd.DataFrame(
        {
            "origin_airport_code": ["JFK"],
            "dest_airport_code": ["LAX"],
            "origin_longitude": [-73.78],
            "origin_latitude": [40.64],
            "dest_longitude": [-118.41],
            "dest_latitude": [33.94],
            "flights": [10],
            "on_time_share": [0.8],
            "avg_dep_delay_minutes": [9.5],
        }
    )
    dots = pd.DataFrame(
        {
            "longitude": [-73.78, -118.41],
            "latitude": [40.64, 33.94],
            "label": ["JFK", "LAX"],
            "radius": [7.0, 5.0],
            "color": [[0, 0, 0, 255]] * 2,
        }
    )
    labels = pd.DataFrame({"longitude": [-73.78], "latitude": [40.64], "text": ["JFK"]})
    spec = json.loads(ui.routes_deck(routes, dots, labels=labels).to_json())
    layers = {layer["id"]: layer for layer in spec["layers"]}
    # Literal strings: a bare "pixels" would be an expression, and sizes would be in metres-ish
    # world units (the airports drawn as huge ellipses).
    assert layers["routes"]["widthUnits"] == "pixels"
    assert layers["airports"]["radiusUnits"] == "pixels"
    assert layers["airports"]["billboard"] is True
    assert layers["codes"]["sizeUnits"] == "pixels"
    assert len(layers["states"]["data"]["features"]) >= 50  # the states, from a local file
    assert spec["initialViewState"]["pitch"] == 0
