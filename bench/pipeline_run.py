"""One run of the real pipeline, in its own process, for the benchmark.

    python -m bench.pipeline_run --mode full --start 2013-01-01 --end 2013-01-31 --out run.json
    python -m bench.pipeline_run --mode incremental --start 2013-02-01 --end 2013-02-01 --out ...
    python -m bench.pipeline_run --mode backfill --start 2013-01-01 --end 2013-01-31 --out ...

`full` is what `make materialize` does (`orchestration.materialize.materialize_all`: one Dagster
run over every asset, daily assets over [start, end]), with the bootstrap training config of
tests/test_end_to_end.py so that a short window still gets a champion to score with.

`incremental` is one new day delivered: the same function with the day as the partition range and
what `landing_zone_sensor`'s run for a delivered day selects: everything downstream of the new
files except training and the dbt views. The reference snapshots (airlines, airports, planes) did
not change, and a day of data does not retrain the model (that is a decision of its own, on a
schedule, not a consequence of new rows); the new day is scored by the current champion, its
daily tables (those under the whole-history views routes and weather impact too), the
model-monitoring mart and the serving snapshot are rebuilt, so everything a reader sees includes
the new day.

`backfill` is a backfill of the daily assets over [start, end] as Dagster's asset backfill runs
it (tests/orchestration/test_backfill.py): every daily-partitioned asset (and its checks) in one
run, tagged with the partition range, since each has a single-run backfill policy. The reference
snapshots, the unpartitioned dbt models, training and publishing are not part of a backfill of
daily partitions.

The per-step timings come from the run's events in the Dagster instance ($DAGSTER_HOME): for each
step key, STEP_START to STEP_SUCCESS/STEP_FAILURE. The result is written as JSON to --out.
"""

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

STARTED = time.perf_counter()

import dagster as dg  # noqa: E402

from orchestration.materialize import materialize_all  # noqa: E402

BOOTSTRAP_CONFIG = {
    "ops": {"flight_delay_model": {"config": {"first_model_must_beat_baseline": False}}}
}


def incremental_selection() -> dg.AssetSelection:
    """What `landing_zone_sensor`'s run carries for a delivered day (issue #17): the raw days and
    everything downstream but training and the dbt views (`delivery.delivery_selection`).
    Before issue #17 it was every asset but the reference snapshots and training (the views and
    the reference marts rebuilt too)."""
    from orchestration import delivery
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    raw_days = [dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"])]
    return dg.AssetSelection.assets(*delivery.delivery_selection(raw_days, graph))


def backfill_selection() -> dg.AssetSelection:
    """The daily-partitioned assets: what a backfill of a range of days materializes."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    return dg.AssetSelection.assets(
        *(
            key
            for key in graph.get_all_asset_keys()
            if graph.get(key).is_materializable and graph.get(key).partitions_def is not None
        )
    )


def step_timings(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """{step_key: {start, end, seconds, status}} from the run's step events (timestamps in s)."""
    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    steps: dict[str, dict] = {}
    for record in instance.get_records_for_run(run_id, of_type=kinds).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        step = steps.setdefault(event.step_key, {"start": None, "end": None, "status": None})
        if event.event_type == dg.DagsterEventType.STEP_START:
            step["start"] = entry.timestamp
        else:
            step["end"] = entry.timestamp
            step["status"] = "success" if event.is_step_success else "failure"
    for step in steps.values():
        done = step["start"] is not None and step["end"] is not None
        step["seconds"] = step["end"] - step["start"] if done else None
    return steps


def run_window(instance: dg.DagsterInstance, mode: str, start: date, end: date):
    if mode == "full":
        return materialize_all(start, end, instance, run_config=BOOTSTRAP_CONFIG)
    if mode == "backfill":
        return materialize_all(start, end, instance, selection=backfill_selection())
    return materialize_all(start, end, instance, selection=incremental_selection())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_run", description=__doc__)
    parser.add_argument("--mode", choices=("full", "incremental", "backfill"), required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    imported = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        began = time.perf_counter()
        result = run_window(instance, args.mode, args.start, args.end)
        ran = time.perf_counter()
        steps = step_timings(instance, result.run_id)
    materialized = sorted(
        {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    )
    report = {
        "mode": args.mode,
        "start": args.start.isoformat(),
        "end": args.end.isoformat(),
        "success": result.success,
        "run_id": result.run_id,
        "import_seconds": imported - STARTED,
        "run_seconds": ran - began,
        "steps": steps,
        "materialized_assets": materialized,
        "failed_steps": [event.step_key for event in result.get_step_failure_events()],
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(
        f"pipeline {args.mode} {args.start}..{args.end}: success={result.success}, "
        f"{len(materialized)} assets, run {ran - began:.1f} s"
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
