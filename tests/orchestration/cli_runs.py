"""Real `dagster asset materialize` processes on a Runway stack, and what their runs recorded.

Used by the concurrency and crash-safety tests: each run is the project's own CLI in its own
process, on the stack's persistent Dagster instance (pools need one), with its output in a file
the test can watch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
from pipeline_base import CLEARED, stack_env

from orchestration import settings

STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}
LOCK_ERROR = "Could not set lock"
LOCK_WAIT = "warehouse locked by another process"  # WarehouseResource waiting for the lock


def cli_env(root: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in CLEARED}
    return {**env, **stack_env(root)}


def start_materialize(root: Path, log: Path, *args: str) -> subprocess.Popen:
    """`dagster asset materialize -m orchestration.definitions ARGS` on the stack at ``root``."""
    command = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "orchestration.definitions",
        *args,
    ]
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=settings.REPO_ROOT,
            env=cli_env(root),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for_output(
    process: subprocess.Popen, log: Path, text: str, timeout: float = 600, poll: float = 0.05
) -> None:
    """Wait until ``text`` is in the process's output; fail if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(
                f"exited ({process.returncode}) before printing {text!r}:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(poll)
    raise AssertionError(
        f"no {text!r} after {timeout} s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def stop(process: subprocess.Popen) -> None:
    """SIGKILL a process this test started, if it still runs."""
    if process.poll() is None:
        process.kill()
        process.wait()


def instance(root: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(root / "dagster_home"))


def run_id_of(log: Path) -> str:
    """The run id a `dagster asset materialize` process printed with its RUN_START."""
    for line in log.read_text(errors="replace").splitlines():
        if " - RUN_START - " in line:
            return line.split(" - ")[4]
    raise AssertionError(f"no RUN_START in {log}")


def step_windows(dagster: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float | None]]:
    """(start, end) timestamps of each step of the run; end None if the step never finished."""
    windows: dict[str, list] = {}
    for record in dagster.get_records_for_run(run_id, of_type=STEP_EVENTS).records:
        entry = record.event_log_entry
        window = windows.setdefault(entry.step_key, [None, None])
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            window[0] = entry.timestamp
        else:
            window[1] = entry.timestamp
    return {step: (start, end) for step, (start, end) in windows.items()}


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
