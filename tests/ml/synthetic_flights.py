"""A small synthetic, learnable frame shaped like `ml.flight_features` (for the ml tests)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

CARRIERS = ("UA", "AA", "B6", "DL", "EV", "WN")
ORIGINS = ("EWR", "JFK", "LGA")
DESTS = ("ATL", "ORD", "LAX", "BOS", "MCO", "SFO", "MIA", "DCA")


def make_features(
    days: int = 40,
    flights_per_day: int = 60,
    start: date = date(2013, 1, 1),
    seed: int = 0,
) -> pl.DataFrame:
    """A frame shaped like `ml.flight_features` where P(delay) depends on hour and precipitation.

    The dependence is non-linear (an evening peak, a rain threshold) so trees beat a linear model.

    About 2% of the flights are cancelled (NULL label) and some plane/weather values are NULL.
    """
    rng = np.random.default_rng(seed)
    n = days * flights_per_day
    day_index = np.repeat(np.arange(days), flights_per_day)
    dates = [start + timedelta(days=int(d)) for d in day_index]
    hour = rng.integers(5, 23, n)
    carrier = rng.choice(CARRIERS, n)
    origin = rng.choice(ORIGINS, n)
    dest = rng.choice(DESTS, n)
    # Rainy days: precipitation is per day (and a bit per flight).
    day_rain = rng.random(days) < 0.3
    precip = np.where(day_rain[day_index], rng.gamma(2.0, 0.08, n), 0.0)
    evening_peak = 3.0 * np.exp(-(((hour - 18) / 2.5) ** 2))
    logit = -2.6 + evening_peak + 2.5 * (precip > 0.12) + np.where(carrier == "EV", 0.8, 0.0)
    delayed = rng.random(n) < 1 / (1 + np.exp(-logit))
    cancelled = rng.random(n) < 0.02

    def with_nulls(values: np.ndarray, share: float) -> list:
        mask = rng.random(n) < share
        return [None if m else v for m, v in zip(mask, values.tolist(), strict=True)]

    return pl.DataFrame(
        {
            "flight_id": [
                f"{d.isoformat()}-{c}-{i}-{o}"
                for d, c, i, o in zip(dates, carrier, range(n), origin, strict=True)
            ],
            "flight_date": dates,
            "month": [d.month for d in dates],
            "day_of_week": [(d.weekday() + 1) % 7 for d in dates],
            "scheduled_departure_hour": hour.tolist(),
            "carrier_code": carrier.tolist(),
            "origin_airport_code": origin.tolist(),
            "dest_airport_code": dest.tolist(),
            "distance_miles": rng.uniform(150, 2600, n).round(0).tolist(),
            "plane_year": with_nulls(rng.integers(1990, 2013, n).astype(float), 0.1),
            "plane_seats": with_nulls(rng.choice([50.0, 140.0, 180.0, 300.0], n), 0.1),
            "temperature_f": with_nulls(rng.normal(45, 15, n).round(1), 0.02),
            "wind_speed_mph": with_nulls(rng.gamma(2.0, 5.0, n).round(1), 0.02),
            "precipitation_in": with_nulls(precip.round(2), 0.02),
            "visibility_miles": with_nulls(np.where(precip > 0, 4.0, 10.0), 0.02),
            "is_departure_delayed_15": [
                None if c else bool(d) for c, d in zip(cancelled, delayed, strict=True)
            ],
        },
        schema={
            "flight_id": pl.String,
            "flight_date": pl.Date,
            "month": pl.Int32,
            "day_of_week": pl.Int32,
            "scheduled_departure_hour": pl.Int32,
            "carrier_code": pl.String,
            "origin_airport_code": pl.String,
            "dest_airport_code": pl.String,
            "distance_miles": pl.Float64,
            "plane_year": pl.Float64,
            "plane_seats": pl.Float64,
            "temperature_f": pl.Float64,
            "wind_speed_mph": pl.Float64,
            "precipitation_in": pl.Float64,
            "visibility_miles": pl.Float64,
            "is_departure_delayed_15": pl.Boolean,
        },
    )
