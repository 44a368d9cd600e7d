"""The whole Runway graph on the `lake` target (issue #9, points 1, 3 and 5).

With `RUNWAY_TARGET=lake`, the same code and the same dbt project write a DuckLake (catalog in a
throwaway PostgreSQL, Parquet under the test's data path) instead of the DuckDB file:

1. one run of every asset over days 1-2 (ingest, dbt, training, scoring, monitoring, publish);
2. then two runs at once, in two processes, both writing the same tables: day 3 delivered, and
   day 2 redelivered; a reader polls the lake meanwhile. Both succeed, the reader sees no error
   and never a day going missing. The runs share the stack's Dagster instance, whose pools are
   per table on the lake: the same step of the two runs takes turns (dbt's table swap is not
   safe against itself), different steps run at once, and a commit that loses to the other
   run's on a shared table (the raw audit tables) is redone;
3. the marts equal those the `duckdb` target built from the same three days (`pipeline_base`):
   row counts and checksums, table by table.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pipeline_base import BASE_END, BASE_START

from orchestration import settings

pytestmark = pytest.mark.lake

RUNS = Path(__file__).with_name("pipeline_runs.py")
# Tables that depend only on the raw data: the same on every target. (Predictions depend on a
# model trained on a different number of days, so they are compared by count only.)
MARTS = (
    "marts.flights",
    "marts.daily_carrier_performance",
    "marts.routes",
    "marts.carriers",
    "marts.airports",
    "marts.weather_delay_impact",
    "ml.flight_features",
)
DAY_2, DAY_3 = "2013-01-02", "2013-01-03"


def _env(root: Path, lake_catalog, extension_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI")
    }
    return env | {
        "RUNWAY_TARGET": "lake",
        "RUNWAY_LAKE_CATALOG": lake_catalog.catalog,
        "RUNWAY_LAKE_DATA_PATH": lake_catalog.data_path,
        "RUNWAY_DUCKDB_EXTENSION_DIR": str(extension_dir),
        "RUNWAY_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "PYTHONPATH": os.pathsep.join([str(settings.REPO_ROOT), str(RUNS.parent)]),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def _start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(RUNS), *args],
        env=env,
        cwd=settings.REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 1200) -> dict:
    out, err = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"the run printed no result (exit {process.returncode}):\n{err[-4000:]}"
    return json.loads(lines[-1])


class Reader(threading.Thread):
    """Polls the lake, read-only, until stopped: flights per day, and any error."""

    def __init__(self, lake_catalog, extension_dir: Path) -> None:
        super().__init__(daemon=True)
        self.lake_catalog, self.extension_dir = lake_catalog, extension_dir
        self.stop = threading.Event()
        self.polls: list[dict[str, int]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        from orchestration import lake

        while not self.stop.is_set():
            try:
                con = lake.connect_lake(self.lake_catalog, self.extension_dir, read_only=True)
                try:
                    rows = con.execute(
                        "select cast(flight_date as varchar), count(*) from marts.flights"
                        " group by 1"
                    ).fetchall()
                finally:
                    con.close()
                self.polls.append(dict(rows))
            except Exception as error:  # any error is a finding
                self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def lake_runs(pipeline_base: Path, postgres_cluster, extension_dir, tmp_path_factory):
    """The three runs on the lake; yields (lake_catalog, first, day 3, day 2 again, reader)."""
    from orchestration.lake import LakeCatalog

    root = tmp_path_factory.mktemp("lake_stack")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(settings.REPO_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    (root / "data").mkdir()
    # The same landing files as the duckdb stack: the same raw data on both targets.
    subprocess.run(
        ["cp", "-r", str(pipeline_base / "data" / "landing"), str(root / "data" / "landing")],
        check=True,
    )
    dbname = postgres_cluster.create_database("runway_lake_pipeline")
    lake_catalog = LakeCatalog(postgres_cluster.libpq(dbname), str(root / "lake"))
    env = _env(root, lake_catalog, extension_dir)

    first = _finish(_start(env, "all", BASE_START.isoformat(), DAY_2))
    assert first["success"], first["failures"]

    reader = Reader(lake_catalog, extension_dir)
    reader.start()
    try:
        day_3 = _start(env, "daily", DAY_3, DAY_3)
        day_2_again = _start(env, "daily", DAY_2, DAY_2)
        results = _finish(day_3), _finish(day_2_again)
    finally:
        reader.stop.set()
        reader.join(timeout=60)
    yield lake_catalog, first, *results, reader


def test_two_runs_at_once_on_the_same_tables_both_succeed(lake_runs) -> None:
    _, _, day_3, day_2_again, _ = lake_runs
    assert day_3["success"], day_3["failures"]
    assert day_2_again["success"], day_2_again["failures"]


def test_a_reader_during_the_runs_sees_no_error_and_no_day_missing(lake_runs) -> None:
    _, _, _, _, reader = lake_runs
    assert reader.errors == []
    assert len(reader.polls) > 5
    before = reader.polls[0]
    assert set(before) == {BASE_START.isoformat(), DAY_2}
    for poll in reader.polls:
        # day 2 is replaced in one transaction: a reader sees the old rows or the new, never none
        assert poll[DAY_2] == before[DAY_2], poll
        assert set(poll) <= {BASE_START.isoformat(), DAY_2, DAY_3}


def test_nothing_went_to_a_duckdb_file(lake_runs, tmp_path_factory) -> None:
    lake_catalog = lake_runs[0]
    root = Path(lake_catalog.data_path).parent
    assert not (root / "data" / "warehouse.duckdb").exists()
    assert list(Path(lake_catalog.data_path).rglob("*.parquet"))


def test_the_marts_equal_the_duckdb_targets(lake_runs, pipeline_base: Path) -> None:
    """Same days, same dbt project, two engines: the same rows (counts and checksums)."""
    from orchestration import lake

    lake_catalog = lake_runs[0]
    con = lake.connect_lake(lake_catalog, read_only=True)
    try:
        con.execute(f"attach '{pipeline_base / 'data' / 'warehouse.duckdb'}' as file (read_only)")
        assert BASE_END.isoformat() == DAY_3
        differences = {}
        for table in MARTS:
            counts, digests = [], []
            for database in ("lake", "file"):
                rows, digest = con.execute(
                    "select count(*), md5(coalesce(string_agg(cast(t as varchar), chr(10)"
                    f" order by cast(t as varchar)), '')) from {database}.{table} as t"
                ).fetchone()
                counts.append(rows)
                digests.append(digest)
            assert counts[0] > 0, table
            if counts[0] != counts[1] or digests[0] != digests[1]:
                differences[table] = counts
        assert differences == {}
        predictions = [
            con.execute(f"select count(*) from {db}.ml.flight_delay_predictions").fetchone()[0]
            for db in ("lake", "file")
        ]
        assert predictions[0] == predictions[1] > 0
    finally:
        con.close()
