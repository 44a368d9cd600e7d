"""`make bench`: the pipeline against its baseline, per scale factor (issue #8), and the same
pipeline on the other targets (issue #9, point 7).

    python -m bench [--scales "1 10"] [--start 2013-01-01] [--end 2013-01-07]
                    [--targets duckdb,lake] [--spark auto|on|off]

For each scale, in a fresh temporary data dir (its own landing zone, warehouse, Dagster
instance, MLflow store):

1. seed the window [start, end] at that scale;
2. full refresh: `bench.pipeline_run --mode full` (the real pipeline, one Dagster run), then a
   backfill of the same days (`--mode backfill`: the daily assets in one run over the range, as
   Dagster's asset backfill runs them; skipped with --no-backfill), then the baseline
   (`bench.baseline --mode full`, same work on one DuckDB connection, in its own warehouse fed by
   the same landing files);
3. incremental: seed the day after `end`, then `--mode incremental` for that day, pipeline then
   baseline;
4. the dashboard queries on the pipeline's snapshot;
5. target `lake` (bench/lake.py): the same full refresh and incremental day with
   `RUNWAY_TARGET=lake` on a fresh DuckLake (catalog in a throwaway PostgreSQL cluster started
   for the benchmark), a reader running the dashboard queries on the lake while the day is
   written; skipped, with the reason in the results, where PostgreSQL or the lake's packages
   are missing;
6. at one scale (the smallest, `--spark-scale`), the dbt project built on Spark local, full then
   the new day (bench/spark.py); with `--spark auto` (default) only where pyspark, dbt-spark and
   java are installed, else the results say "not measured".

Each measured step is a child process: wall time, peak RSS of its process tree. Before the
scales: the definitions load (a fresh `import orchestration.definitions` vs `import
dagster_dbt`, medians). The dbt project is compiled for the baseline once, before any timing.

Results: `bench/results/<date>-<commit>.json` and `.md`, and `bench/results/latest.md`.

`--year` (`make bench-year`) runs instead only the full refresh of the whole of 2013 at scale 10,
pipeline vs baseline (bench/year.py; issue #17, point 4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import psutil

from bench import dbt_sql, report, report_targets, stats
from bench import lake as lake_bench
from bench import spark as spark_bench
from bench import year as year_bench
from bench.measure import Measured, run_measured
from bench.queries import time_open, time_queries
from orchestration import settings

RESULTS_DIR = settings.REPO_ROOT / "bench" / "results"
PYTHON = sys.executable
DEFAULT_SCALES = "1 10"
DEFAULT_START = "2013-01-01"
DEFAULT_END = "2013-01-07"
TARGETS = ("duckdb", "lake")
DEFAULT_TARGETS = "duckdb,lake"
# Python packages the lake target needs (project dependencies; missing in an unsynced venv).
LAKE_PACKAGES = ("duckdb_extension_ducklake", "duckdb_extension_postgres_scanner", "psycopg2")


def _log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def child_env(data_dir: Path) -> dict[str, str]:
    """The environment of a child process that works on the stack under `data_dir` only."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI")
    }
    env |= {
        "RUNWAY_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(data_dir / "dagster_home"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def _git(*args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=settings.REPO_ROOT, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()


def machine_info() -> dict:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import dagster
    import dagster_dbt

    return {
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_bytes": psutil.virtual_memory().total,
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dagster": dagster.__version__,
        "dagster_dbt": dagster_dbt.__version__,
        "load_average_at_start": list(os.getloadavg()),
    }


def _measured(measured: Measured) -> dict:
    return {
        "wall_seconds": measured.wall_seconds,
        "peak_tree_rss_bytes": measured.peak_tree_rss_bytes,
        "max_single_rss_bytes": measured.max_single_rss_bytes,
        "returncode": measured.returncode,
        "log": measured.log_path,
    }


def _checked(measured: Measured, what: str) -> Measured:
    if measured.returncode != 0:
        tail = ""
        if measured.log_path:
            tail = Path(measured.log_path).read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{what} failed (exit {measured.returncode}):\n{tail}")
    return measured


def definitions_load(repeats: int, env: dict[str, str], logs: Path) -> dict:
    """Fresh-interpreter import times, alternating the two so that noise hits both alike."""
    runs: dict[str, list[float]] = {"definitions": [], "dagster_dbt": []}
    statements = {
        "definitions": "import orchestration.definitions",
        "dagster_dbt": "import dagster_dbt",
    }
    for repetition in range(repeats):
        for name, statement in statements.items():
            measured = _checked(
                run_measured(
                    [PYTHON, "-c", statement],
                    env=env,
                    cwd=settings.REPO_ROOT,
                    log_path=logs / f"load-{name}-{repetition}.log",
                ),
                statement,
            )
            runs[name].append(measured.wall_seconds)
    return {
        "repeats": repeats,
        "definitions_seconds": runs["definitions"],
        "dagster_dbt_seconds": runs["dagster_dbt"],
        "definitions_median_seconds": stats.median(runs["definitions"]),
        "dagster_dbt_median_seconds": stats.median(runs["dagster_dbt"]),
    }


def _seed(env: dict[str, str], until: date, scale: int, log: Path) -> Measured:
    argv = [PYTHON, "-m", "orchestration.seed", "--until", until.isoformat()]
    argv += ["--scale", str(scale), "--quiet"]
    return _checked(run_measured(argv, env=env, cwd=settings.REPO_ROOT, log_path=log), "seed")


def _pipeline(env, mode: str, first: date, last: date, out: Path, log: Path) -> dict:
    argv = [PYTHON, "-m", "bench.pipeline_run", "--mode", mode]
    argv += ["--start", first.isoformat(), "--end", last.isoformat(), "--out", str(out)]
    measured = _checked(
        run_measured(argv, env=env, cwd=settings.REPO_ROOT, log_path=log), f"pipeline {mode}"
    )
    run = json.loads(out.read_text())
    return _measured(measured) | {
        "stages": stats.pipeline_stages(run["steps"], measured.wall_seconds),
        "steps": {key: step["seconds"] for key, step in run["steps"].items()},
        "import_seconds": run["import_seconds"],
        "run_seconds": run["run_seconds"],
        "materialized_assets": len(run["materialized_assets"]),
        "run_id": run["run_id"],
    }


def _baseline(env, mode: str, first: date, last: date, manifest: Path, out: Path, log) -> dict:
    argv = [PYTHON, "-m", "bench.baseline", "--mode", mode, "--start", first.isoformat()]
    argv += ["--end", last.isoformat(), "--manifest", str(manifest), "--out", str(out)]
    measured = _checked(
        run_measured(argv, env=env, cwd=settings.REPO_ROOT, log_path=log), f"baseline {mode}"
    )
    run = json.loads(out.read_text())
    return _measured(measured) | {
        "stages": stats.baseline_stages(run["stages"], measured.wall_seconds),
        "import_seconds": run["import_seconds"],
        "details": run["details"],
    }


def snapshot_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema <> 'meta' ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]
            for schema, table in tables
        }
    finally:
        con.close()


def bench_scale(
    scale: int,
    start: date,
    end: date,
    root: Path,
    manifests: dict[str, Path],
    repeats: int,
    backfill: bool = True,
) -> dict:
    day = end + timedelta(days=1)
    pipeline_dir, baseline_dir, logs = root / "pipeline", root / "baseline", root / "logs"
    for folder in (pipeline_dir / "dagster_home", baseline_dir, logs):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(
        settings.REPO_ROOT / "orchestration" / "dagster.yaml", pipeline_dir / "dagster_home"
    )
    # One landing zone, read by both (no file is bad, so neither quarantines anything).
    (baseline_dir / "landing").symlink_to(pipeline_dir / "landing", target_is_directory=True)
    env_p, env_b = child_env(pipeline_dir), child_env(baseline_dir)
    result: dict = {"scale": scale}

    _log(f"scale {scale}: seeding {start}..{end}")
    result["seed_seconds"] = _seed(env_p, end, scale, logs / "seed.log").wall_seconds
    _log(f"scale {scale}: pipeline full refresh")
    full = _pipeline(env_p, "full", start, end, root / "pipeline-full.json", logs / "p-full.log")
    pipeline_runs = {"full": full}
    if backfill:
        _log(f"scale {scale}: pipeline full refresh {full['wall_seconds']:.1f} s; backfill")
        pipeline_runs["backfill"] = _pipeline(
            env_p, "backfill", start, end, root / "pipeline-backfill.json", logs / "p-backfill.log"
        )
        done = pipeline_runs["backfill"]["wall_seconds"]
        _log(f"scale {scale}: backfill {done:.1f} s; baseline")
    else:
        _log(f"scale {scale}: pipeline full refresh {full['wall_seconds']:.1f} s; baseline")
    base_full = _baseline(
        env_b, "full", start, end, manifests["full"], root / "b-full.json", logs / "b-full.log"
    )
    _log(f"scale {scale}: baseline full refresh {base_full['wall_seconds']:.1f} s; new day {day}")
    result["seed_day_seconds"] = _seed(env_p, day, scale, logs / "seed-day.log").wall_seconds
    incremental = _pipeline(
        env_p, "incremental", day, day, root / "pipeline-day.json", logs / "p-day.log"
    )
    _log(f"scale {scale}: pipeline incremental {incremental['wall_seconds']:.1f} s; baseline")
    base_incremental = _baseline(
        env_b, "incremental", day, day, manifests["day"], root / "b-day.json", logs / "b-day.log"
    )
    _log(f"scale {scale}: baseline incremental {base_incremental['wall_seconds']:.1f} s; queries")
    result["pipeline"] = pipeline_runs | {"incremental": incremental}
    result["baseline"] = {"full": base_full, "incremental": base_incremental}
    result["ratios"] = {
        "full": stats.ratio(full["wall_seconds"], base_full["wall_seconds"]),
        "incremental": stats.ratio(incremental["wall_seconds"], base_incremental["wall_seconds"]),
    }
    if backfill:
        back = pipeline_runs["backfill"]
        result["ratios"]["backfill_vs_full"] = stats.ratio(
            back["wall_seconds"], full["wall_seconds"]
        )
        # The same steps in both runs: what the backfill's own work costs in each.
        in_backfill, in_full = stats.same_steps(back["steps"], full["steps"])
        result["backfill_same_steps"] = {
            "steps": sorted(key for key in back["steps"] if key in full["steps"]),
            "backfill_seconds": in_backfill,
            "full_seconds": in_full,
            "ratio": stats.ratio(in_backfill, in_full),
        }
    snapshot = pipeline_dir / "serving" / settings.SNAPSHOT_FILE
    result["snapshot_open"] = time_open(snapshot)
    result["queries"] = time_queries(snapshot, settings.DASHBOARD_QUERIES_DIR, repeats)
    # Reconcile: the two snapshots hold the same tables with the same row counts.
    counts = snapshot_counts(snapshot)
    base_counts = snapshot_counts(baseline_dir / "serving" / settings.SNAPSHOT_FILE)
    result["snapshot_rows"] = counts
    result["snapshot_mismatches"] = {
        table: [counts.get(table), base_counts.get(table)]
        for table in sorted(set(counts) | set(base_counts))
        if counts.get(table) != base_counts.get(table)
    }
    result["snapshot_bytes"] = snapshot.stat().st_size
    # Fresh: the new day is in the marts and scored, in what the dashboards read.
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        result["new_day_rows"] = {
            table: con.execute(
                f"SELECT count(*) FROM {table} WHERE flight_date = ?", [day]
            ).fetchone()[0]
            for table in ("marts.flights", "ml.flight_delay_predictions")
        }
    finally:
        con.close()
    return result


def parse_targets(value: str) -> list[str]:
    """`duckdb,lake` (commas or spaces) -> the targets, in the order they run; ValueError."""
    names = [name for name in value.replace(",", " ").split() if name]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown or not names:
        raise ValueError(f"targets must be among {', '.join(TARGETS)}, got {value!r}")
    return [target for target in TARGETS if target in names]


def lake_setup(work: Path, reader_pause: float) -> tuple[lake_bench.LakeSetup | None, str | None]:
    """The lake's shared pieces (a started PostgreSQL cluster, the extensions), or why not."""
    import importlib.util

    from orchestration import lake, local_postgres

    missing = [name for name in LAKE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return None, f"not measured: lake packages not installed: {', '.join(missing)}"
    try:
        cluster = local_postgres.start_cluster()
    except (local_postgres.PostgresUnavailable, local_postgres.ClusterStartError) as error:
        return None, f"not measured: no PostgreSQL cluster for the catalog: {error}"
    try:
        extension_dir = lake.install_extensions(work / "duckdb_extensions")
    except BaseException:
        cluster.stop()
        raise
    return lake_bench.LakeSetup(cluster, extension_dir, reader_pause), None


def _spark(scale: int, end: date, root: Path, setup, lake_result: dict | None) -> dict:
    """The Spark build on the sources of this scale: from the `duckdb` target's warehouse when it
    ran, else from the lake."""
    warehouse = root / "pipeline" / "warehouse.duckdb"
    if warehouse.exists():
        con, source = duckdb.connect(str(warehouse), read_only=True), "`duckdb` target's warehouse"
    elif lake_result is None:
        return {"status": "not measured: no target ran at this scale to take the sources from"}
    else:
        from orchestration import lake

        catalog = lake.LakeCatalog(
            setup.cluster.libpq(lake_result["catalog_database"]), str(root / "lake" / "lake")
        )
        con, source = lake.connect_lake(catalog, setup.extension_dir, read_only=True), "lake"
    try:
        return {"scale": scale, "source": source} | spark_bench.bench_spark(
            con, end, root / "spark", env=child_env(root / "spark")
        )
    finally:
        con.close()


def _interrupt(signum, frame) -> None:
    # SIGTERM as Ctrl-C: the measured child (its own session) and its group are ended too.
    raise KeyboardInterrupt(f"signal {signum}")


def run_year(args: argparse.Namespace) -> int:
    """`--year`: the whole year's full refresh at one scale, pipeline vs baseline (bench/year.py).

    Results: `bench/results/<date>-<commit>-year[-tag].json` and `.md`, and `latest-year.md`
    (`latest.md` stays the default benchmark's). Written also when the run stops half-way.
    """
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="runway-bench-year-"))
    work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": bool(_git("status", "--porcelain")),
        "machine": machine_info(),
        "work_dir": str(work),
        "year": {"scale": args.year_scale},
    }
    stem = f"{results['started_at'][:10]}-{commit}-year{'-' + args.tag if args.tag else ''}"
    if args.omp_threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)
    results["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    _log(f"work dir {work}; the whole year at scale {args.year_scale}, full refresh")
    try:
        _log("compiling the dbt project for the baseline (not timed)")
        target = work / "dbt-full"
        dbt_sql.compile_project(
            settings.DBT_PROJECT_DIR,
            target,
            {
                "min_date": year_bench.YEAR_START.isoformat(),
                "max_date": (year_bench.YEAR_END + timedelta(1)).isoformat(),
            },
            target / "db" / "warehouse.duckdb",
        )
        results["year"] = year_bench.bench_year(
            args.year_scale,
            work / f"year-scale-{args.year_scale}",
            target / "manifest.json",
            seed=_seed,
            pipeline=_pipeline,
            baseline=_baseline,
            child_env=child_env,
            snapshot_counts=snapshot_counts,
            snapshot_file=settings.SNAPSHOT_FILE,
            log=_log,
        )
        results["verdicts"] = [v.as_dict() for v in year_bench.year_verdicts(results["year"])]
    except (RuntimeError, KeyboardInterrupt) as error:
        results["year_error"] = f"{type(error).__name__}: {str(error)[-1500:]}"
        _log(f"year: stopped: {results['year_error']}")
    finally:
        results["total_seconds"] = time.perf_counter() - began
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
        markdown = year_bench.render(results)
        (args.out_dir / f"{stem}.md").write_text(markdown)
        (args.out_dir / "latest-year.md").write_text(markdown)
        _log(f"results: {args.out_dir / stem}.json and .md")
    if "verdicts" in results:
        print(report.verdict_table(results["verdicts"]))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if "verdicts" in results else 1


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scales", default=os.environ.get("SCALES") or DEFAULT_SCALES)
    parser.add_argument(
        "--start", type=date.fromisoformat, default=os.environ.get("BENCH_START") or DEFAULT_START
    )
    parser.add_argument(
        "--end", type=date.fromisoformat, default=os.environ.get("BENCH_END") or DEFAULT_END
    )
    parser.add_argument("--query-repeats", type=int, default=20)
    parser.add_argument("--load-repeats", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a new temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument(
        "--no-backfill",
        action="store_true",
        help="skip the backfill of the window after each full refresh (one run less per scale)",
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="skip the live stage (bench/live.py: make dev's stack, days delivered one by one; "
        "issue #17), which otherwise runs after the scales",
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    parser.add_argument(
        "--targets",
        default=os.environ.get("BENCH_TARGETS") or DEFAULT_TARGETS,
        help=f"which of {', '.join(TARGETS)} to run (default {DEFAULT_TARGETS}; lake is "
        "skipped with a note where PostgreSQL or its packages are missing)",
    )
    parser.add_argument(
        "--spark",
        choices=("auto", "on", "off"),
        default=os.environ.get("BENCH_SPARK") or "auto",
        help="the Spark build time: auto (default) where pyspark, dbt-spark and java are "
        "installed, on (fail at once if not), off",
    )
    parser.add_argument(
        "--spark-scale", type=int, default=None, help="the scale of the Spark build (smallest)"
    )
    parser.add_argument(
        "--reader-pause",
        type=float,
        default=1.0,
        help="seconds the lake reader pauses between its rounds of queries",
    )
    parser.add_argument(
        "--omp-threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for every measured process (default: unset, as `make run`)",
    )
    parser.add_argument(
        "--year",
        action="store_true",
        help="only the full refresh of the whole of 2013 at --year-scale, pipeline vs baseline "
        "(make bench-year; long: see docs/benchmark.md)",
    )
    parser.add_argument("--year-scale", type=int, default=year_bench.YEAR_SCALE)
    args = parser.parse_args(argv)
    if args.year:
        return run_year(args)
    scales = sorted({int(s) for s in args.scales.replace(",", " ").split()})
    day = args.end + timedelta(days=1)
    if args.end < args.start or day.year != 2013:
        parser.error("the window must lie in 2013 and leave its next day in 2013 too")
    try:
        targets = parse_targets(args.targets)
    except ValueError as error:
        parser.error(str(error))
    spark_scale = args.spark_scale if args.spark_scale is not None else scales[0]
    if spark_scale not in scales:
        parser.error(f"--spark-scale {spark_scale} is not among the scales {scales}")
    spark_status = "not measured: --spark off" if args.spark == "off" else None
    if spark_status is None:
        spark_status = spark_bench.spark_missing()
        if spark_status and args.spark == "on":
            parser.error(f"--spark on, but Spark cannot run here: {spark_status}")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="runway-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": bool(_git("status", "--porcelain")),
        "window": {"start": args.start.isoformat(), "end": args.end.isoformat()},
        "incremental_day": day.isoformat(),
        "scales": {},
        "scale_factors": scales,
        "targets": targets,
        "machine": machine_info(),
        "work_dir": str(work),
    }
    stem = f"{results['started_at'][:10]}-{commit}{'-' + args.tag if args.tag else ''}"
    if args.omp_threads is not None:
        # Read by child_env: every measured process gets it.
        os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)
    results["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    _log(
        f"work dir {work}; scales {scales}; window {args.start}..{args.end}, new day {day}; "
        f"targets {', '.join(targets)}; Spark: {spark_status or f'at scale {spark_scale}'}"
    )
    setup = None
    failed = False
    if spark_status:
        results["spark"] = {"status": spark_status}
    try:
        if "lake" in targets:
            setup, lake_status = lake_setup(work, args.reader_pause)
            results["lake"] = (
                {"status": lake_status}
                if setup is None
                else {"scales": {}, "reader_pause_seconds": args.reader_pause}
            )
            if lake_status:
                _log(f"lake: {lake_status}")
        manifests = {}
        if "duckdb" in targets:
            _log("definitions load")
            load_env = child_env(work / "load")
            results["definitions_load"] = definitions_load(args.load_repeats, load_env, work)
            _log("compiling the dbt project for the baseline (not timed)")
            windows = {"full": (args.start, args.end), "day": (day, day)}
            for name, (first, last) in windows.items():
                target = work / f"dbt-{name}"
                dbt_sql.compile_project(
                    settings.DBT_PROJECT_DIR,
                    target,
                    {"min_date": first.isoformat(), "max_date": (last + timedelta(1)).isoformat()},
                    # The baseline's warehouse file has the same stem (its DuckDB catalog name).
                    target / "db" / "warehouse.duckdb",
                )
                manifests[name] = target / "manifest.json"
        for scale in scales:
            root = work / f"scale-{scale}"
            if "duckdb" in targets:
                results["scales"][str(scale)] = bench_scale(
                    scale,
                    args.start,
                    args.end,
                    root,
                    manifests,
                    args.query_repeats,
                    backfill=not args.no_backfill,
                )
            lake_result = None
            if setup is not None:
                duck = "duckdb" in targets
                lake_result = lake_bench.bench_lake_scale(
                    scale,
                    args.start,
                    args.end,
                    root / "lake",
                    setup,
                    landing=root / "pipeline" / "landing" if duck else None,
                    duckdb_snapshot=root / "pipeline" / "serving" / settings.SNAPSHOT_FILE
                    if duck
                    else None,
                )
                results["lake"]["scales"][str(scale)] = lake_result
            if scale == spark_scale and not spark_status:
                _log(f"scale {scale}: Spark build (full, then the new day)")
                try:
                    spark = _spark(scale, args.end, root, setup, lake_result)
                    results["spark"] = spark
                    done = spark.get("status") or f"{spark['wall_seconds']:.1f} s"
                    _log(f"scale {scale}: Spark build {done}")
                except RuntimeError as error:
                    # The other targets' figures still get their tables; the exit code says it.
                    failed = True
                    results["spark"] = {"status": f"failed: {str(error)[-1500:]}"}
                    _log(f"scale {scale}: Spark build failed: {str(error)[-1500:]}")
        if not args.no_live:
            from bench import live

            _log("live stage (bench/live.py): make dev's stack, days delivered one by one")
            results["live"] = live.run_stage(work / "live")
            failed = failed or results["live"]["status"] != "ok"
    finally:
        if setup is not None:
            setup.cluster.stop()
        results["total_seconds"] = time.perf_counter() - began
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
        args.out_dir.mkdir(parents=True, exist_ok=True)
        complete = "duckdb" in targets and len(results["scales"]) == len(scales)
        if complete:
            results["verdicts"] = [v.as_dict() for v in stats.verdicts(results)]
        json_path = args.out_dir / f"{stem}.json"
        json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        _log(f"results: {json_path}")
    markdown = report.render(results)
    (args.out_dir / f"{stem}.md").write_text(markdown)
    (args.out_dir / "latest.md").write_text(markdown)
    if "verdicts" in results:
        print(report.verdict_table(results["verdicts"]))
    if results.get("live"):
        print(report.verdict_table(results["live"]["verdicts"]))
    for scale, passed in report_targets.reader_verdicts(results):
        print(f"lake reader at scale {scale}: {'PASS' if passed else 'FAIL'} (0 errors)")
    _log(f"table: {args.out_dir / 'latest.md'}; total {results['total_seconds'] / 60:.1f} min")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0
