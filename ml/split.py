"""Time-based train/validation split: train on earlier dates, validate on the later ones.

Never random across time: every training date is strictly before every validation date. By
default the validation set is the last `validation_fraction` of the distinct dates (at least one
date, and at least one date is left for training), so it works on three days as well as on a year.
An explicit `validation_start` date overrides the fraction. `train_start` / `validation_end`
(inclusive) first restrict the data to a window, e.g. to train on Jan-Jun and validate on July.

`sample_rows` bounds a set to a seeded uniform sample of rows (the training cap,
`TrainConfig.train_max_rows`, and the permutation-importance sample use the same draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from ml.features import DATE_COLUMN, with_date_column


@dataclass(frozen=True)
class TimeSplit:
    """The date windows (inclusive) and sizes of a split."""

    train_start: date
    train_end: date
    valid_start: date
    valid_end: date
    train_dates: int
    valid_dates: int
    train_rows: int
    valid_rows: int

    def as_dict(self) -> dict[str, str | int]:
        return {
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "valid_start": self.valid_start.isoformat(),
            "valid_end": self.valid_end.isoformat(),
            "train_dates": self.train_dates,
            "valid_dates": self.valid_dates,
            "train_rows": self.train_rows,
            "valid_rows": self.valid_rows,
        }


def validation_start_date(
    dates: list[date],
    validation_fraction: float = 0.25,
    validation_start: date | None = None,
) -> date:
    """The first validation date for these (not necessarily distinct or sorted) dates."""
    distinct = sorted(set(dates))
    if len(distinct) < 2:
        raise ValueError(
            f"a time split needs at least 2 distinct dates, got {len(distinct)} ({distinct})"
        )
    if validation_start is not None:
        if not distinct[0] < validation_start <= distinct[-1]:
            raise ValueError(
                f"validation_start {validation_start} leaves an empty train or validation set: "
                f"the data covers {distinct[0]} .. {distinct[-1]}"
            )
        return validation_start
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    n_valid = min(max(1, math.ceil(len(distinct) * validation_fraction)), len(distinct) - 1)
    return distinct[-n_valid]


def time_split(
    frame: pl.DataFrame,
    validation_fraction: float = 0.25,
    validation_start: date | None = None,
    train_start: date | None = None,
    validation_end: date | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, TimeSplit]:
    """Split `frame` on `flight_date` into (train, validation, windows).

    Rows before `train_start` or after `validation_end` (both inclusive bounds, None: no bound)
    are left out of both sets.
    """
    frame = with_date_column(frame)
    if frame.get_column(DATE_COLUMN).null_count():
        raise ValueError(f"{DATE_COLUMN} has NULL values; cannot split on time")
    if train_start is not None and validation_end is not None and train_start > validation_end:
        raise ValueError(f"train_start {train_start} is after validation_end {validation_end}")
    if train_start is not None:
        frame = frame.filter(pl.col(DATE_COLUMN) >= train_start)
    if validation_end is not None:
        frame = frame.filter(pl.col(DATE_COLUMN) <= validation_end)
    cut = validation_start_date(
        frame.get_column(DATE_COLUMN).unique().to_list(), validation_fraction, validation_start
    )
    train = frame.filter(pl.col(DATE_COLUMN) < cut)
    valid = frame.filter(pl.col(DATE_COLUMN) >= cut)
    train_dates = train.get_column(DATE_COLUMN)
    valid_dates = valid.get_column(DATE_COLUMN)
    window = TimeSplit(
        train_start=train_dates.min(),
        train_end=train_dates.max(),
        valid_start=valid_dates.min(),
        valid_end=valid_dates.max(),
        train_dates=train_dates.n_unique(),
        valid_dates=valid_dates.n_unique(),
        train_rows=train.height,
        valid_rows=valid.height,
    )
    return train, valid, window


def sample_positions(n_rows: int, max_rows: int | None, seed: int) -> np.ndarray:
    """Sorted positions of a seeded uniform sample of min(n_rows, max_rows) of n_rows rows.

    All rows (0..n_rows-1) when n_rows <= max_rows or max_rows is None. Sorted, so that a
    sample keeps the rows' order (time order, for the training set). Same arguments, same rows.
    """
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be >= 1 or None, got {max_rows}")
    if max_rows is None or n_rows <= max_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=max_rows, replace=False))


def sample_rows(frame: pl.DataFrame, max_rows: int | None, seed: int) -> pl.DataFrame:
    """`frame` itself when it has at most `max_rows` rows (or max_rows is None), else a seeded
    uniform sample of exactly `max_rows` of its rows, in their original order."""
    if max_rows is None or frame.height <= max_rows:
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be >= 1 or None, got {max_rows}")
        return frame
    return frame[sample_positions(frame.height, max_rows, seed)]
