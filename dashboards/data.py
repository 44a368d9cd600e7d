"""The dashboards' only data access: named SQL queries over the serving snapshot.

Rules (see docs/architecture.md, "Serving snapshot"):

- Read only the serving snapshot (``settings.load().snapshot_path``), never the warehouse.
- One ``READ_ONLY`` DuckDB connection per published *version* of a file (its path, inode, mtime
  and size), shared by every query and session of the process; each query runs on a cursor of
  its own. Opening the file costs more than most queries (tens of ms), so it is paid once per
  publication, not once per query. The pipeline swaps a new snapshot in with ``os.replace`` at
  any time: the connection keeps reading the file it opened (the replaced inode stays intact
  while open), so a reader never sees half of a snapshot. Every query first looks at the file now
  at the path; when it is a new version, the query opens that one (checking that the file did
  not change while it was opened), and the old connection is closed as soon as the queries
  already running on it end: file handles do not pile up with publications (an idle app holds
  the replaced file until its next query). A query that starts after a publication finished
  therefore always reads the new file. Connections are ``ATTACH``es in a private in-memory
  DuckDB, not ``duckdb.connect(path)``: DuckDB would hand a second connection to the same path
  the database instance still open on the replaced file. Other programs must open the snapshot
  ``read_only`` too (a writer is refused while the app holds it).
- Every query is a file ``dashboards/queries/<name>.sql``: a plain ``SELECT`` named for the
  result it returns, usable unchanged as an Evidence source query.
- Results are cached with ``st.cache_data`` keyed on the snapshot file's identity (inode, mtime,
  size) and the query's parameters, so a newly published snapshot is picked up on the next rerun
  without clearing caches.

On ``RUNWAY_TARGET=lake`` (docs/scale-out.md) the app reads the DuckLake itself, read-only,
while the pipeline writes it: the same query files, the same cursor per query, the same caching.

- One in-memory DuckDB per process with the lake attached ``READ_ONLY``
  (``orchestration.lake.connect_lake``), opened by the first query (about a second: it loads the
  extensions and reads the catalog) and kept: unlike a snapshot file there is no new file to
  open, every new transaction reads the lake's latest committed snapshot.
- Each query runs in one read transaction on its own cursor: it reads the lake's current
  snapshot id (``current_snapshot()``), checks the tables it needs and runs, all on that one
  committed state (DuckLake pins a transaction to the snapshot it started on), so a query never
  sees half of a writer's commit. Results are cached keyed on that snapshot id: each commit is a
  new key, so new days show up on the next rerun, and between commits reruns are cache hits
  (checking the key costs one catalog round trip).
- ``meta.*`` tables (Dagster's asset status, the copy of the alerts) are not in the lake: the
  publish asset writes them into the serving snapshot only, which it still publishes on the lake
  target (Evidence and the model server read it). A query reading only ``meta`` tables reads the
  snapshot file, as of its publication; without one it raises ``TableMissing`` saying so, and the
  Pipeline health page shows that note in its Assets section and the rest of the page from the
  lake. Failed runs still come from the live alerts file (``run_failures()``).
- A lake that cannot be opened (catalog unreachable, no lake created yet, extensions not
  installed) or a table the lake lacks is reported like a missing snapshot: ``SnapshotUnavailable``
  / ``TableMissing``, with the cause; a password in the catalog string is never shown.

Filters (date range, carriers, origins) and other user choices are **bound parameters**, never
pasted into SQL. Evidence runs a source query as it is, without parameters, so a query file cannot
contain ``?`` or ``$name`` placeholders. Instead a query reads its optional parameters as DuckDB
variables: ``getvariable('start_date')`` is NULL when unset, and every filter is written
``(getvariable('x') is null or <condition on getvariable('x')>)``. Run by Evidence, nothing is set
and the query returns everything; run by the app, ``run_sql`` first binds each value on the
query's own cursor with ``SET VARIABLE <name> = ?`` (the value as a prepared-statement
parameter; the name must be one of ``PARAMETERS``). DuckDB keeps variables per client context,
and every cursor is one, created for this query and closed after it: concurrent queries with
different filters never see each other's values, and no value outlives its query. DuckDB folds
``getvariable`` into a constant when it binds the query, so the filters still prune row groups
like literal ones. One file per result, the same text for both tools, no templating.
``query_parameters(name)`` lists the variables a file reads; parameters a query does not read
are ignored (and not part of its cache key).

Pages call ``load("<name>", params)`` and get a pandas DataFrame. When there is no snapshot yet,
it shows an ``st.info`` saying what to run and stops the page; when the snapshot lacks a table
the query needs (one published by an older pipeline), it says which and stops the page, or, with
``optional_load``, returns None so the rest of the page still renders. ``query("<name>")`` is the
same without the UI: it raises ``SnapshotUnavailable`` (``TableMissing`` for a missing table).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd
import streamlit as st

from orchestration import lake as lakes
from orchestration import settings
from orchestration import snapshot_tables as derived

T = TypeVar("T")

QUERIES_DIR: Path = settings.DASHBOARD_QUERIES_DIR

MISSING_SNAPSHOT_HINT = (
    "If `make dev` has just started, its first run is building the data now: watch it in the "
    "Dagster UI (Runs); this page shows the data as soon as the snapshot is published. "
    "Otherwise run `make run` to build the pipeline and publish the snapshot."
)
LAKE_HINT = "Run the pipeline with `RUNWAY_TARGET=lake` (`make run`) to build the lake."

# On the lake target, queries that read only these schemas read the serving snapshot: the publish
# asset writes them there alone (they describe the pipeline's runs, not the data).
SNAPSHOT_ONLY_SCHEMAS = frozenset({"meta"})

# The only names a query may read with getvariable(), and the Python types their values take.
PARAMETERS: dict[str, tuple[type, ...]] = {
    "start_date": (date,),
    "end_date": (date,),
    "carriers": (list, tuple),
    "origins": (list, tuple),
    "period": (str,),
}
PERIODS = ("day", "week", "month")

# Which queries each page runs (for the latency benchmark and the docs).
PAGE_QUERIES: dict[str, tuple[str, ...]] = {
    "Overview": ("filter_options", "kpis", "daily_flights"),
    "Carriers": ("filter_options", "carrier_league", "carrier_on_time"),
    "Airports & routes": ("filter_options", "origin_airports", "routes"),
    "Weather": ("filter_options", "weather_delay_impact"),
    "Delay model": (
        "filter_options",
        "champion_model",
        "model_metrics",
        "model_calibration",
        "feature_importance",
        "predictions_vs_actuals",
        "model_monitoring",
        "routes",  # the score-a-flight form: destinations and route distances
    ),
    "Pipeline health": (
        "filter_options",
        "asset_status",
        "load_audit_summary",
        "rejected_rows",
        "quarantined_files",
        "run_failures",  # from the live alerts file when there is one (``run_failures()``)
    ),
}

_TABLE_REFERENCE = re.compile(r"\b(raw|staging|intermediate|marts|ml|meta)\.(\w+)", re.IGNORECASE)
_VARIABLE_REFERENCE = re.compile(r"getvariable\(\s*'(\w+)'\s*\)", re.IGNORECASE)

# The catalog name of the attached file; each cursor makes it the default (``USE``) so that the
# queries' ``schema.table`` names resolve as they do on the file itself (and in Evidence).
_CATALOG = "snapshot"
# How often a query retries opening a file that was replaced while it was being opened.
_OPEN_ATTEMPTS = 5


class SnapshotUnavailable(RuntimeError):
    """The serving snapshot is missing (or lacks a table a query needs)."""


class TableMissing(SnapshotUnavailable):
    """The serving snapshot exists but lacks tables a query needs (an older pipeline wrote it)."""

    def __init__(self, tables: list[str], path: Path | str) -> None:
        self.tables = tables
        names = ", ".join(f"`{t}`" for t in tables)
        super().__init__(
            f"The serving snapshot has no {names} table yet: it was published by an older "
            f"version of the pipeline. Run `make run` to publish a new snapshot ({path})."
        )


class LakeTableMissing(TableMissing):
    """The lake (``RUNWAY_TARGET=lake``) lacks tables a query needs, or, for ``meta`` tables,
    there is no serving snapshot to read them from."""

    def __init__(self, tables: list[str], message: str) -> None:
        self.tables = tables
        SnapshotUnavailable.__init__(self, message)


@dataclass(frozen=True)
class SnapshotVersion:
    """Identity of the snapshot file currently published at ``path``."""

    path: str
    inode: int
    mtime_ns: int
    size: int

    @property
    def published_at(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)


def snapshot_path() -> Path:
    """Where the serving snapshot lives, read from the environment now."""
    return settings.load().snapshot_path


def file_version(path: Path | str) -> SnapshotVersion | None:
    """The identity of the file now at ``path``, or None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return SnapshotVersion(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


def snapshot_version() -> SnapshotVersion | None:
    """The published snapshot's identity, or None when there is no snapshot yet."""
    return file_version(snapshot_path())


def missing_snapshot_message(path: Path | str | None = None) -> str:
    return f"No serving snapshot at `{path or snapshot_path()}` yet. {MISSING_SNAPSHOT_HINT}"


def query_names() -> list[str]:
    """Names of every query the app can run (the ``queries/*.sql`` file stems)."""
    return sorted(p.stem for p in QUERIES_DIR.glob("*.sql"))


def query_sql(name: str) -> str:
    """The SQL text of query ``name`` (``queries/<name>.sql``)."""
    if name not in query_names():
        raise KeyError(f"No query {name!r} in {QUERIES_DIR}; known: {query_names()}")
    return (QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _without_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def required_tables(sql: str) -> set[str]:
    """The snapshot tables (``schema.table``) that ``sql`` reads."""
    return {
        f"{schema.lower()}.{table.lower()}"
        for schema, table in _TABLE_REFERENCE.findall(_without_comments(sql))
    }


def sql_parameters(sql: str) -> set[str]:
    """The variables (``getvariable('name')``) that ``sql`` reads."""
    return {name.lower() for name in _VARIABLE_REFERENCE.findall(_without_comments(sql))}


def query_parameters(name: str) -> set[str]:
    """The parameters query ``name`` accepts."""
    return sql_parameters(query_sql(name))


def _check_parameter(name: str, value: Any) -> None:
    if name not in PARAMETERS:
        raise ValueError(f"unknown query parameter {name!r}; known: {sorted(PARAMETERS)}")
    if value is not None and not isinstance(value, PARAMETERS[name]):
        raise TypeError(f"parameter {name!r} must be {PARAMETERS[name]}, got {type(value)}")
    if name == "period" and value is not None and value not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {value!r}")


def _bind_variables(con: duckdb.DuckDBPyConnection, params: Mapping[str, Any]) -> None:
    for name, value in params.items():
        _check_parameter(name, value)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            if not value:
                continue  # an empty selection means "no filter"
            value = [str(v) for v in value]
        # The name is one of PARAMETERS (checked above); only the value comes from the user,
        # and it travels as a bound parameter.
        con.execute(f"SET VARIABLE {name} = ?", [value])


@dataclass(eq=False)
class _Held:
    """The connection to one version of a file (or to the lake), and how many queries are
    running on it."""

    version: SnapshotVersion | lakes.LakeCatalog
    con: duckdb.DuckDBPyConnection
    running: int = 0
    retired: bool = False
    # Lake only: the search path set on every cursor, and whether the derived views are all
    # defined. Both are state of this connection's in-memory catalog, so they die with it.
    search_path: str = ""
    views_complete: bool = False


# Per path, the connection to the newest version seen; guarded by _LOCK, as are the counts.
_HELD: dict[str, _Held] = {}
_LOCK = threading.Lock()


def _open(version: SnapshotVersion) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    try:
        quoted = version.path.replace("'", "''")  # ATTACH takes no bound parameters
        con.execute(f"ATTACH '{quoted}' AS {_CATALOG} (READ_ONLY)")
    except BaseException:
        con.close()
        raise
    return con


def _retire(held: _Held) -> None:
    """Close ``held`` now if no query runs on it, else when its last query ends (under _LOCK)."""
    held.retired = True
    if held.running == 0:
        held.con.close()


def _acquire(path: str) -> tuple[_Held, duckdb.DuckDBPyConnection]:
    """The connection to the file now at ``path`` (opened if it is a new version) and a new
    cursor on it; the caller runs one query on the cursor, then calls ``_release``."""
    with _LOCK:
        for _ in range(_OPEN_ATTEMPTS):
            version = file_version(path)
            held = _HELD.get(path)
            if version is None:
                if held is not None:
                    _retire(_HELD.pop(path))
                raise SnapshotUnavailable(missing_snapshot_message(path))
            if held is None or held.version != version:
                try:
                    con = _open(version)
                except duckdb.IOException:
                    if os.path.exists(path):
                        raise
                    continue  # removed between the stat and the open: look again
                # Only if the same file is still there do we know which version we opened.
                if file_version(path) != version:
                    con.close()
                    continue
                if held is not None:
                    _retire(held)
                held = _HELD[path] = _Held(version, con)
            cursor = held.con.cursor()
            held.running += 1
            return held, cursor
    raise SnapshotUnavailable(f"`{path}` kept changing while it was being opened; try again.")


def _release(held: _Held, cursor: duckdb.DuckDBPyConnection) -> None:
    with _LOCK:
        cursor.close()
        held.running -= 1
        if held.retired and held.running == 0:
            held.con.close()


def close_connections() -> None:
    """Close every held connection (each as soon as the queries running on it end).

    The next query opens the file again. For tests and tools that need the file released.
    """
    with _LOCK:
        for path in list(_HELD):
            _retire(_HELD.pop(path))


def run_sql(sql: str, path: Path | str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run ``sql`` on the file now at ``path``, on a cursor of the connection held for that
    version of the file (opened first if it is a new one; see the module docstring).

    ``params`` are bound as DuckDB variables on that cursor first (see the module docstring);
    None values and empty lists mean "no filter".
    """
    held, cursor = _acquire(str(path))
    try:
        cursor.execute(f"USE {_CATALOG}")
        _bind_variables(cursor, params or {})
        return cursor.execute(sql).df()
    except duckdb.CatalogException as exc:
        raise SnapshotUnavailable(
            f"The serving snapshot at `{path}` lacks a table this page needs ({exc}). "
            f"{MISSING_SNAPSHOT_HINT}"
        ) from exc
    finally:
        _release(held, cursor)


_TABLES_SQL = "select schema_name || '.' || table_name as name from duckdb_tables()"


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_tables(path: str, inode: int, mtime_ns: int, size: int) -> frozenset[str]:
    return frozenset(run_sql(_TABLES_SQL, path)["name"].str.lower())


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_query(
    name: str,
    path: str,
    inode: int,
    mtime_ns: int,
    size: int,
    params: tuple[tuple[str, Any], ...],
) -> pd.DataFrame:
    # inode/mtime_ns/size are only the cache key: a replaced snapshot gives a new key.
    return run_sql(query_sql(name), path, dict(params))


def _current_version() -> SnapshotVersion:
    version = snapshot_version()
    if version is None:
        raise SnapshotUnavailable(missing_snapshot_message())
    return version


def snapshot_tables() -> frozenset[str]:
    """``schema.table`` of every table in the current snapshot (cached per snapshot version)."""
    version = _current_version()
    return _cached_tables(version.path, version.inode, version.mtime_ns, version.size)


def _cache_params(name: str, params: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """The parameters query ``name`` reads, normalised into a hashable, ordered cache key."""
    accepted = query_parameters(name)
    normalised = []
    for key, value in sorted((params or {}).items()):
        _check_parameter(key, value)
        if key not in accepted or value is None:
            continue
        if isinstance(value, list | tuple):
            if not value:
                continue
            value = tuple(sorted(str(v) for v in value))
        normalised.append((key, value))
    return tuple(normalised)


def query(name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Result of ``queries/<name>.sql`` on the current snapshot (cached per snapshot version),
    or on ``RUNWAY_TARGET=lake`` on the lake's current snapshot (cached per lake snapshot id).

    Raises ``SnapshotUnavailable`` when no snapshot has been published yet (or the lake cannot be
    opened) and ``TableMissing`` when the snapshot (or the lake) lacks a table the query reads.
    """
    key = _cache_params(name, params)
    if reads_lake():
        needed = required_tables(query_sql(name))
        if not _snapshot_only(needed):
            return _lake_query(name, key)
        if snapshot_version() is None:
            names = ", ".join(f"`{t}`" for t in sorted(needed))
            raise LakeTableMissing(
                sorted(needed),
                f"{names} is not in the lake: the pipeline's publish step adds it to the serving "
                f"snapshot, and none has been published yet at `{snapshot_path()}`. "
                f"{MISSING_SNAPSHOT_HINT}",
            )
    version = _current_version()
    present = _cached_tables(version.path, version.inode, version.mtime_ns, version.size)
    missing = sorted(required_tables(query_sql(name)) - present)
    if missing:
        raise TableMissing(missing, version.path)
    return _cached_query(name, version.path, version.inode, version.mtime_ns, version.size, key)


# --------------------------------------------------------------------------------------------
# The lake (RUNWAY_TARGET=lake): see the module docstring.


def reads_lake() -> bool:
    """True when the app reads the DuckLake (``RUNWAY_TARGET=lake``), not the snapshot file."""
    return settings.dbt_target() == "lake"


def _snapshot_only(tables: set[str]) -> bool:
    return bool(tables) and all(t.split(".", 1)[0] in SNAPSHOT_ONLY_SCHEMAS for t in tables)


def _lake_key(lake: lakes.LakeCatalog) -> str:
    # The key of the held connection and of the caches: which lake, never shown to anyone.
    return f"{lake.uri} DATA_PATH {lake.data_path}"


@dataclass(frozen=True)
class LakeVersion:
    """The lake's latest committed snapshot: DuckLake's commit counter and its time."""

    snapshot_id: int
    committed_at: datetime


def _define_lake_views(held: _Held) -> None:
    """Make a query's `ml.daily_prediction_outcomes` (a table only the serving snapshot has,
    orchestration/snapshot_tables.py) resolve to a view over the lake's row-level tables, in the
    reader's own in-memory catalog: the search path every cursor sets. Done again at each query
    until the lake has every source table (views cannot be defined over missing tables)."""
    # Outside any transaction (a view defined inside a read transaction would be rolled back).
    held.search_path, held.views_complete = derived.add_derived_views(held.con, lakes.LAKE_ALIAS)


def _open_lake(lake: lakes.LakeCatalog) -> duckdb.DuckDBPyConnection:
    try:
        # The project's extension dir, filled by `make install`: a reader never installs.
        return lakes.connect_lake(lake, read_only=True)
    except duckdb.Error as exc:
        raise SnapshotUnavailable(
            f"Cannot open the lake (catalog `{lakes.redact(lake.catalog)}`, data path "
            f"`{lake.data_path}`): {lakes.redact(str(exc))}. {LAKE_HINT}"
        ) from exc


def _acquire_lake(lake: lakes.LakeCatalog) -> tuple[_Held, duckdb.DuckDBPyConnection]:
    """The process's connection to ``lake`` (opened on first use) and a new cursor on it."""
    key = _lake_key(lake)
    with _LOCK:
        held = _HELD.get(key)
        if held is None:
            # Opened under the lock (about a second, once per process): concurrent first
            # queries wait for this one connection instead of each opening their own.
            held = _HELD[key] = _Held(lake, _open_lake(lake))
        if not held.views_complete:
            try:
                _define_lake_views(held)
            except duckdb.Error as exc:
                raise SnapshotUnavailable(
                    f"Reading the lake failed: {lakes.redact(str(exc))}. {LAKE_HINT}"
                ) from exc
        cursor = held.con.cursor()
        held.running += 1
        return held, cursor


def _drop_lake(held: _Held) -> None:
    """Forget a lake connection that failed (a catalog restart): the next query reopens."""
    with _LOCK:
        key = _lake_key(held.version)
        if _HELD.get(key) is held:
            _retire(_HELD.pop(key))


_LAKE_TABLES_SQL = f"""
select schema_name || '.' || table_name as name
from duckdb_tables() where database_name = '{lakes.LAKE_ALIAS}'
union all
select schema_name || '.' || view_name
from duckdb_views() where database_name = '{lakes.LAKE_ALIAS}' and not internal
"""
_SNAPSHOT_ID_SQL = f"select id from {lakes.LAKE_ALIAS}.current_snapshot()"


def _lake_snapshot_id(cursor: duckdb.DuckDBPyConnection) -> int:
    return int(cursor.execute(_SNAPSHOT_ID_SQL).fetchone()[0])


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_lake_tables(
    lake_key: str, snapshot_id: int, _cursor: duckdb.DuckDBPyConnection
) -> frozenset[str]:
    # lake_key/snapshot_id are the cache key; _cursor (not hashed) is in that snapshot already.
    return frozenset(_cursor.execute(_LAKE_TABLES_SQL).df()["name"].str.lower())


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_lake_query(
    name: str,
    lake_key: str,
    snapshot_id: int,
    params: tuple[tuple[str, Any], ...],
    _cursor: duckdb.DuckDBPyConnection,
) -> pd.DataFrame:
    _bind_variables(_cursor, dict(params))
    return _cursor.execute(query_sql(name)).df()


def _on_lake(
    work: Callable[[duckdb.DuckDBPyConnection, str, int], T],
    lake: lakes.LakeCatalog | None = None,
) -> T:
    """``work(cursor, lake_key, snapshot_id)`` in one read transaction on a fresh cursor of the
    held lake connection (``LakeCatalog.from_env()`` by default)."""
    lake = lake or lakes.LakeCatalog.from_env()
    held, cursor = _acquire_lake(lake)
    try:
        cursor.execute(f"USE {lakes.LAKE_ALIAS}")
        cursor.execute(f"SET search_path = '{held.search_path}'")
        # One transaction: the snapshot id (the cache key), the table check and the query all
        # read the same committed state, whatever the writers commit meanwhile.
        cursor.execute("BEGIN TRANSACTION")
        return work(cursor, _lake_key(lake), _lake_snapshot_id(cursor))
    except duckdb.CatalogException as exc:
        raise SnapshotUnavailable(
            f"The lake lacks a table this page needs ({exc}). {LAKE_HINT}"
        ) from exc
    except (duckdb.IOException, duckdb.ConnectionException, duckdb.InternalException) as exc:
        _drop_lake(held)
        raise SnapshotUnavailable(
            f"Reading the lake failed: {lakes.redact(str(exc))}. Try again; if it persists, check "
            "that its PostgreSQL catalog is reachable (RUNWAY_LAKE_CATALOG)."
        ) from exc
    finally:
        # Read-only: nothing to commit. Fails harmlessly when BEGIN did or the connection broke.
        with contextlib.suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
        _release(held, cursor)


def _lake_query(name: str, params: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    sql = query_sql(name)

    def work(cursor, lake_key: str, snapshot_id: int) -> pd.DataFrame:
        present = _cached_lake_tables(lake_key, snapshot_id, cursor)
        # The snapshot's derived tables are views here, answerable when their sources are.
        present |= {
            f"{schema}.{table}"
            for (schema, table), (sources, _) in derived.DERIVED_TABLES.items()
            if {f"{s}.{t}" for s, t in sources} <= present
        }
        missing = sorted(required_tables(sql) - present)
        if missing:
            names = ", ".join(f"`{t}`" for t in missing)
            raise LakeTableMissing(
                missing, f"The lake has no {names} table yet (snapshot {snapshot_id}). {LAKE_HINT}"
            )
        return _cached_lake_query(name, lake_key, snapshot_id, params, cursor)

    return _on_lake(work)


def run_lake_sql(
    sql: str,
    params: Mapping[str, Any] | None = None,
    lake: lakes.LakeCatalog | None = None,
) -> pd.DataFrame:
    """Run ``sql`` on the lake's latest committed snapshot, uncached, on a cursor of the
    connection held for the lake (``LakeCatalog.from_env()`` by default): ``run_sql``'s twin
    for the lake target (benchmarks, tools). ``params`` are bound as in ``run_sql``."""

    def work(cursor, _lake_key: str, _snapshot_id: int) -> pd.DataFrame:
        _bind_variables(cursor, params or {})
        return cursor.execute(sql).df()

    return _on_lake(work, lake)


def lake_version(lake: lakes.LakeCatalog | None = None) -> LakeVersion:
    """The lake's latest committed snapshot (for the app's sidebar: "as of commit N")."""

    def work(cursor, _lake_key: str, snapshot_id: int) -> LakeVersion:
        (committed_at,) = cursor.execute(
            f"select snapshot_time from {lakes.LAKE_ALIAS}.snapshots() where snapshot_id = ?",
            [snapshot_id],
        ).fetchone()
        return LakeVersion(snapshot_id, committed_at.astimezone(UTC))

    return _on_lake(work, lake)


def run_failures() -> pd.DataFrame | None:
    """Failed pipeline runs, newest first (``queries/run_failures.sql``), or None if none known.

    Read from the alerts file (``settings.load().alerts_path``) that the run-failure sensor
    rewrites atomically beside the snapshot, so a failure shows before the next publish (and when
    publishing is what fails); without that file, from the snapshot's copy. Cached per version of
    the file read, like ``query``.
    """
    path = settings.load().alerts_path
    try:
        stat = path.stat()
    except FileNotFoundError:
        try:
            return query("run_failures")
        except SnapshotUnavailable:  # no snapshot, or one published before alerts existed
            return None
    return _cached_query("run_failures", str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size, ())


def load(name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """For pages: ``query(name, params)``; when it is unavailable, say what to run and stop.

    Pages handle this themselves (not only the entrypoint) so that every page explains itself.
    """
    try:
        return query(name, params)
    except SnapshotUnavailable as exc:
        st.info(str(exc), icon=":material/info:")
        st.stop()


def optional_load(name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame | None:
    """For one section of a page: ``query(name, params)``, or None after an ``st.info`` saying
    which table the snapshot lacks; the rest of the page goes on. No snapshot at all still stops
    the page."""
    try:
        return query(name, params)
    except TableMissing as exc:
        st.info(str(exc), icon=":material/info:")
        return None
    except SnapshotUnavailable as exc:
        st.info(str(exc), icon=":material/info:")
        st.stop()


def clear_cache() -> None:
    """Drop every cached query result (tests; a manual refresh)."""
    _cached_query.clear()
    _cached_tables.clear()
    _cached_lake_query.clear()
    _cached_lake_tables.clear()
