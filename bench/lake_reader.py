"""A dashboard reader on the lake, in its own process, for the benchmark (bench/lake.py).

    python -m bench.lake_reader --queries q.json --out r.json --stop-file STOP [--pause 1]
    python -m bench.lake_reader --queries q.json --out r.json --cycles 3

On the `lake` target, readers (dashboards, notebooks) may read the lake directly while the
pipeline writes it (issue #9, point 3). This process is such a reader: in rounds, until the stop
file appears (or for `--cycles` rounds), it

1. opens the lake read-only as any reader would (`orchestration.lake.connect_lake(read_only=True)`:
   an in-memory DuckDB, the extensions, `ATTACH 'ducklake:postgres:…' (READ_ONLY)`), timed;
2. runs each dashboard query of `--queries` ({name: SQL}) with no filter set, fetching a pandas
   frame as the app does, each timed; any error is counted and kept (a reader must see none);
3. counts the flights of `--watch-day` in `marts.flights` (when the new day became visible);
4. closes the connection and pauses `--pause` seconds (a reader is not a load generator).

The lake's place comes from the environment (`RUNWAY_LAKE_CATALOG`, `RUNWAY_LAKE_DATA_PATH`,
`RUNWAY_DUCKDB_EXTENSION_DIR`). Writes JSON to `--out`: per round its start (seconds since the
reader started), the connect time and the new day's rows; per query its times (ms); the errors.
"""

import argparse
import json
import signal
import sys
import time
from datetime import date
from pathlib import Path

from orchestration import lake

# Errors kept verbatim in the output (all are counted).
MAX_KEPT_ERRORS = 20


class _Stop:
    requested = False


def _on_signal(signum, frame) -> None:
    # SIGTERM from the benchmark: finish the round, write the results.
    _Stop.requested = True


def one_round(
    catalog: lake.LakeCatalog,
    extension_dir: Path | None,
    queries: dict[str, str],
    watch_day: date | None,
) -> tuple[dict, dict[str, float], list[str]]:
    """One reader round: ({connect_ms, new_day_rows}, {query: ms}, [errors])."""
    errors: list[str] = []
    timings: dict[str, float] = {}
    round_info: dict = {"connect_ms": None, "new_day_rows": None}
    began = time.perf_counter()
    try:
        con = lake.connect_lake(catalog, extension_dir, read_only=True)
    except Exception as error:  # any error is a finding, reported, not raised
        errors.append(f"connect: {type(error).__name__}: {error}")
        return round_info, timings, errors
    try:
        round_info["connect_ms"] = (time.perf_counter() - began) * 1000
        for name, sql in queries.items():
            began = time.perf_counter()
            try:
                con.execute(sql).df()
            except Exception as error:
                errors.append(f"{name}: {type(error).__name__}: {error}")
                continue
            timings[name] = (time.perf_counter() - began) * 1000
        if watch_day is not None:
            try:
                round_info["new_day_rows"] = con.execute(
                    "select count(*) from marts.flights where flight_date = ?", [watch_day]
                ).fetchone()[0]
            except Exception as error:
                errors.append(f"watch day: {type(error).__name__}: {error}")
    finally:
        con.close()
    return round_info, timings, errors


def read_until(
    catalog: lake.LakeCatalog,
    extension_dir: Path | None,
    queries: dict[str, str],
    *,
    stop_file: Path | None = None,
    cycles: int | None = None,
    pause: float = 1.0,
    watch_day: date | None = None,
) -> dict:
    """Reader rounds until `stop_file` exists, a stop signal, or `cycles` rounds are done.

    A round is never cut short: the stop is looked at between rounds, so a run of one round at
    least is always recorded.
    """
    started = time.perf_counter()
    rounds: list[dict] = []
    per_query: dict[str, list[float]] = {name: [] for name in queries}
    errors: list[str] = []
    error_count = 0
    while True:
        at = time.perf_counter() - started
        info, timings, round_errors = one_round(catalog, extension_dir, queries, watch_day)
        rounds.append({"at_seconds": at, **info, "errors": len(round_errors)})
        # Progress for whoever waits on this reader (its log): one line per finished round.
        print(f"@round {len(rounds)}", flush=True)
        for name, ms in timings.items():
            per_query[name].append(ms)
        error_count += len(round_errors)
        errors.extend(round_errors[: max(MAX_KEPT_ERRORS - len(errors), 0)])
        if cycles is not None and len(rounds) >= cycles:
            break
        if _Stop.requested or (stop_file is not None and stop_file.exists()):
            break
        deadline = time.perf_counter() + pause
        while time.perf_counter() < deadline:
            if _Stop.requested or (stop_file is not None and stop_file.exists()):
                break
            time.sleep(min(0.1, pause))
        if _Stop.requested or (stop_file is not None and stop_file.exists()):
            break
    return {
        "seconds": time.perf_counter() - started,
        "rounds": rounds,
        "query_ms": per_query,
        "error_count": error_count,
        "errors": errors,
        "watch_day": watch_day.isoformat() if watch_day else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lake_reader", description=__doc__)
    parser.add_argument("--queries", type=Path, required=True, help="JSON {name: SQL}")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop-file", type=Path, default=None)
    parser.add_argument("--cycles", type=int, default=None)
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--watch-day", type=date.fromisoformat, default=None)
    parser.add_argument("--ready-file", type=Path, default=None, help="touched once imports end")
    args = parser.parse_args(argv)
    if args.stop_file is None and args.cycles is None:
        parser.error("give --stop-file or --cycles")
    signal.signal(signal.SIGTERM, _on_signal)
    queries = json.loads(args.queries.read_text())
    extension_dir = lake.default_extension_dir()
    if args.ready_file is not None:
        args.ready_file.touch()
    result = read_until(
        lake.LakeCatalog.from_env(),
        extension_dir,
        queries,
        stop_file=args.stop_file,
        cycles=args.cycles,
        pause=args.pause,
        watch_day=args.watch_day,
    )
    args.out.write_text(json.dumps(result, indent=2))
    print(
        f"lake reader: {len(result['rounds'])} rounds in {result['seconds']:.1f} s, "
        f"{result['error_count']} errors"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
