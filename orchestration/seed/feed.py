"""The live feed: deliver the next day(s) of files to the landing zone, as the upstream would.

``python -m orchestration.seed.feed [--days N]`` (``make feed DAYS=N``), and the demo schedule
``live_feed_schedule`` (``orchestration/automation.py``), call ``deliver_next_days``.

- The next day is the day after the latest ``flights/YYYY-MM-DD.csv`` in the landing zone (or the
  first day of the range if there is none): the upstream delivers in order, one day at a time.
  Gaps before that day are not filled (a redelivery is the upstream's business: run the seeder).
- A day is written with ``seed_landing`` (``orchestration.seed.landing``), so it is byte for byte
  the file a full seeding would write, and appears atomically; the reference snapshots are
  rewritten only if their content changed (they never do with the packaged data).
- After the last day of the range there is nothing left to deliver: the call writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from orchestration import settings
from orchestration.seed.landing import MAX_SCALE, day_range, seed_landing


@dataclass
class FeedReport:
    """What one delivery did."""

    days: list[date] = field(default_factory=list)
    written: list[str] = field(default_factory=list)

    def summary(self, end: date) -> str:
        if not self.days:
            return f"nothing left to deliver: the landing zone already has every day up to {end}"
        span = str(self.days[0]) if len(self.days) == 1 else f"{self.days[0]}..{self.days[-1]}"
        return f"delivered {span}: {len(self.written)} file(s) ({', '.join(self.written)})"


def latest_delivered_day(landing_dir: Path) -> date | None:
    """The latest day with a flights file in the landing zone, or None."""
    days = []
    folder = Path(landing_dir) / "flights"
    if folder.is_dir():
        for path in folder.glob("*.csv"):
            try:
                days.append(date.fromisoformat(path.name.removesuffix(".csv")))
            except ValueError:  # a stray file: the ingest quarantines it, the feed ignores it
                continue
    return max(days, default=None)


def next_days(landing_dir: Path, days: int, start: date, end: date) -> list[date]:
    """The ``days`` days the feed delivers next, within [start, end]."""
    latest = latest_delivered_day(landing_dir)
    first = start if latest is None or latest < start else latest + timedelta(days=1)
    if first > end:
        return []
    return day_range(start=first, end=end, days=days)


def deliver_next_days(
    landing_dir: Path,
    days: int = 1,
    *,
    start: date | None = None,
    end: date | None = None,
    scale: int = 1,
    seed: int = 13,
) -> FeedReport:
    """Write the next ``days`` day(s) of flights and weather files (see the module docstring)."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    current = settings.load()
    start = start or current.start_date
    end = end or current.end_date
    wanted = next_days(landing_dir, days, start, end)
    if not wanted:
        return FeedReport()
    report = seed_landing(
        Path(landing_dir),
        start=wanted[0],
        end=wanted[-1],
        scale=scale,
        seed=seed,
        progress=False,
    )
    return FeedReport(days=wanted, written=report.written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.seed.feed",
        description="Deliver the next day(s) of flights and weather files to the landing zone, "
        "as the upstream system would (the day after the latest delivered one).",
    )
    parser.add_argument("--days", type=int, default=1, help="how many days (default: 1)")
    parser.add_argument(
        "--landing-dir", type=Path, default=None, help="default: $RUNWAY_DATA_DIR/landing"
    )
    parser.add_argument(
        "--scale", type=int, default=1, help=f"as for the seeder (1..{MAX_SCALE}, default 1)"
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be >= 1")
    if not 1 <= args.scale <= MAX_SCALE:
        parser.error(f"--scale must be between 1 and {MAX_SCALE}")
    current = settings.load()
    landing_dir = args.landing_dir or current.landing_dir
    report = deliver_next_days(landing_dir, args.days, scale=args.scale)
    print(report.summary(current.end_date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
