"""Raw loading on tiny hand-written files: declared schema, lineage, idempotent day replacement,
row rejects with their true line numbers, file validation and quarantine.

Every expected figure comes from the test's own lines (their position in the file is known when
the file is written), never from the loader.
"""

import gzip
import hashlib
from datetime import date, datetime
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
RANGE = (date(2013, 1, 1), date(2013, 12, 31))


def flight(of_day: int, number: int, **overrides: str) -> str:
    """A valid flights line for 2013-01-<day>, flight <number>; fields can be overridden."""
    fields = {
        "year": "2013",
        "month": "1",
        "day": str(of_day),
        "dep_time": "517",
        "sched_dep_time": "515",
        "dep_delay": "2",
        "arr_time": "830",
        "sched_arr_time": "819",
        "arr_delay": "11",
        "carrier": "UA",
        "flight": str(number),
        "tailnum": "N14228",
        "origin": "EWR",
        "dest": "IAH",
        "air_time": "227",
        "distance": "1400",
        "hour": "5",
        "minute": "15",
        "time_hour": f"2013-01-{of_day:02d}T10:00:00Z",
    }
    fields.update(overrides)
    return ",".join(fields.values())


def _write(landing: Path, day: str, rows: list[str], *, header: str = HEADER) -> Path:
    path = landing / "flights" / f"{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _checksum(con: duckdb.DuckDBPyConnection) -> tuple:
    return con.execute(
        "SELECT count(*), sum(hash(year, month, day, carrier, flight, origin, dep_delay, "
        "_source_file, _source_row, _file_hash, _partition_date)) FROM raw.flights"
    ).fetchone()


def _side_tables(con: duckdb.DuckDBPyConnection) -> tuple:
    rejects = con.execute(
        "SELECT count(*), sum(hash(entity, partition_date, source_file, line, column_name, "
        "reason, raw_line)) FROM raw.rejected_rows"
    ).fetchone()
    audit = con.execute(
        "SELECT count(*), sum(hash(entity, partition_date, source_file, file_hash, file_bytes, "
        "rows_in_file, rows_loaded, rows_rejected)) FROM raw.load_audit"
    ).fetchone()
    return rejects, audit


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    _write(landing, "2013-01-01", DAY1)
    _write(landing, "2013-01-02", DAY2)
    return landing


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield connection
    connection.close()


def test_load_types_nulls_and_lineage(landing: Path, con) -> None:
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    assert report.rows_loaded == 2 and not report.problems
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'flights'"
        ).fetchall()
    )
    assert types["dep_delay"] == "DOUBLE" and types["time_hour"] == "TIMESTAMP"
    assert types["dep_time"] == "INTEGER"
    rows = con.execute(
        "SELECT carrier, dep_time, tailnum, time_hour, _source_file, _source_row, _partition_date "
        "FROM raw.flights ORDER BY _source_row"
    ).fetchall()
    assert rows == [
        (
            "UA",
            517,
            "N14228",
            datetime(2013, 1, 1, 10),
            "flights/2013-01-01.csv",
            2,
            date(2013, 1, 1),
        ),
        ("AA", None, None, datetime(2013, 1, 1, 11), "flights/2013-01-01.csv", 3, date(2013, 1, 1)),
    ]
    (file_hash,) = con.execute("SELECT DISTINCT _file_hash FROM raw.flights").fetchone()
    content = (landing / "flights" / "2013-01-01.csv").read_bytes()
    assert file_hash == hashlib.sha256(content).hexdigest()


def test_reloading_days_is_idempotent(landing: Path, con) -> None:
    # Day 2 also has a rejected row, so the rejects and the audit must be idempotent too.
    _write(landing, "2013-01-02", [*DAY2, flight(2, 7, dep_delay="late")])
    days = [date(2013, 1, 1), date(2013, 1, 2)]
    states = set()
    for _ in range(3):
        raw_loader.load_daily(con, landing, "flights", days)
        states.add((_checksum(con), _side_tables(con)))
    assert len(states) == 1
    (flights, _), ((rejects, _), (audits, _)) = next(iter(states))
    assert (flights, rejects, audits) == (3, 1, 2)


def test_redelivered_day_replaces_only_that_day(landing: Path, con) -> None:
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)])
    _write(landing, "2013-01-01", DAY1[:1])  # the corrected file drops the second flight
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    per_day = dict(con.execute("SELECT day, count(*) FROM raw.flights GROUP BY day").fetchall())
    assert per_day == {1: 1, 2: 1}


def test_missing_day_loads_the_other_days_and_is_reported(landing: Path, con) -> None:
    report = raw_loader.load_daily(
        con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 3), date(2013, 1, 2)]
    )
    assert report.files == ["flights/2013-01-01.csv", "flights/2013-01-02.csv"]
    assert [problem.source_file for problem in report.problems] == ["flights/2013-01-03.csv"]
    assert con.execute("SELECT count(*) FROM raw.flights").fetchone() == (3,)
    with pytest.raises(raw_loader.LandingFileError, match="flights/2013-01-03.csv: no file"):
        report.raise_for_problems()


def test_bad_rows_are_rejected_with_line_column_and_reason(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    lines = [
        flight(1, 1),  # line 2: good
        flight(1, 2, dep_delay="late"),  # 3: bad number
        flight(1, 3, dep_time="1.5"),  # 4: not an integer (DuckDB alone would round it to 2)
        flight(1, 4, time_hour="2013-02-30T10:00:00Z"),  # 5: impossible timestamp
        flight(2, 5),  # 6: a row of another day
        flight(1, 6, day="32"),  # 7: impossible date
        ",".join(flight(1, 7).split(",")[:-1]),  # 8: a field missing
        flight(1, 8) + ",extra",  # 9: a field too many
        flight(1, 9, carrier="AA"),  # 10: invalid UTF-8 (patched below)
        flight(1, 10, carrier="NA"),  # 11: required value missing
        flight(1, 11),  # 12: good
    ]
    path = _write(landing, "2013-01-01", lines)
    path.write_bytes(path.read_bytes().replace(b",AA,9,", b",A\xffA,9,"))
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])

    (load,) = report.loads
    assert (load.rows_in_file, load.rows_loaded, load.rows_rejected) == (11, 2, 9)
    good = con.execute("SELECT flight, _source_row FROM raw.flights ORDER BY 2").fetchall()
    assert good == [(1, 2), (11, 12)]
    rejects = con.execute(
        "SELECT line, column_name, reason, raw_line, source_file, partition_date "
        "FROM raw.rejected_rows ORDER BY line, column_name"
    ).fetchall()
    by_line = {line: (column, reason) for line, column, reason, *_ in rejects}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert by_line[3] == ("dep_delay", '"late" is not a valid DOUBLE')
    assert by_line[4] == ("dep_time", '"1.5" is not a valid INTEGER')
    assert by_line[5] == ("time_hour", '"2013-02-30T10:00:00Z" is not a valid TIMESTAMP')
    assert by_line[6][0] is None and "2013-1-2 is not the file's day 2013-01-01" in by_line[6][1]
    assert by_line[7][0] is None and "2013-1-32" in by_line[7][1]
    assert by_line[8][0] is None and by_line[8][1].startswith("wrong number of fields")
    assert by_line[9][0] is None and by_line[9][1].startswith("wrong number of fields")
    assert by_line[10][0] == "carrier" and "UTF-8" in by_line[10][1]
    assert by_line[11] == ("carrier", "missing value in a required column")
    assert len(rejects) == 9  # one row per problem, the field-count errors once per line
    raw_lines = {line: raw for line, _, _, raw, *_ in rejects}
    assert raw_lines[3] == lines[1]
    assert "A\\xffA" in raw_lines[10]
    assert {(source, day) for *_, source, day in rejects} == {
        ("flights/2013-01-01.csv", date(2013, 1, 1))
    }


def test_source_row_is_the_physical_line_with_blank_lines_and_multiline_fields(
    tmp_path: Path, con
) -> None:
    landing = tmp_path / "landing"
    text = "\n".join(
        [
            HEADER,  # line 1
            flight(1, 1),  # 2
            "",  # 3: blank, not a row
            flight(1, 2, tailnum='"N1\nSPLIT"'),  # 4-5: a quoted field across two lines
            flight(1, 3, dep_delay="x"),  # 6: rejected
            "",  # 7
            flight(1, 4),  # 8
        ]
    )
    (landing / "flights").mkdir(parents=True)
    (landing / "flights" / "2013-01-01.csv").write_text(text + "\n")
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    rows = con.execute("SELECT flight, tailnum, _source_row FROM raw.flights ORDER BY 3").fetchall()
    assert rows == [(1, "N14228", 2), (2, "N1\nSPLIT", 4), (4, "N14228", 8)]
    assert con.execute("SELECT line FROM raw.rejected_rows").fetchall() == [(6,)]
    assert con.execute("SELECT rows_in_file FROM raw.load_audit").fetchone() == (4,)


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_bom_and_crlf_are_accepted(newline: str, tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    (landing / "flights").mkdir(parents=True)
    content = newline.join([HEADER, flight(1, 1), flight(1, 2)]) + newline
    (landing / "flights" / "2013-01-01.csv").write_bytes(b"\xef\xbb\xbf" + content.encode())
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    assert not report.problems and report.rows_rejected == 0
    rows = con.execute(
        "SELECT year, flight, time_hour, _source_row FROM raw.flights ORDER BY 4"
    ).fetchall()
    assert rows == [(2013, 1, datetime(2013, 1, 1, 10), 2), (2013, 2, datetime(2013, 1, 1, 10), 3)]


def test_gzip_file_is_accepted(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    (landing / "flights").mkdir(parents=True)
    compressed = gzip.compress(("\n".join([HEADER, *DAY1]) + "\n").encode())
    (landing / "flights" / "2013-01-01.csv.gz").write_bytes(compressed)
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    assert report.rows_loaded == 2
    assert con.execute("SELECT DISTINCT _source_file, _file_hash FROM raw.flights").fetchall() == [
        ("flights/2013-01-01.csv.gz", hashlib.sha256(compressed).hexdigest())
    ]
    assert con.execute("SELECT file_bytes FROM raw.load_audit").fetchone() == (len(compressed),)


def test_timestamps_with_an_offset_are_converted_to_utc(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    _write(
        landing,
        "2013-01-01",
        [
            flight(1, 1, time_hour="2013-01-01T10:00:00+05:00"),
            flight(1, 2, time_hour="2013-01-01 10:00:00"),  # no offset: UTC
            flight(1, 3, time_hour="2013-01-01"),  # no time: rejected
        ],
    )
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    rows = con.execute("SELECT flight, time_hour FROM raw.flights ORDER BY 1").fetchall()
    assert rows == [(1, datetime(2013, 1, 1, 5)), (2, datetime(2013, 1, 1, 10))]
    assert con.execute("SELECT line, column_name FROM raw.rejected_rows").fetchall() == [
        (4, "time_hour")
    ]


def test_header_only_file_loads_zero_rows_and_clears_the_day(landing: Path, con) -> None:
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)])
    _write(landing, "2013-01-01", [])
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    (load,) = report.loads
    assert load.header_only and load.rows_loaded == 0 and not report.problems
    per_day = dict(con.execute("SELECT day, count(*) FROM raw.flights GROUP BY day").fetchall())
    assert per_day == {2: 1}
    assert con.execute(
        "SELECT rows_in_file, rows_loaded FROM raw.load_audit WHERE partition_date = '2013-01-01'"
    ).fetchall() == [(0, 0)]


BAD_FILES = {
    "missing column": (
        "2013-01-02.csv",
        (HEADER.replace(",dep_delay", "") + "\n").encode(),
        "missing column(s) dep_delay",
    ),
    "unexpected column": (
        "2013-01-02.csv",
        (HEADER + ",gate\n" + flight(2, 1) + ",A1\n").encode(),
        "unexpected column(s) 'gate'",
    ),
    "other delimiter": (
        "2013-01-02.csv",
        (HEADER.replace(",", ";") + "\n" + flight(2, 1).replace(",", ";") + "\n").encode(),
        "semicolon-separated",
    ),
    "empty": ("2013-01-02.csv", b"", "empty (0 bytes)"),
    "empty gzip": ("2013-01-02.csv.gz", gzip.compress(b""), "empty once decompressed"),
    "not gzip": ("2013-01-02.csv.gz", b"year,month\n", "not a readable gzip file"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_invalid_file_is_quarantined_and_the_other_days_load(
    case: str, tmp_path: Path, con
) -> None:
    name, content, expected = BAD_FILES[case]
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    _write(landing, "2013-01-01", DAY1)
    (landing / "flights" / name).write_bytes(content)

    report = raw_loader.load_daily(
        con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)], quarantine_dir=quarantine
    )

    assert report.files == ["flights/2013-01-01.csv"]
    assert con.execute("SELECT DISTINCT day FROM raw.flights").fetchall() == [(1,)]
    (problem,) = report.problems
    assert problem.source_file == f"flights/{name}" and expected in problem.what
    moved = quarantine / "flights" / name
    assert not (landing / "flights" / name).exists()
    assert moved.read_bytes() == content
    reason = Path(f"{moved}.reason").read_text()
    assert expected in reason and "how to fix:" in reason
    assert con.execute(
        "SELECT source_file, quarantine_path FROM raw.quarantined_files"
    ).fetchall() == [(f"flights/{name}", str(moved))]
    with pytest.raises(raw_loader.LandingFileError) as failure:
        report.raise_for_problems()
    message = str(failure.value)
    assert f"flights/{name}: " in message and expected in message and "Fix: " in message
    assert str(moved) in message


def test_bad_redelivery_keeps_the_previous_rows_of_the_day(landing: Path, con) -> None:
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    before = _checksum(con), _side_tables(con)
    _write(landing, "2013-01-01", DAY1, header=HEADER.replace("carrier", "airline"))
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    assert report.loads == [] and len(report.problems) == 1
    assert (_checksum(con), _side_tables(con)) == before


def test_file_names_that_are_not_days_of_the_range_are_quarantined(landing: Path, con) -> None:
    folder = landing / "flights"
    for name in ("2013-02-30.csv", "2014-01-01.csv", "notes.txt"):
        (folder / name).write_text(HEADER + "\n")
    (folder / ".2013-01-03.csv.123.tmp").write_text("being written")
    report = raw_loader.load_daily(
        con, landing, "flights", [date(2013, 1, 1)], partition_range=RANGE
    )
    assert sorted(p.source_file for p in report.problems) == [
        "flights/2013-02-30.csv",
        "flights/2014-01-01.csv",
        "flights/notes.txt",
    ]
    assert all("not a day of the partition range" in p.what for p in report.problems)
    assert sorted(path.name for path in folder.iterdir()) == [
        ".2013-01-03.csv.123.tmp",
        "2013-01-01.csv",
        "2013-01-02.csv",
    ]
    assert report.files == ["flights/2013-01-01.csv"]
    assert con.execute("SELECT count(*) FROM raw.quarantined_files").fetchone() == (3,)


def test_day_delivered_twice_is_not_loaded(landing: Path, con) -> None:
    (landing / "flights" / "2013-01-01.csv.gz").write_bytes(gzip.compress(HEADER.encode()))
    report = raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1)])
    (problem,) = report.problems
    assert "delivered twice" in problem.what and problem.quarantine_path is None
    assert report.loads == [] and con.execute("SELECT count(*) FROM raw.flights").fetchone() == (0,)


def test_rejects_of_a_day_are_replaced_when_it_is_reloaded(landing: Path, con) -> None:
    _write(landing, "2013-01-02", [*DAY2, flight(2, 7, dep_delay="late")])
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 1), date(2013, 1, 2)])
    assert con.execute("SELECT count(*) FROM raw.rejected_rows").fetchone() == (1,)
    _write(landing, "2013-01-02", [*DAY2, flight(2, 7, dep_delay="12")])
    raw_loader.load_daily(con, landing, "flights", [date(2013, 1, 2)])
    assert con.execute("SELECT count(*) FROM raw.rejected_rows").fetchone() == (0,)
    assert con.execute(
        "SELECT partition_date, rows_loaded, rows_rejected FROM raw.load_audit ORDER BY 1"
    ).fetchall() == [(date(2013, 1, 1), 2, 0), (date(2013, 1, 2), 2, 0)]


def test_reference_snapshot_replaces_table(tmp_path: Path, con) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "airlines.csv").write_text("carrier,name\nAA,American\nUA,United\n")
    raw_loader.load_reference(con, landing, "airlines")
    (landing / "airlines.csv").write_text("carrier,name\nAA,American Airlines Inc.\nZZ,NA\n")
    report = raw_loader.load_reference(con, landing, "airlines")
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert con.execute("SELECT carrier, name, _source_row FROM raw.airlines").fetchall() == [
        ("AA", "American Airlines Inc.", 2)
    ]
    assert con.execute(
        "SELECT entity, partition_date, line, column_name FROM raw.rejected_rows"
    ).fetchall() == [("airlines", None, 3, "name")]
    assert con.execute(
        "SELECT entity, partition_date, rows_in_file FROM raw.load_audit"
    ).fetchall() == [("airlines", None, 2)]
