"""Point Evidence's source ``runway`` at the current target's data; print its ``filename`` option.

``make evidence`` runs this before ``npm run sources`` and passes what it prints to the
connector as ``EVIDENCE_SOURCE__runway__filename``. Messages go to stderr; exit status 1 (with
the reason) when there is nothing to read.

- Default target (``RUNWAY_TARGET`` unset or ``duckdb``): the serving snapshot, the file the
  app reads (``settings.load().snapshot_path``), given relative to the source folder (the
  connector joins it to that folder, so an absolute path does not work). A leftover
  ``initialize.sql`` from a lake run is removed: the source is then exactly the snapshot file.
- ``RUNWAY_TARGET=lake``: the DuckLake itself, read-only, as the app reads it
  (``dashboards/data.py``). The connector opens ``:memory:`` and first runs
  ``sources/runway/initialize.sql``, written here: the project's signed extensions only
  (``RUNWAY_DUCKDB_EXTENSION_DIR``, nothing downloaded), the lake attached ``READ_ONLY``
  (``RUNWAY_LAKE_CATALOG``, ``RUNWAY_LAKE_DATA_PATH``), the views that stand in for tables only
  the snapshot has (``orchestration/snapshot_tables.py``, the same definitions the app uses), and
  the serving snapshot attached ``READ_ONLY`` for the ``meta.*`` tables, which only it holds.
  The lake is opened here first, by Python's DuckDB, to check it can be read and to see which
  views its tables allow; the connector swallows ``initialize.sql``'s errors, so
  ``check-source.mjs`` (npm's presources step) runs the script once more on Evidence's own
  DuckDB and stops on any error.

The file holds the catalog string as given (password included, as in the environment): it is
git-ignored (``sources/runway/*.sql``) and written readable by its owner only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb

from orchestration import lake as lakes
from orchestration import settings
from orchestration import snapshot_tables as derived

SOURCE_DIR = Path(__file__).resolve().parent / "sources" / "runway"
INIT_FILE = "initialize.sql"
# The connector's `filename` for a source without a file: an in-memory DuckDB (read-write, so
# initialize.sql can define views in it).
IN_MEMORY = ":memory:"
SNAPSHOT_ALIAS = "snapshot"
# Tables only the serving snapshot holds on the lake target (as dashboards/data.py).
SNAPSHOT_ONLY_SCHEMAS = ("meta",)


class SourceUnavailable(RuntimeError):
    """There is nothing for the source to read (no snapshot, or a lake that cannot be opened)."""


def _quote(value: str) -> str:
    return value.replace("'", "''")


def lake_init_sql(
    lake: lakes.LakeCatalog,
    extension_dir: Path,
    views: dict[tuple[str, str], str],
    search_path: str,
    snapshot: Path | None,
) -> str:
    """The ``initialize.sql`` that makes a connector's in-memory DuckDB read ``lake``.

    ``views``: (schema, table) -> SELECT of each stand-in view (defined in the in-memory catalog);
    ``search_path``: the lake's entries then the views' (``add_derived_views``); ``snapshot``: the
    serving snapshot for the ``meta`` schema, or None. Ordered so that a snapshot that cannot be
    attached (replaced or deleted since) costs the ``meta`` queries only.
    """
    lines = [
        "-- Written by dashboards/evidence/source_setup.py (make evidence, RUNWAY_TARGET=lake);",
        "-- git-ignored: it holds the lake's catalog string. Evidence's DuckDB connector runs it",
        "-- before every query of this source. Regenerate it, do not edit it.",
        # Extensions from the project's directory only, the signed files Python's DuckDB uses
        # (built for one DuckDB version: package.json pins Evidence's to Python's).
        "SET autoinstall_known_extensions = false;",
        "SET autoload_known_extensions = false;",
        f"SET extension_directory = '{_quote(str(extension_dir))}';",
        *(f"LOAD {name};" for name in lakes.EXTENSION_PACKAGES),
        f"{lake.attach_sql(lakes.LAKE_ALIAS, read_only=True)};",
    ]
    # Every schema of the derived tables, as add_derived_views makes them: the search path names
    # them all, and SET refuses a schema that does not exist.
    for schema in sorted({schema for schema, _ in derived.DERIVED_TABLES}):
        lines.append(f"CREATE SCHEMA IF NOT EXISTS memory.{schema};")
    for (schema, table), select in views.items():
        body = "\n".join(line.rstrip() for line in select.strip().splitlines())
        lines.append(f"CREATE OR REPLACE VIEW memory.{schema}.{table} AS\n{body};")
    # USE first: it resets the search path.
    lines += [f"USE {lakes.LAKE_ALIAS};", f"SET search_path = '{_quote(search_path)}';"]
    if snapshot is not None:
        meta = ",".join(f"{SNAPSHOT_ALIAS}.{schema}" for schema in SNAPSHOT_ONLY_SCHEMAS)
        lines += [
            f"ATTACH IF NOT EXISTS '{_quote(str(snapshot))}' AS {SNAPSHOT_ALIAS} (READ_ONLY);",
            f"SET search_path = '{_quote(search_path)},{meta}';",
        ]
    return "\n".join(lines) + "\n"


def _snapshot_with_meta(snapshot: Path) -> bool:
    """Whether the snapshot file exists and holds every snapshot-only schema."""
    if not snapshot.is_file():
        return False
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{_quote(str(snapshot))}' AS {SNAPSHOT_ALIAS} (READ_ONLY)")
        schemas = {
            name
            for (name,) in con.execute(
                "select schema_name from duckdb_schemas() where database_name = ?",
                [SNAPSHOT_ALIAS],
            ).fetchall()
        }
    except duckdb.Error:
        return False
    finally:
        con.close()
    return set(SNAPSHOT_ONLY_SCHEMAS) <= schemas


def lake_setup(
    lake: lakes.LakeCatalog, extension_dir: Path, snapshot: Path
) -> tuple[str, list[str]]:
    """``initialize.sql`` for ``lake`` as it is now, and notes on what it lacks.

    Raises ``SourceUnavailable`` (catalog named, password hidden) when the lake cannot be read.
    """
    where = f"catalog `{lakes.redact(lake.catalog)}`, data path `{lake.data_path}`"
    try:
        con = lakes.connect_lake(lake, extension_dir, read_only=True)
    except duckdb.Error as exc:
        raise SourceUnavailable(
            f"Cannot open the lake ({where}): {lakes.redact(str(exc))}. Run the pipeline with "
            "`RUNWAY_TARGET=lake` (`make run`) to build it."
        ) from exc
    notes = []
    try:
        # The app's own definitions: views in this connection's in-memory catalog, and the search
        # path that finds the lake's table first, else the view.
        search_path, complete = derived.add_derived_views(con, lakes.LAKE_ALIAS)
        defined = set(
            con.execute(
                "select schema_name, view_name from duckdb_views() "
                "where database_name = 'memory' and not internal"
            ).fetchall()
        )
    finally:
        con.close()
    views = {
        key: sql.format(db=f"{lakes.LAKE_ALIAS}.")
        for key, (_, sql) in derived.DERIVED_TABLES.items()
        if key in defined
    }
    if not complete:
        missing = sorted(f"{s}.{t}" for s, t in derived.DERIVED_TABLES if (s, t) not in defined)
        notes.append(
            f"the lake lacks the tables behind {', '.join(missing)}: the queries reading it fail "
            "(run the pipeline, then make evidence again)"
        )
    with_meta = _snapshot_with_meta(snapshot)
    if not with_meta:
        notes.append(
            f"no serving snapshot with {', '.join(SNAPSHOT_ONLY_SCHEMAS)} tables at `{snapshot}`: "
            "the queries reading them fail (the publish asset writes it on the lake target too)"
        )
    sql = lake_init_sql(lake, extension_dir, views, search_path, snapshot if with_meta else None)
    return sql, notes


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC


def prepare(source_dir: Path = SOURCE_DIR) -> str:
    """Set ``source_dir`` up for the current target; return the connector's ``filename``."""
    init = source_dir / INIT_FILE
    snapshot = settings.load().snapshot_path
    if settings.dbt_target() != "lake":
        init.unlink(missing_ok=True)
        if not snapshot.is_file():
            raise SourceUnavailable(f"No serving snapshot at {snapshot}: run `make run` first.")
        print(f"Evidence source runway = the serving snapshot {snapshot}", file=sys.stderr)
        return os.path.relpath(snapshot, source_dir)
    lake = lakes.LakeCatalog.from_env()
    sql, notes = lake_setup(lake, lakes.default_extension_dir(), snapshot)
    _write_private(init, sql)
    print(
        f"Evidence source runway = the lake (catalog `{lakes.redact(lake.catalog)}`, data path "
        f"`{lake.data_path}`), read-only, through {init}",
        file=sys.stderr,
    )
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    return IN_MEMORY


if __name__ == "__main__":
    try:
        print(prepare())
    except SourceUnavailable as exc:
        sys.exit(f"Evidence source runway: {exc}")
