"""The dbt project built on Spark local, full then incremental, in one process (bench/spark.py).

    python -m bench.spark_run --sources sources.json --work DIR --day 2013-01-08 --out run.json

As tests/spark does: one SparkSession configured first (local[2], Hive support, Derby metastore
and warehouse under `--work`, 2 shuffle partitions, no UI), which dbt-spark's `method: session`
then gets in every `dbtRunner` invocation of the process. Timed apart, in this order:

- `session`: starting the JVM and the session;
- `load_window`: each source's window file saved as a Spark table (`schema.table`);
- `dbt_full`: `dbt build` (models, unit tests, data tests) with `RUNWAY_TARGET=spark`;
- `load_day`: the new day's rows of the daily sources inserted into their tables;
- `dbt_incremental`: `dbt build --select tag:daily+` with the day as the window
  (`RUNWAY_DBT_MIN_DATE`/`MAX_DATE`): the daily models overwrite that day's partition.

dbt's artifacts go under `--work` (never into dbt_project/target, which holds the manifest the
code location reads). Writes JSON to `--out`: seconds of each stage, node counts and statuses.
"""

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from orchestration import settings

# A dbt result status that is not a failure.
OK_STATUSES = ("success", "pass", "warn", "skipped")


def spark_session(work: Path):
    from orchestration.spark_local import local_session

    return local_session(work, "runway-bench-spark")


def invoke_dbt(args: list[str], work: Path, env: dict[str, str]) -> dict:
    """`dbtRunner().invoke` in this process: {seconds, success, nodes, failed, error}."""
    from dbt.cli.main import dbtRunner

    full_args = [*args, "--project-dir", str(settings.DBT_PROJECT_DIR)]
    full_args += ["--profiles-dir", str(settings.DBT_PROJECT_DIR)]
    full_args += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    from orchestration.resources import environment

    began = time.perf_counter()
    with environment(env):
        res = dbtRunner().invoke(full_args)
    seconds = time.perf_counter() - began
    results = []
    if res.result is not None and hasattr(res.result, "results"):
        results = [(r.node.unique_id, str(r.status)) for r in res.result.results]
    failed = [f"{uid}: {status}" for uid, status in results if status not in OK_STATUSES]
    return {
        "args": args,
        "seconds": seconds,
        "success": bool(res.success),
        "nodes": len(results),
        "failed": failed,
        "error": repr(res.exception) if res.exception else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_run", description=__doc__)
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--day", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    sources = json.loads(args.sources.read_text())
    args.work.mkdir(parents=True, exist_ok=True)
    base_env = {
        "RUNWAY_TARGET": "spark",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "NO_COLOR": "1",
    }
    stages: dict[str, float] = {}

    began = time.perf_counter()
    spark = spark_session(args.work)
    stages["session"] = time.perf_counter() - began
    try:
        began = time.perf_counter()
        for table, entry in sources.items():
            spark.sql(f"CREATE DATABASE IF NOT EXISTS {table.split('.')[0]}")
            spark.read.parquet(entry["window"]).write.format("parquet").saveAsTable(table)
        stages["load_window"] = time.perf_counter() - began

        full = invoke_dbt(
            ["build"], args.work, base_env | {"RUNWAY_DBT_MIN_DATE": "", "RUNWAY_DBT_MAX_DATE": ""}
        )
        stages["dbt_full"] = full["seconds"]
        incremental = None
        if full["success"]:
            began = time.perf_counter()
            for table, entry in sources.items():
                if entry.get("day"):
                    # Same file layout as the window's: columns by position match.
                    spark.read.parquet(entry["day"]).write.insertInto(table)
            stages["load_day"] = time.perf_counter() - began
            window = {
                "RUNWAY_DBT_MIN_DATE": args.day.isoformat(),
                "RUNWAY_DBT_MAX_DATE": (args.day + timedelta(days=1)).isoformat(),
            }
            incremental = invoke_dbt(
                ["build", "--select", "tag:daily+"], args.work, base_env | window
            )
            stages["dbt_incremental"] = incremental["seconds"]
        day_rows = None
        if incremental is not None and incremental["success"]:
            day_rows = spark.sql(
                f"SELECT count(*) FROM marts.flights WHERE flight_date = DATE '{args.day}'"
            ).collect()[0][0]
    finally:
        spark.stop()
    success = full["success"] and incremental is not None and incremental["success"]
    report = {
        "success": success,
        "stages": stages,
        "full": full,
        "incremental": incremental,
        "new_day_flights": day_rows,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(
        f"spark: full build {full['seconds']:.1f} s ({full['nodes']} nodes), incremental "
        + (f"{incremental['seconds']:.1f} s ({incremental['nodes']} nodes)" if incremental else "-")
    )
    return 0 if success else 1


if __name__ == "__main__":
    sys.exit(main())
