"""Dagster's instance storage on PostgreSQL (dagster-postgres), on the throwaway cluster.

With SQLAlchemy 2.1 a bare ``postgresql://`` URL means the psycopg (3) driver, which is not
installed: dagster-postgres must be given ``scheme: postgresql+psycopg2``.
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.lake


def test_dagster_instance_on_postgres_records_a_run(postgres_cluster, tmp_path):
    pytest.importorskip("dagster_postgres", reason="dagster-postgres not installed")
    import dagster as dg
    import yaml

    dbname = postgres_cluster.create_database(f"dagster_{os.getpid()}")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    postgres_db = {
        "username": postgres_cluster.user,
        "password": "",
        "hostname": postgres_cluster.host,
        "port": postgres_cluster.port,
        "db_name": dbname,
        "scheme": "postgresql+psycopg2",
    }
    config = {
        "storage": {"postgres": {"postgres_db": postgres_db}},
        "telemetry": {"enabled": False},
    }
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))

    @dg.asset
    def answer() -> int:
        """A trivial asset: the run, not the value, is under test."""
        return 42

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
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
