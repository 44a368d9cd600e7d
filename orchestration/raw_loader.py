"""Load landing-zone CSV files into the warehouse's `raw` schema, validating them first.

Plain DuckDB code, no Dagster: the ingest assets (``orchestration/ingest.py``) call it. The landing
zone contract it enforces is written down in ``docs/landing_zone.md``. A load has three phases:

1. **Validate** each file in Python, before DuckDB sees it: the file is not empty, a ``.gz`` file
   decompresses, the header is exactly the declared column names in order (after an optional
   UTF-8 BOM; CRLF line endings are fine), a day file's name is a day of the partition range. The
   same pass finds where every record starts (its physical line), so that ``_source_row`` is the
   true line number of each loaded row even when other rows are rejected.
2. **Read** each valid file with its declared schema (no type sniffing: a sniffed file silently
   degrades to VARCHAR on one bad value) and DuckDB's ``store_rejects``: rows that do not parse
   (bad number, impossible timestamp, wrong field count, invalid UTF-8) are set aside with their
   line, column and reason. Rows that parse but break the schema's rules (a required column is
   empty; the row's year/month/day is not the file's day) are set aside too.
3. **Commit** the good files in one transaction: each loaded day's rows, rejects and audit row are
   replaced, so loading the same days again leaves every table identical.

A file that fails validation is moved to the quarantine folder (same relative path as in the
landing zone) with a ``<file>.reason`` text file beside it and a row in ``raw.quarantined_files``;
it loads nothing, and the rows an earlier good delivery of that day put in ``raw`` stay as they
were. The other files of the same load still load: one bad day does not hold back the rest. The
problems come back in the report (``LoadReport.problems``) for the caller to fail the run with.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import gzip
import hashlib
import io
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from orchestration import lake

# numpy and pyarrow are imported by the functions that read and commit files, not here: the
# ingest assets and the landing-zone sensor import this module at definitions load (for the
# declared schemas), and the code location must load without them (issue #8).
if TYPE_CHECKING:
    import pyarrow as pa

# Declared schemas of the landing files (column order as the upstream ships them).
FLIGHTS_COLUMNS: dict[str, str] = {
    "year": "INTEGER",
    "month": "INTEGER",
    "day": "INTEGER",
    "dep_time": "INTEGER",
    "sched_dep_time": "INTEGER",
    "dep_delay": "DOUBLE",
    "arr_time": "INTEGER",
    "sched_arr_time": "INTEGER",
    "arr_delay": "DOUBLE",
    "carrier": "VARCHAR",
    "flight": "INTEGER",
    "tailnum": "VARCHAR",
    "origin": "VARCHAR",
    "dest": "VARCHAR",
    "air_time": "DOUBLE",
    "distance": "DOUBLE",
    "hour": "INTEGER",
    "minute": "INTEGER",
    "time_hour": "TIMESTAMP",
}
WEATHER_COLUMNS: dict[str, str] = {
    "origin": "VARCHAR",
    "year": "INTEGER",
    "month": "INTEGER",
    "day": "INTEGER",
    "hour": "INTEGER",
    "temp": "DOUBLE",
    "dewp": "DOUBLE",
    "humid": "DOUBLE",
    "wind_dir": "DOUBLE",
    "wind_speed": "DOUBLE",
    "wind_gust": "DOUBLE",
    "precip": "DOUBLE",
    "pressure": "DOUBLE",
    "visib": "DOUBLE",
    "time_hour": "TIMESTAMP",
}
AIRLINES_COLUMNS: dict[str, str] = {"carrier": "VARCHAR", "name": "VARCHAR"}
AIRPORTS_COLUMNS: dict[str, str] = {
    "faa": "VARCHAR",
    "name": "VARCHAR",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "alt": "INTEGER",
    "tz": "INTEGER",
    "dst": "VARCHAR",
    "tzone": "VARCHAR",
}
PLANES_COLUMNS: dict[str, str] = {
    "tailnum": "VARCHAR",
    "year": "INTEGER",
    "type": "VARCHAR",
    "manufacturer": "VARCHAR",
    "model": "VARCHAR",
    "engines": "INTEGER",
    "seats": "INTEGER",
    "speed": "INTEGER",
    "engine": "VARCHAR",
}

DAILY_TABLES: dict[str, dict[str, str]] = {"flights": FLIGHTS_COLUMNS, "weather": WEATHER_COLUMNS}
REFERENCE_TABLES: dict[str, dict[str, str]] = {
    "airlines": AIRLINES_COLUMNS,
    "airports": AIRPORTS_COLUMNS,
    "planes": PLANES_COLUMNS,
}
# Nullability: these columns must have a value in every row (all other columns may be null).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "flights": (
        "year",
        "month",
        "day",
        "sched_dep_time",
        "sched_arr_time",
        "carrier",
        "flight",
        "origin",
        "dest",
        "distance",
        "hour",
        "minute",
        "time_hour",
    ),
    "weather": ("origin", "year", "month", "day", "hour", "time_hour"),
    "airlines": ("carrier", "name"),
    "airports": ("faa", "name"),
    "planes": ("tailnum",),
}
LINEAGE_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "_file_hash": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}
NULL_STRINGS = ["NA", ""]
FILE_SUFFIXES = (".csv", ".csv.gz")
PREVIEW_ROWS = 5
REJECT_SAMPLE_ROWS = 5

AUDIT_DDL = (
    "CREATE TABLE IF NOT EXISTS raw.load_audit (entity VARCHAR, partition_date DATE, "
    "source_file VARCHAR, file_hash VARCHAR, file_bytes BIGINT, rows_in_file BIGINT, "
    "rows_loaded BIGINT, rows_rejected BIGINT, loaded_at TIMESTAMP, run_id VARCHAR)"
)
REJECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS raw.rejected_rows (entity VARCHAR, partition_date DATE, "
    "source_file VARCHAR, line BIGINT, column_name VARCHAR, reason VARCHAR, raw_line VARCHAR, "
    "rejected_at TIMESTAMP)"
)
QUARANTINE_DDL = (
    "CREATE TABLE IF NOT EXISTS raw.quarantined_files (source_file VARCHAR, "
    "quarantine_path VARCHAR, reason VARCHAR, quarantined_at TIMESTAMP)"
)
_DAY_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.csv(\.gz)?$")
_CAST_MESSAGE = re.compile(r"Could not convert string \"(.*)\" to '(\w+)'", re.DOTALL)
_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


class LandingFileError(Exception):
    """A load could not take every file it was asked for (the message says which and why)."""


@dataclass
class FileProblem:
    """A file (or a day without a file) that was not loaded: what is wrong and how to fix it."""

    source_file: str  # relative to the landing dir (the expected name for a missing file)
    what: str
    fix: str
    partition_date: date | None = None
    quarantine_path: Path | None = None

    def message(self) -> str:
        where = (
            f" Moved to {self.quarantine_path} (the reason is in "
            f"{self.quarantine_path.name}.reason beside it)."
            if self.quarantine_path is not None
            else ""
        )
        return f"{self.source_file}: {self.what}.{where} Fix: {self.fix}"


@dataclass
class FileLoad:
    """One file loaded into `raw`."""

    entity: str
    partition_date: date | None
    source_file: str
    file_hash: str
    file_bytes: int
    rows_in_file: int
    rows_loaded: int
    rows_rejected: int
    preview: list[dict] = field(default_factory=list)  # the first loaded rows
    reject_sample: list[dict] = field(default_factory=list)  # the first rejects

    @property
    def header_only(self) -> bool:
        return self.rows_in_file == 0


@dataclass
class LoadReport:
    table: str
    loads: list[FileLoad] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(load.rows_loaded for load in self.loads)

    @property
    def rows_rejected(self) -> int:
        return sum(load.rows_rejected for load in self.loads)

    @property
    def files(self) -> list[str]:
        return [load.source_file for load in self.loads]

    @property
    def rows_per_file(self) -> dict[str, int]:
        return {load.source_file: load.rows_loaded for load in self.loads}

    def failure_message(self) -> str | None:
        """One message naming every file that was not loaded, what is wrong and how to fix it."""
        if not self.problems:
            return None
        loaded = (
            f"the other {len(self.loads)} file(s) loaded"
            if self.loads
            else "nothing else was loaded"
        )
        lines = [
            f"{self.table}: {len(self.problems)} landing file(s) not loaded ({loaded}; nothing "
            "of the files listed here is in the warehouse, and their days keep the rows of "
            "their previous load, if any):"
        ]
        lines += [f"- {problem.message()}" for problem in self.problems]
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        message = self.failure_message()
        if message is not None:
            raise LandingFileError(message)


class _Invalid(Exception):
    """A file fails validation: ``what`` is wrong, ``fix`` says how to repair it."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what = what
        self.fix = fix


@dataclass
class _Scanned:
    """A landing file validated and scanned in Python (phase 1)."""

    path: Path
    relative: str
    file_hash: str
    file_bytes: int
    text: str  # decoded with surrogateescape: invalid UTF-8 bytes survive as lone surrogates
    # One entry per non-blank data record, in file order: DuckDB's line number for the record
    # (it counts a record spanning lines as one line) and the physical lines it occupies.
    duckdb_lines: list[int]
    first_lines: list[int]
    last_lines: list[int]
    _lines: list[str] | None = None

    def raw_line(self, first_line: int) -> str:
        """The text of the record starting on ``first_line``; invalid bytes shown as \\xNN."""
        if self._lines is None:
            self._lines = re.split(r"\r\n|\r|\n", self.text)
        last_line = self.last_lines[bisect.bisect_left(self.first_lines, first_line)]
        text = "\n".join(self._lines[first_line - 1 : last_line])
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------------------------------------
# Files and names


def daily_file(landing_dir: Path, entity: str, day: date) -> Path | None:
    """The landing file for one entity and day (``.csv`` or ``.csv.gz``), if delivered."""
    candidates = daily_files(landing_dir, entity, day)
    return candidates[0] if candidates else None


def daily_files(landing_dir: Path, entity: str, day: date) -> list[Path]:
    """Every landing file for one entity and day (more than one is a delivery error)."""
    folder = landing_dir / entity
    return [
        folder / f"{day.isoformat()}{suffix}"
        for suffix in FILE_SUFFIXES
        if (folder / f"{day.isoformat()}{suffix}").is_file()
    ]


def reference_file(landing_dir: Path, entity: str) -> Path | None:
    for suffix in FILE_SUFFIXES:
        candidate = landing_dir / f"{entity}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def day_of_file_name(name: str) -> date | None:
    """The day a daily landing file is for (``2013-01-05.csv`` → 2013-01-05), else None."""
    match = _DAY_NAME.match(name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def stray_files(landing_dir: Path, entity: str, first_day: date, last_day: date) -> list[Path]:
    """Files in ``landing/<entity>/`` whose name is not a day of [first_day, last_day].

    Hidden files (a name starting with ``.``, such as an upstream's temporary file being written)
    and folders are not deliveries and are left alone.
    """
    folder = landing_dir / entity
    if not folder.is_dir():
        return []
    strays = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        day = day_of_file_name(path.name)
        if day is None or not first_day <= day <= last_day:
            strays.append(path)
    return strays


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def days_between(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


# ---------------------------------------------------------------------------------------------
# Tables


def _table_ddl(table: str, columns: dict[str, str], daily: bool) -> str:
    all_columns = {**columns, **LINEAGE_COLUMNS}
    if daily:
        all_columns["_partition_date"] = "DATE"
    body = ", ".join(f"{name} {dtype}" for name, dtype in all_columns.items())
    return f"CREATE TABLE IF NOT EXISTS raw.{table} ({body})"


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create ``raw.<table>`` and the ingest bookkeeping tables if they do not exist yet."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    if table in DAILY_TABLES:
        con.execute(_table_ddl(table, DAILY_TABLES[table], daily=True))
    else:
        con.execute(_table_ddl(table, REFERENCE_TABLES[table], daily=False))
    for ddl in (AUDIT_DDL, REJECTS_DDL, QUARANTINE_DDL):
        con.execute(ddl)


# ---------------------------------------------------------------------------------------------
# Phase 1: validation in Python


def _expected_header(columns: dict[str, str]) -> str:
    return ",".join(columns)


def _header_problem(header: list[str], columns: dict[str, str]) -> str | None:
    expected = list(columns)
    if header == expected:
        return None
    if len(header) == 1:
        for delimiter, name in _DELIMITERS.items():
            if delimiter in header[0]:
                return (
                    f"the header is one field containing '{delimiter}': the file seems to be "
                    f"{name}-separated, but landing files are comma-separated"
                )
    missing = [name for name in expected if name not in header]
    unexpected = [name for name in header if name not in expected]
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected column(s) {', '.join(repr(n) for n in unexpected)}")
    if not parts:
        parts.append("the columns are in a different order or repeated")
    return "the header does not match the declared columns: " + "; ".join(parts)


def _scan(path: Path, relative: str, columns: dict[str, str]) -> _Scanned:
    """Validate one file and locate its records; raise _Invalid if it cannot be loaded at all."""
    raw = path.read_bytes()
    header_fix = (
        "deliver the file again with this exact first line: "
        f"{_expected_header(columns)} (a day without rows is a file with only this line)"
    )
    if not raw:
        raise _Invalid("the file is empty (0 bytes)", header_fix)
    content = raw
    if path.name.endswith(".gz"):
        try:
            content = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise _Invalid(
                f"the file is not a readable gzip file ({exc})",
                "compress the CSV with gzip again, or deliver it uncompressed as .csv",
            ) from exc
        if not content:
            raise _Invalid("the file is empty once decompressed (0 bytes)", header_fix)
    text = content.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise _Invalid("the first line is empty: the file has no header", header_fix)
    problem = _header_problem(header, columns)
    if problem is not None:
        raise _Invalid(problem, header_fix)
    duckdb_lines: list[int] = []
    first_lines: list[int] = []
    last_lines: list[int] = []
    logical = 1  # the header
    previous_end = reader.line_num
    try:
        for record in reader:
            logical += 1
            if record:  # a blank line is not a record (DuckDB skips it too, but counts it)
                duckdb_lines.append(logical)
                first_lines.append(previous_end + 1)
                last_lines.append(reader.line_num)
            previous_end = reader.line_num
    except csv.Error as exc:
        raise _Invalid(
            f"the file cannot be split into CSV records ({exc})",
            "check the quoting of the line named above and deliver the file again",
        ) from exc
    return _Scanned(
        path=path,
        relative=relative,
        file_hash=hashlib.sha256(raw).hexdigest(),
        file_bytes=len(raw),
        text=text,
        duckdb_lines=duckdb_lines,
        first_lines=first_lines,
        last_lines=last_lines,
    )


# ---------------------------------------------------------------------------------------------
# Phase 2: typed read with rejects


@dataclass
class _Reject:
    line: int  # physical line in the file, 1-based, the header is line 1
    column_name: str | None  # None: the whole line
    reason: str
    raw_line: str


@dataclass
class _FileResult:
    """One file read and checked; its good rows are in the staging table."""

    relative: str
    file_hash: str
    file_bytes: int
    rows_in_file: int
    rows_loaded: int
    partition_date: date | None
    rejects: list[_Reject]
    preview: list[dict]

    @property
    def rows_rejected(self) -> int:
        return len({reject.line for reject in self.rejects})


def _reject_reason(error_type: str, message: str) -> tuple[str, bool]:
    """A reason for humans, and whether the error concerns the whole line (not one column)."""
    if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        return f"wrong number of fields: {message}", True
    if error_type == "INVALID ENCODING":
        return f"invalid UTF-8: {message}", False
    if error_type == "CAST":
        match = _CAST_MESSAGE.search(message)
        if match:
            return f'"{match.group(1)}" is not a valid {match.group(2)}', False
        return f"value does not fit the declared type: {message}", False
    return f"{error_type.lower()}: {message}", False


# DuckDB's casts are lenient: "1.5" becomes the INTEGER 2 and a "+05:00" offset is dropped from a
# TIMESTAMP. These columns are therefore read as text and converted here, strictly: an integer is
# digits with an optional sign; a timestamp is ISO 8601 (`YYYY-MM-DD[T ]HH:MM[:SS[.f]]`) with an
# optional `Z` or `±HH[:MM]` offset, converted to UTC (no offset: taken as UTC).
_STRICT_TYPES = ("INTEGER", "TIMESTAMP")
_INTEGER_TEXT = r"\s*[+-]?[0-9]+\s*"
_TIMESTAMP_BODY = r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*"
_TIMESTAMP_OFFSET = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)\s*"
# Files read by one DuckDB query (a month of days): few queries, bounded memory.
READ_CHUNK_FILES = 31


def _strict_expression(name: str, dtype: str) -> str | None:
    column = f'"{name}"'
    if dtype == "INTEGER":
        return (
            f"CASE WHEN regexp_full_match({column}, '{_INTEGER_TEXT}') "
            f"THEN TRY_CAST(trim({column}) AS INTEGER) END"
        )
    if dtype == "TIMESTAMP":
        return (
            f"CASE WHEN regexp_full_match({column}, '{_TIMESTAMP_BODY}{_TIMESTAMP_OFFSET}') "
            f"THEN TRY_CAST(trim({column}) AS TIMESTAMPTZ) AT TIME ZONE 'UTC' "
            f"WHEN regexp_full_match({column}, '{_TIMESTAMP_BODY}') "
            f"THEN TRY_CAST(trim({column}) AS TIMESTAMP) END"
        )
    return None


def _read_sql(columns: dict[str, str]) -> str:
    """One query reading a list of files: strict conversions, the file name, and per converted
    column ``_bad_<column>``: the original text where it does not convert (NULL elsewhere)."""
    inner, outer = ["filename"], ["filename"]
    for name, dtype in columns.items():
        expression = _strict_expression(name, dtype)
        if expression is None:
            inner.append(f'"{name}"')
            outer.append(f'"{name}"')
            continue
        inner += [f'{expression} AS "{name}"', f'"{name}" AS "_text_{name}"']
        outer += [
            f'"{name}"',
            f'CASE WHEN "{name}" IS NULL THEN "_text_{name}" END AS "_bad_{name}"',
        ]
    source = (
        "read_csv(?, auto_detect = false, header = true, delim = ',', quote = '\"', "
        "escape = '\"', columns = ?, nullstr = ?, filename = true, store_rejects = true, "
        "rejects_table = '_runway_rejects', rejects_scan = '_runway_reject_scans')"
    )
    return f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source})"


def _read_chunk(
    con: duckdb.DuckDBPyConnection, chunk: list[_Scanned], columns: dict[str, str]
) -> list[tuple[pa.Table, list[tuple]]]:
    """Read files with DuckDB in one query: per file, its rows (file order) and DuckDB's rejects
    as (line, column, error type, message). Raises duckdb.Error if the query fails."""
    import pyarrow.compute as pc

    con.execute("DROP TABLE IF EXISTS _runway_rejects")
    con.execute("DROP TABLE IF EXISTS _runway_reject_scans")
    paths = [str(scanned.path) for scanned in chunk]
    text_columns = {n: "VARCHAR" if t in _STRICT_TYPES else t for n, t in columns.items()}
    table = con.execute(_read_sql(columns), [paths, text_columns, NULL_STRINGS]).to_arrow_table()
    rejects: dict[str, list[tuple]] = {path: [] for path in paths}
    for path, *reject in con.execute(
        "SELECT s.file_path, e.line, e.column_name, e.error_type, e.error_message "
        "FROM _runway_rejects e JOIN _runway_reject_scans s USING (scan_id, file_id) "
        "ORDER BY e.file_id, e.line, e.column_idx"
    ).fetchall():
        rejects[path].append(tuple(reject))
    # DuckDB returns the files' rows in list order, each file's rows in file order.
    counts = (
        {row["values"]: row["counts"] for row in pc.value_counts(table["filename"]).to_pylist()}
        if table.num_rows
        else {}
    )
    results, offset = [], 0
    for path in paths:
        rows = table.slice(offset, counts.get(path, 0))
        offset += rows.num_rows
        if rows.num_rows and not pc.all(pc.equal(rows["filename"], path)).as_py():
            raise duckdb.InvalidInputException(f"rows of {path} are not contiguous")
        results.append((rows.drop_columns(["filename"]), rejects[path]))
    return results


def _conversion_violations(
    table: pa.Table, columns: dict[str, str]
) -> tuple[pa.Table, dict[int, list[tuple[str | None, str]]]]:
    """Split the ``_bad_<column>`` columns off: the values that did not convert, by row index."""
    import numpy as np
    import pyarrow.compute as pc

    violations: dict[int, list[tuple[str | None, str]]] = {}
    if table.num_rows:  # (pyarrow 25 crashes on indices_nonzero of an empty array)
        for name, dtype in columns.items():
            if f"_bad_{name}" not in table.column_names:
                continue
            bad = table.column(f"_bad_{name}")
            for index in np.flatnonzero(pc.is_valid(bad).to_numpy(zero_copy_only=False)).tolist():
                violations.setdefault(index, []).append(
                    (name, f'"{bad[index].as_py()}" is not a valid {dtype}')
                )
    return table.select(list(columns)), violations


def _rule_violations(
    table: pa.Table,
    entity: str,
    partition_date: date | None,
    violations: dict[int, list[tuple[str | None, str]]],
) -> None:
    """Add the rows that break the declared rules to ``violations`` (row index → problems)."""
    import numpy as np
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return
    invalid = {(index, column) for index, problems in violations.items() for column, _ in problems}
    for name in REQUIRED_COLUMNS[entity]:
        missing = pc.is_null(table.column(name)).to_numpy(zero_copy_only=False)
        for index in np.flatnonzero(missing).tolist():
            if (index, name) not in invalid:
                violations.setdefault(index, []).append(
                    (name, "missing value in a required column")
                )
    if partition_date is not None:
        # A null year/month/day is already reported (as missing or as not a valid INTEGER).
        parts = {
            name: pc.fill_null(table.column(name), expected).to_numpy(zero_copy_only=False)
            for name, expected in (
                ("year", partition_date.year),
                ("month", partition_date.month),
                ("day", partition_date.day),
            )
        }
        other_day = (
            (parts["year"] != partition_date.year)
            | (parts["month"] != partition_date.month)
            | (parts["day"] != partition_date.day)
        )
        for index in np.flatnonzero(other_day).tolist():
            found = f"{parts['year'][index]}-{parts['month'][index]}-{parts['day'][index]}"
            violations.setdefault(index, []).append(
                (
                    None,
                    f"year/month/day {found} is not the file's day {partition_date.isoformat()}",
                )
            )


def _finish_file(
    scanned: _Scanned,
    table: pa.Table,
    duck_rejects: list[tuple],
    entity: str,
    columns: dict[str, str],
    partition_date: date | None,
) -> tuple[pa.Table, _FileResult]:
    """Number the rows and set the bad ones aside: the good rows with their lineage."""
    import pyarrow as pa

    # The good rows are the records DuckDB did not reject, in file order.
    physical = dict(zip(scanned.duckdb_lines, scanned.first_lines, strict=True))
    rejected_duckdb_lines = {line for line, *_ in duck_rejects}
    if not rejected_duckdb_lines <= physical.keys() or (
        table.num_rows + len(rejected_duckdb_lines) != len(scanned.duckdb_lines)
    ):
        raise _Invalid(
            f"the records cannot be delimited consistently: {len(scanned.duckdb_lines)} "
            f"record(s) in the file, but DuckDB read {table.num_rows} and rejected "
            f"{len(rejected_duckdb_lines)} (usually an unbalanced quote character)",
            "check the quoting in the file and deliver it again",
        )
    rejects: list[_Reject] = []
    seen: set[tuple[int, str | None]] = set()
    for line, column_name, error_type, message in duck_rejects:
        reason, whole_line = _reject_reason(error_type, message)
        first_line = physical[line]
        key = (first_line, None if whole_line else column_name)
        if key in seen:  # DuckDB lists a field-count error once per missing column
            continue
        seen.add(key)
        rejects.append(_Reject(first_line, key[1], reason, scanned.raw_line(first_line)))
    good_lines = [
        first
        for line, first in zip(scanned.duckdb_lines, scanned.first_lines, strict=True)
        if line not in rejected_duckdb_lines
    ]

    table, violations = _conversion_violations(table, columns)
    _rule_violations(table, entity, partition_date, violations)
    if violations:
        for index, problems in violations.items():
            line = good_lines[index]
            rejects.extend(
                _Reject(line, column, reason, scanned.raw_line(line)) for column, reason in problems
            )
        keep = [index not in violations for index in range(table.num_rows)]
        table = table.filter(pa.array(keep, pa.bool_()))
        good_lines = [line for line, kept in zip(good_lines, keep, strict=True) if kept]
    rejects.sort(key=lambda reject: reject.line)

    rows = table.num_rows
    preview = table.slice(0, PREVIEW_ROWS).to_pylist()
    table = (
        table.append_column("_source_file", pa.array([scanned.relative] * rows, pa.string()))
        .append_column("_source_row", pa.array(good_lines, pa.int64()))
        .append_column("_file_hash", pa.array([scanned.file_hash] * rows, pa.string()))
    )
    if partition_date is not None:
        table = table.append_column(
            "_partition_date", pa.array([partition_date] * rows, pa.date32())
        )
    return table, _FileResult(
        relative=scanned.relative,
        file_hash=scanned.file_hash,
        file_bytes=scanned.file_bytes,
        rows_in_file=len(scanned.duckdb_lines),
        rows_loaded=rows,
        partition_date=partition_date,
        rejects=rejects,
        preview=preview,
    )


def _insert_arrow(con: duckdb.DuckDBPyConnection, target: str, data: pa.Table) -> None:
    con.register("_runway_insert", data)
    try:
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _runway_insert")
    finally:
        con.unregister("_runway_insert")


# ---------------------------------------------------------------------------------------------
# Quarantine


def quarantine_file(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    quarantine_dir: Path,
    path: Path,
    problem: FileProblem,
    run_id: str | None = None,
) -> Path:
    """Move ``path`` to the quarantine folder with a ``.reason`` file; record it in the warehouse.

    The quarantined file keeps its path relative to the landing zone
    (``landing/flights/2013-01-05.csv`` → ``quarantine/flights/2013-01-05.csv``); an earlier
    quarantined file of the same name is replaced (``raw.quarantined_files`` keeps the history).
    """
    relative = path.relative_to(landing_dir)
    target = quarantine_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    problem.quarantine_path = target
    reason = (
        f"file: {relative.as_posix()} (landing zone {landing_dir})\n"
        f"quarantined at: {now.isoformat(timespec='seconds')} UTC"
        + (f" by run {run_id}" if run_id else "")
        + f"\nwhat is wrong: {problem.what}\n"
        f"how to fix: {problem.fix}; then deliver the corrected file to "
        f"{(landing_dir / relative).as_posix()} (write it under a temporary name and rename "
        "it) and delete this quarantined copy.\n"
    )
    os.replace(path, target)
    Path(f"{target}.reason").write_text(reason, encoding="utf-8")
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(QUARANTINE_DDL)
    con.execute(
        "INSERT INTO raw.quarantined_files VALUES (?, ?, ?, ?)",
        [relative.as_posix(), str(target), f"{problem.what}. Fix: {problem.fix}", now],
    )
    return target


# ---------------------------------------------------------------------------------------------
# Phase 3: commit

_STAGE = "_runway_stage"  # a temporary table: the good rows of this load, before the commit


def _rejects_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("entity", pa.string()),
            ("partition_date", pa.date32()),
            ("source_file", pa.string()),
            ("line", pa.int64()),
            ("column_name", pa.string()),
            ("reason", pa.string()),
            ("raw_line", pa.string()),
            ("rejected_at", pa.timestamp("us")),
        ]
    )


def _audit_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("entity", pa.string()),
            ("partition_date", pa.date32()),
            ("source_file", pa.string()),
            ("file_hash", pa.string()),
            ("file_bytes", pa.int64()),
            ("rows_in_file", pa.int64()),
            ("rows_loaded", pa.int64()),
            ("rows_rejected", pa.int64()),
            ("loaded_at", pa.timestamp("us")),
            ("run_id", pa.string()),
        ]
    )


def _commit(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    results: list[_FileResult],
    *,
    daily: bool,
    run_id: str | None,
) -> list[FileLoad]:
    """Replace the loaded days (or the whole reference table) in one transaction."""
    import pyarrow as pa

    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    loads = [
        FileLoad(
            entity=entity,
            partition_date=result.partition_date,
            source_file=result.relative,
            file_hash=result.file_hash,
            file_bytes=result.file_bytes,
            rows_in_file=result.rows_in_file,
            rows_loaded=result.rows_loaded,
            rows_rejected=result.rows_rejected,
            preview=result.preview,
            reject_sample=[
                {"line": r.line, "column": r.column_name, "reason": r.reason}
                for r in result.rejects[:REJECT_SAMPLE_ROWS]
            ],
        )
        for result in results
    ]
    rejects = pa.Table.from_pylist(
        [
            {
                "entity": entity,
                "partition_date": result.partition_date,
                "source_file": result.relative,
                "line": reject.line,
                "column_name": reject.column_name,
                "reason": reject.reason,
                "raw_line": reject.raw_line,
                "rejected_at": loaded_at,
            }
            for result in results
            for reject in result.rejects
        ],
        schema=_rejects_schema(),
    )
    audit = pa.Table.from_pylist(
        [
            {
                "entity": entity,
                "partition_date": load.partition_date,
                "source_file": load.source_file,
                "file_hash": load.file_hash,
                "file_bytes": load.file_bytes,
                "rows_in_file": load.rows_in_file,
                "rows_loaded": load.rows_loaded,
                "rows_rejected": load.rows_rejected,
                "loaded_at": loaded_at,
                "run_id": run_id,
            }
            for load in loads
        ],
        schema=_audit_schema(),
    )
    if daily:
        days = [result.partition_date for result in results]
        in_days = "IN (SELECT unnest(?::DATE[]))"
        clear_table = (f"DELETE FROM raw.{entity} WHERE _partition_date {in_days}", [days])
        scope, params = f"partition_date {in_days}", [entity, days]
    else:
        clear_table = (f"DELETE FROM raw.{entity}", [])
        scope, params = "partition_date IS NULL", [entity]

    def transaction() -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(*clear_table)
            con.execute(
                f"INSERT INTO raw.{entity} BY NAME SELECT *, ?::TIMESTAMP AS _loaded_at "
                f"FROM {_STAGE}",
                [loaded_at],
            )
            con.execute(f"DELETE FROM raw.rejected_rows WHERE entity = ? AND {scope}", params)
            _insert_arrow(con, "raw.rejected_rows", rejects)
            con.execute(f"DELETE FROM raw.load_audit WHERE entity = ? AND {scope}", params)
            _insert_arrow(con, "raw.load_audit", audit)
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise

    # On the DuckLake target another run may commit to the same tables first (the audit tables
    # are shared by every entity): the transaction is then redone on the new state. A DuckDB
    # file has one writer and never conflicts.
    lake.retry_on_conflict(transaction)
    return loads


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open: a failed COMMIT (a DuckLake conflict) has
    already ended it, and a second error would hide the first."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")


# ---------------------------------------------------------------------------------------------
# Entry points


def _load_files(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    quarantine_dir: Path,
    entity: str,
    items: Sequence[tuple[date | None, Path]],
    report: LoadReport,
    run_id: str | None,
) -> None:
    """Validate, read and stage every file (quarantining the bad ones), then commit the rest."""
    import pyarrow as pa

    columns = {**DAILY_TABLES, **REFERENCE_TABLES}[entity]
    daily = entity in DAILY_TABLES

    def reject_file(day: date | None, path: Path, invalid: _Invalid) -> None:
        relative = path.relative_to(landing_dir).as_posix()
        problem = FileProblem(relative, invalid.what, invalid.fix, partition_date=day)
        quarantine_file(con, landing_dir, quarantine_dir, path, problem, run_id)
        report.problems.append(problem)

    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS "
        f"SELECT * EXCLUDE (_loaded_at) FROM raw.{entity} LIMIT 0"
    )
    results: list[_FileResult] = []
    try:
        for start in range(0, len(items), READ_CHUNK_FILES):
            chunk: list[tuple[date | None, _Scanned]] = []
            for day, path in items[start : start + READ_CHUNK_FILES]:
                try:
                    relative = path.relative_to(landing_dir).as_posix()
                    chunk.append((day, _scan(path, relative, columns)))
                except _Invalid as invalid:
                    reject_file(day, path, invalid)
            if not chunk:
                continue
            try:
                read = _read_chunk(con, [scanned for _, scanned in chunk], columns)
            except duckdb.Error:
                read = None  # one file spoils the query: read them one by one to find it
            staged: list[pa.Table] = []
            for index, (day, scanned) in enumerate(chunk):
                try:
                    if read is not None:
                        table, duck_rejects = read[index]
                    else:
                        try:
                            ((table, duck_rejects),) = _read_chunk(con, [scanned], columns)
                        except duckdb.Error as exc:
                            raise _Invalid(
                                f"DuckDB cannot read the file: {exc}",
                                "deliver a comma-separated UTF-8 CSV as described in "
                                "docs/landing_zone.md",
                            ) from exc
                    good, result = _finish_file(scanned, table, duck_rejects, entity, columns, day)
                    results.append(result)
                    if good.num_rows:
                        staged.append(good)
                except _Invalid as invalid:
                    reject_file(day, scanned.path, invalid)
            if staged:  # one insert per chunk: far cheaper than one per file
                _insert_arrow(con, _STAGE, pa.concat_tables(staged))
        if results:
            report.loads = _commit(con, entity, results, daily=daily, run_id=run_id)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")


def load_daily(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    table: str,
    days: Sequence[date],
    *,
    quarantine_dir: Path | None = None,
    partition_range: tuple[date, date] | None = None,
    run_id: str | None = None,
) -> LoadReport:
    """Load the files of ``days`` into ``raw.<table>``, replacing exactly those days' rows.

    Every valid file is loaded, in one transaction. A day whose file is missing, delivered twice
    (``.csv`` and ``.csv.gz``) or invalid is not loaded (its rows in ``raw`` stay as they were);
    an invalid file is quarantined. With ``partition_range``, files in ``landing/<table>/`` whose
    name is not a day of that range are quarantined too. Every such problem is in the report;
    call ``report.raise_for_problems()`` (or fail the run with ``report.failure_message()``).
    """
    quarantine_dir = quarantine_dir or landing_dir.parent / "quarantine"
    report = LoadReport(table=f"raw.{table}")
    ensure_raw_table(con, table)
    if partition_range is not None:
        first, last = partition_range
        for path in stray_files(landing_dir, table, first, last):
            relative = path.relative_to(landing_dir).as_posix()
            problem = FileProblem(
                relative,
                f"the file name is not a day of the partition range {first}..{last} "
                "(daily files are named YYYY-MM-DD.csv or YYYY-MM-DD.csv.gz)",
                "rename it to the day its rows are for, within the range, or remove it",
            )
            quarantine_file(con, landing_dir, quarantine_dir, path, problem, run_id)
            report.problems.append(problem)
    items: list[tuple[date | None, Path]] = []
    for day in days:
        found = daily_files(landing_dir, table, day)
        expected = f"{table}/{day.isoformat()}.csv"
        if not found:
            report.problems.append(
                FileProblem(
                    expected,
                    f"no file for {day.isoformat()} in {landing_dir / table}",
                    "deliver the day (`python -m orchestration.seed` writes the landing zone) "
                    "or load only delivered days",
                    partition_date=day,
                )
            )
        elif len(found) > 1:
            report.problems.append(
                FileProblem(
                    expected,
                    "the day is delivered twice, as "
                    + " and ".join(path.relative_to(landing_dir).as_posix() for path in found),
                    "keep exactly one of the two files",
                    partition_date=day,
                )
            )
        else:
            items.append((day, found[0]))
    _load_files(con, landing_dir, quarantine_dir, table, items, report, run_id)
    return report


def load_reference(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    table: str,
    *,
    quarantine_dir: Path | None = None,
    run_id: str | None = None,
) -> LoadReport:
    """Replace ``raw.<table>`` with the current full snapshot file, in one transaction.

    A missing snapshot, or one that fails validation (quarantined), leaves the table as it was.
    """
    quarantine_dir = quarantine_dir or landing_dir.parent / "quarantine"
    report = LoadReport(table=f"raw.{table}")
    ensure_raw_table(con, table)
    path = reference_file(landing_dir, table)
    if path is None:
        report.problems.append(
            FileProblem(
                f"{table}.csv",
                f"no snapshot {table}.csv (or {table}.csv.gz) in {landing_dir}",
                "deliver it (`python -m orchestration.seed` writes the landing zone)",
            )
        )
        return report
    _load_files(con, landing_dir, quarantine_dir, table, [(None, path)], report, run_id)
    return report
