"""`python -m bench --year` (bench/year.py): its verdicts and its page, on tiny made-up results."""

from __future__ import annotations

from bench import year
from bench.stats import GB


def _run(wall: float, rss_gb: float, stages: dict[str, float]) -> dict:
    return {
        "wall_seconds": wall,
        "peak_tree_rss_bytes": int(rss_gb * GB),
        "max_single_rss_bytes": int(rss_gb * GB * 0.9),
        "stages": stages | {"outside_steps": 5.0},
        "steps": {"flight_delay_model": 40.0, "raw__flights": 12.5},
    }


def _year(pipeline_wall: float, rss_gb: float) -> dict:
    return {
        "scale": 10,
        "seed_seconds": 60.0,
        "pipeline": {"full": _run(pipeline_wall, rss_gb, {"train": 40.0, "dbt": 30.0})},
        "baseline": {"full": _run(100.0, 1.0, {"train": 38.0, "dbt": 10.0}) | {"details": {}}},
        "snapshot_rows": {"marts.flights": 3_367_760},
        "snapshot_mismatches": {},
    }


def test_verdicts_hold_the_issue_limits() -> None:
    passed = year.year_verdicts(_year(150.0, 4.0))
    assert [v.passed for v in passed] == [True, True]  # both limits are inclusive ("≤")
    assert passed[0].measured == 1.5 and passed[1].measured == 4.0
    failed = year.year_verdicts(_year(150.1, 4.01))
    assert [v.passed for v in failed] == [False, False]


def test_page_has_the_verdicts_stages_and_steps() -> None:
    results = {
        "started_at": "2026-12-07T20:00:00+00:00",
        "commit": "abc1234",
        "total_seconds": 900.0,
        "machine": {
            "cores_logical": 2,
            "cpus_usable": 2,
            "ram_bytes": 24 * 2**30,
            "cpu_model": "",
            "platform": "Linux",
            "python": "3.11",
            "duckdb": "1",
            "dagster": "1",
            "dagster_dbt": "0",
            "load_average_at_start": [1.0, 1.0, 1.0],
        },
        "year": _year(120.0, 2.5),
    }
    results["verdicts"] = [v.as_dict() for v in year.year_verdicts(results["year"])]
    page = year.render(results)
    assert "1.20x (120.0 s vs 100.0 s)" in page and "**PASS**" in page
    assert "| pipeline | – | 30.0 | 40.0 |" in page  # ingest (not in the stages), dbt, train
    assert "`flight_delay_model` | 40.0" in page
    assert "3,367,760" in page and "yes" in page

    del results["verdicts"]
    results["year_error"] = "RuntimeError: pipeline full failed"
    del results["year"]["baseline"]
    page = year.render(results)
    assert "Incomplete run" in page and "pipeline full failed" in page
    assert "| pipeline |" in page and "| baseline |" not in page
