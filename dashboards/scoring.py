"""Score one flight with the champion model: the same fitted pipeline the pipeline scores with.

The champion is resolved in the MLflow registry (``settings.REGISTERED_MODEL``, alias
``settings.CHAMPION_ALIAS``) at ``settings.load().mlflow_tracking_uri``; the pipeline of that
version is loaded once per process with ``st.cache_resource`` keyed on (store, version), so a newly
promoted champion is used on the next submit without reloading an unchanged one. The flight
becomes a one-row frame shaped like ``ml.flight_features`` and goes through ``ml.predict.score``,
exactly like the pipeline's scoring asset.

MLflow and scikit-learn are slow to import, so they are imported only when a flight is scored;
drawing the page never imports them. A missing local store is detected without opening it, so a
page view never creates an empty MLflow database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import streamlit as st

from orchestration import settings

NO_CHAMPION_HINT = "Run `make run` to train, register and promote a model."


class NoChampion(LookupError):
    """No MLflow store, no registered model or no version holding the champion alias."""


@dataclass(frozen=True)
class Flight:
    """What the form asks for: known before departure, like the model's features."""

    carrier_code: str
    origin_airport_code: str
    dest_airport_code: str
    flight_date: date
    scheduled_departure_hour: int
    distance_miles: float | None
    temperature_f: float | None = None
    wind_speed_mph: float | None = None
    precipitation_in: float | None = None
    visibility_miles: float | None = None
    plane_year: float | None = None
    plane_seats: float | None = None


@dataclass(frozen=True)
class Score:
    probability: float
    model_version: str


def tracking_uri() -> str:
    return settings.load().mlflow_tracking_uri


def missing_store_message(uri: str) -> str | None:
    """A message when ``uri`` is a local SQLite store whose file does not exist yet, else None."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    path = Path(uri[len(prefix) :].split("?", 1)[0])
    if str(path) == ":memory:" or path.exists():
        return None
    return f"No MLflow model registry at `{path}` yet. {NO_CHAMPION_HINT}"


def champion_version(uri: str) -> str:
    """The registry's current champion version of the delay model; NoChampion if none."""
    message = missing_store_message(uri)
    if message:
        raise NoChampion(message)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        registered = client.get_registered_model(settings.REGISTERED_MODEL)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NoChampion(
                f"No model `{settings.REGISTERED_MODEL}` is registered in the MLflow store yet. "
                f"{NO_CHAMPION_HINT}"
            ) from exc
        raise
    version = registered.aliases.get(settings.CHAMPION_ALIAS)
    if version is None:
        raise NoChampion(
            f"No version of `{settings.REGISTERED_MODEL}` is the `{settings.CHAMPION_ALIAS}` yet "
            f"(no trained version beat its baseline). {NO_CHAMPION_HINT}"
        )
    return str(version)


@st.cache_resource(show_spinner="Loading the champion model…", max_entries=2)
def champion_pipeline(uri: str, version: str) -> Any:
    """The fitted pipeline of ``version`` (cached per store and version)."""
    from ml.registry import load_version

    return load_version(uri, settings.REGISTERED_MODEL, version)


def feature_row(flight: Flight) -> Any:
    """``flight`` as a one-row polars frame shaped like ``ml.flight_features`` (no label)."""
    import polars as pl

    from ml.features import CATEGORICAL_FEATURES, DATE_COLUMN, FEATURES, ID_COLUMN

    values = {
        "month": flight.flight_date.month,
        "day_of_week": (flight.flight_date.weekday() + 1) % 7,  # 0 = Sunday, as in the mart
        "scheduled_departure_hour": flight.scheduled_departure_hour,
        "carrier_code": flight.carrier_code,
        "origin_airport_code": flight.origin_airport_code,
        "dest_airport_code": flight.dest_airport_code,
        "distance_miles": flight.distance_miles,
        "plane_year": flight.plane_year,
        "plane_seats": flight.plane_seats,
        "temperature_f": flight.temperature_f,
        "wind_speed_mph": flight.wind_speed_mph,
        "precipitation_in": flight.precipitation_in,
        "visibility_miles": flight.visibility_miles,
    }
    unknown = set(FEATURES) - set(values)
    if unknown:  # the model's features changed: the form must follow
        raise ValueError(f"the form does not provide feature(s) {sorted(unknown)}")
    schema = {
        ID_COLUMN: pl.String,
        DATE_COLUMN: pl.Date,
        **{name: pl.String if name in CATEGORICAL_FEATURES else pl.Float64 for name in FEATURES},
    }
    row = {
        ID_COLUMN: [
            f"{flight.flight_date.isoformat()}-{flight.carrier_code}-form-"
            f"{flight.origin_airport_code}"
        ],
        DATE_COLUMN: [flight.flight_date],
        **{name: [values[name]] for name in FEATURES},
    }
    return pl.DataFrame(row, schema=schema)


def score_flight(flight: Flight, uri: str | None = None) -> Score:
    """The champion's probability that ``flight`` departs 15+ minutes late."""
    from ml.predict import PREDICTION_COLUMN, score

    uri = uri or tracking_uri()
    version = champion_version(uri)
    scored = score(champion_pipeline(uri, version), feature_row(flight))
    return Score(float(scored.get_column(PREDICTION_COLUMN)[0]), version)
