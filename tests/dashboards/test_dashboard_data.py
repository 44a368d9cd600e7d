"""dashboards/data.py and dashboards/queries/*.sql against the fixture snapshot."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest

from dashboards import data
from orchestration import settings

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
QUERY_FILES = sorted((DASHBOARDS_DIR / "queries").glob("*.sql"))
TABLE_REFERENCE = re.compile(r"\b(raw|staging|intermediate|marts|ml)\.(\w+)", re.IGNORECASE)


def without_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines()).strip()


def test_queries_dir_is_the_settings_one():
    assert data.QUERIES_DIR.resolve() == (DASHBOARDS_DIR / "queries").resolve()
    assert data.query_names() == [p.stem for p in QUERY_FILES]
    assert QUERY_FILES, "no queries found"


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_runs_on_the_snapshot_and_returns_rows(snapshot, path):
    result = data.run_sql(path.read_text(encoding="utf-8"), snapshot)
    assert len(result) > 0
    assert len(result.columns) == len(set(result.columns))


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_is_a_plain_select_over_serving_tables(path):
    """Usable unchanged as an Evidence source query: one SELECT, no parameters, no semicolon."""
    sql = without_comments(path.read_text(encoding="utf-8"))
    assert re.match(r"(select|with)\b", sql, re.IGNORECASE), "must start with SELECT or WITH"
    assert ";" not in sql
    assert not re.search(r"\?|\$\w+|\{\{|\}\}|\$\{", sql), "no parameters or templating"
    tables = {(s.lower(), t.lower()) for s, t in TABLE_REFERENCE.findall(sql)}
    assert tables, "should read at least one snapshot table"
    assert tables <= set(settings.SERVING_TABLES), tables - set(settings.SERVING_TABLES)


def test_query_unknown_name_is_rejected(snapshot):
    with pytest.raises(KeyError):
        data.query("../../orchestration/settings")


def test_query_without_snapshot_raises_snapshot_unavailable(runway_env):
    assert data.snapshot_version() is None
    with pytest.raises(data.SnapshotUnavailable, match="make run"):
        data.query("kpis")


def test_new_snapshot_is_picked_up_without_clearing_the_cache(publish_snapshot, frames):
    publish_snapshot(frames)
    first = data.query("kpis")
    assert first["flights"].iloc[0] == len(frames[("marts", "flights")])
    assert data.query("kpis").equals(first)  # cache hit

    # The pipeline publishes a smaller snapshot with os.replace; the app sees it on its next run.
    smaller = dict(frames)
    flights = frames[("marts", "flights")]
    smaller[("marts", "flights")] = flights[flights["flight_date"] == flights["flight_date"].min()]
    version_before = data.snapshot_version()
    publish_snapshot(smaller)
    assert data.snapshot_version() != version_before
    assert data.query("kpis")["flights"].iloc[0] == len(smaller[("marts", "flights")])


def test_no_connection_is_left_open(snapshot):
    data.query("daily_flights")
    # DuckDB refuses a read-write connection while this process still holds a read-only one.
    with duckdb.connect(str(snapshot)) as con:
        assert con.execute("select count(*) from marts.flights").fetchone()[0] > 0
    data.clear_cache()
    assert len(data.query("daily_flights")) > 0


def test_missing_table_is_reported_as_unavailable(tmp_path):
    path = tmp_path / "partial.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
    with pytest.raises(data.SnapshotUnavailable, match="lacks a table"):
        data.run_sql(data.query_sql("kpis"), path)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize(
    "path", sorted(DASHBOARDS_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(DASHBOARDS_DIR))
)
def test_dashboard_module_boundaries(path):
    """Only `orchestration.settings` from orchestration; only data.py talks to DuckDB."""
    for module, names in _imports(path):
        if module == "orchestration":
            assert names == ["settings"], f"{path.name} imports {names} from orchestration"
        else:
            assert not module.startswith("orchestration."), f"{path.name} imports {module}"
        if module.split(".")[0] == "duckdb":
            assert path == DASHBOARDS_DIR / "data.py", f"{path.name} imports duckdb"


def test_every_page_file_is_registered_in_the_entrypoint():
    app = (DASHBOARDS_DIR / "app.py").read_text(encoding="utf-8")
    for page in sorted((DASHBOARDS_DIR / "views").glob("*.py")):
        assert f'"{page.name}"' in app, f"{page.name} is not in st.navigation"
