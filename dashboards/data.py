"""The dashboards' only data access: named SQL queries over the serving snapshot.

Rules (see docs/architecture.md, "Serving snapshot"):

- Read only the serving snapshot (``settings.load().snapshot_path``), never the warehouse.
- One short-lived ``read_only`` DuckDB connection per query, closed before returning, so the
  pipeline can swap a new snapshot in with ``os.replace`` at any time.
- Every query is a file ``dashboards/queries/<name>.sql``: a plain ``SELECT`` named for the
  result it returns, usable unchanged as an Evidence source query.
- Results are cached with ``st.cache_data`` keyed on the snapshot file's identity (inode, mtime,
  size), so a newly published snapshot is picked up on the next rerun without clearing caches.

Pages call ``load("<name>")`` and get a pandas DataFrame; when there is no snapshot yet, it shows an
``st.info`` telling the user to run ``make run`` and stops the page. ``query("<name>")`` is the
same without the UI: it raises ``SnapshotUnavailable``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from orchestration import settings

QUERIES_DIR: Path = settings.DASHBOARD_QUERIES_DIR

MISSING_SNAPSHOT_HINT = "Run `make run` to build the pipeline and publish the snapshot."

# DuckDB shares one database instance per file path inside a process. Serialising our (short,
# cached) queries guarantees the previous connection is closed before the next one opens, so a
# connection always opens the file currently at the path, never an instance of a replaced file.
_CONNECT_LOCK = threading.Lock()


class SnapshotUnavailable(RuntimeError):
    """The serving snapshot is missing (or lacks a table a query needs)."""


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


def snapshot_version() -> SnapshotVersion | None:
    """The published snapshot's identity, or None when there is no snapshot yet."""
    path = snapshot_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return SnapshotVersion(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


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


def run_sql(sql: str, path: Path | str) -> pd.DataFrame:
    """Run ``sql`` on the snapshot at ``path`` with a connection that lives for this call only."""
    if not os.path.exists(path):
        raise SnapshotUnavailable(missing_snapshot_message(path))
    with _CONNECT_LOCK:
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if os.path.exists(path):
                raise
            # removed between the check and the open
            raise SnapshotUnavailable(missing_snapshot_message(path)) from exc
        try:
            return con.execute(sql).df()
        except duckdb.CatalogException as exc:
            raise SnapshotUnavailable(
                f"The serving snapshot at `{path}` lacks a table this page needs ({exc}). "
                f"{MISSING_SNAPSHOT_HINT}"
            ) from exc
        finally:
            con.close()


@st.cache_data(show_spinner=False, max_entries=128)
def _cached_query(name: str, path: str, inode: int, mtime_ns: int, size: int) -> pd.DataFrame:
    # inode/mtime_ns/size are only the cache key: a replaced snapshot gives a new key.
    return run_sql(query_sql(name), path)


def query(name: str) -> pd.DataFrame:
    """Result of ``queries/<name>.sql`` on the current snapshot (cached per snapshot version).

    Raises ``SnapshotUnavailable`` when no snapshot has been published yet.
    """
    version = snapshot_version()
    if version is None:
        raise SnapshotUnavailable(missing_snapshot_message())
    return _cached_query(name, version.path, version.inode, version.mtime_ns, version.size)


def load(name: str) -> pd.DataFrame:
    """For pages: ``query(name)``; when the snapshot is unavailable, say how to get one and stop.

    Pages handle this themselves (not only the entrypoint) because Streamlit can run a file of
    a page file on its own (``AppTest.switch_page``).
    """
    try:
        return query(name)
    except SnapshotUnavailable as exc:
        st.info(str(exc), icon=":material/info:")
        st.stop()


def clear_cache() -> None:
    """Drop every cached query result (tests; a manual refresh)."""
    _cached_query.clear()
