"""`predictions_vs_actuals` on the per-day aggregate the publisher derives (issue #8).

The query used to join every prediction to its flight at each call (`ROW_LEVEL_SQL` below, the
query as it was); it now sums `ml.daily_prediction_outcomes`, one row per (day, carrier, origin)
that `orchestration/snapshot_tables.py` derives in each new snapshot. On a snapshot written by
the pipeline's own publisher (`orchestration.publish.write_snapshot`) from the warehouse of the
tests' three-day pipeline (`pipeline_base`), with a rescoring added so that some flights carry
several predictions, the new query returns what the row-level one returned, filters included, and
both equal the figures recomputed in pandas from the warehouse's rows.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from snapshot_fixture import CONTRACT, make_frames, write_snapshot

from dashboards import data
from orchestration import settings, snapshot_tables

OUTCOMES = ("ml", "daily_prediction_outcomes")

# dashboards/queries/predictions_vs_actuals.sql before the aggregate existed (comments dropped).
ROW_LEVEL_SQL = """
with filtered_flights as (
    select *
    from marts.flights
    where
        (
            getvariable('start_date') is null
            or flight_date >= cast(getvariable('start_date') as date)
        )
        and (
            getvariable('end_date') is null
            or flight_date <= cast(getvariable('end_date') as date)
        )
        and (
            getvariable('carriers') is null
            or list_contains(cast(getvariable('carriers') as varchar[]), carrier_code)
        )
        and (
            getvariable('origins') is null
            or list_contains(cast(getvariable('origins') as varchar[]), origin_airport_code)
        )
),

scoring_runs as (
    select
        flight_date,
        count(distinct (scored_at, model_version)) = 1 as scored_once
    from ml.flight_delay_predictions
    group by flight_date
),

latest_predictions as (
    select
        p.flight_id,
        p.predicted_delay_probability
    from ml.flight_delay_predictions as p
    inner join scoring_runs as r on p.flight_date = r.flight_date
    where r.scored_once
    union all
    select
        p.flight_id,
        arg_max(p.predicted_delay_probability, (p.scored_at, p.model_version))
            as predicted_delay_probability
    from ml.flight_delay_predictions as p
    inner join scoring_runs as r on p.flight_date = r.flight_date
    where not r.scored_once
    group by p.flight_id
)

select
    f.flight_date,
    count(*) as departed_flights,
    avg(p.predicted_delay_probability) as predicted_late_share,
    avg(case when f.is_departure_delayed_15 then 1.0 else 0.0 end) as actual_late_share
from latest_predictions as p
inner join filtered_flights as f on p.flight_id = f.flight_id
where f.is_departure_delayed_15 is not null
group by f.flight_date
order by f.flight_date
"""


def row_level(path: Path, params: dict) -> pd.DataFrame:
    return data.run_sql(ROW_LEVEL_SQL, path, params)


@pytest.fixture(scope="module")
def published(pipeline_base: Path, tmp_path_factory: pytest.TempPathFactory):
    """(snapshot path, publisher's row counts, flights, predictions) of a copy of the base's
    warehouse, rescored in part, then published by the pipeline's publisher."""
    root = tmp_path_factory.mktemp("prediction_outcomes")
    warehouse = root / "warehouse.duckdb"
    shutil.copy(pipeline_base / "data" / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        (days,) = con.execute(
            "select list(distinct flight_date order by flight_date) "
            "from ml.flight_delay_predictions"
        ).fetchone()
        assert len(days) >= 3, days
        # A later run rescores every other flight of the second day; on the third day, five
        # flights get a prediction with the day's latest scored_at from a higher version (the
        # tie rule: newest scored_at, then the highest model_version).
        con.execute(
            """
            insert into ml.flight_delay_predictions by name
            select flight_id, flight_date, 0.9 as predicted_delay_probability,
                   model_version, scored_at + interval 1 hour as scored_at
            from ml.flight_delay_predictions
            where flight_date = ? and hash(flight_id) % 2 = 0
            """,
            [days[1]],
        )
        con.execute(
            """
            insert into ml.flight_delay_predictions by name
            select flight_id, flight_date, 0.01 as predicted_delay_probability,
                   model_version || '.1' as model_version,
                   max(scored_at) over () as scored_at
            from ml.flight_delay_predictions
            where flight_date = ?
            order by flight_id
            limit 5
            """,
            [days[2]],
        )
        from orchestration.publish import write_snapshot as publish

        snapshot = root / "serving" / settings.SNAPSHOT_FILE
        counts = publish(con, snapshot, settings.SERVING_TABLES)
        flights = con.execute("select * from marts.flights").df()
        predictions = con.execute("select * from ml.flight_delay_predictions").df()
    finally:
        con.close()
    assert predictions["flight_id"].duplicated().sum() > 5, "the rescoring added no rows"
    return snapshot, counts, flights, predictions


def filter_cases(flights: pd.DataFrame) -> list[dict]:
    days = sorted(flights["flight_date"].dt.date.unique())
    busiest = flights["carrier_code"].value_counts().index[:2].tolist()
    return [
        {},
        {"start_date": days[1], "end_date": days[1]},
        {"start_date": days[1]},
        {"carriers": busiest},
        {"origins": ["JFK", "EWR"]},
        {"start_date": days[0], "end_date": days[1], "carriers": busiest, "origins": ["LGA"]},
        {"start_date": days[-1] + timedelta(days=1)},  # nothing selected
    ]


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got["flight_date"].tolist() == expected["flight_date"].tolist()
    assert got["departed_flights"].tolist() == expected["departed_flights"].tolist()
    for column in ("predicted_late_share", "actual_late_share"):
        # Summed per (day, carrier, origin) first: equal up to the order of float additions.
        assert got[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-12)


def test_same_result_as_the_row_level_query(published):
    snapshot, _, flights, _ = published
    for params in filter_cases(flights):
        got = data.run_sql(data.query_sql("predictions_vs_actuals"), snapshot, params)
        expected = row_level(snapshot, params)
        assert got.dtypes.tolist() == expected.dtypes.tolist()
        assert_same(got, expected)
    assert len(got) == 0  # the last case selects nothing, in both


def test_reconciles_with_each_flights_latest_prediction_in_pandas(published):
    snapshot, _, flights, predictions = published
    latest = predictions.sort_values(["scored_at", "model_version"]).drop_duplicates(
        "flight_id", keep="last"
    )
    labelled = flights[flights["is_departure_delayed_15"].notna()]
    for params in filter_cases(flights)[:-1]:
        chosen = labelled
        if "start_date" in params:
            chosen = chosen[chosen["flight_date"].dt.date >= params["start_date"]]
        if "end_date" in params:
            chosen = chosen[chosen["flight_date"].dt.date <= params["end_date"]]
        if "carriers" in params:
            chosen = chosen[chosen["carrier_code"].isin(params["carriers"])]
        if "origins" in params:
            chosen = chosen[chosen["origin_airport_code"].isin(params["origins"])]
        both = chosen.merge(latest[["flight_id", "predicted_delay_probability"]], on="flight_id")
        expected = (
            both.assign(late=both["is_departure_delayed_15"].astype(float))
            .groupby("flight_date", as_index=False)
            .agg(
                departed_flights=("flight_id", "size"),
                predicted_late_share=("predicted_delay_probability", "mean"),
                actual_late_share=("late", "mean"),
            )
        )
        got = data.run_sql(data.query_sql("predictions_vs_actuals"), snapshot, params)
        assert len(got) > 0, params
        assert_same(got, expected)
    # The rescored flights count with their newest prediction: 0.9 on the second day.
    second = filter_cases(flights)[1]
    rescored = latest[latest["predicted_delay_probability"] == 0.9]
    assert len(rescored) > 0 and (rescored["flight_date"].dt.date == second["start_date"]).all()


def test_the_published_aggregate_follows_its_contract(published):
    snapshot, counts, flights, predictions = published
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            list(OUTCOMES),
        ).fetchall()
        rows, keys, departed = con.execute(
            "select count(*), count(distinct (flight_date, carrier_code, origin_airport_code)), "
            "sum(departed_flights) from ml.daily_prediction_outcomes"
        ).fetchone()
    finally:
        con.close()
    # The contract of the dashboards' fixture snapshot (and docs/architecture.md).
    assert dict(columns) == CONTRACT[OUTCOMES]
    assert rows == keys == counts["ml.daily_prediction_outcomes"]
    # Every departed flight with a prediction, once.
    scored = flights[flights["flight_id"].isin(predictions["flight_id"])]
    assert departed == scored["is_departure_delayed_15"].notna().sum()
    assert rows < len(scored)  # an aggregate: fewer rows than flights


def test_not_derived_without_its_sources(tmp_path):
    """A snapshot without predictions (nothing scored yet) gets no aggregate: the dashboards
    then name the missing table, as for any table not published."""
    frames = make_frames()
    del frames[("ml", "flight_delay_predictions")], frames[OUTCOMES]
    path = write_snapshot(tmp_path / "partial.duckdb", frames)  # derives what it can
    con = duckdb.connect(str(path))
    try:
        assert snapshot_tables.add_derived_tables(con) == {}
        tables = {
            tuple(row)
            for row in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    finally:
        con.close()
    assert OUTCOMES not in tables
    with pytest.raises(data.SnapshotUnavailable, match="lacks a table"):
        data.run_sql(data.query_sql("predictions_vs_actuals"), path)


def test_views_give_a_source_without_the_aggregate_the_same_answer(snapshot_file, tmp_path):
    """`add_derived_views`: for a reader of another source (the lake) that holds the row-level
    tables only, every query still runs, with the answer the published aggregate gives."""
    source = tmp_path / "row_level_only.duckdb"
    shutil.copy(snapshot_file, source)
    with duckdb.connect(str(source)) as con:
        con.execute("drop table ml.daily_prediction_outcomes")
    con = duckdb.connect()
    try:
        con.execute(f"attach '{source}' as lake (read_only)")
        search_path, complete = snapshot_tables.add_derived_views(con, "lake")
        assert complete
        cursor = con.cursor()
        cursor.execute("use lake")
        cursor.execute(f"set search_path = '{search_path}'")
        for name in data.query_names():
            got = cursor.execute(data.query_sql(name)).df()
            if name == "predictions_vs_actuals":
                assert_same(got, data.run_sql(data.query_sql(name), snapshot_file))
                assert len(got) > 0
    finally:
        con.close()
