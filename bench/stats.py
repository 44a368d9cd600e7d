"""The benchmark's arithmetic: percentiles, stage breakdowns, targets and their verdicts.

Pure functions on plain dicts and numbers, so that they can be tested on tiny inputs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

STAGES = ("ingest", "dbt", "train", "score", "publish")
GB = 1_000_000_000

# The targets (#8). Each is checked on the largest scale run (10 by default), the
# incremental one also against the smallest scale.
FULL_VS_BASELINE_MAX = 1.5
INCREMENTAL_GROWTH_MAX = 1.25
INCREMENTAL_SHARE_OF_FULL_MAX = 0.10
DEFINITIONS_LOAD_VS_DAGSTER_DBT_MAX = 1.5
QUERY_P95_MAX_MS = 150.0
PEAK_RSS_MAX_BYTES = 4 * GB
# Issue #7, point 8: a backfill of a range of days (one run over the range) is as fast as a full
# refresh of those days; 1.25x leaves room for the noise of a shared machine.
BACKFILL_VS_FULL_MAX = 1.25


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks.

    The same definition as numpy's default ('linear'): p50 of [1, 2, 3, 4] is 2.5.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; inf when the denominator is 0 (and the numerator is not)."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.inf
    return numerator / denominator


def stage_of_step(step_key: str) -> str:
    """The stage a pipeline step belongs to, from its Dagster step key."""
    if step_key.startswith("raw__"):
        return "ingest"  # the raw assets and their rows_reconcile checks
    if step_key.startswith("dbt_"):
        return "dbt"
    if step_key == "flight_delay_model":
        return "train"
    if step_key.startswith("ml__flight_delay_predictions"):
        return "score"
    if step_key.startswith("serving__"):
        return "publish"
    return "other"


def pipeline_stages(steps: Mapping[str, Mapping], wall_seconds: float) -> dict[str, float]:
    """Seconds per stage from the run's step timings; `outside_steps` is the rest of the wall
    time (interpreter start, imports, definitions load, resources, run bookkeeping)."""
    stages = dict.fromkeys((*STAGES, "other"), 0.0)
    for key, step in steps.items():
        seconds = step.get("seconds")
        if seconds is not None:
            stage = stage_of_step(key)
            stages[stage] = stages.get(stage, 0.0) + seconds
    stages["outside_steps"] = max(wall_seconds - sum(stages.values()), 0.0)
    return stages


def baseline_stages(stages: Mapping[str, float], wall_seconds: float) -> dict[str, float]:
    """The baseline's own stage timings, with `outside_steps` (start, imports) added."""
    result = dict.fromkeys((*STAGES, "other"), 0.0) | dict(stages)
    result["outside_steps"] = max(wall_seconds - sum(stages.values()), 0.0)
    return result


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: float
    limit: float
    unit: str
    passed: bool | None  # None: not measured (e.g. a scale missing)
    detail: str = ""

    @property
    def label(self) -> str:
        return {True: "PASS", False: "FAIL", None: "N/A"}[self.passed]

    def as_dict(self) -> dict:
        return asdict(self) | {"verdict": self.label}


def at_most(target: str, measured: float | None, limit: float, unit: str, detail: str = ""):
    """PASS when measured <= limit (a NaN or missing measure is not a pass)."""
    if measured is None:
        return Verdict(target, math.nan, limit, unit, None, detail)
    passed = not math.isnan(measured) and measured <= limit
    return Verdict(target, measured, limit, unit, passed, detail)


def below(target: str, measured: float | None, limit: float, unit: str, detail: str = ""):
    """PASS when measured < limit (strictly)."""
    if measured is None:
        return Verdict(target, math.nan, limit, unit, None, detail)
    passed = not math.isnan(measured) and measured < limit
    return Verdict(target, measured, limit, unit, passed, detail)


def verdicts(results: Mapping) -> list[Verdict]:
    """Every target of issue #8 against a benchmark result (see bench.runner for its shape)."""
    scales = sorted(results["scales"], key=int)
    big = results["scales"][scales[-1]]
    small = results["scales"][scales[0]]
    big_name, small_name = f"scale {scales[-1]}", f"scale {scales[0]}"
    out: list[Verdict] = []

    full = big["pipeline"]["full"]["wall_seconds"]
    base_full = big["baseline"]["full"]["wall_seconds"]
    out.append(
        at_most(
            f"full refresh at {big_name} within {FULL_VS_BASELINE_MAX}x the baseline",
            ratio(full, base_full),
            FULL_VS_BASELINE_MAX,
            "x",
            f"{full:.1f} s vs {base_full:.1f} s",
        )
    )
    incremental = big["pipeline"]["incremental"]["wall_seconds"]
    small_incremental = small["pipeline"]["incremental"]["wall_seconds"]
    growth = ratio(incremental, small_incremental) if len(scales) > 1 else None
    out.append(
        at_most(
            f"incremental day at {big_name} within {INCREMENTAL_GROWTH_MAX}x the one at "
            f"{small_name}",
            growth,
            INCREMENTAL_GROWTH_MAX,
            "x",
            f"{incremental:.1f} s vs {small_incremental:.1f} s",
        )
    )
    out.append(
        below(
            f"incremental day at {big_name} under {INCREMENTAL_SHARE_OF_FULL_MAX:.0%} of its "
            "full refresh",
            ratio(incremental, full),
            INCREMENTAL_SHARE_OF_FULL_MAX,
            "share",
            f"{incremental:.1f} s vs {full:.1f} s",
        )
    )
    load = results["definitions_load"]
    out.append(
        at_most(
            f"definitions load within {DEFINITIONS_LOAD_VS_DAGSTER_DBT_MAX}x a bare "
            "`import dagster_dbt`",
            ratio(load["definitions_median_seconds"], load["dagster_dbt_median_seconds"]),
            DEFINITIONS_LOAD_VS_DAGSTER_DBT_MAX,
            "x",
            f"{load['definitions_median_seconds']:.2f} s vs "
            f"{load['dagster_dbt_median_seconds']:.2f} s (medians)",
        )
    )
    for name, timing in sorted(big["queries"].items()):
        out.append(
            below(
                f"dashboard query `{name}` p95 at {big_name} under {QUERY_P95_MAX_MS:.0f} ms",
                timing["p95_ms"],
                QUERY_P95_MAX_MS,
                "ms",
            )
        )
    backfill = big["pipeline"].get("backfill")
    out.append(
        at_most(
            f"backfill of the window at {big_name} no slower than {BACKFILL_VS_FULL_MAX}x its "
            "full refresh",
            None if backfill is None else ratio(backfill["wall_seconds"], full),
            BACKFILL_VS_FULL_MAX,
            "x",
            "not measured (--no-backfill)"
            if backfill is None
            else f"{backfill['wall_seconds']:.1f} s vs {full:.1f} s",
        )
    )
    rss = big["pipeline"]["full"]["peak_tree_rss_bytes"]
    out.append(
        below(
            f"peak RSS of the full refresh at {big_name} under {PEAK_RSS_MAX_BYTES / GB:.0f} GB",
            rss / GB,
            PEAK_RSS_MAX_BYTES / GB,
            "GB",
        )
    )
    return out


def ratio_without(pipeline: Mapping, baseline: Mapping, stage: str = "train") -> float:
    """pipeline / baseline wall time with `stage` taken out of both.

    Training is the same code on the same rows on both sides; on a shared 2-core machine its
    time swings several-fold with the load (OpenMP threads), which can swamp the difference
    that the orchestration makes.
    """
    return ratio(
        pipeline["wall_seconds"] - pipeline["stages"].get(stage, 0.0),
        baseline["wall_seconds"] - baseline["stages"].get(stage, 0.0),
    )


def same_steps(
    steps: Mapping[str, float | None], reference: Mapping[str, float | None]
) -> tuple[float, float]:
    """Seconds of the steps of `steps` that `reference` also ran, summed in each: the same work
    in both runs (e.g. a backfill's steps, and those steps in the full refresh). A step that did
    not finish in either run is left out of both sums."""
    common = [
        key
        for key, seconds in steps.items()
        if seconds is not None and reference.get(key) is not None
    ]
    return sum(steps[key] for key in common), sum(reference[key] for key in common)
