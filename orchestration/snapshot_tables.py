"""Tables derived inside each new serving snapshot from the tables copied into it.

A dashboard query runs at every page view, on any filter, within the latency target of issue #8
(p95 under 150 ms at scale 10). A few answers need row-level tables joined at every call; their
cost grows with the data, whereas a small aggregate published once with the snapshot keeps the
query's cost proportional to days, not flights. Such an aggregate is computed here, in the new
snapshot file, from the rows just copied into it, so it always matches them (no second source of
truth, no separate pipeline step to keep in sync).

- ``ml.daily_prediction_outcomes``: for ``dashboards/queries/predictions_vs_actuals.sql``. One row
  per (``flight_date``, ``carrier_code``, ``origin_airport_code``) of the departed flights (those
  with an outcome) that have a prediction: ``departed_flights`` (BIGINT),
  ``predicted_delay_probability_sum`` (DOUBLE: the sum of each flight's latest prediction),
  ``delayed_15_flights`` (BIGINT). A flight's latest prediction is its newest ``scored_at``, then
  the highest ``model_version``. The grain is the dashboards' filters (dates, carriers, origins),
  so any filter still selects exactly the flights it selected on the row-level tables.

Readers of another source than the snapshot (the lake, on ``RUNWAY_TARGET=lake``) lack these
tables: ``add_derived_views`` defines each as a view over that source's tables in a catalog of the
reader's own, found by the same ``schema.table`` name (same results, at the row-level cost).

No Dagster import: the dashboards' test fixtures publish through this module too.
"""

from __future__ import annotations

import duckdb

# Each derived table: the snapshot tables it is computed from, and its SELECT (``{db}`` is the
# snapshot's catalog prefix).
DERIVED_TABLES: dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], str]] = {
    ("ml", "daily_prediction_outcomes"): (
        (("ml", "flight_delay_predictions"), ("marts", "flights")),
        """
        with latest_predictions as (
            -- A rescoring run adds rows for flights already scored: each counts once, newest.
            select
                flight_id,
                arg_max(predicted_delay_probability, (scored_at, model_version))
                    as predicted_delay_probability
            from {db}ml.flight_delay_predictions
            group by flight_id
        )

        select
            f.flight_date,
            f.carrier_code,
            f.origin_airport_code,
            cast(count(*) as bigint) as departed_flights,
            cast(sum(p.predicted_delay_probability) as double)
                as predicted_delay_probability_sum,
            cast(count(case when f.is_departure_delayed_15 then 1 end) as bigint)
                as delayed_15_flights
        from latest_predictions as p
        inner join {db}marts.flights as f on p.flight_id = f.flight_id
        where f.is_departure_delayed_15 is not null
        group by f.flight_date, f.carrier_code, f.origin_airport_code
        -- Sorted by date: a date filter then skips whole row groups (zone maps).
        order by f.flight_date, f.carrier_code, f.origin_airport_code
        """,
    ),
}


def add_derived_tables(
    con: duckdb.DuckDBPyConnection, catalog: str | None = None
) -> dict[str, int]:
    """Create every derived table whose sources are in ``catalog`` (the snapshot being written,
    attached under that name; None: the connection's own database); {``schema.table``: rows}.

    A table whose sources are missing is left out, as the publisher leaves out a missing table:
    the dashboards then say which table the snapshot lacks.
    """
    db = f"{catalog}." if catalog else ""
    present = set(
        con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = coalesce(?, current_database())",
            [catalog],
        ).fetchall()
    )
    counts: dict[str, int] = {}
    for (schema, table), (sources, select) in DERIVED_TABLES.items():
        if not set(sources) <= present:
            continue
        con.execute(f"create schema if not exists {db}{schema}")
        con.execute(f"create or replace table {db}{schema}.{table} as {select.format(db=db)}")
        (counts[f"{schema}.{table}"],) = con.execute(
            f"select count(*) from {db}{schema}.{table}"
        ).fetchone()
    return counts


def add_derived_views(
    con: duckdb.DuckDBPyConnection, source: str, views: str = "memory"
) -> tuple[str, bool]:
    """Define every derived table whose sources catalog ``source`` has as a view in catalog
    ``views`` over them, for a connection whose attached source (e.g. the lake, read-only) has
    the row-level tables only. Returns the search path that makes a query's ``ml.<table>`` find
    the source's table when there is one, else the view, and whether every view is defined (a
    source that lacks a table now may get it later: call again). A search path is per client
    context: set it (``SET search_path = '<it>'``) on each cursor, after ``USE <source>``."""
    present = set(
        con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = ? "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = ? and not internal",
            [source, source],
        ).fetchall()
    )
    complete = True
    schemas = sorted({schema for schema, _ in DERIVED_TABLES})
    for schema in schemas:
        con.execute(f"create schema if not exists {views}.{schema}")
    for (schema, table), (sources, select) in DERIVED_TABLES.items():
        if not set(sources) <= present:
            complete = False
            continue
        con.execute(
            f"create or replace view {views}.{schema}.{table} as {select.format(db=source + '.')}"
        )
    # Once a search path is set, DuckDB resolves `schema.table` through its entries of that
    # schema name, in order: the source's schema first. SET refuses a schema that does not exist,
    # so a source schema is listed once it exists (the path is recomputed until `complete`).
    source_schemas = {
        name
        for (name,) in con.execute(
            "select schema_name from duckdb_schemas() where database_name = ?", [source]
        ).fetchall()
    }
    entries = [f"{source}.main", *(f"{source}.{s}" for s in schemas if s in source_schemas)]
    entries += [f"{views}.{schema}" for schema in schemas]
    return ",".join(entries), complete
