"""One Runway run in its own process, for tests/lake/test_lake_pipeline.py.

    python tests/lake/pipeline_runs.py all START END        # every asset, daily ones START..END
    python tests/lake/pipeline_runs.py daily START END      # no training, no publish

The target (`RUNWAY_TARGET=lake`) and the lake's place come from the environment, read when the
code location is imported: that is why each run is a process of its own, as a Dagster run is.
Prints one JSON line: the run id, success, failed steps, and the step retries that happened.
"""

import json
import resource
import sys
import time
from datetime import date

import dagster as dg
import psutil

from bench.pipeline_run import step_timings
from orchestration.definitions import defs
from orchestration.materialize import materialize_all

# The tests are about where data goes and who may write at once, not about the model.
TINY_TRAINING = {
    "first_model_must_beat_baseline": False,
    "max_iter": 40,
    "importance_max_rows": 2000,
    "importance_repeats": 1,
}


def _without_training_and_publish() -> dg.AssetSelection:
    # The training multi-asset cannot be subset: leave out every asset of a definition that
    # needs MLflow's tracking resource (training); scoring reads the registered champion.
    training = [
        key
        for assets in defs.assets
        if "mlflow" in assets.required_resource_keys
        for key in assets.keys
    ]
    publish = dg.AssetKey(["serving", "warehouse_snapshot"])
    return dg.AssetSelection.all() - dg.AssetSelection.assets(*training, publish)


def _message(error) -> str:
    """The error's own message and its causes', without the stack traces."""
    messages = []
    while error is not None:
        messages.append(error.message.strip()[:1500])
        error = error.cause
    return "\n caused by: ".join(messages)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 1)


def main(mode: str, start: str, end: str) -> int:
    started = psutil.Process().create_time()
    imported = time.time() - started
    imported_cpu = _cpu(resource.RUSAGE_SELF)
    selection = None if mode == "all" else _without_training_and_publish()
    # The stack's instance ($DAGSTER_HOME): runs of several processes share its pools.
    with dg.DagsterInstance.get() as instance:
        result = materialize_all(
            date.fromisoformat(start),
            date.fromisoformat(end),
            instance,
            run_config={"ops": {"flight_delay_model": {"config": TINY_TRAINING}}}
            if mode == "all"
            else None,
            selection=selection,
        )
        retries = [
            event.step_key
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
        ]
        failures = {
            event.step_key: _message(event.event_specific_data.error)
            for event in result.get_step_failure_events()
        }
        steps = {
            step: round(timing["seconds"], 1)
            for step, timing in step_timings(instance, result.run_id).items()
            if timing["seconds"] is not None
        }
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "success": result.success,
                "failures": failures,
                "retries": retries,
                # Where the time went (printed by the test module's fixture).
                "seconds": {
                    "imports": round(imported, 1),
                    "total": round(time.time() - started, 1),
                    # CPU seconds: the machine is shared, so wall time alone says little.
                    "imports_cpu": imported_cpu,
                    "cpu": _cpu(resource.RUSAGE_SELF),
                    "children_cpu": _cpu(resource.RUSAGE_CHILDREN),
                    "steps": steps,
                },
            }
        )
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
