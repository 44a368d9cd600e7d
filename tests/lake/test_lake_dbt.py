"""dbt-duckdb builds into DuckLake: a table model and a delete+insert incremental model.

A tiny dbt project (written to a temp dir) reads a raw table in the lake and writes two models
back into it, through the profile output that orchestration.lake.LakeCatalog.dbt_output gives:
in-memory DuckDB, the lake attached and set as ``database``, the locked extension config.
The real dbt CLI runs in a subprocess; the results are read back from the lake and reconciled
against the raw rows computed here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lake

DAY_ROWS = 500  # per day; above the data-inlining limit so the models are Parquet files

DBT_PROJECT = """
name: lake_spike
version: "1.0"
config-version: 2
profile: lake_spike
model-paths: ["models"]
"""

SOURCES = """
version: 2
sources:
  - name: raw
    database: lake
    schema: raw
    tables:
      - name: events
"""

DAILY_TOTALS = """
{{ config(materialized='table') }}
select day, count(*) as events, sum(amount) as amount
from {{ source('raw', 'events') }}
group by day
"""

EVENTS_BY_DAY = """
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='day') }}
select day, id, amount
from {{ source('raw', 'events') }}
{% if is_incremental() %}
where day >= {{ env_var('LAKE_SPIKE_FROM_DAY') }}
{% endif %}
"""


def _write_project(root: Path, profile_output: dict) -> Path:
    import yaml

    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(DBT_PROJECT)
    (root / "models" / "sources.yml").write_text(SOURCES)
    (root / "models" / "daily_totals.sql").write_text(DAILY_TOTALS)
    (root / "models" / "events_by_day.sql").write_text(EVENTS_BY_DAY)
    profiles = {"lake_spike": {"target": "lake", "outputs": {"lake": profile_output}}}
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False))
    return root


def _dbt(project: Path, *args: str, from_day: int = 0) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).parent / "dbt"
    # The window comes in an env var, not --vars: changing --vars defeats dbt's partial parse.
    env = os.environ | {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "LAKE_SPIKE_FROM_DAY": str(from_day),
    }
    done = subprocess.run(
        [str(dbt), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
        + ["--target-path", str(project / "target"), "--log-path", str(project / "logs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done


def _load_days(con, days: dict[int, int]) -> None:
    """Replace raw.events for each day with DAY_ROWS rows whose amount is ``day * factor``."""
    for day, factor in days.items():
        con.execute("DELETE FROM raw.events WHERE day = ?", [day])
        con.execute(
            "INSERT INTO raw.events SELECT ?, ? * 10000 + range, ? FROM range(?)",
            [day, day, day * factor, DAY_ROWS],
        )


def _expected(days: dict[int, int]) -> list[tuple[int, int, int]]:
    return [(day, DAY_ROWS, DAY_ROWS * day * factor) for day, factor in sorted(days.items())]


def test_dbt_builds_table_and_incremental_models_into_the_lake(
    lake_catalog, extension_dir, tmp_path
):
    from orchestration.lake import connect_lake

    con = connect_lake(lake_catalog, extension_dir)
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.events (day INTEGER, id BIGINT, amount BIGINT)")
    days = {1: 1, 2: 1, 3: 1}
    _load_days(con, days)
    con.close()

    project = _write_project(tmp_path / "dbt", lake_catalog.dbt_output(extension_dir))
    _dbt(project, "build")

    # Day 3 is re-delivered with other amounts and day 4 arrives: rebuild from day 3 on. Day 1
    # changes too, outside the window: the incremental model must keep its old day 1.
    con = connect_lake(lake_catalog, extension_dir)
    _load_days(con, {1: 5, 3: 7, 4: 2})
    con.close()
    _dbt(project, "run", from_day=3)
    incremental_days = days | {3: 7, 4: 2}
    days |= {1: 5, 3: 7, 4: 2}

    con = connect_lake(lake_catalog, extension_dir, read_only=True)
    try:
        by_day = con.execute(
            "SELECT day, count(*), sum(amount) FROM main.events_by_day GROUP BY day ORDER BY day"
        ).fetchall()
        assert by_day == _expected(incremental_days)
        totals = con.execute(
            "SELECT day, events, amount FROM main.daily_totals ORDER BY day"
        ).fetchall()
        assert totals == _expected(days)
        # DuckLake's own catalog tables are attached as __ducklake_metadata_<alias>.
        table_id = con.execute(
            "SELECT table_id FROM __ducklake_metadata_lake.ducklake_table"
            " WHERE table_name = 'events_by_day' AND end_snapshot IS NULL"
        ).fetchone()[0]
        changes = [
            row[0]
            for row in con.execute(
                "SELECT changes FROM lake.snapshots() ORDER BY snapshot_id"
            ).fetchall()
        ]
        files = con.execute(
            "SELECT count(*) FROM ducklake_list_files('lake', 'events_by_day', schema => 'main')"
        ).fetchone()[0]
    finally:
        con.close()
    # delete+insert is one snapshot: readers never see the day deleted but not yet re-inserted.
    delete_insert = {
        "tables_deleted_from": [str(table_id)],
        "tables_inserted_into": [str(table_id)],
    }
    assert delete_insert in changes, changes
    assert files >= 2  # first build + incremental insert, as Parquet under the data path
    assert list(Path(lake_catalog.data_path).rglob("*.parquet"))
