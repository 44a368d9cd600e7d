"""Helpers of the Spark tests: dbt in this process (`dbtRunner`) and the shared constants."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from orchestration.resources import environment

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

SPARK_DAYS = 3
# The incremental run rebuilds this day only (the last fixture day): [min_date, max_date).
INCREMENTAL_DAY = ("2013-01-03", "2013-01-04")
RAW_TABLES = ("flights", "weather", "airlines", "airports", "planes")
# Python-written tables the dbt project reads as sources: schema.table.
PYTHON_TABLES = ("ml.flight_delay_predictions",)


def env_vars(**values: str) -> AbstractContextManager[None]:
    """Set environment variables for the duration of a dbt invocation (profiles read them)."""
    return environment(values)


@dataclass
class DbtInvocation:
    args: list[str]
    success: bool
    seconds: float
    results: list[tuple[str, str]]  # (unique_id, status)
    error: str


def invoke_dbt(args: list[str], work_dir: Path, **env: str) -> DbtInvocation:
    """`dbtRunner().invoke(args)` in this process, artifacts under ``work_dir``."""
    from dbt.cli.main import dbtRunner

    full_args = [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    base = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", "NO_COLOR": "1"}
    # The window of the incremental run: unset means "every day".
    window = {"RUNWAY_DBT_MIN_DATE": "", "RUNWAY_DBT_MAX_DATE": ""}
    started = time.perf_counter()
    with env_vars(**(base | window | env)):
        res = dbtRunner().invoke(full_args)
    seconds = time.perf_counter() - started
    results = []
    if res.result is not None and hasattr(res.result, "results"):
        results = [(r.node.unique_id, str(r.status)) for r in res.result.results]
    failed = [
        f"{uid}: {status}"
        for uid, status in results
        if status not in ("success", "pass", "warn", "skipped")
    ]
    error = "; ".join(failed) or (repr(res.exception) if res.exception else "")
    return DbtInvocation(full_args, bool(res.success), seconds, results, error)


@dataclass
class Builds:
    """The warehouses built from the same raw days, and the Spark build figures."""

    duckdb_path: Path
    spark_full: DbtInvocation
    spark_incremental: DbtInvocation
    marts_after_full: dict[str, list[tuple]]
    # marts.flights: the Parquet files of each day after the full build.
    flights_files_after_full: dict[object, frozenset[str]]
    spark_work: Path  # the Spark builds' dbt target and logs


def mart_names() -> list[str]:
    return sorted(
        f"{p.parent.name}.{p.stem}"
        for p in (DBT_PROJECT_DIR / "models").glob("*/*.sql")
        if p.parent.name in ("marts", "ml")
    )
