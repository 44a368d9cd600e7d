"""Raw loading on tiny hand-written files: declared schema, lineage, idempotent day replacement."""

from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration import raw_loader

HEADER = (
    "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,"
    "carrier,flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour"
)
DAY1 = [
    "2013,1,1,517,515,2,830,819,11,UA,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z",
    "2013,1,1,NA,600,NA,NA,830,NA,AA,11,NA,JFK,MIA,NA,1089,6,0,2013-01-01T11:00:00Z",
]
DAY2 = [
    "2013,1,2,700,700,0,900,905,-5,DL,100,N1,LGA,ATL,120,762,7,0,2013-01-02T12:00:00Z",
]


def _write(landing: Path, day: str, rows: list[str]) -> Path:
    path = landing / "flights" / f"{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _checksum(con: duckdb.DuckDBPyConnection) -> tuple:
    return con.execute(
        "SELECT count(*), sum(hash(year, month, day, carrier, flight, origin, dep_delay, "
        "_source_file, _source_row, _file_hash, _partition_date)) FROM raw.flights"
    ).fetchone()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    _write(landing, "2013-01-01", DAY1)
    _write(landing, "2013-01-02", DAY2)
    return landing


def test_load_types_nulls_and_lineage(landing: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    assert report.rows_loaded == 2
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'flights'"
        ).fetchall()
    )
    assert types["dep_delay"] == "DOUBLE" and types["time_hour"] == "TIMESTAMP"
    rows = con.execute(
        "SELECT carrier, dep_time, tailnum, _source_file, _source_row, _partition_date "
        "FROM raw.flights ORDER BY _source_row"
    ).fetchall()
    assert rows == [
        ("UA", 517, "N14228", "flights/2013-01-01.csv", 2, date(2013, 1, 1)),
        ("AA", None, None, "flights/2013-01-01.csv", 3, date(2013, 1, 1)),
    ]
    (file_hash,) = con.execute("SELECT DISTINCT _file_hash FROM raw.flights").fetchone()
    assert file_hash == raw_loader.file_sha256(landing / "flights" / "2013-01-01.csv")


def test_reloading_days_is_idempotent(landing: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    days = [date(2013, 1, 1), date(2013, 1, 2)]
    checksums = set()
    for _ in range(3):
        raw_loader.load_daily(con, landing, "flights", days)
        checksums.add(_checksum(con))
    assert len(checksums) == 1
    assert next(iter(checksums))[0] == 3


def test_redelivered_day_replaces_only_that_day(landing: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)])
    _write(landing, "2013-01-01", DAY1[:1])  # the corrected file drops the second flight
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    per_day = dict(con.execute("SELECT day, count(*) FROM raw.flights GROUP BY day").fetchall())
    assert per_day == {1: 1, 2: 1}


def test_missing_day_fails_before_touching_the_table(landing: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    before = _checksum(con)
    with pytest.raises(raw_loader.LandingFileError, match="2013-01-03"):
        raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 3)])
    assert _checksum(con) == before


def test_unreadable_file_rolls_back_the_whole_load(landing: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)])
    before = _checksum(con)
    _write(landing, "2013-01-02", [DAY2[0].replace(",0,900", ",late,900")])
    with pytest.raises(raw_loader.LandingFileError, match="flights/2013-01-02.csv"):
        raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)])
    assert _checksum(con) == before


def test_reference_snapshot_replaces_table(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "airlines.csv").write_text("carrier,name\nAA,American\nUA,United\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    raw_loader.load_reference(con, landing, "airlines")
    (landing / "airlines.csv").write_text("carrier,name\nAA,American Airlines Inc.\n")
    report = raw_loader.load_reference(con, landing, "airlines")
    assert report.rows_loaded == 1
    assert con.execute("SELECT carrier, name FROM raw.airlines").fetchall() == [
        ("AA", "American Airlines Inc.")
    ]
