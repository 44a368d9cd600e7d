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
   row counts and checksums, table by table;
4. the stack's state is on the lake's PostgreSQL, as `make` sets it up on `lake`
   (orchestration/postgres.py): Dagster's instance storage (`$DAGSTER_HOME/dagster.yaml` is the
   lake variant) and MLflow's tracking store, each in its own database on the cluster; the runs
   and the registered champion are rows there, and no SQLite file is anywhere in the stack.
"""

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import pytest
from pipeline_base import BASE_DAYS, BASE_END, BASE_START

from orchestration import postgres, settings
from orchestration.postgres import LakePostgres

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
        and name not in ("RUNWAY_DAGSTER_DB", "RUNWAY_MLFLOW_DB", postgres.DAGSTER_URL_VAR)
    }
    env |= {
        "RUNWAY_TARGET": "lake",
        "RUNWAY_LAKE_CATALOG": lake_catalog.catalog,
        "RUNWAY_LAKE_DATA_PATH": lake_catalog.data_path,
        "RUNWAY_DUCKDB_EXTENSION_DIR": str(extension_dir),
        "RUNWAY_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "PYTHONPATH": os.pathsep.join([str(settings.REPO_ROOT), str(RUNS.parent)]),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    # What `make` exports on lake: the URL that the lake variant of dagster.yaml reads.
    return env | postgres.dagster_env(env)


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
    """Polls the lake, read-only, until stopped: flights per day, and any error.

    It reads as the dashboards do on the lake (dashboards/data.py): an in-memory DuckDB with the
    lake attached, kept open, and for each poll a new cursor, hence a new transaction on the
    latest committed snapshot. Every `REOPEN_EVERY` polls it opens a new connection, as a process
    starting mid-run would. (A new connection for every poll, every 0.2 s, cost about a
    CPU-second each, loading the extensions and reading the catalog: on two cores that took a
    third of the machine or more from the runs under test.)
    """

    REOPEN_EVERY = 25

    def __init__(self, lake_catalog, extension_dir: Path) -> None:
        super().__init__(daemon=True)
        self.lake_catalog, self.extension_dir = lake_catalog, extension_dir
        self.stop = threading.Event()
        self.polls: list[dict[str, int]] = []
        self.opened = 0  # connections opened
        self.errors: list[str] = []

    def run(self) -> None:
        from orchestration import lake

        query = (
            "select cast(flight_date as varchar), count(*)"
            f" from {lake.LAKE_ALIAS}.marts.flights group by 1"
        )
        kept, since_open = None, 0
        try:
            while not self.stop.is_set():
                try:
                    if kept is None or since_open >= self.REOPEN_EVERY:
                        if kept is not None:
                            kept.close()
                            kept = None
                        kept = lake.connect_lake(
                            self.lake_catalog, self.extension_dir, read_only=True
                        )
                        self.opened, since_open = self.opened + 1, 0
                    cursor = kept.cursor()
                    try:
                        rows = cursor.execute(query).fetchall()
                    finally:
                        cursor.close()
                    self.polls.append(dict(rows))
                except Exception as error:  # any error is a finding
                    self.errors.append(f"{type(error).__name__}: {error}")
                since_open += 1
                time.sleep(0.2)
        finally:
            if kept is not None:
                kept.close()


class LakeRuns(NamedTuple):
    lake_catalog: object  # orchestration.lake.LakeCatalog
    first: dict
    day_3: dict
    day_2_again: dict
    reader: Reader
    root: Path
    postgres: LakePostgres


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(cluster) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster and the backends it has reaped (one
    per session), not counted in this process's children."""
    import psutil

    try:
        pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        times = psutil.Process(pid).cpu_times()
    except (OSError, ValueError, psutil.Error):
        return float("nan")  # a measurement only: never fail the fixture over it
    return times.user + times.system + times.children_user + times.children_system


def _query(lake_postgres: LakePostgres, dbname: str, sql: str) -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(lake_postgres.conninfo(dbname))
    try:
        cur = con.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def lake_runs(postgres_cluster, extension_dir, tmp_path_factory):
    """The three runs on the lake, with Dagster's and MLflow's stores on its PostgreSQL.

    Not built on `pipeline_base` (only the comparison with the duckdb target needs it): under
    xdist another worker's tests may build that meanwhile instead of this module waiting on it.
    """
    from orchestration.lake import LakeCatalog
    from orchestration.seed.landing import seed_landing

    clock, cpu, own = time.monotonic(), _children_cpu(), time.process_time()
    server = _server_cpu(postgres_cluster)
    seconds: dict[str, object] = {}

    def lap(name: str) -> None:
        # Wall time, and the CPU time of the processes it started (runs, their dbt processes).
        nonlocal clock, cpu, own, server
        seconds[name] = {
            "wall": round(time.monotonic() - clock, 1),
            "cpu": round(_children_cpu() - cpu, 1),
            # this process: the reader thread, during the two runs
            "own_cpu": round(time.process_time() - own, 1),
            "postgres_cpu": round(_server_cpu(postgres_cluster) - server, 1),
        }
        clock, cpu, own = time.monotonic(), _children_cpu(), time.process_time()
        server = _server_cpu(postgres_cluster)

    root = tmp_path_factory.mktemp("lake_stack")
    home = root / "dagster_home"
    home.mkdir()
    # As `make` writes it on lake: the common settings plus storage on PostgreSQL.
    (home / "dagster.yaml").write_text(postgres.dagster_yaml("lake"))
    (root / "data").mkdir()
    # The same landing files as the duckdb stack (pipeline_base seeds them the same way, and the
    # seed is deterministic): the same raw data on both targets.
    seed_landing(root / "data" / "landing", days=BASE_DAYS, progress=False)
    lake_catalog = LakeCatalog(postgres_cluster.libpq("runway_lake_pipeline"), str(root / "lake"))
    env = _env(root, lake_catalog, extension_dir)
    lake_postgres = LakePostgres.from_env(env)
    # `make install` on lake: the lake's, Dagster's and MLflow's databases, on the one server.
    created = subprocess.run(
        [sys.executable, "-m", "orchestration.postgres"],
        env=env,
        cwd=settings.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    lap("setup")

    first = _finish(_start(env, "all", BASE_START.isoformat(), DAY_2))
    assert first["success"], first["failures"]
    lap("first run")

    reader = Reader(lake_catalog, extension_dir)
    reader.start()
    try:
        day_3 = _start(env, "daily", DAY_3, DAY_3)
        day_2_again = _start(env, "daily", DAY_2, DAY_2)
        results = _finish(day_3), _finish(day_2_again)
    finally:
        reader.stop.set()
        reader.join(timeout=60)
    lap("two runs at once")
    seconds["reader"] = {"polls": len(reader.polls), "connections": reader.opened}
    # Where the time goes (`pytest -s` shows it): the fixture's phases and each run's steps.
    seconds["runs"] = {
        name: run.get("seconds")
        for name, run in (("first", first), ("day 3", results[0]), ("day 2 again", results[1]))
    }
    print(json.dumps({"lake_runs seconds": seconds}, indent=1))
    yield LakeRuns(lake_catalog, first, *results, reader, root, lake_postgres)


def test_two_runs_at_once_on_the_same_tables_both_succeed(lake_runs) -> None:
    assert lake_runs.day_3["success"], lake_runs.day_3["failures"]
    assert lake_runs.day_2_again["success"], lake_runs.day_2_again["failures"]


def test_a_reader_during_the_runs_sees_no_error_and_no_day_missing(lake_runs) -> None:
    reader = lake_runs.reader
    assert reader.errors == []
    assert len(reader.polls) > 5
    # Also connections opened while the runs wrote, not only the first one.
    assert reader.opened >= 2
    before = reader.polls[0]
    assert set(before) == {BASE_START.isoformat(), DAY_2}
    for poll in reader.polls:
        # day 2 is replaced in one transaction: a reader sees the old rows or the new, never none
        assert poll[DAY_2] == before[DAY_2], poll
        assert set(poll) <= {BASE_START.isoformat(), DAY_2, DAY_3}


def test_nothing_went_to_a_duckdb_file(lake_runs) -> None:
    lake_catalog = lake_runs.lake_catalog
    root = Path(lake_catalog.data_path).parent
    assert not (root / "data" / "warehouse.duckdb").exists()
    assert list(Path(lake_catalog.data_path).rglob("*.parquet"))


def test_the_marts_equal_the_duckdb_targets(lake_runs, pipeline_base: Path) -> None:
    """Same days, same dbt project, two engines: the same rows (counts and checksums)."""
    from orchestration import lake

    lake_catalog = lake_runs.lake_catalog
    con = lake.connect_lake(lake_catalog, read_only=True)
    try:
        # As `warehouse`, the catalog name dbt gave it: its views (`marts.routes`, a view over
        # the daily route table) name their tables `"warehouse"."marts"....`.
        warehouse = pipeline_base / "data" / "warehouse.duckdb"
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        assert BASE_END.isoformat() == DAY_3
        differences = {}
        for table in MARTS:
            counts, digests = [], []
            for database in ("lake", "warehouse"):
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
            for db in ("lake", "warehouse")
        ]
        assert predictions[0] == predictions[1] > 0
    finally:
        con.close()


def test_the_runs_are_rows_in_dagsters_postgres(lake_runs) -> None:
    """The three runs, their materializations and their pools are in Dagster's database."""
    pg = lake_runs.postgres
    run_ids = {run["run_id"] for run in (lake_runs.first, lake_runs.day_3, lake_runs.day_2_again)}
    assert len(run_ids) == 3
    assert dict(_query(pg, pg.dagster_db, "SELECT run_id, status FROM runs")) == {
        run_id: "SUCCESS" for run_id in run_ids
    }
    materialized = _query(
        pg,
        pg.dagster_db,
        "SELECT DISTINCT run_id FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'",
    )
    assert {run_id for (run_id,) in materialized} == run_ids
    # The per-table pools were claimed through the same database (the lake has no `warehouse`).
    pools = {
        key
        for (key,) in _query(pg, pg.dagster_db, "SELECT concurrency_key FROM concurrency_limits")
    }
    assert pools and all(key.startswith(settings.LAKE_POOL_PREFIX) for key in pools), pools


def test_the_runs_keep_their_connections_to_dagsters_postgres(lake_runs) -> None:
    """Each run process pools its storage connections (orchestration.materialize): without it,
    dagster-postgres opens a new PostgreSQL session for every event it stores."""
    pg = lake_runs.postgres
    ((events,),) = _query(pg, pg.dagster_db, "SELECT count(*) FROM event_logs")
    ((sessions,),) = _query(
        pg,
        pg.dagster_db,
        f"SELECT sessions FROM pg_stat_database WHERE datname = '{pg.dagster_db}'",
    )
    assert events > 100, events
    # Measured on the first run alone: 538 events, 1640 sessions unpooled, 87 pooled.
    assert sessions < events, (sessions, events)


def test_the_champion_is_rows_in_mlflows_postgres(lake_runs) -> None:
    """The registered model, its champion alias and the training run are in MLflow's database;
    the run's artifacts are files under the stack's data path."""
    pg = lake_runs.postgres
    assert _query(pg, pg.mlflow_db, "SELECT name FROM registered_models") == [
        (settings.REGISTERED_MODEL,)
    ]
    champion = _query(
        pg,
        pg.mlflow_db,
        "SELECT a.alias, v.version, r.status, e.name, r.artifact_uri"
        " FROM registered_model_aliases a"
        " JOIN model_versions v ON v.name = a.name AND v.version = a.version"
        " JOIN runs r ON r.run_uuid = v.run_id"
        " JOIN experiments e ON e.experiment_id = r.experiment_id"
        f" WHERE a.name = '{settings.REGISTERED_MODEL}'",
    )
    assert len(champion) == 1, champion
    alias, version, status, experiment, artifact_uri = champion[0]
    assert (alias, version, status, experiment) == (
        settings.CHAMPION_ALIAS,
        1,
        "FINISHED",
        settings.MLFLOW_EXPERIMENT,
    )
    artifacts = Path(urlsplit(artifact_uri).path)
    assert artifacts.is_relative_to(lake_runs.root / "data" / "mlflow" / "artifacts"), artifacts
    assert [path for path in artifacts.rglob("*") if path.is_file()]


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(16) == b"SQLite format 3\x00"


def test_no_sqlite_file_anywhere_in_the_stack(lake_runs) -> None:
    """Neither Dagster nor MLflow fell back to SQLite under DAGSTER_HOME or the data dir."""
    root = lake_runs.root
    assert (root / "dagster_home" / "dagster.yaml").exists()
    assert (root / "data" / "mlflow").is_dir()
    sqlite = [
        path
        for folder in (root / "dagster_home", root / "data")
        for path in folder.rglob("*")
        if path.is_file() and _is_sqlite(path)
    ]
    assert sqlite == []
