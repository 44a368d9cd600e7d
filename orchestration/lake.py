"""DuckLake: the warehouse as Parquet files under a data path, catalogued in PostgreSQL.

The `lake` target of the scale-out path (docs/scale-out.md). Plain Python, no Dagster import,
so assets, dbt profiles, dashboards and tests can all open the lake the same way.

Offline extensions: DuckDB's ``ducklake`` and ``postgres_scanner`` extensions come from the pinned
PyPI wheels ``duckdb-extension-ducklake`` and ``duckdb-extension-postgres-scanner`` (1.5.5, the
DuckDB-signed binaries repackaged). Each wheel ships one file,
``<package>/extensions/v<duckdb version>/<name>.duckdb_extension``. ``install_extensions`` copies
them into a project-local extension directory with ``INSTALL '<file>'`` (the signature is checked
there and again at every load), and every connection is opened with automatic install off and
unsigned extensions refused, so nothing is ever downloaded and nothing unsigned runs.

Environment variables (all optional):

- ``RUNWAY_DUCKDB_EXTENSION_DIR``: the extension directory (default: ``<repo>/.duckdb_extensions``)
- ``RUNWAY_LAKE_CATALOG``: the PostgreSQL catalog as a libpq string
  (default: ``dbname=runway_lake host=127.0.0.1 port=5432 user=postgres``)
- ``RUNWAY_LAKE_DATA_PATH``: where the Parquet files go (default: ``$RUNWAY_DATA_DIR/lake``; an
  ``s3://`` URL in production)
- ``RUNWAY_LAKE_MEMORY_LIMIT``: DuckDB's ``memory_limit`` for lake connections (default 4GB;
  beyond it DuckDB spills to ``.tmp/`` in the working directory)

Create a new lake from one process first (``connect_lake`` once, and its schemas), then start
parallel writers: two processes initialising an empty catalog at once collide on DuckLake's
metadata tables, and two first ``CREATE SCHEMA IF NOT EXISTS`` of one name conflict.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

from orchestration import settings
from orchestration.postgres import DEFAULT_CATALOG  # one default for make and the code

T = TypeVar("T")

LAKE_ALIAS = "lake"
# A libpq `password=...` in a catalog string (DuckDB's errors echo the catalog).
_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)
# extension name -> the PyPI package (pinned in pyproject.toml) that ships its signed binary
EXTENSION_PACKAGES: dict[str, str] = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}

# Text DuckLake puts in the error when a commit loses to a concurrent one on the same data.
CONFLICT_MARKERS = ("Transaction conflict", "Failed to commit DuckLake transaction")
DEFAULT_MEMORY_LIMIT = "4GB"


def default_extension_dir() -> Path:
    value = os.environ.get("RUNWAY_DUCKDB_EXTENSION_DIR")
    return (
        Path(value).expanduser().resolve() if value else settings.REPO_ROOT / ".duckdb_extensions"
    )


def locked_config(extension_dir: Path | None = None) -> dict[str, str | bool]:
    """DuckDB config for every connection: project-local extensions, no download, signed only.

    These must be given at connect time: ``allow_unsigned_extensions`` cannot change once the
    database runs. Also usable as dbt-duckdb's ``config_options``.
    """
    return {
        "extension_directory": str(extension_dir or default_extension_dir()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_unsigned_extensions": False,
        "memory_limit": memory_limit(),
    }


def memory_limit() -> str:
    """DuckDB's memory bound for a lake connection: ``$RUNWAY_LAKE_MEMORY_LIMIT``, else 4GB.

    DuckDB's default (80 % of the machine's RAM, per process) lets every dbt process, run worker
    and reader on a box believe it owns the memory. Under host memory pressure DuckDB 1.5.5 with
    the ducklake extension then fails natively ("Out of Memory Error: Allocation failure", seen
    in CI with two lake runs at once; duckdb/duckdb#24965), where a bound makes it spill to its
    temporary directory instead. profiles.yml's `lake` output reads the same variable.
    """
    return os.environ.get("RUNWAY_LAKE_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)


def wheel_extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` binary that the PyPI wheel for ``name`` ships."""
    package = EXTENSION_PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"{package} is not installed: it ships the {name} extension for DuckDB "
            f"{duckdb.__version__} (pin it to the same version as duckdb)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        shipped = sorted(p.name for p in (root / "extensions").glob("v*"))
        raise FileNotFoundError(
            f"{package} has no build for DuckDB {duckdb.__version__} (it ships {shipped}): "
            "pin it to the duckdb version"
        )
    return path


def install_extensions(extension_dir: Path | None = None) -> Path:
    """Install the wheel-shipped extensions into ``extension_dir`` (idempotent); return it.

    ``INSTALL '<file>'`` refuses a file whose signature is not DuckDB's. Run it once before
    starting parallel writers (make install, a test fixture): concurrent installs would race on
    the same files.
    """
    extension_dir = extension_dir or default_extension_dir()
    extension_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config=locked_config(extension_dir))
    try:
        installed = {
            name: path
            for name, path in con.execute(
                "SELECT extension_name, installed_from FROM duckdb_extensions() WHERE installed"
            ).fetchall()
        }
        for name in EXTENSION_PACKAGES:
            source = str(wheel_extension_file(name))
            if installed.get(name) != source:
                con.execute(f"FORCE INSTALL '{_quote(source)}'")
    finally:
        con.close()
    return extension_dir


def connect(extension_dir: Path | None = None, database: str = ":memory:"):
    """A DuckDB connection with the lake extensions loaded from ``extension_dir`` only."""
    con = duckdb.connect(database, config=locked_config(extension_dir))
    for name in EXTENSION_PACKAGES:
        con.execute(f"LOAD {name}")
    return con


@dataclass(frozen=True)
class LakeCatalog:
    """Where a DuckLake lives: its PostgreSQL catalog (libpq string) and its data path."""

    catalog: str
    data_path: str

    @classmethod
    def from_env(cls) -> LakeCatalog:
        return cls(
            catalog=os.environ.get("RUNWAY_LAKE_CATALOG", DEFAULT_CATALOG),
            data_path=os.environ.get("RUNWAY_LAKE_DATA_PATH")
            or str(settings.load().data_dir / "lake"),
        )

    @property
    def uri(self) -> str:
        return f"ducklake:postgres:{self.catalog}"

    def attach_sql(self, alias: str = LAKE_ALIAS, read_only: bool = False) -> str:
        # A trailing slash keeps DuckLake from writing files beside the folder instead of in it.
        data_path = self.data_path if self.data_path.endswith("/") else self.data_path + "/"
        options = f"DATA_PATH '{_quote(data_path)}'" + (", READ_ONLY" if read_only else "")
        return f"ATTACH IF NOT EXISTS '{_quote(self.uri)}' AS {alias} ({options})"

    def dbt_output(
        self, extension_dir: Path | None = None, alias: str = LAKE_ALIAS, threads: int = 2
    ) -> dict:
        """The dbt-duckdb profile output that builds into this lake (what profiles.yml needs).

        dbt-duckdb runs an in-memory DuckDB with the lake attached and set as ``database``;
        ``config_options`` carries the locked config, and no ``extensions:`` list is given
        (dbt-duckdb would call INSTALL on them): attaching a ``ducklake:`` path loads the
        installed extensions itself.
        """
        data_path = self.data_path if self.data_path.endswith("/") else self.data_path + "/"
        return {
            "type": "duckdb",
            "path": ":memory:",
            "database": alias,
            "schema": "main",
            "threads": threads,
            "config_options": locked_config(extension_dir),
            "attach": [
                {"path": self.uri, "alias": alias, "options": {"data_path": data_path}},
            ],
        }


def connect_lake(
    lake: LakeCatalog,
    extension_dir: Path | None = None,
    alias: str = LAKE_ALIAS,
    read_only: bool = False,
):
    """An in-memory DuckDB connection with the lake attached as ``alias`` and in use."""
    con = connect(extension_dir)
    try:
        con.execute(lake.attach_sql(alias, read_only=read_only))
        con.execute(f"USE {alias}")
    except BaseException:
        con.close()
        raise
    return con


def is_transaction_conflict(exc: BaseException) -> bool:
    """True when ``exc`` is DuckLake refusing a commit that conflicts with a concurrent one."""
    return isinstance(exc, duckdb.Error) and any(m in str(exc) for m in CONFLICT_MARKERS)


def retry_on_conflict(
    work: Callable[[], T],
    attempts: int = 8,
    first_wait: float = 0.1,
    max_wait: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run ``work`` (one whole transaction), re-running it on a DuckLake transaction conflict.

    DuckLake retries a losing commit by itself only when the two changes do not overlap; two
    delete+insert transactions on the same table do overlap, so the loser must redo its work
    on the new snapshot. Waits grow exponentially with full jitter so that two losers do not
    collide again in lockstep. Other errors are raised at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except duckdb.Error as exc:
            if not is_transaction_conflict(exc) or attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(random.uniform(0, min(max_wait, first_wait * 2 ** (attempt - 1))))
    raise AssertionError("unreachable")


def _quote(value: str) -> str:
    return value.replace("'", "''")


if __name__ == "__main__":  # `make install`: the extensions, from the wheels, before any writer
    print(f"DuckDB extensions installed in {install_extensions()}")


def redact(text: str) -> str:
    """``text`` with any libpq ``password=...`` blanked: for messages that name a catalog."""
    return _PASSWORD.sub(r"\1***", text)
