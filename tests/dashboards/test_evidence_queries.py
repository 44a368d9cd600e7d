"""Every dashboard query runs unchanged as an Evidence source query, through Evidence's own
DuckDB connector, on a snapshot written by our DuckDB.

``make evidence`` copies ``dashboards/queries/*.sql`` into the Evidence source
``dashboards/evidence/sources/runway/`` and ``evidence sources`` hands each file, as it is, to the
``@evidence-dev/duckdb`` connector (Node; its DuckDB, ``@duckdb/node-api``, pinned by an npm
override to Python's version). The whole Evidence build cannot run offline (its DuckDB-WASM
downloads the parquet extension at run time), so this test installs only that connector, at the
versions of the Evidence project's lock (``evidence_connector/``, a few seconds with npm's cache),
into a temp dir, and runs every query file through it against the fixture snapshot with the
source's own ``connection.yaml``. No variable is set, as in Evidence: every
``getvariable`` filter must be off, so each result must equal the app's unfiltered one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml
from snapshot_fixture import REPO_ROOT, make_frames

from dashboards import data
from dashboards.evidence import source_setup

EVIDENCE_DIR = REPO_ROOT / "dashboards" / "evidence"
SOURCE_DIR = EVIDENCE_DIR / "sources" / "runway"
CONNECTOR_DIR = Path(__file__).resolve().parent / "evidence_connector"
CONNECTOR_FILES = ("package.json", "package-lock.json", "run_queries.mjs")
NPM_TIMEOUT_S = 300


def _tool(name: str) -> str:
    """The path of ``name`` on PATH; without it the test fails in CI and is skipped elsewhere."""
    found = shutil.which(name)
    if found:
        return found
    message = (
        f"`{name}` is not on PATH: the Evidence query test needs Node 20 and npm "
        "(Debian: `apt-get install nodejs npm`)."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _locked_packages(lock: Path) -> dict[str, str]:
    packages = json.loads(lock.read_text(encoding="utf-8"))["packages"]
    return {key: entry["version"] for key, entry in packages.items() if key}


@pytest.fixture(scope="module")
def connector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``evidence_connector/`` installed from its lock in a temp dir; returns that dir."""
    return install_connector(tmp_path_factory.mktemp("evidence_connector"))


def install_connector(workdir: Path) -> Path:
    """``evidence_connector/`` installed from its lock in ``workdir``; returns it."""
    _tool("node")
    npm = _tool("npm")
    for name in CONNECTOR_FILES:
        shutil.copy2(CONNECTOR_DIR / name, workdir / name)
    env = {**os.environ, "DO_NOT_TRACK": "1", "NO_UPDATE_NOTIFIER": "1"}
    # `npm ci`: exactly the lock, and an error if package.json (its override) and the lock
    # disagree. No install scripts are needed: DuckDB comes as a prebuilt platform package.
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return workdir


def run_through_evidence(
    connector: Path, snapshot: Path, files: list[Path]
) -> dict[str, dict[str, object]]:
    """Run ``files`` with Evidence's DuckDB connector on ``snapshot``, configured by the source's
    ``connection.yaml`` with the filename overridden relative to the source folder, as
    ``make evidence`` does through ``EVIDENCE_SOURCE__runway__filename``."""
    config = yaml.safe_load((SOURCE_DIR / "connection.yaml").read_text(encoding="utf-8"))
    options = {**config["options"], "filename": os.path.relpath(snapshot, SOURCE_DIR)}
    return run_queries(connector, options, SOURCE_DIR, files)


def run_queries(
    connector: Path, options: dict[str, str], source_dir: Path, files: list[Path]
) -> dict[str, dict[str, object]]:
    """Run ``files`` with Evidence's DuckDB connector as the source in ``source_dir`` with
    ``options`` (the connector runs that folder's ``initialize.sql`` first, if it has one)."""
    result = subprocess.run(
        [_tool("node"), str(connector / "run_queries.mjs"), json.dumps(options), str(source_dir)]
        + [str(f) for f in files],
        cwd=connector,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_connector_is_the_one_the_evidence_project_locks():
    """The test's connector install resolves to the same versions as ``dashboards/evidence``."""
    ours = _locked_packages(CONNECTOR_DIR / "package-lock.json")
    evidence = _locked_packages(EVIDENCE_DIR / "package-lock.json")
    assert (
        ours["node_modules/@evidence-dev/duckdb"] == evidence["node_modules/@evidence-dev/duckdb"]
    )
    differing = {
        key: (version, evidence.get(key))
        for key, version in ours.items()
        if evidence.get(key) != version
    }
    assert differing == {}


def test_the_evidence_source_is_duckdb_over_the_serving_snapshot():
    config = yaml.safe_load((SOURCE_DIR / "connection.yaml").read_text(encoding="utf-8"))
    assert config["name"] == "runway"
    assert config["type"] == "duckdb"
    default = (SOURCE_DIR / config["options"]["filename"]).resolve()
    assert default == REPO_ROOT / "data" / "serving" / "runway.duckdb"
    settings = json.loads((EVIDENCE_DIR / "evidence.settings.json").read_text(encoding="utf-8"))
    assert settings["send_anonymous_usage_stats"] == "no"


def test_every_query_file_returns_the_apps_rows_through_evidences_duckdb(connector, snapshot_file):
    names = data.query_names()
    assert len(names) >= 10, names
    results = run_through_evidence(
        connector, snapshot_file, [data.QUERIES_DIR / f"{name}.sql" for name in names]
    )

    errors = {name: r["error"] for name, r in results.items() if "error" in r}
    assert errors == {}
    assert sorted(results) == names
    for name in names:
        evidence = results[name]
        app = data.run_sql(data.query_sql(name), snapshot_file)
        assert evidence["rows"] > 0, f"{name} returned no rows through Evidence"
        # Same rows as the app with no filter: every getvariable() filter is off in Evidence.
        assert evidence["rows"] == len(app), name
        assert evidence["expectedRowCount"] == len(app), name
        assert [c["name"] for c in evidence["columnTypes"]] == list(app.columns), name

    # And the same figures, reconciled with the fixture's flights independently of the SQL.
    flights = make_frames()[("marts", "flights")]
    kpis = results["kpis"]["head"][0]
    assert kpis["flights"] == len(flights)
    assert kpis["cancelled_flights"] == int(flights["is_cancelled"].sum())
    assert results["daily_flights"]["rows"] == flights["flight_date"].nunique()
    assert results["carrier_league"]["rows"] == flights["carrier_code"].nunique()


def test_evidences_duckdb_is_pythons_and_reads_our_snapshot_file(
    connector, snapshot_file, tmp_path
):
    """Evidence's DuckDB is the exact version of Python's (package.json's override of
    ``@duckdb/node-api``): the lake's extension files (``.duckdb_extensions``, from the pinned
    wheels) are built for one DuckDB version, and a DuckLake catalog is read only by the
    ``ducklake`` release of its catalog version. And it opens the snapshot file ours writes."""
    probe = tmp_path / "probe.sql"
    probe.write_text(
        "select version() as version, (select count(*) from marts.flights) as flights",
        encoding="utf-8",
    )
    result = run_through_evidence(connector, snapshot_file, [probe])["probe"]
    assert "error" not in result, result
    assert result["head"][0]["version"] == f"v{duckdb.__version__}", result
    assert result["head"][0]["flights"] == len(make_frames()[("marts", "flights")])


def test_copy_queries_puts_exactly_the_query_files_into_the_source(tmp_path):
    """``copy-queries.mjs`` (npm's presources step) mirrors dashboards/queries/*.sql into the
    source folder: new files copied, a file no longer in queries/ removed, connection.yaml kept."""
    queries = tmp_path / "dashboards" / "queries"
    source = tmp_path / "dashboards" / "evidence" / "sources" / "runway"
    queries.mkdir(parents=True)
    source.mkdir(parents=True)
    shutil.copy2(EVIDENCE_DIR / "copy-queries.mjs", source.parents[1] / "copy-queries.mjs")
    (queries / "kpis.sql").write_text("select 1 as one\n", encoding="utf-8")
    (queries / "routes.sql").write_text("select 2 as two\n", encoding="utf-8")
    (queries / "notes.txt").write_text("not a query\n", encoding="utf-8")
    (source / "connection.yaml").write_text("name: runway\n", encoding="utf-8")
    (source / "kpis.sql").write_text("select 'stale'\n", encoding="utf-8")
    (source / "initialize.sql").write_text("use lake;\n", encoding="utf-8")
    (source / "renamed_away.sql").write_text("select 'gone'\n", encoding="utf-8")

    subprocess.run(
        [_tool("node"), str(source.parents[1] / "copy-queries.mjs")],
        check=True,
        capture_output=True,
    )

    # initialize.sql is the source's setup (RUNWAY_TARGET=lake), not a query: kept.
    assert sorted(p.name for p in source.iterdir()) == [
        "connection.yaml",
        "initialize.sql",
        "kpis.sql",
        "routes.sql",
    ]
    assert (source / "kpis.sql").read_text(encoding="utf-8") == "select 1 as one\n"
    assert not (source / "kpis.sql").is_symlink()


def test_on_the_default_target_the_source_is_the_snapshot_file_alone(
    snapshot, tmp_path, monkeypatch
):
    """``source_setup.py`` (``make evidence``) on the default target: the connector's filename is
    the published snapshot, relative to the source folder, and a leftover ``initialize.sql`` (of a
    lake run) is removed, so Evidence reads exactly the file; ``check-source.mjs`` then has
    nothing to check. Without a snapshot it stops with the reason."""
    monkeypatch.delenv("RUNWAY_TARGET", raising=False)
    source = tmp_path / "evidence" / "sources" / "runway"
    source.mkdir(parents=True)
    (source / source_setup.INIT_FILE).write_text("attach 'ducklake:x' as lake;\n")

    filename = source_setup.prepare(source)

    assert (source / filename).resolve() == snapshot.resolve()
    assert not os.path.isabs(filename)
    assert sorted(p.name for p in source.iterdir()) == []
    shutil.copy2(EVIDENCE_DIR / "check-source.mjs", source.parents[1] / "check-source.mjs")
    checked = subprocess.run(
        [_tool("node"), str(source.parents[1] / "check-source.mjs"), str(source)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "no sources/runway/initialize.sql" in checked.stdout

    snapshot.unlink()
    with pytest.raises(source_setup.SourceUnavailable, match="No serving snapshot"):
        source_setup.prepare(source)
