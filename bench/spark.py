"""The Spark build time in the benchmark (issue #9, point 7): the dbt project on Spark local.

The `spark` target is dbt-spark (`method: session`): dbt's SQL runs in a SparkSession inside the
dbt process. What is measured is what tests/spark does, on the benchmark's own data: one process
(`bench.spark_run`), one SparkSession, two `dbtRunner` builds (a full `dbt build` of the window,
then `dbt build --select tag:daily+` of the new day, `insert_overwrite` of its partitions), each
timed, the child's wall time and peak RSS measured like every other run.

Input: the dbt project's sources (`raw.*` and the scoring's `ml.flight_delay_predictions`, read
from the manifest) as the pipeline left them at one scale, exported to Parquet from the `duckdb`
target's warehouse or from the lake, split into the window (saved as Spark tables before the full
build) and the new day (inserted before the incremental build), as the ingest would deliver them.

Only at one scale (the smallest of the run, `--spark-scale`): Spark local's cost here is per
statement (planning, the Derby metastore, job scheduling: 1.5–3 s per node, docs/scale-out.md),
not per row; ten times a week of flights is still small for Spark, and one build pair takes
5–10 minutes on a 2-core machine. What scales with data on Spark is a cluster's business.

Without pyspark and dbt-spark (the `spark` dependency group, not installed by `make install`) or
without java, nothing runs and the results say why (`spark_missing`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from orchestration import settings

PYTHON = sys.executable
# Columns that make a source daily: the raw loader's partition column, the scoring's date.
DAY_COLUMNS = ("_partition_date", "flight_date")
NOT_INSTALLED = (
    "not measured: pyspark and dbt-spark are not installed (the `spark` dependency group; "
    "`make bench-spark` installs it and runs the benchmark with Spark)"
)


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def java_binary() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def spark_missing() -> str | None:
    """None when the Spark build can run here, else a "not measured: …" line saying why."""
    if not all(_module_available(m) for m in ("pyspark", "dbt.adapters.spark")):
        return NOT_INSTALLED
    java = java_binary()
    if java is None:
        return "not measured: java not found (pyspark needs a JVM, Java 17+)"
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"not measured: `java -version` failed: {done.stderr[-300:]}"
    return None


def source_tables(manifest: Path) -> list[str]:
    """`schema.table` of every dbt source, from the prepared manifest."""
    sources = json.loads(manifest.read_text())["sources"].values()
    return sorted({f"{s['schema']}.{s['identifier'] or s['name']}" for s in sources})


def export_sources(con, tables: list[str], out_dir: Path, end: date, day: date) -> dict:
    """Each table to Parquet from an open DuckDB connection (a warehouse file or the lake).

    Daily tables (a `DAY_COLUMNS` column) give two files: the rows up to `end` (the window) and
    the rows of `day`; the others one file (the window). Returns {table: {window, day, rows}}.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    exported: dict[str, dict] = {}
    for table in tables:
        columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]
        day_column = next((c for c in DAY_COLUMNS if c in columns), None)
        parts = {"window": f"{day_column} <= DATE '{end}'" if day_column else "true"}
        if day_column:
            parts["day"] = f"{day_column} = DATE '{day}'"
        entry: dict = {"day": None, "rows": {}}
        for part, where in parts.items():
            path = out_dir / f"{table}.{part}.parquet"
            con.execute(f"copy (select * from {table} where {where}) to '{path}' (format parquet)")
            entry[part] = str(path)
            entry["rows"][part] = con.execute(
                f"select count(*) from read_parquet('{path}')"
            ).fetchone()[0]
        exported[table] = entry
    return exported


def bench_spark(
    source_con, end: date, root: Path, manifest: Path | None = None, env: dict | None = None
) -> dict:
    """Export the sources from `source_con`, then run and measure `bench.spark_run`."""
    from bench import runner
    from bench.measure import run_measured

    day = end + timedelta(days=1)
    root.mkdir(parents=True, exist_ok=True)
    exported = export_sources(
        source_con,
        source_tables(manifest or settings.DBT_PROJECT_DIR / "target" / "manifest.json"),
        root / "parquet",
        end,
        day,
    )
    sources_file = root / "sources.json"
    sources_file.write_text(json.dumps(exported, indent=2))
    out = root / "spark-run.json"
    argv = [PYTHON, "-m", "bench.spark_run", "--sources", str(sources_file)]
    argv += ["--work", str(root / "work"), "--day", day.isoformat(), "--out", str(out)]
    measured = run_measured(argv, env=env, cwd=settings.REPO_ROOT, log_path=root / "spark-run.log")
    if measured.returncode != 0 or not out.exists():
        tail = (root / "spark-run.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"spark build failed (exit {measured.returncode}):\n{tail}")
    run = json.loads(out.read_text())
    return runner._measured(measured) | {
        "day": day.isoformat(),
        "source_rows": {table: entry["rows"] for table, entry in exported.items()},
        **run,
    }
