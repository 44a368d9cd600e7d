"""Dagster's instance storage on PostgreSQL (dagster-postgres), on the throwaway cluster.

The instance reads `$DAGSTER_HOME/dagster.yaml` as `make` writes it on the `lake` target
(orchestration/dagster.yaml + dagster_postgres.yaml), with the storage URL from the environment
(orchestration/postgres.py). With SQLAlchemy 2.1 a bare ``postgresql://`` URL means the psycopg (3)
driver, which is not installed: the URL's scheme is ``postgresql+psycopg2``.
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.lake


def test_dagster_instance_on_postgres_records_a_run(postgres_cluster, tmp_path, monkeypatch):
    """The lake's dagster.yaml, as `make` writes it, puts a run into PostgreSQL."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres not installed")
    import dagster as dg

    from orchestration import postgres

    lake = postgres.LakePostgres.from_env(
        {
            "RUNWAY_LAKE_CATALOG": postgres_cluster.libpq(f"lake_instance_{os.getpid()}"),
            "RUNWAY_DAGSTER_DB": f"dagster_{os.getpid()}",
        }
    )
    lake.create_databases()
    dbname = lake.dagster_db
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(postgres.dagster_yaml("lake"))
    # A process started without the URL (make exports it) is refused, naming the variable.
    monkeypatch.delenv(postgres.DAGSTER_URL_VAR, raising=False)
    with pytest.raises(dg.DagsterInvalidConfigError, match=postgres.DAGSTER_URL_VAR):
        dg.DagsterInstance.from_config(str(dagster_home))
    monkeypatch.setenv(postgres.DAGSTER_URL_VAR, lake.dagster_url)

    @dg.asset
    def answer() -> int:
        """A trivial asset: the run, not the value, is under test."""
        return 42

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # the common settings of orchestration/dagster.yaml hold on the lake too
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        result = dg.materialize([answer], instance=instance)
        assert result.success
        run_id = result.run_id

    # A new instance from the same config (another process would do the same) sees the run.
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        record = instance.get_run_record_by_id(run_id)
        assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(dg.AssetKey("answer"))
        assert event is not None and event.run_id == run_id

    # And the rows are in PostgreSQL itself, not in a SQLite file under DAGSTER_HOME.
    con = postgres_cluster.connect(dbname)
    try:
        cur = con.cursor()
        cur.execute("SELECT run_id, status FROM runs")
        assert cur.fetchall() == [(run_id, "SUCCESS")]
        cur.execute(
            "SELECT count(*) FROM event_logs"
            " WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        assert cur.fetchone()[0] == 1
    finally:
        con.close()
    assert not list(dagster_home.rglob("*.db"))
