"""The benchmark's arithmetic: percentiles, ratios, stage breakdowns and target verdicts."""

import copy
import math

import numpy as np
import pytest

from bench import report, stats


@pytest.mark.parametrize("q", [0, 25, 50, 90, 95, 100])
@pytest.mark.parametrize(
    "values", [[5.0], [1.0, 2.0, 3.0, 4.0], [10.0, 1.0, 7.0, 3.0, 3.0, 250.0, 8.0]]
)
def test_percentile_matches_numpy_linear(values, q):
    assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_refuses_empty_and_out_of_range():
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_ratio_and_zero_denominator():
    assert stats.ratio(3.0, 2.0) == 1.5
    assert stats.ratio(1.0, 0.0) == math.inf
    assert math.isnan(stats.ratio(0.0, 0.0))


def test_steps_map_to_stages_and_the_rest_is_outside_steps():
    steps = {
        "raw__flights": {"seconds": 2.0},
        "raw__flights_rows_reconcile": {"seconds": 1.0},
        "dbt_models": {"seconds": 5.0},
        "dbt_daily_models": {"seconds": 4.0},
        "flight_delay_model": {"seconds": 10.0},
        "ml__flight_delay_predictions": {"seconds": 3.0},
        "dbt_monitoring_models": {"seconds": 1.0},
        "serving__warehouse_snapshot": {"seconds": 0.5},
        "freshness_check_f3bff1a6": {"seconds": 0.25},
        "unfinished": {"seconds": None},
    }
    stages = stats.pipeline_stages(steps, wall_seconds=30.0)
    assert stages == {
        "ingest": 3.0,
        "dbt": 10.0,
        "train": 10.0,
        "score": 3.0,
        "publish": 0.5,
        "other": 0.25,
        "outside_steps": 3.25,
    }


def _results(**overrides) -> dict:
    """A benchmark result that meets every target, with `overrides` applied by path."""

    def run(wall, rss=1 * stats.GB):
        return {"wall_seconds": wall, "peak_tree_rss_bytes": rss}

    results = {
        "scales": {
            "1": {
                "pipeline": {"full": run(100.0), "incremental": run(20.0)},
                "baseline": {"full": run(80.0), "incremental": run(10.0)},
                "queries": {"kpis": {"p95_ms": 20.0}},
            },
            "10": {
                "pipeline": {
                    "full": run(300.0),
                    "backfill": run(250.0),
                    "incremental": run(24.0),
                },
                "baseline": {"full": run(250.0), "incremental": run(12.0)},
                "queries": {"kpis": {"p95_ms": 60.0}, "routes": {"p95_ms": 140.0}},
            },
        },
        "definitions_load": {"definitions_median_seconds": 9.0, "dagster_dbt_median_seconds": 7.0},
    }
    for path, value in overrides.items():
        node = results
        *parents, leaf = path.split("/")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return results


def _by_target(results) -> dict[str, str]:
    return {v.target: v.label for v in stats.verdicts(results)}


def test_every_target_passes_on_a_good_result():
    verdicts = stats.verdicts(_results())
    assert [v.label for v in verdicts] == ["PASS"] * len(verdicts)
    # full ratio, incremental growth, incremental share, load, backfill, 2 queries, RSS
    assert len(verdicts) == 8
    assert any("`routes`" in v.target and "scale 10" in v.target for v in verdicts)


@pytest.mark.parametrize(
    ("override", "failing"),
    [
        ({"scales/10/baseline/full/wall_seconds": 199.0}, "full refresh at scale 10 within"),
        (
            {"scales/1/pipeline/incremental/wall_seconds": 19.0},
            "incremental day at scale 10 within",
        ),
        ({"scales/10/pipeline/full/wall_seconds": 230.0}, "under 10% of its full refresh"),
        ({"definitions_load/dagster_dbt_median_seconds": 5.9}, "definitions load"),
        ({"scales/10/queries/routes/p95_ms": 150.0}, "`routes` p95"),
        ({"scales/10/pipeline/full/peak_tree_rss_bytes": 4 * stats.GB}, "peak RSS"),
        ({"scales/10/pipeline/backfill/wall_seconds": 376.0}, "backfill of the window"),
    ],
)
def test_each_target_fails_alone_when_its_limit_is_crossed(override, failing):
    labels = _by_target(_results(**override))
    failed = [target for target, label in labels.items() if label == "FAIL"]
    assert len(failed) == 1 and failing in failed[0], labels


def test_a_single_scale_leaves_the_growth_target_unmeasured():
    results = _results()
    del results["scales"]["1"]
    labels = _by_target(results)
    growth = [label for target, label in labels.items() if "within 1.25x" in target]
    assert growth == ["N/A"]


def test_verdict_table_prints_pass_and_fail():
    results = _results(**{"scales/10/queries/routes/p95_ms": 151.0})
    table = report.verdict_table([v.as_dict() for v in stats.verdicts(copy.deepcopy(results))])
    assert "**PASS**" in table and "**FAIL**" in table
    assert "151.0 ms" in table


def test_the_backfill_target_is_a_ratio_to_the_full_refresh_and_optional():
    at_limit = _results(**{"scales/10/pipeline/backfill/wall_seconds": 375.0})  # 1.25 x 300 s
    (verdict,) = [v for v in stats.verdicts(at_limit) if "backfill" in v.target]
    assert verdict.label == "PASS" and verdict.measured == pytest.approx(1.25)
    skipped = _results()
    del skipped["scales"]["10"]["pipeline"]["backfill"]
    (verdict,) = [v for v in stats.verdicts(skipped) if "backfill" in v.target]
    assert verdict.label == "N/A"


def test_same_steps_sums_only_the_steps_both_runs_finished():
    backfill = {"raw__flights": 2.0, "dbt_daily_models": 10.0, "unfinished": None, "only": 1.0}
    full = {"raw__flights": 3.0, "dbt_daily_models": 12.0, "unfinished": 4.0, "train": 50.0}
    assert stats.same_steps(backfill, full) == (12.0, 15.0)


def test_the_report_has_a_backfill_section_only_when_a_backfill_ran():
    results = _results()
    scale = results["scales"]["10"]
    scale["ratios"] = {"backfill_vs_full": 250.0 / 300.0}
    scale["backfill_same_steps"] = {"backfill_seconds": 200.0, "full_seconds": 180.0, "ratio": 1.11}
    lines = report.backfill_table(results)
    assert "| 10 | 300.0 s | 250.0 s | 0.83× | 200.0 s vs 180.0 s (1.11×) |" in lines
    del scale["pipeline"]["backfill"]
    assert report.backfill_table(results) == []
