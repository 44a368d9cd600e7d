"""Measuring a child process tree, and timing the dashboard queries as the app runs them."""

import sys
from pathlib import Path

import duckdb

from bench.measure import run_measured
from bench.queries import time_open, time_queries

# A child that starts a grandchild holding ~200 MB for a second: the tree's peak must see it.
GRANDCHILD = (
    "import time; block = bytearray(200 * 1024 * 1024); "
    "block[::4096] = b'x' * len(block[::4096]); time.sleep(1.0)"
)
CHILD = (
    f"import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', {GRANDCHILD!r}]) + 3)"
)


def test_peak_rss_includes_grandchildren_and_exit_code_is_kept(tmp_path: Path):
    measured = run_measured([sys.executable, "-c", CHILD], log_path=tmp_path / "log")
    assert measured.returncode == 3
    assert measured.peak_tree_rss_bytes >= 200 * 1024 * 1024
    assert measured.max_single_rss_bytes >= 200 * 1024 * 1024
    assert measured.wall_seconds >= 1.0


def test_every_query_file_is_timed_on_the_snapshot(tmp_path: Path):
    snapshot = tmp_path / "snap.duckdb"
    with duckdb.connect(str(snapshot)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(1000)")
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "all_rows.sql").write_text("select x from t")
    (queries / "filtered.sql").write_text(
        "select x from t where getvariable('start_date') is null or x > 10"
    )
    timings = time_queries(snapshot, queries, repeats=5)
    assert sorted(timings) == ["all_rows", "filtered"]
    assert timings["all_rows"]["rows"] == 1000
    assert timings["filtered"]["rows"] == 1000  # no filter set: every row
    for timing in timings.values():
        assert 0 < timing["p50_ms"] <= timing["p95_ms"] <= timing["max_ms"]
        assert timing["repeats"] == 5
    # The app's connection is released afterwards: a writer may open the file again.
    with duckdb.connect(str(snapshot)) as con:
        con.execute("INSERT INTO t VALUES (1000)")
    assert time_queries(snapshot, queries, repeats=1)["all_rows"]["rows"] == 1001


def test_opening_the_snapshot_is_timed_apart(tmp_path: Path):
    snapshot = tmp_path / "snap.duckdb"
    with duckdb.connect(str(snapshot)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    opened = time_open(snapshot, repeats=3)
    assert opened["repeats"] == 3
    assert 0 < opened["p50_ms"] <= opened["max_ms"]
    with duckdb.connect(str(snapshot)) as con:  # released afterwards
        con.execute("INSERT INTO t VALUES (2)")
