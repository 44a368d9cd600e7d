"""Resources: the warehouse connection, the dbt CLI, MLflow tracking (through dagster-mlflow).

Resilience (DuckDB allows one writing process per file; see README "When things go wrong"):

- every warehouse-writing step is in the Dagster pool ``warehouse`` (limit 1, across runs) and
  retries with ``WAREHOUSE_RETRY`` (exponential backoff) when it fails for a transient reason;
- ``WarehouseResource.connect`` waits a bounded time for the file lock held by someone outside
  the pool (a dbt or notebook started by hand), then fails with a message naming the holder;
- at the start of a run, ``WarehouseResource`` frees the pool slot of a run whose process is
  dead (SIGKILL, OOM): without that, every later run would wait for the slot forever;
- dbt runs through ``orchestration/dbt_guard.py``, which makes the dbt process die with the
  Dagster process that started it, so a killed run leaves no dbt holding the lock.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging.version import Version
from packaging.version import parse as parse_version
from pydantic import PrivateAttr

from orchestration import settings
from orchestration.dbt_project import runway_dbt_project
from orchestration.dbt_server import is_this_environments_dbt
from orchestration.run_launcher import run_process_alive

logger = logging.getLogger(__name__)

# Errors worth another attempt: the file lock, I/O, MLflow's SQLite store being busy. A load that
# found bad files or a dbt test that failed raise `dg.Failure(allow_retries=False)` instead.
# On the `lake` target, also DuckLake refusing a commit that conflicts with a concurrent one on
# the same table (orchestration/lake.py): the step redoes its whole transaction on the new state.
# And DuckDB's "Allocation failure" / "(bad allocation)": the machine, not DuckDB's own
# memory_limit, refused memory (other processes' peak); a later attempt usually gets it. Going
# over memory_limit ("failed to allocate data of size ... used") is not retried.
_TRANSIENT = re.compile(
    r"Could not set lock|IO Error|database is locked|Resource temporarily unavailable"
    r"|Transaction conflict|Failed to commit DuckLake transaction"
    r"|Out of Memory Error: (?:Allocation failure|.*\(bad allocation\))",
    re.IGNORECASE,
)
# 3 more attempts, 5, 15 and 35 s after each failure (Dagster's exponential backoff: (2^n - 1) x
# 5 s): long enough for a dbt or a notebook started by hand to release the file, short enough
# that a real failure surfaces within a minute. No jitter: the pool already keeps the steps of
# concurrent runs from retrying all at once.
WAREHOUSE_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL)
DBT_GUARD = Path(__file__).resolve().with_name("dbt_guard.py")
_UNFINISHED = {
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}


def is_transient_error(error: BaseException | str) -> bool:
    """Whether an error (or its message) is one a later attempt may not meet."""
    return bool(_TRANSIENT.search(str(error)))


@contextmanager
def retry_only_transient() -> Iterator[None]:
    """Let a retry policy repeat the step only for an error that a later attempt may not meet.

    Any other exception becomes `dg.Failure(allow_retries=False)` (chained to the original): a
    bug or a bad input would fail the same way three more times, minutes later.
    """
    try:
        yield
    except dg.Failure:
        raise
    except Exception as error:
        if is_transient_error(error):
            raise
        raise dg.Failure(
            description=f"{type(error).__name__}: {error}", allow_retries=False
        ) from error


class WarehouseLockedError(RuntimeError):
    """The warehouse file stayed locked by another process for longer than the resource waits."""


def release_slots_of_dead_runs(
    instance: dg.DagsterInstance, pool: str, log: logging.Logger | Any = logger
) -> list[str]:
    """Free the ``pool`` slots held (or queued for) by runs that cannot use them; return their ids.

    A run frees its slots when it ends. A run whose process was SIGKILLed never ends: it stays
    STARTED and keeps its slot, so every later step of the pool waits for it forever (the daemon's
    run monitoring catches this only for runs it launched, and only when configured). A slot is
    freed here if its run has finished, or if its run is unfinished but the process that executes
    it (same host: this is a stack on one machine) no longer exists; such a run is marked failed.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    info = storage.get_concurrency_info(pool)
    # Runs holding a slot, and runs queued for one (a dead queued run would be handed the slot).
    holders = info.active_run_ids | {step.run_id for step in info.pending_steps}
    released = []
    for run_id in sorted(holders):
        record = instance.get_run_record_by_id(run_id)
        if record is not None and record.dagster_run.status in _UNFINISHED:
            if run_process_alive(instance, run_id, record.start_time):
                continue
            instance.report_run_failed(
                record.dagster_run,
                message=f"The process executing this run is gone (killed?): a later run marked it "
                f"failed and freed its slot in pool '{pool}'.",
            )
        storage.free_concurrency_slots_for_run(run_id)
        log.warning(f"freed the '{pool}' pool slot held by run {run_id} (its process is gone)")
        released.append(run_id)
    return released


def _warehouse_pools(instance: dg.DagsterInstance) -> list[str]:
    """The pools of warehouse writers: `warehouse`, or on the lake target the per-table ones."""
    if settings.dbt_target() != "lake":
        return [settings.WAREHOUSE_POOL]
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    keys = storage.get_concurrency_keys()
    return sorted(key for key in keys if key.startswith(settings.LAKE_POOL_PREFIX))


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Only pipeline steps in the `warehouse` pool open it.

    `path` defaults to `settings.load().warehouse_path`, read when a step runs (not when the code
    loads), so tests can point the whole stack at a temporary directory.

    `connect()` waits up to `lock_timeout_seconds` for a lock held outside the pool (DuckDB says
    "Could not set lock"), retrying with a growing pause, then raises `WarehouseLockedError`
    naming the holder and what to do. At the start of a run it frees the pool slots of dead runs
    (`release_slots_of_dead_runs`).
    """

    path: str | None = None
    lock_timeout_seconds: float = 60.0
    _log: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._log = context.log or logger
        if context.instance is not None:
            for pool in _warehouse_pools(context.instance):
                release_slots_of_dead_runs(context.instance, pool, self._log)

    def resolved_path(self) -> str:
        return self.path or str(settings.load().warehouse_path)

    def _open(self, path: str) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_seconds
        pause = 0.5
        while True:
            try:
                return duckdb.connect(path)
            except duckdb.IOException as error:
                if "Could not set lock" not in str(error):
                    raise
                if time.monotonic() + pause > deadline:
                    raise WarehouseLockedError(
                        f"{path} stayed locked for {self.lock_timeout_seconds:.0f} s: {error}. "
                        "Another process writes or reads the warehouse outside the pipeline's "
                        "'warehouse' pool (a dbt, DuckDB CLI or notebook started by hand). Stop "
                        "it, or let it finish; then run again. Readers should use the serving "
                        "snapshot (data/serving/runway.duckdb) instead."
                    ) from error
                (self._log or logger).warning(
                    f"warehouse locked by another process, trying again in {pause:.1f} s: {error}"
                )
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse: the DuckDB file, or on target `lake` (RUNWAY_TARGET)
        an in-memory DuckDB with the DuckLake attached and in use (orchestration/lake.py)."""
        if settings.dbt_target() == "lake":
            from orchestration import lake

            con = lake.connect_lake(lake.LakeCatalog.from_env(), lake.install_extensions())
        else:
            path = self.resolved_path()
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            con = self._open(path)
        try:
            yield con
        finally:
            con.close()


@dg.resource(
    config_schema={
        "experiment_name": dg.Field(str, default_value=settings.MLFLOW_EXPERIMENT),
    },
    description="MLflow tracking through dagster-mlflow: one MLflow run per Dagster run, in the "
    "SQLite store and artifact folder of settings.load().",
)
def mlflow_tracking(init_context: dg.InitResourceContext):
    """dagster-mlflow's resource, created lazily.

    Importing mlflow costs ≈ 7 s here, so it happens only in runs that use this resource. The
    experiment is created first with an explicit artifact location: dagster-mlflow would otherwise
    create it with MLflow's default, relative to the working directory.
    """
    from dagster_mlflow.resources import MlFlow

    from ml.registry import ensure_experiment

    current = settings.load()
    current.mlflow_dir.mkdir(parents=True, exist_ok=True)
    experiment = init_context.resource_config["experiment_name"]
    ensure_experiment(current.mlflow_tracking_uri, experiment, current.mlflow_artifact_location)
    # MlFlow reads its settings from `resource_config`: hand it the resolved ones.
    resolved = init_context.replace_config(
        {
            "experiment_name": experiment,
            "mlflow_tracking_uri": current.mlflow_tracking_uri,
            "parent_run_id": None,
            "mlflow_run_id": None,
            "env": {},
            "env_to_tag": None,
            "extra_tags": {},
        }
    )
    tracking = MlFlow(resolved)
    try:
        yield tracking
    finally:
        # dagster-mlflow's `end_mlflow_on_run_finished` hook ends the MLflow run after the first
        # step (dagster#21872); we end it when the Dagster run releases its resources instead.
        # A failed step has already ended it with status FAILED (see ml_assets.py).
        tracking.end_run()


class RunwayDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, with dbt started through `orchestration/dbt_guard.py` on Linux.

    The guard makes the dbt process die with the Dagster process that started it (a SIGKILLed
    run would otherwise leave dbt running and holding the warehouse lock). `cli()` hands the
    guard the real dbt, this process's pid and this Python through the environment.
    """

    real_dbt_executable: str = "dbt"

    @cached_property
    def _cli_version(self) -> Version:
        """dbt's version without `dbt --version`, when the real dbt is this venv's own.

        dagster-dbt runs `dbt --version` once per run to learn it: one more dbt process, ≈ 8 s
        of CPU for its imports (30 s on two loaded cores), before every run's first dbt step.
        The `dbt` beside this interpreter is dbt-core's entry point in this environment: its
        version is the installed package's. Any other dbt is asked, as dagster-dbt does.
        """
        if is_this_environments_dbt(self.real_dbt_executable):
            return parse_version(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):
        """No dbt adapter in this process: nothing here uses one.

        dagster-dbt builds one before each dbt call (≈ 5 s of CPU for dbt's imports the first
        time in a process, ≈ 1 s per call after), only for `fetch_row_counts()` and
        `fetch_column_metadata()`, which Runway does not call (transform.py counts the rows
        itself). Without an adapter those return nothing; dagster-dbt already runs without one
        when building it fails.
        """
        return None

    def cli(self, args, **kwargs):
        guarded = {
            "RUNWAY_DBT_EXECUTABLE": self.real_dbt_executable,
            "RUNWAY_DBT_PARENT_PID": str(os.getpid()),
            "RUNWAY_DBT_PYTHON": sys.executable,
        }
        with environment(guarded):
            return super().cli(args, **kwargs)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ inside the block, each variable as before afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stop_process(process, grace_seconds: float = 10.0) -> int | None:
    """End a child process that is still running: SIGINT (dbt cancels its queries), then SIGKILL.

    Returns its exit code. A step that stops reading dbt's output early (an error while turning
    dbt events into Dagster events) would otherwise leave dbt running with the warehouse locked.
    """
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter, so that a run works without the venv on PATH.
    local_dbt = Path(sys.executable).with_name("dbt")
    real_dbt = str(local_dbt) if local_dbt.exists() else "dbt"
    if sys.platform.startswith("linux") and os.access(DBT_GUARD, os.X_OK):
        return RunwayDbtCliResource(
            project_dir=runway_dbt_project,
            dbt_executable=str(DBT_GUARD),
            real_dbt_executable=real_dbt,
        )
    return DbtCliResource(project_dir=runway_dbt_project, dbt_executable=real_dbt)
