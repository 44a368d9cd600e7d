"""The lake's PostgreSQL: DuckLake's catalog, Dagster's instance storage and MLflow's store.

On the `lake` target (``RUNWAY_TARGET=lake``, docs/scale-out.md) one PostgreSQL server holds
three databases. They are separate databases on the same server, not schemas of one: Dagster and
MLflow each run their own migrations (alembic) and both name a table ``alembic_version``.

- the lake's catalog: the ``dbname`` of ``RUNWAY_LAKE_CATALOG`` (default ``runway_lake``)
- Dagster's runs, event log and schedules: ``RUNWAY_DAGSTER_DB`` (default ``runway_dagster``)
- MLflow's tracking store and model registry: ``RUNWAY_MLFLOW_DB`` (default ``runway_mlflow``)

The server (host, port, user, password, sslmode, ...) is the one in ``RUNWAY_LAKE_CATALOG``, a
libpq string (``key=value ...`` or a ``postgresql://`` URI): there is no second place to set it.
Dagster and MLflow get SQLAlchemy URLs with the ``postgresql+psycopg2`` scheme: with SQLAlchemy
2.1 a bare ``postgresql://`` means the psycopg (3) driver, which is not installed.

``$DAGSTER_HOME/dagster.yaml`` cannot compute a URL, so on `lake` it is ``dagster.yaml`` plus
``dagster_postgres.yaml`` (same pools, run coordinator, telemetry; ``dagster_yaml()``), and the
latter reads the URL from ``RUNWAY_DAGSTER_POSTGRES_URL``, which ``make`` exports from this module
(``python -m orchestration.postgres dagster-url``); a process started another way must set it
(``dagster_env()``). MLflow needs nothing: ``settings.load()`` derives its tracking URI here
(``MLFLOW_TRACKING_URI`` still overrides).

Standard library only, except psycopg2 to create the databases: `make` runs this module with the
system Python before the venv exists.

    python -m orchestration.postgres              # create the missing databases (idempotent)
    python -m orchestration.postgres dagster-url  # Dagster's storage URL
    python -m orchestration.postgres mlflow-url   # MLflow's tracking URI
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

# The lake catalog when RUNWAY_LAKE_CATALOG is unset; lake.py imports it from here (this module
# must not import duckdb: `make` runs it with the system Python, before the venv exists).
DEFAULT_CATALOG = "dbname=runway_lake host=127.0.0.1 port=5432 user=postgres"
DEFAULT_DAGSTER_DB = "runway_dagster"
DEFAULT_MLFLOW_DB = "runway_mlflow"
DAGSTER_URL_VAR = "RUNWAY_DAGSTER_POSTGRES_URL"
SCHEME = "postgresql+psycopg2"

ORCHESTRATION_DIR = Path(__file__).resolve().parent
DAGSTER_YAML = ORCHESTRATION_DIR / "dagster.yaml"
DAGSTER_POSTGRES_YAML = ORCHESTRATION_DIR / "dagster_postgres.yaml"

# libpq keywords that go into a URL's authority and path; any other one becomes a query parameter.
_URL_PARTS = ("host", "port", "user", "password", "dbname")


def parse_conninfo(conninfo: str) -> dict[str, str]:
    """The keywords of a libpq connection string: ``key=value ...`` or a ``postgresql://`` URI.

    Follows libpq's rules for the keyword form: spaces around ``=`` allowed, a value in single
    quotes may hold spaces, a backslash escapes the next character.
    """
    text = conninfo.strip()
    if text.startswith(("postgresql://", "postgres://")):
        return _parse_uri(text)
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            break
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i == n or text[i] != "=":
            raise ValueError(f"not a libpq connection string (expected key=value): {conninfo!r}")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            if i == n:
                raise ValueError(f"unterminated quoted value in {conninfo!r}")
            i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
        params[key] = "".join(value)
    return params


def _parse_uri(uri: str) -> dict[str, str]:
    parts = urlsplit(uri)
    params: dict[str, str] = {}
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    if parts.hostname:
        params["host"] = unquote(parts.hostname)
    if parts.port:
        params["port"] = str(parts.port)
    if parts.path.strip("/"):
        params["dbname"] = unquote(parts.path.lstrip("/"))
    params.update(parse_qsl(parts.query))
    return params


def _quote_value(value: str) -> str:
    if value and not any(c.isspace() or c in "'\\" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class LakePostgres:
    """The lake's PostgreSQL server (libpq keywords without ``dbname``) and its three databases."""

    server: Mapping[str, str]
    lake_db: str
    dagster_db: str
    mlflow_db: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LakePostgres:
        environ = os.environ if environ is None else environ
        params = parse_conninfo(environ.get("RUNWAY_LAKE_CATALOG") or DEFAULT_CATALOG)
        lake_db = params.pop("dbname", "") or params.get("user") or "postgres"
        return cls(
            server=params,
            lake_db=lake_db,
            dagster_db=environ.get("RUNWAY_DAGSTER_DB") or DEFAULT_DAGSTER_DB,
            mlflow_db=environ.get("RUNWAY_MLFLOW_DB") or DEFAULT_MLFLOW_DB,
        )

    @property
    def databases(self) -> tuple[str, ...]:
        """The lake's, Dagster's and MLflow's databases (no duplicates), in that order."""
        return tuple(dict.fromkeys((self.lake_db, self.dagster_db, self.mlflow_db)))

    def conninfo(self, dbname: str) -> str:
        """A libpq string for ``dbname`` on the server (what psycopg2 and DuckLake take)."""
        params = {**self.server, "dbname": dbname}
        return " ".join(f"{key}={_quote_value(value)}" for key, value in params.items())

    def url(self, dbname: str) -> str:
        """A SQLAlchemy URL for ``dbname`` on the server, driver psycopg2."""
        server = dict(self.server)
        host = server.get("host", "")
        query = {key: value for key, value in server.items() if key not in _URL_PARTS}
        # A socket directory or a list of hosts cannot be a URL's host: libpq takes it as a param.
        if host.startswith("/") or "," in host:
            query["host"] = host
            host = ""
        elif ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        port = server.get("port", "")
        if port and not host:
            query["port"] = port
            port = ""
        userinfo = quote(server.get("user", ""), safe="")
        if server.get("password"):
            userinfo += ":" + quote(server["password"], safe="")
        netloc = (userinfo + "@" if userinfo else "") + host + (":" + port if port else "")
        url = f"{SCHEME}://{netloc}/{quote(dbname, safe='')}"
        return url + ("?" + urlencode(query) if query else "")

    @property
    def lake_catalog(self) -> str:
        return self.conninfo(self.lake_db)

    @property
    def dagster_url(self) -> str:
        return self.url(self.dagster_db)

    @property
    def mlflow_url(self) -> str:
        return self.url(self.mlflow_db)

    def connect(self, dbname: str):
        import psycopg2

        con = psycopg2.connect(self.conninfo(dbname))
        con.autocommit = True
        return con

    def create_databases(self) -> list[str]:
        """Create whichever of the three databases is missing; return the ones created.

        Idempotent, and safe against a concurrent caller: a database created meanwhile by
        someone else counts as there. Connects to the server's ``postgres`` database (or
        ``template1`` where there is none), so the user needs CREATEDB.
        """
        import psycopg2
        from psycopg2 import errors, sql

        try:
            con = self.connect("postgres")
        except psycopg2.OperationalError as error:
            if "does not exist" not in str(error):
                raise
            con = self.connect("template1")
        created = []
        try:
            cur = con.cursor()
            for dbname in self.databases:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
                if cur.fetchone():
                    continue
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                except (errors.DuplicateDatabase, errors.UniqueViolation):
                    continue  # created by a concurrent caller between the check and here
                created.append(dbname)
        finally:
            con.close()
        return created


def dagster_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a process that opens the lake's Dagster instance needs in its environment."""
    return {DAGSTER_URL_VAR: LakePostgres.from_env(environ).dagster_url}


def dagster_yaml(target: str) -> str:
    """``$DAGSTER_HOME/dagster.yaml`` for ``target``: as ``make`` writes it (``cat``).

    Every target shares ``dagster.yaml``; `lake` appends ``dagster_postgres.yaml`` (only the
    ``storage`` key), so the common settings have one copy.
    """
    text = DAGSTER_YAML.read_text()
    if target == "lake":
        text += DAGSTER_POSTGRES_YAML.read_text()
    return text


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "create"
    lake = LakePostgres.from_env()
    if command == "dagster-url":
        print(lake.dagster_url)
    elif command == "mlflow-url":
        print(lake.mlflow_url)
    elif command == "create":
        created = lake.create_databases()
        where = " ".join(f"{k}={v}" for k, v in lake.server.items() if k != "password")
        print(
            f"PostgreSQL ({where}): databases {', '.join(lake.databases)}"
            + (f"; created {', '.join(created)}" if created else ": all there")
        )
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
