"""dashboards/data.py and dashboards/queries/*.sql against the fixture snapshot.

Expected figures are computed with pandas from the fixture frames, independently of the SQL.
"""

from __future__ import annotations

import ast
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from snapshot_fixture import CONTRACT, FIRST_DAY, LEGACY_TABLES, legacy, make_frames

from dashboards import data
from orchestration import settings

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
QUERY_FILES = sorted((DASHBOARDS_DIR / "queries").glob("*.sql"))
TABLE_REFERENCE = re.compile(r"\b(raw|staging|intermediate|marts|ml|meta)\.(\w+)", re.IGNORECASE)
FILTERED = ["kpis", "daily_flights", "carrier_league", "carrier_on_time", "routes"]
FILTERED += ["origin_airports", "predictions_vs_actuals"]


def without_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines()).strip()


def test_queries_dir_is_the_settings_one():
    assert data.QUERIES_DIR.resolve() == (DASHBOARDS_DIR / "queries").resolve()
    assert data.query_names() == [p.stem for p in QUERY_FILES]
    assert QUERY_FILES, "no queries found"


def test_every_query_belongs_to_a_page():
    """PAGE_QUERIES (what the latency benchmark times) covers exactly the query files."""
    used = {name for names in data.PAGE_QUERIES.values() for name in names}
    assert used == set(data.query_names())


def test_contract_covers_the_serving_tables():
    """The fixture snapshot follows docs/architecture.md for every table the pipeline publishes."""
    assert set(settings.SERVING_TABLES) <= set(CONTRACT)
    assert set(LEGACY_TABLES) <= set(CONTRACT)


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_runs_without_parameters_and_returns_rows(snapshot_file, path):
    """As Evidence runs it: the file's text, no variables set."""
    result = data.run_sql(path.read_text(encoding="utf-8"), snapshot_file)
    assert len(result) > 0
    assert len(result.columns) == len(set(result.columns))


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_is_a_plain_select_over_snapshot_tables(path):
    """Usable unchanged as an Evidence source query: one SELECT, no placeholders, no semicolon;
    optional parameters only as getvariable() of the known names."""
    sql = without_comments(path.read_text(encoding="utf-8"))
    assert re.match(r"(select|with)\b", sql, re.IGNORECASE), "must start with SELECT or WITH"
    assert ";" not in sql
    assert not re.search(r"\?|\$\w+|\{\{|\}\}|\$\{", sql), "no placeholders or templating"
    tables = {(s.lower(), t.lower()) for s, t in TABLE_REFERENCE.findall(sql)}
    assert tables, "should read at least one snapshot table"
    assert tables <= set(CONTRACT), tables - set(CONTRACT)
    assert data.sql_parameters(sql) <= set(data.PARAMETERS)


def test_required_tables_and_parameters_are_read_from_the_files():
    assert data.required_tables(data.query_sql("routes")) == {"marts.flights", "marts.routes"}
    assert data.query_parameters("kpis") == {"start_date", "end_date", "carriers", "origins"}
    assert data.query_parameters("carrier_on_time") == {
        "start_date",
        "end_date",
        "carriers",
        "origins",
        "period",
    }
    assert data.query_parameters("model_metrics") == set()


# --------------------------------------------------------------------------------------------
# filters as bound parameters


def select(
    flights: pd.DataFrame,
    start: date | None = None,
    end: date | None = None,
    carriers=(),
    origins=(),
) -> pd.DataFrame:
    keep = pd.Series(True, index=flights.index)
    if start:
        keep &= flights["flight_date"] >= start
    if end:
        keep &= flights["flight_date"] <= end
    if carriers:
        keep &= flights["carrier_code"].isin(carriers)
    if origins:
        keep &= flights["origin_airport_code"].isin(origins)
    return flights[keep]


FILTER_CASES = {
    "nothing": {},
    "dates": {
        "start_date": FIRST_DAY + timedelta(days=1),
        "end_date": FIRST_DAY + timedelta(days=2),
    },
    "start only": {"start_date": FIRST_DAY + timedelta(days=3)},
    "carriers": {"carriers": ["B6", "EV"]},
    "origins": {"origins": ["LGA"]},
    "all": {
        "start_date": FIRST_DAY,
        "end_date": FIRST_DAY + timedelta(days=1),
        "carriers": ["AA", "UA"],
        "origins": ["EWR", "JFK"],
    },
    "empty lists": {"carriers": [], "origins": []},
}


@pytest.mark.parametrize("params", FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_filters_select_the_same_flights_as_pandas(shared_snapshot, frames, params):
    flights = frames[("marts", "flights")]
    expected = select(
        flights,
        params.get("start_date"),
        params.get("end_date"),
        params.get("carriers", ()),
        params.get("origins", ()),
    )
    kpis = data.query("kpis", params).iloc[0]
    assert kpis["flights"] == len(expected)
    assert kpis["cancelled_flights"] == expected["is_cancelled"].sum()
    daily = data.query("daily_flights", params)
    assert daily["flights"].tolist() == expected.groupby("flight_date").size().tolist()
    league = data.query("carrier_league", params).set_index("carrier_code")["flights"]
    assert league.to_dict() == expected.groupby("carrier_code").size().to_dict()
    routes = data.query("routes", params)
    per_route = expected.groupby(["origin_airport_code", "dest_airport_code"]).size()
    assert {
        (r.origin_airport_code, r.dest_airport_code): r.flights for r in routes.itertuples()
    } == per_route.to_dict()
    origins = data.query("origin_airports", params).set_index("airport_code")
    assert origins["flights"].to_dict() == expected.groupby("origin_airport_code").size().to_dict()
    pva = data.query("predictions_vs_actuals", params)
    assert pva["departed_flights"].sum() == (~expected["is_cancelled"]).sum()


def test_predictions_vs_actuals_counts_each_flights_latest_prediction(publish_snapshot, frames):
    """Days scored by one run; by two runs, the later one rescoring every flight (the fixture's
    first day) or only some; a tie on scored_at broken by model_version. Each flight counts
    once, with its newest prediction, as pandas picks it."""
    key = ("ml", "flight_delay_predictions")
    flights, predictions = frames[("marts", "flights")], frames[key]
    days = sorted(flights["flight_date"].unique())
    newest = predictions["scored_at"].max()
    half = flights[flights["flight_date"] == days[1]].iloc[::2]
    few = flights[flights["flight_date"] == days[2]].iloc[:5]
    extra = pd.DataFrame(
        {
            "flight_id": pd.concat([half["flight_id"], few["flight_id"]]),
            "flight_date": pd.concat([half["flight_date"], few["flight_date"]]),
            "predicted_delay_probability": [0.9] * len(half) + [0.01] * len(few),
            "model_version": ["4"] * len(half) + ["9"] * len(few),
            "scored_at": [newest + pd.Timedelta(hours=1)] * len(half) + [newest] * len(few),
        }
    )
    rescored = pd.concat([predictions, extra], ignore_index=True)
    publish_snapshot({**frames, key: rescored})

    latest = rescored.sort_values(["scored_at", "model_version"]).drop_duplicates(
        "flight_id", keep="last"
    )
    assert len(latest) == len(flights)
    departed = flights[~flights["is_cancelled"]]
    for params in ({}, {"carriers": ["B6", "UA"], "origins": ["JFK", "EWR"]}):
        chosen = select(departed, None, None, params.get("carriers", ()), params.get("origins", ()))
        both = chosen.merge(latest, on=["flight_id", "flight_date"], validate="one_to_one")
        expected = both.groupby("flight_date").agg(
            departed=("flight_id", "size"),
            predicted=("predicted_delay_probability", "mean"),
            actual=("is_departure_delayed_15", "mean"),
        )
        got = data.query("predictions_vs_actuals", params).set_index("flight_date")
        assert list(map(pd.Timestamp, got.index)) == list(map(pd.Timestamp, expected.index))
        assert got["departed_flights"].tolist() == expected["departed"].tolist()
        assert got["predicted_late_share"].tolist() == pytest.approx(expected["predicted"].tolist())
        assert got["actual_late_share"].tolist() == pytest.approx(
            expected["actual"].astype(float).tolist()
        )


def test_a_filter_value_is_data_not_sql(shared_snapshot, frames):
    """What a user picks travels as a bound value: SQL in it matches nothing, breaks nothing."""
    flights = frames[("marts", "flights")]
    hostile = ["B6') or true --", "B6' or '1'='1", "'; drop table marts.flights; --"]
    assert data.query("kpis", {"carriers": hostile}).iloc[0]["flights"] == 0
    assert data.query("kpis", {"carriers": [*hostile, "B6"]}).iloc[0]["flights"] == (
        (flights["carrier_code"] == "B6").sum()
    )
    data.clear_cache()
    assert data.query("kpis").iloc[0]["flights"] == len(flights)  # nothing was dropped


def test_unknown_or_mistyped_parameters_are_refused(shared_snapshot):
    with pytest.raises(ValueError, match="unknown query parameter"):
        data.query("kpis", {"carrier_code": ["B6"]})
    with pytest.raises(ValueError, match="unknown query parameter"):
        data.run_sql("select 1", shared_snapshot, {"x; drop table marts.flights": 1})
    with pytest.raises(TypeError):
        data.query("kpis", {"start_date": "2013-03-08"})
    with pytest.raises(ValueError, match="period"):
        data.query("carrier_on_time", {"period": "year"})


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_carrier_trend_period(shared_snapshot, frames, period):
    flights = frames[("marts", "flights")]
    dates = pd.to_datetime(flights["flight_date"])
    start = {
        "day": dates,
        "week": dates.dt.to_period("W-SUN").dt.start_time,
        "month": dates.dt.to_period("M").dt.start_time,
    }[period].dt.date
    expected = flights.assign(period_start=start).groupby(["period_start", "carrier_code"]).size()
    trend = data.query("carrier_on_time", {"period": period, "origins": []})
    trend["period_start"] = pd.to_datetime(trend["period_start"]).dt.date
    assert trend.set_index(["period_start", "carrier_code"])["flights"].to_dict() == (
        expected.to_dict()
    )


def test_filtered_results_are_cached_per_parameters(shared_snapshot, frames):
    flights = frames[("marts", "flights")]
    b6 = data.query("kpis", {"carriers": ["B6"]})
    ua = data.query("kpis", {"carriers": ["UA"]})
    assert b6.iloc[0]["flights"] == (flights["carrier_code"] == "B6").sum()
    assert ua.iloc[0]["flights"] == (flights["carrier_code"] == "UA").sum()
    # Same choice in another order, or with parameters the query does not read: same entry.
    assert data.query("kpis", {"carriers": ["UA", "B6"]}).equals(
        data.query("kpis", {"carriers": ("B6", "UA"), "period": "week"})
    )


# --------------------------------------------------------------------------------------------
# snapshots: missing, older, replaced


def test_routes_query_matches_the_routes_mart(shared_snapshot, frames):
    """Unfiltered, the per-route figures equal marts.routes (built independently by pandas)."""
    want = frames[("marts", "routes")].set_index(["origin_airport_code", "dest_airport_code"])
    got = data.query("routes").set_index(["origin_airport_code", "dest_airport_code"])
    assert set(got.index) == set(want.index)
    for column in ["flights", "departed_flights", "cancelled_flights", "delayed_15_flights"]:
        assert got[column].to_dict() == want[column].to_dict()
    for column in ["on_time_share", "avg_dep_delay_minutes", "distance_miles", "dest_latitude"]:
        assert got[column].to_dict() == pytest.approx(want[column].to_dict(), nan_ok=True)


def test_query_unknown_name_is_rejected(shared_snapshot):
    with pytest.raises(KeyError):
        data.query("../../orchestration/settings")


def test_query_without_snapshot_raises_snapshot_unavailable(runway_env):
    assert data.snapshot_version() is None
    with pytest.raises(data.SnapshotUnavailable, match="make run"):
        data.query("kpis")


def test_snapshot_from_an_older_pipeline_names_the_missing_table(publish_snapshot, frames):
    publish_snapshot(legacy(frames))
    assert data.query("kpis").iloc[0]["flights"] == len(frames[("marts", "flights")])
    with pytest.raises(data.TableMissing, match="make run") as raised:
        data.query("routes")
    assert raised.value.tables == ["marts.routes"]
    with pytest.raises(data.TableMissing) as raised:
        data.query("rejected_rows")
    assert raised.value.tables == ["raw.rejected_rows"]


def test_new_snapshot_is_picked_up_without_clearing_the_cache(publish_snapshot, frames):
    publish_snapshot(frames)
    first = data.query("kpis")
    assert first["flights"].iloc[0] == len(frames[("marts", "flights")])
    assert data.query("kpis").equals(first)  # cache hit

    # The pipeline publishes a smaller snapshot with os.replace; the app sees it on its next run.
    smaller = make_frames(days=2)
    version_before = data.snapshot_version()
    publish_snapshot(smaller)
    assert data.snapshot_version() != version_before
    assert data.query("kpis")["flights"].iloc[0] == len(smaller[("marts", "flights")])
    # ... including which tables exist.
    publish_snapshot(legacy(smaller))
    with pytest.raises(data.TableMissing):
        data.query("routes")


def test_missing_table_is_reported_as_unavailable(tmp_path):
    path = tmp_path / "partial.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
    with pytest.raises(data.SnapshotUnavailable, match="lacks a table"):
        data.run_sql(data.query_sql("kpis"), path)


# --------------------------------------------------------------------------------------------
# module boundaries


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


# The Streamlit app's modules. Not dashboards/evidence/: the Evidence project, whose setup
# script (run by `make evidence`, never by the app) opens the lake to check it, as make would.
APP_MODULES = sorted(
    path
    for path in DASHBOARDS_DIR.rglob("*.py")
    if path.relative_to(DASHBOARDS_DIR).parts[0] != "evidence"
)


@pytest.mark.parametrize("path", APP_MODULES, ids=lambda p: str(p.relative_to(DASHBOARDS_DIR)))
def test_dashboard_module_boundaries(path):
    """Only `orchestration.settings` from orchestration (and, in data.py, `orchestration.lake` and
    `snapshot_tables`, plain Python too, to read the lake on `RUNWAY_TARGET=lake`); only data.py
    talks to DuckDB;
    only scoring.py touches the model (ml/, MLflow)."""
    for module, names in _imports(path):
        top = module.split(".")[0]
        if module == "orchestration":
            allowed = (
                {"settings", "lake", "snapshot_tables"}
                if path == DASHBOARDS_DIR / "data.py"
                else {"settings"}
            )
            assert set(names) <= allowed, f"{path.name} imports {names} from orchestration"
        else:
            assert not module.startswith("orchestration."), f"{path.name} imports {module}"
        if top == "duckdb":
            assert path == DASHBOARDS_DIR / "data.py", f"{path.name} imports duckdb"
        if top in ("ml", "mlflow", "sklearn"):
            assert path == DASHBOARDS_DIR / "scoring.py", f"{path.name} imports {module}"


def test_every_page_file_is_registered_in_the_entrypoint():
    app = (DASHBOARDS_DIR / "app.py").read_text(encoding="utf-8")
    for page in sorted((DASHBOARDS_DIR / "views").glob("*.py")):
        assert f'"{page.name}"' in app, f"{page.name} is not in st.navigation"
