"""`WarmRunLauncher`: Dagster's default launcher, but each run forked from a warm worker.

Configured in `orchestration/dagster.yaml` (`run_launcher:`), so every run the daemon or the
webserver launches (sensors, automation, schedules, the UI's Materialize) goes through it. A run
is handed to the warm run worker of its code location (`orchestration/run_worker.py`: the code
location, scikit-learn and MLflow imported once), which forks a process that runs Dagster's own
`dagster api execute_run` for it: the run starts in ≈ 0.1 s instead of importing everything in a
new interpreter (issue #17: ≈ 10 s per run here, of which the code location ≈ 4-8 s and
scoring's imports ≈ 6 s). When there is no worker yet it is started and waited for (as long as a
cold start would take); if it does not answer, or for code that is not a Python module, the run
is launched the default way (`DefaultRunLauncher`: a new process from the code server).

Because Dagster cannot see inside our worker, this launcher does what a launcher must:

- `terminate`: SIGINT to the run's process, Dagster's interrupt (the run ends CANCELED; dbt,
  a child of the run, is stopped by dagster-dbt as on any interrupt);
- `check_run_worker_health`: whether the run's process (pid of its `RUN_START` event) still
  exists. With `run_monitoring` enabled (dagster.yaml), the daemon marks a run whose process
  died (SIGKILL, out of memory) FAILED within a poll interval, which also frees its pool slots.
  It answers for the runs launched the default way too (the same pid check).

This module is imported by the daemon and the webserver: it imports Dagster only, never the code
location.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dagster as dg
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import (
    CheckRunHealthResult,
    DefaultRunLauncher,
    LaunchRunContext,
    WorkerStatus,
)
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClassData, serialize_value

from orchestration import run_worker

PID_TAG = "runway/run_worker_pid"


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), None if there is no such process
    (or only its zombie).

    Linux reads /proc (so that a recycled pid is told apart from the original process); elsewhere
    only existence is known, reported as start 0.
    """
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return None
        if fields[0] in {"Z", "X"}:  # exited, not yet reaped by its parent
            return None
        ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, owned by someone else
    return 0.0


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing run ``run_id`` (its RUN_START event), if it started."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1, ascending=False
    ).records
    return records[0].event_log_entry.dagster_event.pid if records else None


def run_process_alive(instance: dg.DagsterInstance, run_id: str, started_at: float | None) -> bool:
    """Whether the process that executes run ``run_id`` (pid of its RUN_START event) still runs."""
    pid = run_pid(instance, run_id)
    if pid is None:
        return True  # unknown: never reap what we cannot prove dead
    return pid_alive(pid, started_at)


def pid_alive(pid: int, started_at: float | None) -> bool:
    """Whether process ``pid`` runs and is the one that started by ``started_at``."""
    started = process_start(pid)
    if started is None:
        return False
    # A process started after the run did is another process that got the same pid. (One second
    # of slack: /proc's start time is in clock ticks.)
    return not (started_at and started > started_at + 1)


class WarmRunLauncher(DefaultRunLauncher):
    """Runs forked from a warm worker (see the module docstring); the default launcher otherwise.

    Config: `wait_seconds` (default 120), how long a launch waits for a new worker to import the
    code location before launching the run the default way.
    """

    def __init__(self, inst_data: ConfigurableClassData | None = None, wait_seconds: float = 120):
        super().__init__(inst_data=inst_data)
        self.wait_seconds = wait_seconds

    @classmethod
    def config_type(cls):
        return {"wait_seconds": dg.Field(float, is_required=False, default_value=120.0)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        pointer = origin.repository_origin.code_pointer if origin is not None else None
        if not run_worker.enabled() or not isinstance(pointer, ModuleCodePointer):
            return super().launch_run(context)
        args = ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref()
        )
        pid = run_worker.launch(
            serialize_value(args),
            origin.executable_path,
            pointer.module,
            pointer.working_directory,
            self.wait_seconds,
        )
        if pid is None:
            self._instance.report_engine_event(
                "The warm run worker did not answer: launching the run in a new process.", run
            )
            return super().launch_run(context)
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(pid)})
        self._instance.report_engine_event(
            f"Launched in a process forked from the warm run worker (pid {pid}).", run
        )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or PID_TAG not in run.tags:
            return super().terminate(run_id)
        pid = int(run.tags[PID_TAG])
        if run.is_finished or process_start(pid) is None:
            return False
        self._instance.report_run_canceling(run)
        os.kill(pid, signal.SIGINT)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        record = self._instance.get_run_record_by_id(run.run_id)
        started_at = record.start_time if record is not None else None
        pid = run_pid(self._instance, run.run_id)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run's process has not started")
        if pid_alive(pid, started_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, "the run's process is gone (killed, out of memory, crashed)"
        )
