"""The dashboards read the lake directly on `RUNWAY_TARGET=lake` (issue #9, point 3: readers).

A real DuckLake (catalog on the throwaway PostgreSQL cluster, Parquet under a temp dir) holds the
dashboard fixture's tables (tests/dashboards/snapshot_fixture.py); the app runs under Streamlit's
AppTest with `RUNWAY_TARGET=lake`.

1. Every page shows the lake's figures: the page checks of tests/dashboards/test_dashboard_pages.py
   (expected values computed with pandas from the fixture frames, independently of the app's SQL)
   run unchanged against the lake. The serving snapshot published beside it holds *other* data
   (fewer days) and only the `meta.*` tables the lake cannot hold (the Dagster asset status): a
   page reading the snapshot instead of the lake would show other numbers.
2. Without a serving snapshot the pages still render from the lake; the asset status says where
   it comes from. A lake that cannot be opened is a message (without the catalog's password).
3. While a writer process commits new days into the lake, a reader keeps querying through
   `dashboards.data.query` (cached as the app caches): no error, every result is a committed
   state, a day shows up in the first query that starts after its commit, and results are cached
   per lake snapshot (re-run once per commit, not once per poll).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd
import pytest
import streamlit as st
import test_dashboard_pages as pages
from app_helpers import as_count, metrics, run_app, texts
from served_lake import (
    LakeWriter,
    expected_states,
    fill_lake,
    lake_env,
    read_while_writing,
)
from snapshot_fixture import make_frames, write_snapshot

from dashboards import data
from orchestration import settings
from orchestration.lake import LakeCatalog
from orchestration.snapshot_tables import DERIVED_TABLES

pytestmark = pytest.mark.lake

# Page checks that need nothing but the published data and the fixture frames.
PAGE_CHECKS = [
    pages.test_app_opens_on_overview_with_kpis_from_the_snapshot,
    pages.test_overview_filters_change_the_numbers,
    pages.test_carriers_league_table_and_trends,
    pages.test_airports_and_routes_map_and_worst_routes,
    pages.test_weather_page_shows_delay_by_weather_bucket,
    pages.test_delay_model_page_shows_champion_metrics_calibration_importance,
    pages.test_pipeline_health_shows_assets_checks_rejects_and_quarantine,
]


@pytest.fixture(autouse=True)
def _fresh_reader() -> Iterator[None]:
    """Each test starts with empty caches and ends with the lake connection closed."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()
    data.close_connections()


@pytest.fixture(scope="module")
def lake_frames():
    return make_frames()


@pytest.fixture(scope="module")
def served_lake(
    postgres_cluster, extension_dir, tmp_path_factory, lake_frames
) -> Iterator[LakeCatalog]:
    """The fixture frames in a lake (all but ``meta.*``), the app's environment pointing at it,
    and a serving snapshot holding other data plus the lake's ``meta.*`` tables."""
    root = tmp_path_factory.mktemp("lake_dashboards")
    dbname = postgres_cluster.create_database(f"lake_dashboards_{os.getpid()}")
    lake = LakeCatalog(postgres_cluster.libpq(dbname), str(root / "lake"))
    # As the pipeline's lake: no `meta.*`, and no table only the snapshot derives (the reader
    # answers those from views over the lake's row-level tables).
    in_lake = {k: v for k, v in lake_frames.items() if k[0] != "meta" and k not in DERIVED_TABLES}
    fill_lake(lake, extension_dir, in_lake)
    other = make_frames(days=2)
    assert len(other[("marts", "flights")]) != len(lake_frames[("marts", "flights")])
    published = other | {k: v for k, v in lake_frames.items() if k[0] == "meta"}
    with pytest.MonkeyPatch.context() as mp:
        lake_env(mp, root, lake, extension_dir)
        write_snapshot(settings.load().snapshot_path, published)
        yield lake


@pytest.mark.parametrize(
    "check", PAGE_CHECKS, ids=[c.__name__.removeprefix("test_") for c in PAGE_CHECKS]
)
def test_page_shows_the_lakes_figures(served_lake, lake_frames, check):
    check(None, lake_frames)


def test_queries_read_the_lake_and_meta_tables_the_snapshot(served_lake, lake_frames):
    flights = lake_frames[("marts", "flights")]
    assert data.reads_lake()
    assert data.query("kpis").iloc[0]["flights"] == len(flights)
    # The same SQL on the published file gives the snapshot's other data.
    on_file = data.run_sql(data.query_sql("kpis"), settings.load().snapshot_path)
    assert on_file.iloc[0]["flights"] != len(flights)
    # The held connection is the lake's, attached read-only.
    (held,) = [h for h in data._HELD.values() if isinstance(h.version, LakeCatalog)]
    assert held.version == served_lake
    with pytest.raises(Exception, match="read-only"):
        held.con.execute("insert into lake.marts.carriers values ('ZZ', 'Nobody')")
    status = data.query("asset_status")
    assert len(status) == len(lake_frames[("meta", "asset_status")])
    version = data.lake_version()
    assert version.snapshot_id >= 1 and version.committed_at.tzinfo is not None


def test_without_a_serving_snapshot_pages_render_from_the_lake(
    served_lake, lake_frames, tmp_path, monkeypatch
):
    monkeypatch.setenv("RUNWAY_SERVING_DIR", str(tmp_path / "empty-serving"))
    flights = lake_frames[("marts", "flights")]

    at = run_app()
    assert not at.exception
    assert as_count(metrics(at)["Flights"]) == len(flights)
    # The sidebar dates what is shown by the lake's commit, not by a snapshot file.
    captions = texts(at.sidebar.caption)
    assert any(text.startswith("Lake commit ") for text in captions), captions

    at = run_app("views/pipeline_health.py")
    infos = texts(at.info)
    assert any("`meta.asset_status` is not in the lake" in text for text in infos), infos
    shown = metrics(at)
    assert "Assets" not in shown  # no status to count ...
    rejected = lake_frames[("raw", "rejected_rows")]
    assert as_count(shown["Rejected rows"]) == len(rejected)  # ... but the ingest is the lake's
    audit = at.dataframe[0].value
    assert audit.set_index("entity")["files"].to_dict() == (
        lake_frames[("raw", "load_audit")].groupby("entity").size().to_dict()
    )


def test_a_lake_that_cannot_be_opened_is_a_message(served_lake, postgres_cluster, monkeypatch):
    monkeypatch.setenv(
        "RUNWAY_LAKE_CATALOG", postgres_cluster.libpq("no_such_lake") + " password=s3cret"
    )
    at = run_app()
    assert not at.exception
    infos = texts(at.info)
    assert any("Cannot open the lake" in text and "no_such_lake" in text for text in infos)
    assert not any("s3cret" in text for text in infos)
    assert not at.metric
    assert "The lake cannot be read yet." in texts(at.sidebar.caption)


# --------------------------------------------------------------------------------------------
# A reader while a writer commits


NEW_DAYS = 4


def test_reader_sees_each_new_day_after_its_commit_while_a_writer_writes(
    lake_catalog, extension_dir, tmp_path, monkeypatch
):
    flights = make_frames()[("marts", "flights")]
    fill_lake(lake_catalog, extension_dir, {("marts", "flights"): flights})
    lake_env(monkeypatch, tmp_path, lake_catalog, extension_dir)
    states = expected_states(flights, NEW_DAYS)

    # Uncached runs of a lake query bind their variables first: count them (the real function
    # runs), to show that results are reused within a lake snapshot.
    uncached = []
    real_bind = data._bind_variables

    def counting_bind(cursor, params) -> None:
        uncached.append(params)
        real_bind(cursor, params)

    monkeypatch.setattr(data, "_bind_variables", counting_bind)

    def poll() -> tuple[dict, int]:
        daily = data.query("daily_flights")
        kpis = data.query("kpis")
        dates = pd.to_datetime(daily["flight_date"]).dt.date
        return dict(zip(dates, daily["flights"].astype(int), strict=True)), int(
            kpis.iloc[0]["flights"]
        )

    with LakeWriter(lake_catalog, extension_dir, flights, NEW_DAYS) as writer:
        polls = read_while_writing(poll, writer, states, polls_per_state=3)
    # Two queries, re-run once per lake snapshot (the first fill and each commit), else cached.
    assert len(polls) >= 3 * (NEW_DAYS + 1)
    assert len(uncached) == 2 * (NEW_DAYS + 1)
