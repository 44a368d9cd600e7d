"""Evidence's source reads the DuckLake on `RUNWAY_TARGET=lake` (issue #9, point 3: readers).

A real DuckLake (catalog on the throwaway PostgreSQL cluster, Parquet under a temp dir) holds the
dashboard fixture's tables (tests/dashboards/snapshot_fixture.py), as the pipeline's lake does: no
`meta.*` tables and no table only the snapshot derives (`ml.daily_prediction_outcomes`). The
serving snapshot published beside it holds *other* data (fewer days) plus the `meta.*` tables.
`dashboards/evidence/source_setup.py` (what `make evidence` runs) writes the source's
`initialize.sql` from that environment, and every query file of dashboards/queries runs through
Evidence's own DuckDB connector (`@evidence-dev/duckdb` with its `@duckdb/node-api`, installed from
tests/dashboards/evidence_connector/, the Evidence project's versions) on that source.

1. Each result equals the same query run by the same connector on a snapshot file written from
   the lake's data (all of it, `meta` included): the lake's tables, the stand-in views and the
   published snapshot's `meta` tables together answer exactly as one snapshot would. That
   reference agrees with Python's DuckDB (the app's `run_sql`) and with figures counted from the
   fixture frames; a source reading the published snapshot's `marts` instead would show its
   other numbers.
2. While a writer process commits new days into the lake, Evidence's connector keeps running
   `daily_flights` and `kpis` on the lake source: no error, every result is a committed state,
   a day shows up in the first query that starts after its commit.
3. A lake that cannot be attached stops `source_setup.py` and `check-source.mjs` (npm's
   presources step, on Evidence's DuckDB) with an error naming the catalog, never its password,
   where the connector alone would only fail each query later.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from served_lake import (
    LakeWriter,
    expected_states,
    fill_lake,
    lake_env,
    read_while_writing,
)
from snapshot_fixture import make_frames, write_snapshot
from test_evidence_queries import (
    EVIDENCE_DIR,
    _tool,
    install_connector,
    run_queries,
)

from dashboards import data
from dashboards.evidence import source_setup
from orchestration import settings
from orchestration.lake import LakeCatalog
from orchestration.snapshot_tables import DERIVED_TABLES

pytestmark = pytest.mark.lake

IN_MEMORY = {"filename": source_setup.IN_MEMORY}


@dataclass(frozen=True)
class EvidenceLake:
    lake: LakeCatalog
    source_dir: Path  # the Evidence source folder set up for the lake (its initialize.sql)
    reference: Path  # a snapshot file of all the lake's data, meta included
    published: Path  # the serving snapshot: other data, and the meta tables


@pytest.fixture(autouse=True, scope="module")
def _close_snapshot_connections() -> Iterator[None]:
    """``data.run_sql`` keeps a connection per file read: close them with the module."""
    yield
    data.close_connections()


@pytest.fixture(scope="module")
def connector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Evidence's connector installed in a temp dir, with ``check-source.mjs`` beside it (it
    resolves the connector's DuckDB from its own folder)."""
    workdir = install_connector(tmp_path_factory.mktemp("evidence_connector"))
    shutil.copy2(EVIDENCE_DIR / "check-source.mjs", workdir / "check-source.mjs")
    return workdir


@pytest.fixture(scope="module")
def lake_frames():
    return make_frames()


@pytest.fixture(scope="module")
def evidence_lake(
    postgres_cluster, extension_dir, tmp_path_factory, lake_frames
) -> Iterator[EvidenceLake]:
    root = tmp_path_factory.mktemp("lake_evidence")
    dbname = postgres_cluster.create_database(f"lake_evidence_{os.getpid()}")
    lake = LakeCatalog(postgres_cluster.libpq(dbname), str(root / "lake"))
    fill_lake(
        lake,
        extension_dir,
        {k: v for k, v in lake_frames.items() if k[0] != "meta" and k not in DERIVED_TABLES},
    )
    other = make_frames(days=2)
    assert len(other[("marts", "flights")]) != len(lake_frames[("marts", "flights")])
    with pytest.MonkeyPatch.context() as mp:
        lake_env(mp, root, lake, extension_dir)
        published = write_snapshot(
            settings.load().snapshot_path,
            other | {k: v for k, v in lake_frames.items() if k[0] == "meta"},
        )
        reference = write_snapshot(root / "reference" / settings.SNAPSHOT_FILE, lake_frames)
        source_dir = root / "evidence" / "sources" / "runway"
        source_dir.mkdir(parents=True)
        # What `make evidence` does on this target (the environment above is all it reads).
        assert source_setup.prepare(source_dir) == source_setup.IN_MEMORY
        yield EvidenceLake(lake, source_dir, reference, published)


def _rounded(value):
    """A JSON value with floats rounded: a sort key (two runs may sum doubles in another order)."""
    if isinstance(value, float):
        return float(f"{value:.8g}") if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _sorted_rows(result: dict) -> list[dict]:
    return sorted(result["data"], key=lambda row: json.dumps(_rounded(row), sort_keys=True))


def _same(a, b) -> bool:
    """Equal JSON values, floats to 1e-9 relative."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, abs_tol=1e-12)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _check(connector: Path, source_dir: Path) -> subprocess.CompletedProcess:
    """``check-source.mjs`` on ``source_dir``, run beside the connector it resolves."""
    return subprocess.run(
        [_tool("node"), str(connector / "check-source.mjs"), str(source_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_query_reads_the_lake_through_evidences_connector(
    evidence_lake, connector, lake_frames, tmp_path
):
    init = evidence_lake.source_dir / source_setup.INIT_FILE
    assert init.stat().st_mode & 0o777 == 0o600  # it holds the catalog string
    checked = _check(connector, evidence_lake.source_dir)
    assert checked.returncode == 0, checked.stderr
    assert "reads the lake" in checked.stdout and "read-only" in checked.stdout

    names = data.query_names()
    files = [data.QUERIES_DIR / f"{name}.sql" for name in names]
    on_lake = run_queries(connector, IN_MEMORY, evidence_lake.source_dir, files)
    # The reference: the same connector on one file, from a folder without initialize.sql.
    plain = tmp_path / "plain"
    plain.mkdir()
    options = {"filename": os.path.relpath(evidence_lake.reference, plain)}
    on_file = run_queries(connector, options, plain, files)

    errors = {name: r["error"] for name, r in {**on_lake, **on_file}.items() if "error" in r}
    assert errors == {}
    assert sorted(on_lake) == names
    for name in names:
        lake, file = on_lake[name], on_file[name]
        assert lake["rows"] > 0, name
        assert lake["columnTypes"] == file["columnTypes"], name
        assert lake["expectedRowCount"] == lake["rows"] == file["rows"], name
        differing = [
            (x, y)
            for x, y in zip(_sorted_rows(lake), _sorted_rows(file), strict=True)
            if not _same(x, y)
        ]
        assert differing == [], name
        # The reference is what Python's DuckDB reads in that file too.
        python = data.run_sql(data.query_sql(name), evidence_lake.reference)
        assert file["rows"] == len(python), name
        assert [c["name"] for c in file["columnTypes"]] == list(python.columns), name

    # Independently of the SQL: the lake's flights, not the published snapshot's other days ...
    flights = lake_frames[("marts", "flights")]
    assert on_lake["kpis"]["data"][0]["flights"] == len(flights)
    published = data.run_sql(data.query_sql("kpis"), evidence_lake.published)
    assert published.iloc[0]["flights"] != len(flights)
    assert on_lake["daily_flights"]["rows"] == flights["flight_date"].nunique()
    # ... the snapshot's meta tables, and the derived table answered by the view over the lake.
    assert on_lake["asset_status"]["rows"] == len(lake_frames[("meta", "asset_status")])
    assert on_lake["run_failures"]["rows"] == len(lake_frames[("meta", "run_failures")])
    scored = set(lake_frames[("ml", "flight_delay_predictions")]["flight_id"])
    departed = flights[flights["is_departure_delayed_15"].notna()]
    rows = on_lake["predictions_vs_actuals"]["data"]
    assert sum(row["departed_flights"] for row in rows) == departed["flight_id"].isin(scored).sum()


def test_evidence_reads_the_lake_read_only(evidence_lake, connector, tmp_path):
    probe = tmp_path / "probe.sql"
    probe.write_text("insert into lake.marts.carriers values ('ZZ', 'Nobody')")
    result = run_queries(connector, IN_MEMORY, evidence_lake.source_dir, [probe])["probe"]
    assert "read-only" in result.get("error", ""), result


def test_a_lake_that_cannot_be_attached_stops_before_any_query(
    evidence_lake, connector, extension_dir, postgres_cluster, tmp_path, monkeypatch
):
    bad = LakeCatalog(
        postgres_cluster.libpq("no_such_lake") + " password=s3cret", evidence_lake.lake.data_path
    )
    # make evidence's first step: Python's DuckDB cannot open it, and says which catalog.
    monkeypatch.setenv("RUNWAY_LAKE_CATALOG", bad.catalog)
    with pytest.raises(source_setup.SourceUnavailable) as raised:
        source_setup.prepare(tmp_path)
    assert "no_such_lake" in str(raised.value) and "password=***" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert not (tmp_path / source_setup.INIT_FILE).exists()

    # An initialize.sql whose ATTACH fails on Evidence's DuckDB (the catalog gone since it was
    # written): the connector swallows that error and fails each query on a missing table ...
    source = tmp_path / "runway"
    source.mkdir()
    (source / source_setup.INIT_FILE).write_text(
        source_setup.lake_init_sql(bad, extension_dir, {}, "lake.main", None)
    )
    kpis = data.QUERIES_DIR / "kpis.sql"
    swallowed = run_queries(connector, IN_MEMORY, source, [kpis])["kpis"]
    assert "marts" in swallowed["error"] and "no_such_lake" not in swallowed["error"]
    # ... whereas the presources check stops at once, with DuckDB's reason and the catalog.
    checked = _check(connector, source)
    assert checked.returncode == 1
    assert "cannot read the lake" in checked.stderr and "no_such_lake" in checked.stderr
    assert "password=***" in checked.stderr
    assert "s3cret" not in checked.stderr + checked.stdout


def test_a_young_lake_without_a_snapshot_still_serves_what_it_has(
    postgres_cluster, extension_dir, connector, lake_frames, tmp_path, monkeypatch, capsys
):
    """A lake without predictions yet (no training run) and no published snapshot: the setup
    warns about both, the check passes, the lake's tables are served, and only the queries on
    what is missing fail, each naming it."""
    lake = LakeCatalog(
        postgres_cluster.libpq(postgres_cluster.create_database(f"young_{os.getpid()}")),
        str(tmp_path / "lake"),
    )
    fill_lake(lake, extension_dir, {("marts", "flights"): lake_frames[("marts", "flights")]})
    lake_env(monkeypatch, tmp_path, lake, extension_dir)  # nothing published under tmp_path/serving
    source = tmp_path / "runway"
    source.mkdir()

    assert source_setup.prepare(source) == source_setup.IN_MEMORY
    warnings = capsys.readouterr().err
    assert "lacks the tables behind ml.daily_prediction_outcomes" in warnings
    assert "no serving snapshot with meta tables" in warnings
    checked = _check(connector, source)
    assert checked.returncode == 0, checked.stderr

    names = ["kpis", "predictions_vs_actuals", "asset_status"]
    results = run_queries(
        connector, IN_MEMORY, source, [data.QUERIES_DIR / f"{name}.sql" for name in names]
    )
    assert results["kpis"]["data"][0]["flights"] == len(lake_frames[("marts", "flights")])
    assert "daily_prediction_outcomes" in results["predictions_vs_actuals"]["error"]
    assert "asset_status" in results["asset_status"]["error"]


NEW_DAYS = 2


def test_evidence_reads_each_new_day_after_its_commit_while_a_writer_writes(
    postgres_cluster, extension_dir, connector, lake_frames, tmp_path, monkeypatch
):
    """As the app's reader in test_lake_dashboards.py, through Evidence's connector: each poll
    is one `evidence sources`-like run (a DuckDB per query, initialize.sql first)."""
    dbname = postgres_cluster.create_database(f"lake_evidence_writes_{os.getpid()}")
    lake = LakeCatalog(postgres_cluster.libpq(dbname), str(tmp_path / "lake"))
    frames = {k: v for k, v in lake_frames.items() if k[0] != "meta" and k not in DERIVED_TABLES}
    fill_lake(lake, extension_dir, frames)
    flights = frames[("marts", "flights")]
    states = expected_states(flights, NEW_DAYS)
    lake_env(monkeypatch, tmp_path, lake, extension_dir)
    write_snapshot(
        settings.load().snapshot_path, {k: v for k, v in lake_frames.items() if k[0] == "meta"}
    )
    source_dir = tmp_path / "evidence" / "sources" / "runway"
    source_dir.mkdir(parents=True)
    assert source_setup.prepare(source_dir) == source_setup.IN_MEMORY
    files = [data.QUERIES_DIR / f"{name}.sql" for name in ("daily_flights", "kpis")]

    def poll() -> tuple[dict, int]:
        results = run_queries(connector, IN_MEMORY, source_dir, files)
        errors = {name: r["error"] for name, r in results.items() if "error" in r}
        assert errors == {}
        # Evidence's DATE values arrive as ISO timestamps at midnight.
        days = {
            date.fromisoformat(str(row["flight_date"])[:10]): int(row["flights"])
            for row in results["daily_flights"]["data"]
        }
        return days, int(results["kpis"]["data"][0]["flights"])

    with LakeWriter(lake, extension_dir, flights, NEW_DAYS) as writer:
        polls = read_while_writing(poll, writer, states)
    assert len(polls) >= NEW_DAYS + 1
