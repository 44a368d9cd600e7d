"""The benchmark's lake and Spark pieces on tiny inputs (issue #9, point 7).

Real parts: a throwaway PostgreSQL cluster (orchestration/local_postgres.py), a real DuckLake on
it, the reader as its own process (bench/lake_reader.py) while this process writes, real DuckDB
files exported to real Parquet. The pipeline runs themselves are bench.pipeline_run's (tested in
test_bench_pipeline_run.py and by the lake tests); the Spark build is tests/spark's.
"""

import importlib.util
import json
import os
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bench import lake as lake_bench
from bench import lake_reader, report_targets
from bench import spark as spark_bench
from orchestration import lake, local_postgres, settings

DAY_1, DAY_2, DAY_3 = date(2013, 1, 1), date(2013, 1, 2), date(2013, 1, 3)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _start_cluster() -> local_postgres.PostgresCluster:
    try:
        return local_postgres.start_cluster()
    except (local_postgres.PostgresUnavailable, local_postgres.ClusterStartError) as error:
        if _in_ci():
            pytest.fail(f"{error} (CI=true: the lake pieces must be tested in CI)")
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def cluster():
    started = _start_cluster()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lake.install_extensions(tmp_path_factory.mktemp("duckdb_extensions"))


def _tiny_lake(cluster, extension_dir: Path, path: Path, name: str) -> lake.LakeCatalog:
    """A lake with `marts.flights`: 500 rows on each of days 1 and 2."""
    catalog = lake.LakeCatalog(cluster.libpq(cluster.create_database(name)), str(path))
    con = lake.connect_lake(catalog, extension_dir)
    try:
        con.execute("create schema marts")
        con.execute(
            "create table marts.flights as select DATE '2013-01-01' + cast(i % 2 as integer) "
            "as flight_date, i as n from range(1000) t(i)"
        )
    finally:
        con.close()
    return catalog


@pytest.mark.lake
def test_a_throwaway_cluster_serves_new_databases_and_is_gone_after_stop() -> None:
    import psycopg2

    with local_postgres.throwaway_cluster() as cluster:
        root, port = cluster.root, cluster.port
        assert root is not None and (root / "data" / "PG_VERSION").exists()
        cluster.create_database("probe")
        con = cluster.connect("probe")
        try:
            cursor = con.cursor()
            cursor.execute("select current_database(), current_user")
            assert cursor.fetchone() == ("probe", "postgres")
        finally:
            con.close()
        assert cluster.libpq("probe") == f"dbname=probe host=127.0.0.1 port={port} user=postgres"
    assert not root.exists()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")


def reader_rounds(log: Path) -> int:
    """Rounds the reader process has finished so far (it logs "@round N" after each)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(line.startswith("@round ") for line in text.splitlines())


@pytest.mark.lake
def test_the_reader_process_reads_the_lake_without_error_while_it_is_written(
    cluster, extension_dir: Path, tmp_path: Path
) -> None:
    catalog = _tiny_lake(cluster, extension_dir, tmp_path / "lake", "bench_reader_writing")
    env = lake_bench.lake_env(dict(os.environ), catalog.catalog, tmp_path / "lake", extension_dir)
    queries = {
        "per_day": "select flight_date, count(*) from marts.flights group by 1 order by 1",
        "total": "select sum(n) from marts.flights",
    }
    queries_file = tmp_path / "queries.json"
    queries_file.write_text(json.dumps(queries))
    out, log, stop, ready = (tmp_path / name for name in ("r.json", "r.log", "stop", "ready"))
    reader = lake_bench.start_reader(
        env, queries_file, out, log, stop_file=stop, pause=0.05, watch_day=DAY_3, ready_file=ready
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        writer = lake.connect_lake(catalog, extension_dir)
        try:
            # Day 2 replaced, one transaction each time (delete + insert), until the reader has
            # finished 3 rounds meanwhile (each round opens the lake: seconds under load).
            rounds_done = reader_rounds(log)
            deadline = time.monotonic() + 180
            while reader_rounds(log) < rounds_done + 3 and time.monotonic() < deadline:
                assert reader.poll() is None, log.read_text(errors="replace")[-2000:]
                writer.execute("begin")
                writer.execute("delete from marts.flights where flight_date = ?", [DAY_2])
                writer.execute(
                    "insert into marts.flights select DATE '2013-01-02', i from range(500) t(i)"
                )
                writer.execute("commit")
                time.sleep(0.1)
            writer.execute(
                "insert into marts.flights select DATE '2013-01-03', i from range(300) t(i)"
            )
        finally:
            writer.close()
        # One whole round after the new day's commit (a round under way may have begun before it).
        committed = reader_rounds(log)
        deadline = time.monotonic() + 120
        while reader_rounds(log) < committed + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.touch()
        result = lake_bench.finish_reader(reader, out, log, timeout=120)
    summary = lake_bench.summarise_reader(result)
    assert result["error_count"] == 0, result["errors"]
    assert summary["rounds"] >= 3
    for name in queries:
        assert len(result["query_ms"][name]) == summary["rounds"]
        per_query = summary["per_query"][name]
        assert 0 < per_query["p50_ms"] <= per_query["p95_ms"] <= per_query["max_ms"]
    assert summary["queries"]["n"] == 2 * summary["rounds"]
    assert summary["connect"]["n"] == summary["rounds"]
    # The day committed last was seen, with all its rows at once.
    assert result["rounds"][-1]["new_day_rows"] == 300
    assert {r["new_day_rows"] for r in result["rounds"]} <= {0, 300}
    assert summary["new_day_first_seen_seconds"] is not None


@pytest.mark.lake
def test_the_reader_counts_every_failed_query_and_keeps_reading(
    cluster, extension_dir: Path, tmp_path: Path
) -> None:
    catalog = _tiny_lake(cluster, extension_dir, tmp_path / "lake", "bench_reader_errors")
    result = lake_reader.read_until(
        catalog,
        extension_dir,
        {"ok": "select count(*) from marts.flights", "missing": "select * from marts.nope"},
        cycles=2,
        pause=0,
    )
    assert len(result["rounds"]) == 2
    assert result["error_count"] == 2
    assert all(error.startswith("missing: ") for error in result["errors"])
    assert len(result["query_ms"]["ok"]) == 2 and result["query_ms"]["missing"] == []


def test_summarise_reader_takes_percentiles_over_all_queries_and_the_first_sighting() -> None:
    reader = {
        "seconds": 9.0,
        "rounds": [
            {"at_seconds": 0.0, "connect_ms": 10.0, "new_day_rows": 0, "errors": 0},
            {"at_seconds": 2.0, "connect_ms": 30.0, "new_day_rows": 0, "errors": 0},
            {"at_seconds": 4.5, "connect_ms": 20.0, "new_day_rows": 899, "errors": 0},
        ],
        "query_ms": {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]},
        "error_count": 0,
        "errors": [],
    }
    summary = lake_bench.summarise_reader(reader)
    assert summary["queries"]["p50_ms"] == pytest.approx(3.5)  # of 1..6
    assert summary["queries"]["p95_ms"] == pytest.approx(5.75)
    assert summary["queries"]["max_ms"] == 6.0
    assert summary["connect"]["p50_ms"] == 20.0
    assert summary["per_query"]["b"]["p50_ms"] == 5.0
    assert summary["new_day_first_seen_seconds"] == 4.5


def test_the_lake_runs_the_dashboard_queries_whose_tables_it_holds(tmp_path: Path) -> None:
    (tmp_path / "daily.sql").write_text(
        "select flight_date, count(*) from marts.flights group by 1"
    )
    (tmp_path / "status.sql").write_text("select * from meta.asset_status")
    (tmp_path / "joined.sql").write_text(
        "-- not from raw.rejected_rows\nselect * from marts.flights join ml.model_metrics on true"
    )
    runnable, skipped = lake_bench.lake_queries(tmp_path, {"marts.flights", "ml.model_metrics"})
    assert set(runnable) == {"daily", "joined"}
    assert runnable["daily"] == (tmp_path / "daily.sql").read_text()
    assert skipped == {"status": ["meta.asset_status"]}
    assert lake_bench.lake_queries(tmp_path, {"marts.flights"})[1] == {
        "status": ["meta.asset_status"],
        "joined": ["ml.model_metrics"],
    }


def test_every_dashboard_query_is_run_on_the_lake_or_skipped_with_its_missing_tables() -> None:
    queries_dir = settings.DASHBOARD_QUERIES_DIR
    texts = {path.stem: path.read_text() for path in queries_dir.glob("*.sql")}
    # What the pipeline writes into the warehouse (and so into the lake) for the snapshot.
    tables = {f"{schema}.{table}" for schema, table in settings.SERVING_TABLES}
    runnable, skipped = lake_bench.lake_queries(queries_dir, tables)
    assert set(runnable) | set(skipped) == set(texts) and not set(runnable) & set(skipped)
    assert "routes" in runnable and "asset_status" in skipped
    for name, missing in skipped.items():
        assert missing and all(t not in tables and t in texts[name] for t in missing), name


def test_spark_sources_are_the_dbt_projects_sources() -> None:
    tables = spark_bench.source_tables(settings.DBT_PROJECT_DIR / "target" / "manifest.json")
    assert tables == [
        "ml.flight_delay_predictions",
        "raw.airlines",
        "raw.airports",
        "raw.flights",
        "raw.planes",
        "raw.weather",
    ]


def test_export_splits_daily_sources_into_the_window_and_the_new_day(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema raw; create schema ml")
        # 10, 20 and 30 rows on days 1, 2, 3.
        con.execute(
            "create table raw.flights as select DATE '2013-01-01' + cast(d as integer) "
            "as _partition_date, i from range(3) a(d), range(30) b(i) where i < (d + 1) * 10"
        )
        con.execute("create table raw.airlines as select i as code from range(5) t(i)")
        con.execute(
            "create table ml.flight_delay_predictions as select DATE '2013-01-01' "
            "+ cast(i % 3 as integer) as flight_date, i from range(9) t(i)"
        )
        exported = spark_bench.export_sources(
            con,
            ["raw.flights", "raw.airlines", "ml.flight_delay_predictions"],
            tmp_path / "parquet",
            DAY_2,
            DAY_3,
        )
    finally:
        con.close()

    def rows(path: str, where: str = "true") -> int:
        return duckdb.sql(f"select count(*) from read_parquet('{path}') where {where}").fetchone()[
            0
        ]

    flights = exported["raw.flights"]
    assert rows(flights["window"]) == 30 and flights["rows"]["window"] == 30
    assert rows(flights["window"], "_partition_date > DATE '2013-01-02'") == 0
    assert rows(flights["day"]) == 30 == rows(flights["day"], "_partition_date = '2013-01-03'")
    assert exported["raw.airlines"]["day"] is None
    assert rows(exported["raw.airlines"]["window"]) == 5
    predictions = exported["ml.flight_delay_predictions"]
    assert (rows(predictions["window"]), rows(predictions["day"])) == (6, 3)


def test_spark_missing_says_how_to_get_spark() -> None:
    reason = spark_bench.spark_missing()
    installed = (
        all(importlib.util.find_spec(name) is not None for name in ("pyspark", "dbt.adapters"))
        and importlib.util.find_spec("dbt.adapters.spark") is not None
    )
    if not installed:
        assert reason == spark_bench.NOT_INSTALLED
        assert "make bench-spark" in reason and reason.startswith("not measured")
    elif spark_bench.java_binary() is None:
        assert reason is not None and "java" in reason
    else:
        assert reason is None


def test_targets_parse_in_run_order_and_reject_unknown_ones() -> None:
    from bench.runner import parse_targets

    assert parse_targets("lake,duckdb") == ["duckdb", "lake"]
    assert parse_targets("lake") == ["lake"]
    assert parse_targets(" duckdb  lake ") == ["duckdb", "lake"]
    for bad in ("spark", "", "duckdb,lakes"):
        with pytest.raises(ValueError):
            parse_targets(bad)


def _run(wall: float, rss: float, dbt: float) -> dict:
    stages = {"ingest": 1.0, "dbt": dbt, "train": 0.0, "score": 0.0, "publish": 0.0}
    return {
        "wall_seconds": wall,
        "peak_tree_rss_bytes": rss,
        "stages": stages | {"other": 0.0, "outside_steps": wall - 1.0 - dbt},
    }


def _reader(errors: int) -> dict:
    pct = {"p50_ms": 12.0, "p95_ms": 40.0, "max_ms": 55.0, "n": 10}
    return {
        "rounds": 5,
        "seconds": 9.0,
        "queries": pct,
        "connect": pct,
        "per_query": {"routes": pct},
        "error_count": errors,
        "errors": ["routes: IOException: boom"] if errors else [],
        "new_day_first_seen_seconds": 7.0,
    }


def _lake_results(errors: int = 0) -> dict:
    return {
        "scales": {
            "1": {"pipeline": {"full": _run(20.0, 1e9, 5.0), "incremental": _run(10, 1e9, 4)}}
        },
        "lake": {
            "reader_pause_seconds": 1.0,
            "scales": {
                "1": {
                    "pipeline": {"full": _run(30.0, 2e9, 9.0), "incremental": _run(12.5, 2e9, 6)},
                    "reader": {
                        "queries": ["routes"],
                        "skipped_queries": {"asset_status": ["meta.asset_status"]},
                        "writing": _reader(errors),
                        "idle": _reader(0),
                    },
                    "new_day_rows": {"marts.flights": 899, "ml.flight_delay_predictions": 899},
                    "snapshot_mismatches_vs_duckdb": {},
                    "lake_bytes": 3 * 2**20,
                }
            },
        },
    }


def test_the_lake_table_puts_the_lake_beside_duckdb_with_their_ratio() -> None:
    text = "\n".join(report_targets.lake_sections(_lake_results()))
    assert "| 1 | full | 20.0 s | 30.0 s | 1.50× | 1.00 GB | 2.00 GB |" in text
    assert "| 1 | incremental | 10.0 s | 12.5 s | 1.25× |" in text
    assert "| 1 | full | lake | 1.0 | 9.0 |" in text
    assert (
        "| 1 | 5 | 12.0 / 40.0 / 55.0 | 12.0 / 40.0 | 12.0 / 40.0 | 12.0 | 0 | 7 s | **PASS** |"
        in (text)
    )
    assert "`asset_status` (meta.asset_status)" in text
    assert "| 1 | 899, 899 | 3.0 MiB | yes |" in text
    assert report_targets.reader_verdicts(_lake_results()) == [("1", True)]


def test_reader_errors_fail_the_lake_verdict_and_are_shown() -> None:
    results = _lake_results(errors=3)
    text = "\n".join(report_targets.lake_sections(results))
    assert "| 3 | 7 s | **FAIL** |" in text
    assert "routes: IOException: boom" in text
    assert report_targets.reader_verdicts(results) == [("1", False)]


def test_targets_not_measured_say_so() -> None:
    results = {"lake": {"status": "not measured: no PostgreSQL"}, "spark": {"status": "x"}}
    assert report_targets.lake_sections(results)[-1] == "Lake: not measured: no PostgreSQL."
    assert report_targets.spark_section(results)[-1] == "Spark: x."
    assert report_targets.lake_sections({}) == [] == report_targets.spark_section({})


def test_the_spark_table_gives_each_build_and_the_whole_process() -> None:
    spark = {
        "scale": 1,
        "source": "lake",
        "stages": {
            "session": 8.0,
            "load_window": 6.0,
            "dbt_full": 200.0,
            "load_day": 2.0,
            "dbt_incremental": 60.0,
        },
        "full": {"nodes": 132},
        "incremental": {"nodes": 53},
        "wall_seconds": 290.0,
        "peak_tree_rss_bytes": 1.5e9,
        "new_day_flights": 899,
    }
    text = "\n".join(report_targets.spark_section({"spark": spark}))
    row = "| 1 | 8.0 s | 6.0 s | 200.0 s (132 nodes) | 2.0 s | 60.0 s (53 nodes) | 290.0 s |"
    assert row + " 1.50 GB |" in text
    assert "899 flights" in text


def test_a_lake_only_run_renders_the_lake_and_no_duckdb_tables() -> None:
    from bench import report

    machine = {
        "cores_logical": 2,
        "cpus_usable": 2,
        "ram_bytes": 8 * 2**30,
        "cpu_model": "cpu",
        "platform": "linux",
        "python": "3.11",
        "duckdb": "1.5.5",
        "dagster": "1.13",
        "dagster_dbt": "0.29",
        "load_average_at_start": [1.0, 1.0, 1.0],
        "load_average_at_end": [2.0, 2.0, 2.0],
    }
    results = _lake_results() | {
        "started_at": "2026-11-22T11:20:00+00:00",
        "commit": "abc1234",
        "window": {"start": "2013-01-01", "end": "2013-01-02"},
        "incremental_day": "2013-01-03",
        "total_seconds": 600.0,
        "machine": machine,
        "targets": ["lake"],
        "scale_factors": [1],
        "scales": {},
        "spark": {"status": spark_bench.NOT_INSTALLED},
    }
    text = report.render(results)
    assert "targets lake." in text
    assert "The `duckdb` target was not run" in text
    assert "## Pipeline vs baseline" not in text
    # No duckdb figures to set the lake beside: dashes, not ratios.
    assert "| 1 | full | – | 30.0 s | – | – | 2.00 GB |" in text
    assert "**PASS**" in text
    assert f"Spark: {spark_bench.NOT_INSTALLED}." in text
