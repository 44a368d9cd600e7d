"""Fixtures for the Spark target: a local SparkSession with the raw tables, and dbt builds on it.

The `spark` target (dbt-spark, ``method: session``) runs dbt's SQL in a SparkSession inside the
dbt process. dbt-spark gets its session with ``SparkSession.builder.enableHiveSupport()
.getOrCreate()``, so the session configured here first (Derby metastore and warehouse under a
temp dir, local master, few shuffle partitions) is the one dbt uses, in every ``dbtRunner``
invocation of this process.

The raw tables are the first days of 2013 built by ``tests/dbt/raw_fixture.py`` (as the Dagster
ingest would load them into DuckDB), exported to Parquet with DuckDB and saved as Spark tables
``raw.*``; ``ml.flight_delay_predictions`` (written by Python scoring in the real pipeline) is the
fixture's deterministic stand-in, so the monitoring model builds on both engines.

`make test` installs the `spark` dependency group (dbt-spark, pyspark) and runs these tests
with the rest. Without pyspark (a bare `pytest` in a venv without the group) or without java
they are skipped, except under ``CI=true``, where a missing java is installed with apt (Debian's
Java 17 runtime) or fails: CI must not go green by skipping Spark.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from spark_dbt import PYTHON_TABLES, RAW_TABLES, SPARK_DAYS, env_vars

REPO_ROOT = Path(__file__).resolve().parents[2]
# raw_fixture lives with the dbt tests; importable from here whichever package pytest collects.
for _path in (REPO_ROOT, REPO_ROOT / "tests" / "dbt", Path(__file__).parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: the dbt project on Spark local (tests/spark)")


JAVA_PACKAGE = "openjdk-17-jre-headless"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None and _in_ci() and shutil.which("apt-get") and os.geteuid() == 0:
        # As the browser test installs Chromium: Debian's Java 17 runtime (a minute or two).
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", JAVA_PACKAGE],
        ):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
        java = shutil.which("java")
    return java


@pytest.fixture(scope="session")
def spark_requirements() -> None:
    """Skip (or, for java under CI, fail) where Spark cannot run."""
    missing = [m for m in ("pyspark", "dbt.adapters.spark") if not _module_available(m)]
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (dbt-spark[session] and pyspark are not "
            "project dependencies; see docs/scale-out.md, Spark)"
        )
    java = _java()
    reason = None
    if java is None:
        reason = "java is not installed (pyspark needs a JVM, Java 17+)"
    else:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = f"`java -version` failed: {done.stderr[-500:]}"
    if reason is not None:
        if _in_ci():
            pytest.fail(reason + " (CI=true: the Spark test must run in CI)")
        pytest.skip(reason)


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="session")
def spark_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(scope="session")
def raw_duckdb(spark_requirements: None, spark_root: Path) -> Path:
    """A DuckDB warehouse with `raw.*` (SPARK_DAYS days) and `ml.flight_delay_predictions`."""
    from raw_fixture import WAREHOUSE_FILE, build_raw_fixture, write_predictions

    db_path = spark_root / "raw" / WAREHOUSE_FILE
    build_raw_fixture(db_path, days=SPARK_DAYS)
    write_predictions(db_path, days=SPARK_DAYS)
    return db_path


@pytest.fixture(scope="session")
def raw_parquet(raw_duckdb: Path, spark_root: Path) -> dict[str, Path]:
    """Each raw (and Python-written) table as one Parquet file: `schema.table` -> path."""
    import duckdb

    out = spark_root / "parquet"
    out.mkdir()
    paths = {}
    con = duckdb.connect(str(raw_duckdb), read_only=True)
    try:
        for name in (*(f"raw.{t}" for t in RAW_TABLES), *PYTHON_TABLES):
            path = out / f"{name}.parquet"
            con.execute(f"COPY (SELECT * FROM {name}) TO '{path}' (FORMAT parquet)")
            paths[name] = path
    finally:
        con.close()
    return paths


@pytest.fixture(scope="session")
def spark(raw_parquet: dict[str, Path], spark_root: Path):
    """The process's SparkSession (the one dbt-spark will get), with the raw tables saved."""
    from orchestration.spark_local import local_session

    session = local_session(spark_root, "runway-dbt-spark-test")
    for name, path in raw_parquet.items():
        schema = name.split(".")[0]
        session.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
        session.read.parquet(str(path)).write.format("parquet").saveAsTable(name)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def duckdb_marts(raw_duckdb: Path, spark_root: Path) -> Path:
    """The `duckdb` target built on a copy of the same raw warehouse (dbt-duckdb, full build)."""
    from raw_fixture import WAREHOUSE_FILE

    db_path = spark_root / "duckdb" / WAREHOUSE_FILE
    db_path.parent.mkdir()
    shutil.copyfile(raw_duckdb, db_path)
    # The dbt CLI in a subprocess (tests/dbt/dbt_cli.py), not dbtRunner: dbt-duckdb keeps its
    # connection to the file open in the process, and the comparison's read-only connection
    # would then be refused ("different configuration than existing connections").
    from dbt_cli import run_dbt

    with env_vars(RUNWAY_TARGET="duckdb", RUNWAY_DBT_MIN_DATE="", RUNWAY_DBT_MAX_DATE=""):
        run = run_dbt(["build"], db_path, spark_root / "dbt_duckdb")
    assert run.returncode == 0, f"dbt build on duckdb failed: {run.output[-3000:]}"
    return db_path
