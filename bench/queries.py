"""Latency of every dashboard query (`dashboards/queries/*.sql`) on a serving snapshot, as the app
runs it.

The app (`dashboards/data.py`) opens each published version of the snapshot once and runs every
uncached query on a cursor of that connection. So a repetition here is `dashboards.data.run_sql`
on the held connection: a cursor, the file's SQL with no filter set (every `getvariable` is NULL:
the widest result), the result fetched as a pandas frame. One warm-up repetition first (the OS
page cache and DuckDB's buffers), then `repeats` timed ones. Opening the snapshot is what the
first query after a publication pays on top: `time_open` measures it apart.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.stats import percentile
from dashboards import data

# What the first query after a publication runs first: a trivial query opens the file.
_OPEN_PROBE = "select 1"


def time_open(snapshot: Path, repeats: int = 5) -> dict:
    """{p50_ms, max_ms, repeats} of opening `snapshot` as the app does (plus a trivial query)."""
    timings: list[float] = []
    try:
        for _ in range(repeats):
            data.close_connections()
            began = time.perf_counter()
            data.run_sql(_OPEN_PROBE, snapshot)
            timings.append((time.perf_counter() - began) * 1000)
    finally:
        data.close_connections()
    return {"p50_ms": percentile(timings, 50), "max_ms": max(timings), "repeats": repeats}


def time_query(snapshot: Path, sql: str, repeats: int = 20, warmup: int = 1) -> dict:
    """{p50_ms, p95_ms, max_ms, rows, repeats} of one query on `snapshot`, on the connection the
    app holds for it (opened before the first repetition if it is not open yet)."""
    data.run_sql(_OPEN_PROBE, snapshot)  # the open is not part of a query's time
    timings: list[float] = []
    rows = 0
    for repetition in range(warmup + repeats):
        began = time.perf_counter()
        rows = len(data.run_sql(sql, snapshot))
        if repetition >= warmup:
            timings.append((time.perf_counter() - began) * 1000)
    return {
        "p50_ms": percentile(timings, 50),
        "p95_ms": percentile(timings, 95),
        "max_ms": max(timings),
        "rows": rows,
        "repeats": repeats,
    }


def time_queries(snapshot: Path, queries_dir: Path, repeats: int = 20) -> dict[str, dict]:
    """Every `*.sql` file of `queries_dir`, by file stem; the snapshot is released afterwards."""
    try:
        return {
            path.stem: time_query(snapshot, path.read_text(encoding="utf-8"), repeats)
            for path in sorted(queries_dir.glob("*.sql"))
        }
    finally:
        data.close_connections()
