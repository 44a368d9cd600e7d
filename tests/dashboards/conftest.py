"""Fixtures for the dashboard tests: a small serving snapshot with the exact contract tables.

The snapshot holds the tables of ``settings.SERVING_TABLES`` with the columns and types of
docs/architecture.md, filled with random but fixed values (a few days, a few carriers). The app is
pointed at it through ``RUNWAY_SERVING_DIR``, which ``settings.load()`` reads at call time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import streamlit as st

from orchestration import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "dashboards" / "app.py"

# Column names and DuckDB types per serving table, as in docs/architecture.md.
CONTRACT: dict[tuple[str, str], dict[str, str]] = {
    ("marts", "flights"): {
        "flight_id": "VARCHAR",
        "flight_date": "DATE",
        "carrier_code": "VARCHAR",
        "carrier_name": "VARCHAR",
        "flight_number": "INTEGER",
        "tail_number": "VARCHAR",
        "origin_airport_code": "VARCHAR",
        "dest_airport_code": "VARCHAR",
        "scheduled_departure_at": "TIMESTAMP",
        "scheduled_departure_hour": "INTEGER",
        "dep_delay_minutes": "DOUBLE",
        "arr_delay_minutes": "DOUBLE",
        "distance_miles": "DOUBLE",
        "is_cancelled": "BOOLEAN",
        "is_departure_delayed_15": "BOOLEAN",
    },
    ("marts", "daily_carrier_performance"): {
        "flight_date": "DATE",
        "carrier_code": "VARCHAR",
        "carrier_name": "VARCHAR",
        "flights": "BIGINT",
        "cancelled_flights": "BIGINT",
        "departed_flights": "BIGINT",
        "delayed_15_flights": "BIGINT",
        "on_time_share": "DOUBLE",
        "avg_dep_delay_minutes": "DOUBLE",
    },
    ("marts", "carriers"): {"carrier_code": "VARCHAR", "carrier_name": "VARCHAR"},
    ("marts", "airports"): {
        "airport_code": "VARCHAR",
        "airport_name": "VARCHAR",
        "latitude": "DOUBLE",
        "longitude": "DOUBLE",
        "altitude_feet": "INTEGER",
        "timezone_name": "VARCHAR",
    },
    ("ml", "flight_delay_predictions"): {
        "flight_id": "VARCHAR",
        "flight_date": "DATE",
        "predicted_delay_probability": "DOUBLE",
        "model_version": "VARCHAR",
        "scored_at": "TIMESTAMP",
    },
    ("ml", "model_metrics"): {
        "model_version": "VARCHAR",
        "metric": "VARCHAR",
        "model": "VARCHAR",
        "value": "DOUBLE",
        "trained_at": "TIMESTAMP",
    },
}

CARRIERS = {
    "AA": "American Airlines Inc.",
    "B6": "JetBlue Airways",
    "EV": "ExpressJet Airlines Inc.",
    "UA": "United Air Lines Inc.",
}
AIRPORTS = [
    ("EWR", "Newark Liberty Intl", 40.6925, -74.168667, 18, "America/New_York"),
    ("JFK", "John F Kennedy Intl", 40.639751, -73.778925, 13, "America/New_York"),
    ("LGA", "La Guardia", 40.777245, -73.872608, 22, "America/New_York"),
    ("ATL", "Hartsfield Jackson Atlanta Intl", 33.636719, -84.428067, 1026, "America/New_York"),
    ("ORD", "Chicago Ohare Intl", 41.978603, -87.904842, 668, "America/Chicago"),
    ("LAX", "Los Angeles Intl", 33.942536, -118.408075, 126, "America/Los_Angeles"),
]
DISTANCES = {"ATL": 762.0, "ORD": 733.0, "LAX": 2475.0}
FIRST_DAY = date(2013, 3, 7)
DAYS = 4
CHAMPION_VERSION = "3"
OLD_VERSION = "2"
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
MODELS = ("candidate", "base_rate", "logistic_regression")


def make_frames(seed: int = 2013, days: int = DAYS) -> dict[tuple[str, str], pd.DataFrame]:
    """Random but fixed contents for every serving table, consistent with each other."""
    rng = np.random.default_rng(seed)
    rows = []
    for day_offset in range(days):
        day = FIRST_DAY + timedelta(days=day_offset)
        for carrier, carrier_name in CARRIERS.items():
            for i in range(int(rng.integers(6, 16))):
                origin = str(rng.choice(["EWR", "JFK", "LGA"]))
                dest = str(rng.choice(list(DISTANCES)))
                number = 100 + 10 * i + int(rng.integers(0, 10))
                hour = int(rng.integers(5, 23))
                cancelled = bool(rng.random() < 0.1)
                late = rng.random() < 0.25
                delay = (
                    None
                    if cancelled
                    else float(rng.integers(15, 95) if late else rng.integers(-12, 15))
                )
                rows.append(
                    {
                        "flight_id": f"{day.isoformat()}-{carrier}-{number}-{origin}",
                        "flight_date": day,
                        "carrier_code": carrier,
                        "carrier_name": carrier_name,
                        "flight_number": number,
                        "tail_number": f"N{int(rng.integers(100, 999))}{carrier}",
                        "origin_airport_code": origin,
                        "dest_airport_code": dest,
                        "scheduled_departure_at": datetime(day.year, day.month, day.day, hour),
                        "scheduled_departure_hour": hour,
                        "dep_delay_minutes": delay,
                        "arr_delay_minutes": None
                        if cancelled
                        else delay + float(rng.integers(-20, 20)),
                        "distance_miles": DISTANCES[dest],
                        "is_cancelled": cancelled,
                        "is_departure_delayed_15": None if cancelled else delay >= 15,
                    }
                )
    flights = pd.DataFrame(rows).drop_duplicates("flight_id").reset_index(drop=True)
    assert flights["is_cancelled"].any(), "the seed should give at least one cancellation"

    departed = flights[~flights["is_cancelled"]]
    daily = (
        flights.groupby(["flight_date", "carrier_code", "carrier_name"], as_index=False)
        .agg(flights=("flight_id", "size"), cancelled_flights=("is_cancelled", "sum"))
        .merge(
            departed.assign(late=departed["is_departure_delayed_15"].astype(bool))
            .groupby(["flight_date", "carrier_code"], as_index=False)
            .agg(
                departed_flights=("flight_id", "size"),
                delayed_15_flights=("late", "sum"),
                avg_dep_delay_minutes=("dep_delay_minutes", "mean"),
            ),
            on=["flight_date", "carrier_code"],
            how="left",
        )
    )
    daily["departed_flights"] = daily["departed_flights"].fillna(0).astype("int64")
    daily["delayed_15_flights"] = daily["delayed_15_flights"].fillna(0).astype("int64")
    daily["on_time_share"] = (daily["departed_flights"] - daily["delayed_15_flights"]) / daily[
        "departed_flights"
    ].where(daily["departed_flights"] > 0)

    scored_at = datetime(2013, 3, 12, 6, 0)
    predictions = pd.DataFrame(
        {
            "flight_id": flights["flight_id"],
            "flight_date": flights["flight_date"],
            "predicted_delay_probability": rng.uniform(0.05, 0.6, len(flights)).round(4),
            "model_version": CHAMPION_VERSION,
            "scored_at": scored_at,
        }
    )
    # An older scoring run of the first day by the previous version: must be superseded.
    first_day = flights[flights["flight_date"] == FIRST_DAY]
    stale = pd.DataFrame(
        {
            "flight_id": first_day["flight_id"],
            "flight_date": first_day["flight_date"],
            "predicted_delay_probability": 0.99,
            "model_version": OLD_VERSION,
            "scored_at": scored_at - timedelta(days=3),
        }
    )
    model_metrics = pd.DataFrame(
        [
            {
                "model_version": version,
                "metric": metric,
                "model": model,
                "value": round(float(rng.uniform(0.1, 0.9)), 4),
                "trained_at": trained_at,
            }
            for version, trained_at in [
                (OLD_VERSION, datetime(2013, 3, 8, 5, 0)),
                (CHAMPION_VERSION, datetime(2013, 3, 11, 5, 30)),
            ]
            for metric in METRICS
            for model in MODELS
        ]
    )
    return {
        ("marts", "flights"): flights,
        ("marts", "daily_carrier_performance"): daily,
        ("marts", "carriers"): pd.DataFrame(
            {"carrier_code": list(CARRIERS), "carrier_name": list(CARRIERS.values())}
        ),
        ("marts", "airports"): pd.DataFrame(
            AIRPORTS,
            columns=list(CONTRACT[("marts", "airports")]),
        ),
        ("ml", "flight_delay_predictions"): pd.concat([stale, predictions], ignore_index=True),
        ("ml", "model_metrics"): model_metrics,
    }


def write_snapshot(path: Path, frames: dict[tuple[str, str], pd.DataFrame]) -> Path:
    """Write ``frames`` as the contract tables to a temp file, then swap it in with os.replace."""
    assert set(frames) == set(CONTRACT) == set(settings.SERVING_TABLES)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        for (schema, table), columns in CONTRACT.items():
            frame = frames[(schema, table)][list(columns)]
            con.execute(f"create schema if not exists {schema}")
            ddl = ", ".join(f"{name} {type_}" for name, type_ in columns.items())
            con.execute(f"create table {schema}.{table} ({ddl})")
            con.register("frame", frame)
            casts = ", ".join(f"cast({name} as {type_})" for name, type_ in columns.items())
            con.execute(f"insert into {schema}.{table} select {casts} from frame")
            con.unregister("frame")
    os.replace(tmp, path)
    return path


@pytest.fixture(autouse=True)
def _clear_streamlit_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def runway_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every Runway path at tmp_path; returns the serving dir (empty: no snapshot yet)."""
    serving_dir = tmp_path / "serving"
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    # A warehouse that does not exist: the dashboards must never need it.
    monkeypatch.setenv("RUNWAY_WAREHOUSE", str(tmp_path / "no-warehouse" / "warehouse.duckdb"))
    monkeypatch.setenv("RUNWAY_SERVING_DIR", str(serving_dir))
    return serving_dir


@pytest.fixture
def frames() -> dict[tuple[str, str], pd.DataFrame]:
    return make_frames()


@pytest.fixture
def publish_snapshot(runway_env: Path) -> Callable[[dict[tuple[str, str], pd.DataFrame]], Path]:
    """Publish given frames as the serving snapshot (like the pipeline does)."""

    def publish(frames: dict[tuple[str, str], pd.DataFrame]) -> Path:
        return write_snapshot(runway_env / settings.SNAPSHOT_FILE, frames)

    return publish


@pytest.fixture
def snapshot(publish_snapshot, frames) -> Path:
    """The fixture snapshot, published; returns its path."""
    path = publish_snapshot(frames)
    assert path == settings.load().snapshot_path
    return path
