"""A tiny code location for tests/orchestration/test_run_launcher.py: one job that records the
process it ran in, one that sleeps until it is interrupted or killed."""

import json
import os
import time

import dagster as dg

# Imported by the warm worker before it forks (orchestration/run_worker.py): a run then finds
# it in sys.modules without importing it.
RUN_WORKER_PRELOAD = ("json",)


@dg.op
def record_process(context: dg.OpExecutionContext) -> None:
    with open(os.environ["WARM_TEST_OUT"], "w") as handle:
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "run_id": context.run_id}, handle)


@dg.op
def sleep_long() -> None:
    time.sleep(600)


@dg.job
def records_its_process() -> None:
    record_process()


@dg.job
def sleeps() -> None:
    sleep_long()


# In the run process itself (as Runway's code location): the op reports the run's process.
defs = dg.Definitions(jobs=[records_its_process, sleeps], executor=dg.in_process_executor)
