"""Latency of every dashboard query (`dashboards/queries/*.sql`) on a serving snapshot.

Each repetition does what the app does for one uncached query (dashboards/data.py): open a
`read_only` connection to the snapshot, run the file's SQL with no filter set (every
`getvariable` is NULL: the widest result), fetch the result as a pandas frame, close. One warm-up
repetition first (the OS page cache), then `repeats` timed ones.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from bench.stats import percentile


def time_query(snapshot: Path, sql: str, repeats: int = 20, warmup: int = 1) -> dict:
    """{p50_ms, p95_ms, max_ms, connect_p50_ms, rows, repeats} of one query on `snapshot`."""
    timings: list[float] = []
    connects: list[float] = []
    rows = 0
    for repetition in range(warmup + repeats):
        began = time.perf_counter()
        con = duckdb.connect(str(snapshot), read_only=True)
        connected = time.perf_counter()
        try:
            rows = len(con.execute(sql).df())
        finally:
            con.close()
        if repetition >= warmup:
            timings.append((time.perf_counter() - began) * 1000)
            connects.append((connected - began) * 1000)
    return {
        "p50_ms": percentile(timings, 50),
        "p95_ms": percentile(timings, 95),
        "max_ms": max(timings),
        # Opening the file is part of every query in the app; this says how much.
        "connect_p50_ms": percentile(connects, 50),
        "rows": rows,
        "repeats": repeats,
    }


def time_queries(snapshot: Path, queries_dir: Path, repeats: int = 20) -> dict[str, dict]:
    """Every `*.sql` file of `queries_dir`, by file stem."""
    return {
        path.stem: time_query(snapshot, path.read_text(encoding="utf-8"), repeats)
        for path in sorted(queries_dir.glob("*.sql"))
    }
