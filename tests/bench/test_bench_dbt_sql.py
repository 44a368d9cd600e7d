"""The baseline's transform: a tiny dbt project, compiled by the real dbt, run without dbt.

Three models (a view on a source, an incremental daily model, a table on top of it) and two
data tests; the executor must build them in dependency order, run each test after its model,
rebuild the whole table on a full refresh and replace only the window's days incrementally.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bench import dbt_sql

PROJECT = {
    "dbt_project.yml": """
name: tiny
version: "1.0.0"
profile: tiny
models:
  tiny:
    +materialized: table
""",
    "profiles.yml": """
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('RUNWAY_WAREHOUSE') }}"
      schema: main
      threads: 1
""",
    "models/sources.yml": """
version: 2
sources:
  - name: src
    schema: raw
    tables:
      - name: events
""",
    # Named so that alphabetical order is not dependency order.
    "models/a_totals.sql": "select count(*) as days, sum(events) as events "
    "from {{ ref('b_daily_events') }}",
    "models/b_daily_events.sql": """
{{ config(materialized='incremental', unique_key='event_date',
          incremental_predicates=["event_date >= cast('" ~ var('min_date') ~ "' as date)"]) }}
select event_date, count(*) as events
from {{ ref('c_stg_events') }}
where event_date >= cast('{{ var("min_date") }}' as date)
  and event_date < cast('{{ var("max_date") }}' as date)
group by event_date
""",
    "models/c_stg_events.sql": "{{ config(materialized='view') }}\n"
    "select cast(event_day as date) as event_date, kind from {{ source('src', 'events') }}",
    "models/schema.yml": """
version: 2
models:
  - name: c_stg_events
    columns:
      - name: event_date
        data_tests: [not_null]
  - name: b_daily_events
    columns:
      - name: event_date
        data_tests: [not_null, unique]
""",
    "tests/no_kind_x.sql": "{{ config(severity='warn') }}\n"
    "select * from {{ ref('c_stg_events') }} where kind = 'x'",
}

TOTALS, DAILY, STAGING = (f"model.tiny.{n}" for n in ("a_totals", "b_daily_events", "c_stg_events"))


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("tiny")
    project = root / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    windows = {"full": ("2013-01-01", "2013-01-04"), "day": ("2013-01-03", "2013-01-04")}

    def compile_window(label: str) -> dict:
        target = root / f"target-{label}"
        first, end = windows[label]
        return dbt_sql.compile_project(
            project,
            target,
            {"min_date": first, "max_date": end},
            target / "db" / "warehouse.duckdb",
        )

    # Both at once: each is mostly dbt's start-up.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(windows, pool.map(compile_window, windows), strict=True))


def _events(con, rows: list[tuple[str, str]]) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE OR REPLACE TABLE raw.events (event_day VARCHAR, kind VARCHAR)")
    con.executemany("INSERT INTO raw.events VALUES (?, ?)", rows)


def test_build_order_puts_parents_first(manifests):
    full = manifests["full"]
    assert dbt_sql.build_order(full, dbt_sql.select(full)) == [STAGING, DAILY, TOTALS]
    assert dbt_sql.build_order(full, [TOTALS, DAILY]) == [DAILY, TOTALS]


def test_build_order_refuses_a_cycle():
    manifest = {
        "nodes": {
            f"model.x.{n}": {
                "resource_type": "model",
                "config": {},
                "tags": [],
                "depends_on": {"nodes": [f"model.x.{p}"]},
            }
            for n, p in (("a", "b"), ("b", "a"))
        }
    }
    with pytest.raises(ValueError, match="cycle"):
        dbt_sql.build_order(manifest, ["model.x.a", "model.x.b"])


def test_full_then_incremental_day(manifests, tmp_path: Path):
    # The file has the compile's stem, "warehouse": the compiled SQL names that catalog.
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _events(
        con, [("2013-01-01", "a"), ("2013-01-02", "a"), ("2013-01-02", "x"), ("2013-01-03", "a")]
    )

    full = dbt_sql.build(
        con, manifests["full"], dbt_sql.select(manifests["full"]), incremental=False
    )
    assert full.models == [STAGING, DAILY, TOTALS]
    assert full.tests_run == 4
    failing = {uid: n for uid, n in full.test_results.items() if n}
    assert list(failing.values()) == [1] and "no_kind_x" in next(iter(failing))
    assert full.test_errors == []  # the failing test is a warning
    daily = con.execute("SELECT event_date, events FROM main.b_daily_events ORDER BY 1").fetchall()
    assert daily == [(date(2013, 1, 1), 1), (date(2013, 1, 2), 2), (date(2013, 1, 3), 1)]
    assert con.execute("SELECT days, events FROM main.a_totals").fetchone() == (3, 4)

    # New rows for day 3, and a late change to day 1 that the day's run must not pick up.
    con.execute("INSERT INTO raw.events VALUES ('2013-01-03', 'a'), ('2013-01-01', 'a')")
    day = dbt_sql.build(con, manifests["day"], dbt_sql.select(manifests["day"]), incremental=True)
    assert day.models == [STAGING, DAILY, TOTALS]
    daily = con.execute("SELECT event_date, events FROM main.b_daily_events ORDER BY 1").fetchall()
    assert daily == [(date(2013, 1, 1), 1), (date(2013, 1, 2), 2), (date(2013, 1, 3), 2)]
    assert con.execute("SELECT days, events FROM main.a_totals").fetchone() == (3, 5)
    con.close()


def test_a_failing_error_test_is_reported(manifests, tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _events(con, [("2013-01-01", "a"), (None, "a")])  # a NULL event_date: not_null fails
    report = dbt_sql.build(
        con, manifests["full"], dbt_sql.select(manifests["full"]), incremental=False
    )
    con.close()
    assert [uid for uid in report.test_errors if "not_null" in uid]
