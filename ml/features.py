"""Feature lists of the flight-delay model and the conversion from polars to pandas.

The input is `ml.flight_features` as read from DuckDB via Arrow (a polars DataFrame, one row per
flight, see docs/architecture.md). The model sees only the columns listed here, all known before
departure. Categorical columns become pandas ``object`` columns of ``str`` with ``NaN`` for
missing values; numeric columns become ``float64`` with ``NaN`` for missing values. The pipeline
(`ml.train.build_pipeline`) takes that frame as is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "carrier_code",
    "origin_airport_code",
    "dest_airport_code",
)
NUMERIC_FEATURES: tuple[str, ...] = (
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
FEATURES: tuple[str, ...] = CATEGORICAL_FEATURES + NUMERIC_FEATURES
LABEL = "is_departure_delayed_15"
ID_COLUMN = "flight_id"
DATE_COLUMN = "flight_date"


def require_columns(frame: pl.DataFrame, columns: tuple[str, ...] | list[str]) -> None:
    """Raise a ValueError naming every column of `columns` that `frame` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"feature frame lacks column(s) {missing}; it has {frame.columns}")


def with_date_column(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `flight_date` as a polars Date (accepts Date, Datetime or ISO strings)."""
    require_columns(frame, [DATE_COLUMN])
    dtype = frame.schema[DATE_COLUMN]
    if dtype == pl.Date:
        return frame
    if dtype == pl.String:
        return frame.with_columns(pl.col(DATE_COLUMN).str.to_date())
    return frame.with_columns(pl.col(DATE_COLUMN).cast(pl.Date))


def labelled(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows with a label (cancelled flights have a NULL label and are not used for training)."""
    require_columns(frame, [LABEL])
    return frame.filter(pl.col(LABEL).is_not_null())


def to_pandas_features(frame: pl.DataFrame) -> pd.DataFrame:
    """The model input X: the feature columns only, in `FEATURES` order, as pandas.

    Categoricals: ``object`` dtype holding ``str``, missing values as ``np.nan`` (never ``None``,
    so that training sees one missing marker). Numerics: ``float64``, missing values as ``NaN``.
    """
    require_columns(frame, FEATURES)
    selected = frame.select(
        *[pl.col(c).cast(pl.String) for c in CATEGORICAL_FEATURES],
        *[pl.col(c).cast(pl.Float64) for c in NUMERIC_FEATURES],
    )
    columns: dict[str, np.ndarray] = {}
    for name in CATEGORICAL_FEATURES:
        values = np.array(selected.get_column(name).to_list(), dtype=object)
        values[pd.isna(values)] = np.nan
        columns[name] = values
    for name in NUMERIC_FEATURES:
        columns[name] = selected.get_column(name).to_numpy(allow_copy=True).astype(np.float64)
    return pd.DataFrame(columns, columns=list(FEATURES))


def to_label(frame: pl.DataFrame) -> np.ndarray:
    """The label y as int8 0/1; `frame` must contain labelled rows only."""
    require_columns(frame, [LABEL])
    label = frame.get_column(LABEL)
    if label.null_count():
        raise ValueError(f"{label.null_count()} row(s) have a NULL {LABEL}; filter with labelled()")
    return label.cast(pl.Int8).to_numpy().astype(np.int8)
