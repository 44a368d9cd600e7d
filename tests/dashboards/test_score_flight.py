"""The Delay model page's "score a flight" form against a real MLflow SQLite store in tmp_path.

A tiny model is trained with ml.train on a synthetic frame and registered with ml.registry, as the
pipeline does; the page must score the form's flight with that very pipeline. The expected
probability is computed here from the registered pipeline and a feature row built by hand.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from app_helpers import run_app

from orchestration import settings

SYNTHETIC = Path(__file__).resolve().parents[1] / "ml" / "synthetic_flights.py"
MLFLOW_ENV = (
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
)


def synthetic_features():
    spec = importlib.util.spec_from_file_location("synthetic_flights", SYNTHETIC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_features(days=20, flights_per_day=60, seed=3)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory) -> str:
    """A SQLite MLflow store holding `flight_delay` v1 with the champion alias."""
    from threadpoolctl import threadpool_limits

    from ml.registry import log_training
    from ml.train import TrainConfig, train_and_evaluate

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp, threadpool_limits(limits=1):
        for name in MLFLOW_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        result = train_and_evaluate(
            synthetic_features(), TrainConfig(learning_rate=0.1, max_iter=40, min_samples_leaf=40)
        )
        registered = log_training(
            result,
            settings.REGISTERED_MODEL,
            tracking_uri=uri,
            experiment_name=settings.MLFLOW_EXPERIMENT,
            artifact_location=root / "artifacts",
            require_baseline_win=False,
        )
    assert registered.is_champion and registered.version == "1"
    return uri


def expected_probability(uri: str, row: dict) -> tuple[float, str]:
    """The champion's P(late) for one hand-built feature row."""
    from ml.registry import load_champion

    pipeline, version = load_champion(uri, settings.REGISTERED_MODEL)
    categorical = ["carrier_code", "origin_airport_code", "dest_airport_code"]
    numeric = [
        "month",
        "day_of_week",
        "scheduled_departure_hour",
        "distance_miles",
        "plane_year",
        "plane_seats",
        "temperature_f",
        "wind_speed_mph",
        "precipitation_in",
        "visibility_miles",
    ]
    frame = pd.DataFrame(
        {
            **{c: np.array([row[c]], dtype=object) for c in categorical},
            **{c: np.array([row.get(c, np.nan)], dtype=np.float64) for c in numeric},
        }
    )
    classes = list(pipeline.classes_)
    return float(pipeline.predict_proba(frame)[0, classes.index(1)]), version


def fill_and_submit(at, *, carrier, origin, dest, day, hour, temperature, wind, precip, visib):
    at.selectbox(key="score_carrier").set_value(carrier)
    at.selectbox(key="score_origin").set_value(origin)
    at.selectbox(key="score_dest").set_value(dest)
    at.date_input(key="score_date").set_value(day)
    at.slider(key="score_hour").set_value(hour)
    at.number_input(key="score_temperature").set_value(temperature)
    at.number_input(key="score_wind").set_value(wind)
    at.number_input(key="score_precipitation").set_value(precip)
    at.number_input(key="score_visibility").set_value(visib)
    at.button(key="score_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def scored(at) -> tuple[float, str]:
    caption = next(c.value for c in at.caption if "scored by champion" in c.value)
    match = re.search(r"scored by champion v(\w+): (0\.\d{4})\.", caption)
    assert match, caption
    return float(match.group(2)), match.group(1)


def test_score_a_flight_with_the_champion(shared_snapshot, frames, mlflow_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    at = run_app("views/delay_model.py")
    assert at.button(key="score_submit")  # the form is there: a store exists
    assert not [i.value for i in at.info if "MLflow" in i.value]

    fill_and_submit(
        at,
        carrier="B6",
        origin="JFK",
        dest="LAX",
        day=date(2013, 3, 9),
        hour=18,
        temperature=40.0,
        wind=20.0,
        precip=0.3,
        visib=2.0,
    )
    routes = frames[("marts", "routes")]
    distance = routes[
        (routes["origin_airport_code"] == "JFK") & (routes["dest_airport_code"] == "LAX")
    ]["distance_miles"].item()
    want, version = expected_probability(
        mlflow_store,
        {
            "carrier_code": "B6",
            "origin_airport_code": "JFK",
            "dest_airport_code": "LAX",
            "month": 3,
            "day_of_week": 6,  # 2013-03-09 was a Saturday; 0 = Sunday as in ml.flight_features
            "scheduled_departure_hour": 18,
            "distance_miles": distance,  # left empty in the form: the route's distance
            "temperature_f": 40.0,
            "wind_speed_mph": 20.0,
            "precipitation_in": 0.3,
            "visibility_miles": 2.0,
        },
    )
    probability, shown_version = scored(at)
    assert shown_version == version == "1"
    assert probability == pytest.approx(want, abs=5e-5)
    (metric,) = [m for m in at.metric if m.label == "Chance of leaving 15+ minutes late"]
    assert metric.value == f"{want:.1%}"

    # Clear skies at dawn score differently: the form's values reach the model.
    fill_and_submit(
        at,
        carrier="B6",
        origin="JFK",
        dest="LAX",
        day=date(2013, 3, 9),
        hour=6,
        temperature=40.0,
        wind=0.0,
        precip=0.0,
        visib=10.0,
    )
    calm, _ = scored(at)
    assert calm != pytest.approx(probability, abs=1e-4)

    # The champion is resolved in the registry on every submit: without one, say what to run.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)
    client.delete_registered_model_alias(settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS)
    try:
        at.button(key="score_submit").click()
        at.run()
        assert not at.exception
        infos = [i.value for i in at.info]
        assert any("champion" in t and "make run" in t for t in infos), infos
        assert not [m for m in at.metric if m.label == "Chance of leaving 15+ minutes late"]
    finally:
        client.set_registered_model_alias(
            settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS, version
        )
