"""The lake's PostgreSQL (orchestration/postgres.py): one server, three databases.

Where the lake catalog, Dagster's storage and MLflow's store are derived from
``RUNWAY_LAKE_CATALOG``, the databases are created (idempotent, also by two callers at once), and
`make` writes ``$DAGSTER_HOME/dagster.yaml`` for the target and exports Dagster's storage URL.
The first tests need no server; the last ones use the throwaway cluster.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from orchestration import postgres, settings
from orchestration.postgres import LakePostgres, parse_conninfo


def test_parse_conninfo_reads_libpq_keywords_and_uris() -> None:
    assert parse_conninfo("dbname=lake host=db.internal port=6543 user=runway") == {
        "dbname": "lake",
        "host": "db.internal",
        "port": "6543",
        "user": "runway",
    }
    # libpq's quoting: spaces around '=', a quoted value with a space, escaped quote and backslash
    assert parse_conninfo(r"password = 'a b\'c\\d'  sslmode=require") == {
        "password": "a b'c\\d",
        "sslmode": "require",
    }
    assert parse_conninfo("postgresql://runway:s%40cret@db:6543/lake?sslmode=require") == {
        "user": "runway",
        "password": "s@cret",
        "host": "db",
        "port": "6543",
        "dbname": "lake",
        "sslmode": "require",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_conninfo("just-a-host-name")
    with pytest.raises(ValueError, match="unterminated"):
        parse_conninfo("password='open")


def test_the_three_databases_share_the_catalogs_server() -> None:
    lake = LakePostgres.from_env(
        {"RUNWAY_LAKE_CATALOG": "dbname=my_lake host=db.internal port=6543 user=runway"}
    )
    assert lake.databases == ("my_lake", "runway_dagster", "runway_mlflow")
    assert lake.lake_catalog == "host=db.internal port=6543 user=runway dbname=my_lake"
    # psycopg2, not SQLAlchemy 2.1's default psycopg 3 (not installed)
    assert lake.dagster_url == "postgresql+psycopg2://runway@db.internal:6543/runway_dagster"
    assert lake.mlflow_url == "postgresql+psycopg2://runway@db.internal:6543/runway_mlflow"

    named = LakePostgres.from_env(
        {
            "RUNWAY_LAKE_CATALOG": "host=db user=u password='p@ss word' sslmode=require",
            "RUNWAY_DAGSTER_DB": "dg",
            "RUNWAY_MLFLOW_DB": "ml",
        }
    )
    # no dbname: libpq's default, the user name
    assert named.databases == ("u", "dg", "ml")
    url = urlsplit(named.mlflow_url)
    assert (url.scheme, url.hostname, url.username, url.path) == (
        "postgresql+psycopg2",
        "db",
        "u",
        "/ml",
    )
    assert url.password == "p%40ss%20word"  # quoted in the URL, decoded by SQLAlchemy
    assert parse_qs(url.query) == {"sslmode": ["require"]}
    assert parse_conninfo(named.conninfo("dg")) == {
        "host": "db",
        "user": "u",
        "password": "p@ss word",
        "sslmode": "require",
        "dbname": "dg",
    }


def test_a_socket_directory_goes_into_the_urls_query() -> None:
    lake = LakePostgres.from_env(
        {"RUNWAY_LAKE_CATALOG": "dbname=lake host=/var/run/postgresql port=5433 user=me"}
    )
    url = urlsplit(lake.dagster_url)
    assert url.netloc == "me@"
    assert parse_qs(url.query) == {"host": ["/var/run/postgresql"], "port": ["5433"]}


def test_the_default_catalog_is_the_lakes() -> None:
    assert LakePostgres.from_env({}).lake_catalog == (
        "host=127.0.0.1 port=5432 user=postgres dbname=runway_lake"
    )


def test_mlflow_defaults_to_the_lakes_postgres_on_lake(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RUNWAY_MLFLOW_DB", raising=False)
    monkeypatch.setenv("RUNWAY_LAKE_CATALOG", "dbname=l host=db port=6543 user=runway")
    monkeypatch.setenv("RUNWAY_TARGET", "duckdb")
    assert settings.load().mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"

    monkeypatch.setenv("RUNWAY_TARGET", "lake")
    current = settings.load()
    assert current.mlflow_tracking_uri == "postgresql+psycopg2://runway@db:6543/runway_mlflow"
    # the artifacts stay under the data path
    assert current.mlflow_artifact_location == (tmp_path / "mlflow" / "artifacts").as_uri()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.internal:5000")
    assert settings.load().mlflow_tracking_uri == "http://tracking.internal:5000"


def test_the_lake_dagster_yaml_is_the_common_one_plus_postgres_storage() -> None:
    common = yaml.safe_load(postgres.dagster_yaml("duckdb"))
    lake = yaml.safe_load(postgres.dagster_yaml("lake"))
    assert common == yaml.safe_load(postgres.DAGSTER_YAML.read_text())
    # The appended file holds only `storage` (a key repeated in YAML would silently win).
    addition = yaml.safe_load(postgres.DAGSTER_POSTGRES_YAML.read_text())
    assert set(addition) == {"storage"} and "storage" not in common
    assert lake == common | addition
    assert lake["storage"] == {"postgres": {"postgres_url": {"env": postgres.DAGSTER_URL_VAR}}}


def _make(home: Path, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RUNWAY_", "MAKE", "MFLAGS")) and name != "DAGSTER_HOME"
    }
    env |= {"DAGSTER_HOME": str(home), "RUNWAY_DATA_DIR": str(home.parent / "data")} | environ
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *args],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_make_writes_the_dagster_yaml_of_the_target(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    target_file = str(home / "dagster.yaml")
    catalog = {"RUNWAY_LAKE_CATALOG": "dbname=l host=db.internal port=6543 user=runway"}

    _make(home, catalog | {"RUNWAY_TARGET": "lake"}, target_file)
    assert (home / "dagster.yaml").read_text() == postgres.dagster_yaml("lake")
    # switching the target rewrites it, though no source file changed
    _make(home, catalog, target_file)
    assert (home / "dagster.yaml").read_text() == postgres.dagster_yaml("duckdb")

    # On lake, make exports Dagster's storage URL (what the lake dagster.yaml reads) ...
    show = ["--eval", 'show-url: ; @echo "[$${RUNWAY_DAGSTER_POSTGRES_URL}]"', "show-url"]
    shown = _make(home, catalog | {"RUNWAY_TARGET": "lake"}, *show).stdout.strip()
    assert shown == "[postgresql+psycopg2://runway@db.internal:6543/runway_dagster]"
    # ... and leaves it alone on the other targets
    assert _make(home, catalog, *show).stdout.strip() == "[]"

    # `make install` creates the databases on lake only (a dry run: nothing is executed)
    create = "python -m orchestration.postgres"
    assert create in _make(home, catalog | {"RUNWAY_TARGET": "lake"}, "-n", "install").stdout
    assert create not in _make(home, catalog, "-n", "install").stdout


def _databases(cluster) -> set[str]:
    con = cluster.connect()
    try:
        cur = con.cursor()
        cur.execute("SELECT datname FROM pg_database")
        return {name for (name,) in cur.fetchall()}
    finally:
        con.close()


@pytest.mark.lake
def test_create_databases_is_idempotent_and_safe_at_once(postgres_cluster) -> None:
    suffix = f"create_{os.getpid()}"
    lake = LakePostgres.from_env(
        {
            "RUNWAY_LAKE_CATALOG": postgres_cluster.libpq(f"lake_{suffix}"),
            "RUNWAY_DAGSTER_DB": f"dagster_{suffix}",
            "RUNWAY_MLFLOW_DB": f"mlflow_{suffix}",
        }
    )
    wanted = {f"lake_{suffix}", f"dagster_{suffix}", f"mlflow_{suffix}"}
    assert not wanted & _databases(postgres_cluster)

    # two callers at once (two `make install`s): together they create each database once
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            results.append(lake.create_databases())
        except BaseException as error:  # any error is a finding
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(name for created in results for name in created) == sorted(wanted)
    assert wanted <= _databases(postgres_cluster)
    assert lake.create_databases() == []

    # each URL reaches its own database through SQLAlchemy + psycopg2
    import sqlalchemy

    for url, dbname in (
        (lake.dagster_url, f"dagster_{suffix}"),
        (lake.mlflow_url, f"mlflow_{suffix}"),
    ):
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as con:
                assert con.execute(sqlalchemy.text("select current_database()")).scalar() == dbname
        finally:
            engine.dispose()


@pytest.mark.lake
def test_the_module_creates_the_databases_from_the_environment(postgres_cluster) -> None:
    """`python -m orchestration.postgres`, as `make install` runs it on the lake target."""
    suffix = f"cli_{os.getpid()}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUNWAY_")}
    env |= {
        "RUNWAY_LAKE_CATALOG": postgres_cluster.libpq(f"lake_{suffix}"),
        "RUNWAY_DAGSTER_DB": f"dagster_{suffix}",
        "RUNWAY_MLFLOW_DB": f"mlflow_{suffix}",
    }
    command = [sys.executable, "-m", "orchestration.postgres"]
    first = subprocess.run(
        command, cwd=settings.REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert f"created lake_{suffix}, dagster_{suffix}, mlflow_{suffix}" in first.stdout
    again = subprocess.run(
        command, cwd=settings.REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert again.stdout.rstrip().endswith(": all there")
    assert {f"lake_{suffix}", f"dagster_{suffix}", f"mlflow_{suffix}"} <= _databases(
        postgres_cluster
    )
