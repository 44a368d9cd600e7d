"""The `lake` target in the benchmark (issue #9, point 7): DuckLake beside the DuckDB file.

Per scale, with `RUNWAY_TARGET=lake`, on a fresh catalog database of a throwaway PostgreSQL
cluster (`orchestration.local_postgres`, one cluster for the whole benchmark) and a data path in
the scale's work dir, with Dagster's instance storage and MLflow's tracking store in databases of
their own on the same server, as `make` sets up the lake (orchestration/postgres.py):

1. the same full refresh as the `duckdb` target (`bench.pipeline_run --mode full`, measured
   alike: wall time, peak RSS of the process tree, per-stage time from the Dagster event log);
2. the same incremental day (`--mode incremental`), while a reader process (`bench.lake_reader`)
   runs the dashboard queries on the lake read-only in rounds: per-query and connect latency
   p50/p95, errors (there must be none), and when the new day became visible to it;
3. the reader again for a few rounds once nothing writes: the same latency, idle;
4. checks: the new day is in the lake's marts and scored, and the snapshot the lake run
   published holds the same tables with the same row counts as the `duckdb` target's.

The landing zone is the `duckdb` target's one when it ran first at this scale (the same files,
so the same raw data), else this scale seeds its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench import stats
from orchestration import postgres, settings
from orchestration.local_postgres import PostgresCluster

PYTHON = sys.executable
# Rounds of the reader once the pipeline is done (the idle reference).
IDLE_ROUNDS = 3


@dataclass(frozen=True)
class LakeSetup:
    """What every lake scale shares: the cluster, the extension dir, the reader's settings."""

    cluster: PostgresCluster
    extension_dir: Path
    reader_pause: float = 1.0
    idle_rounds: int = IDLE_ROUNDS


def lake_env(
    base_env: dict[str, str],
    catalog: str,
    data_path: Path,
    extension_dir: Path,
    dagster_db: str = postgres.DEFAULT_DAGSTER_DB,
    mlflow_db: str = postgres.DEFAULT_MLFLOW_DB,
) -> dict[str, str]:
    """A child's environment on the `lake` target (added to `bench.runner.child_env`): the lake,
    and, as `make` sets them up on `lake` (orchestration/postgres.py), Dagster's instance storage
    and MLflow's tracking store in their own databases on the catalog's PostgreSQL server."""
    env = {k: v for k, v in base_env.items() if k != "MLFLOW_TRACKING_URI"} | {
        "RUNWAY_TARGET": "lake",
        "RUNWAY_LAKE_CATALOG": catalog,
        "RUNWAY_LAKE_DATA_PATH": str(data_path),
        "RUNWAY_DUCKDB_EXTENSION_DIR": str(extension_dir),
        "RUNWAY_DAGSTER_DB": dagster_db,
        "RUNWAY_MLFLOW_DB": mlflow_db,
    }
    return env | postgres.dagster_env(env)


def lake_tables(catalog, extension_dir: Path) -> set[str]:
    """`schema.table` of every table and view in the lake."""
    from orchestration import lake

    con = lake.connect_lake(catalog, extension_dir, read_only=True)
    try:
        rows = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = ?",
            [lake.LAKE_ALIAS],
        ).fetchall()
    finally:
        con.close()
    return {f"{schema}.{table}".lower() for schema, table in rows}


def lake_queries(queries_dir: Path, tables: set[str]) -> tuple[dict[str, str], dict[str, list]]:
    """The dashboard queries the lake can answer ({name: SQL}), and the others with the tables
    they miss: those the pipeline writes into the serving snapshot only (`meta.asset_status`,
    `meta.run_failures`), or tables that do not exist yet (no file quarantined)."""
    from dashboards.data import required_tables

    runnable: dict[str, str] = {}
    skipped: dict[str, list[str]] = {}
    for path in sorted(queries_dir.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        missing = sorted(required_tables(sql) - tables)
        if missing:
            skipped[path.stem] = missing
        else:
            runnable[path.stem] = sql
    return runnable, skipped


def summarise_reader(reader: dict) -> dict:
    """Percentiles of a reader's output (bench.lake_reader): all queries together, per query,
    and the connect; errors; when the watched day first showed."""
    every = [ms for timings in reader["query_ms"].values() for ms in timings]
    connects = [r["connect_ms"] for r in reader["rounds"] if r["connect_ms"] is not None]

    def pcts(values: list[float]) -> dict:
        if not values:
            return {"p50_ms": None, "p95_ms": None, "max_ms": None, "n": 0}
        return {
            "p50_ms": stats.percentile(values, 50),
            "p95_ms": stats.percentile(values, 95),
            "max_ms": max(values),
            "n": len(values),
        }

    seen = [r["at_seconds"] for r in reader["rounds"] if r.get("new_day_rows")]
    return {
        "rounds": len(reader["rounds"]),
        "seconds": reader["seconds"],
        "queries": pcts(every),
        "connect": pcts(connects),
        "per_query": {name: pcts(timings) for name, timings in reader["query_ms"].items()},
        "error_count": reader["error_count"],
        "errors": reader["errors"],
        "new_day_first_seen_seconds": seen[0] if seen else None,
    }


def start_reader(env, queries_file: Path, out: Path, log: Path, **options) -> subprocess.Popen:
    """`bench.lake_reader` as a child process; options: stop_file, cycles, pause, watch_day."""
    argv = [PYTHON, "-m", "bench.lake_reader", "--queries", str(queries_file), "--out", str(out)]
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    with open(log, "wb") as handle:
        return subprocess.Popen(
            argv, env=env, cwd=settings.REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT
        )


def finish_reader(process: subprocess.Popen, out: Path, log: Path, timeout: float = 300) -> dict:
    """Wait for the reader (SIGTERM, then SIGKILL, if it outlives `timeout`) and read its JSON."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"lake reader failed (exit {process.returncode}):\n{tail}")
    return json.loads(out.read_text())


def _lake_counts(catalog, extension_dir: Path, day: date) -> dict[str, int]:
    from orchestration import lake

    con = lake.connect_lake(catalog, extension_dir, read_only=True)
    try:
        return {
            table: con.execute(
                f"select count(*) from {table} where flight_date = ?", [day]
            ).fetchone()[0]
            for table in ("marts.flights", "ml.flight_delay_predictions")
        }
    finally:
        con.close()


def bench_lake_scale(
    scale: int,
    start: date,
    end: date,
    root: Path,
    setup: LakeSetup,
    landing: Path | None = None,
    duckdb_snapshot: Path | None = None,
) -> dict:
    """Full refresh and incremental day on the lake, with the reader; see the module docstring.

    `landing`: the landing zone to read (already holding the window and the next day), else
    this scale seeds its own. `duckdb_snapshot`: the `duckdb` target's serving snapshot at this
    scale, to compare row counts with.
    """
    from bench import runner
    from orchestration import lake

    day = end + timedelta(days=1)
    data_dir, logs = root / "data", root / "logs"
    for folder in (data_dir / "dagster_home", logs):
        folder.mkdir(parents=True, exist_ok=True)
    # As `make` writes it on lake: the common settings plus the instance storage on PostgreSQL.
    (data_dir / "dagster_home" / "dagster.yaml").write_text(postgres.dagster_yaml("lake"))
    suffix = f"scale_{scale}_{os.getpid()}"
    dbname = f"runway_lake_{suffix}"
    catalog = lake.LakeCatalog(setup.cluster.libpq(dbname), str(root / "lake"))
    env = lake_env(
        runner.child_env(data_dir),
        catalog.catalog,
        root / "lake",
        setup.extension_dir,
        dagster_db=f"runway_dagster_{suffix}",
        mlflow_db=f"runway_mlflow_{suffix}",
    )
    # `make install` on lake: the lake's, Dagster's and MLflow's databases, all new and empty.
    databases = postgres.LakePostgres.from_env(env)
    databases.create_databases()
    result: dict = {"scale": scale, "catalog_database": dbname, "databases": databases.databases}
    if landing is not None:
        (data_dir / "landing").symlink_to(landing, target_is_directory=True)
    else:
        runner._log(f"lake scale {scale}: seeding {start}..{end}")
        result["seed_seconds"] = runner._seed(env, end, scale, logs / "seed.log").wall_seconds
    # A new lake is created by one process first (orchestration/lake.py): its catalog tables,
    # before the run's parallel steps attach it. Not timed: an install step, not the refresh.
    lake.connect_lake(catalog, setup.extension_dir).close()

    runner._log(f"lake scale {scale}: full refresh")
    full = runner._pipeline(env, "full", start, end, root / "lake-full.json", logs / "full.log")
    runner._log(f"lake scale {scale}: full refresh {full['wall_seconds']:.1f} s")
    if landing is None:
        result["seed_day_seconds"] = runner._seed(
            env, day, scale, logs / "seed-day.log"
        ).wall_seconds

    queries, skipped = lake_queries(
        settings.DASHBOARD_QUERIES_DIR, lake_tables(catalog, setup.extension_dir)
    )
    queries_file = root / "reader-queries.json"
    queries_file.write_text(json.dumps(queries))
    stop_file = root / "reader.stop"
    ready_file = root / "reader.ready"
    writing_out = root / "reader-writing.json"
    reader = start_reader(
        env,
        queries_file,
        writing_out,
        logs / "reader-writing.log",
        stop_file=stop_file,
        pause=setup.reader_pause,
        watch_day=day.isoformat(),
        ready_file=ready_file,
    )
    try:
        # The reader must be reading when the run starts writing: wait for its imports.
        deadline = time.monotonic() + 120
        while not ready_file.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        runner._log(f"lake scale {scale}: incremental {day}, reader on")
        incremental = runner._pipeline(
            env, "incremental", day, day, root / "lake-day.json", logs / "day.log"
        )
    finally:
        stop_file.touch()
        writing = finish_reader(reader, writing_out, logs / "reader-writing.log")
    runner._log(
        f"lake scale {scale}: incremental {incremental['wall_seconds']:.1f} s; "
        f"reader {len(writing['rounds'])} rounds, {writing['error_count']} errors; idle reader"
    )
    idle_out = root / "reader-idle.json"
    idle = finish_reader(
        start_reader(
            env,
            queries_file,
            idle_out,
            logs / "reader-idle.log",
            cycles=setup.idle_rounds,
            pause=0,
            watch_day=day.isoformat(),
        ),
        idle_out,
        logs / "reader-idle.log",
    )
    result["pipeline"] = {"full": full, "incremental": incremental}
    result["reader"] = {
        "queries": sorted(queries),
        "skipped_queries": skipped,
        "pause_seconds": setup.reader_pause,
        "writing": summarise_reader(writing),
        "idle": summarise_reader(idle),
    }
    result["new_day_rows"] = _lake_counts(catalog, setup.extension_dir, day)
    snapshot = data_dir / "serving" / settings.SNAPSHOT_FILE
    result["snapshot_rows"] = runner.snapshot_counts(snapshot)
    if duckdb_snapshot is not None and duckdb_snapshot.exists():
        other = runner.snapshot_counts(duckdb_snapshot)
        result["snapshot_mismatches_vs_duckdb"] = {
            table: [result["snapshot_rows"].get(table), other.get(table)]
            for table in sorted(set(result["snapshot_rows"]) | set(other))
            if result["snapshot_rows"].get(table) != other.get(table)
        }
    result["lake_bytes"] = sum(
        path.stat().st_size for path in (root / "lake").rglob("*") if path.is_file()
    )
    return result
