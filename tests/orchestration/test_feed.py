"""The live feed delivers the day after the latest one, byte for byte what the seeder writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from orchestration import automation
from orchestration.seed import feed
from orchestration.seed.landing import seed_landing


def test_the_feed_continues_after_the_latest_delivered_day(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    seed_landing(landing, days=2, progress=False)
    (landing / "flights" / "not-a-day.csv").write_text("x\n")  # a stray file is not a day

    report = feed.deliver_next_days(landing, 2, start=date(2013, 1, 1), end=date(2013, 12, 31))

    assert report.days == [date(2013, 1, 3), date(2013, 1, 4)]
    assert sorted(report.written) == [
        "flights/2013-01-03.csv",
        "flights/2013-01-04.csv",
        "weather/2013-01-03.csv",
        "weather/2013-01-04.csv",
    ]
    # The same bytes as seeding the four days at once.
    reference = tmp_path / "reference"
    seed_landing(reference, days=4, progress=False)
    for relative in report.written:
        assert (landing / relative).read_bytes() == (reference / relative).read_bytes()
    assert feed.latest_delivered_day(landing) == date(2013, 1, 4)


def test_the_feed_stops_at_the_end_of_the_range(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    end = date(2013, 1, 2)
    first = feed.deliver_next_days(landing, 5, start=date(2013, 1, 1), end=end)
    assert first.days == [date(2013, 1, 1), date(2013, 1, 2)]  # an empty zone starts at day one

    again = feed.deliver_next_days(landing, 1, start=date(2013, 1, 1), end=end)
    assert again.days == [] and again.written == []
    assert "nothing left to deliver" in again.summary(end)
    with pytest.raises(ValueError):
        feed.deliver_next_days(landing, 0)


def test_the_demo_schedule_requests_one_run_per_day_and_skips_when_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    monkeypatch.setenv("RUNWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RUNWAY_END_DATE", "2013-01-02")
    landing = tmp_path / "data" / "landing"
    seed_landing(landing, days=1, progress=False)

    context = dg.build_schedule_context()
    request = automation.live_feed_schedule.evaluate_tick(context).run_requests[0]
    assert request.run_key == "feed:2013-01-02"

    seed_landing(landing, days=2, progress=False)
    result = automation.live_feed_schedule.evaluate_tick(dg.build_schedule_context())
    assert not result.run_requests
    assert "2013-01-02" in result.skip_message
