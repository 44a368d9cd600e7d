"""The warm run launcher (orchestration/run_launcher.py) with its real worker and real runs.

`dagster job launch` on a temporary instance whose dagster.yaml is the repository's (the
`WarmRunLauncher`, run monitoring) launches jobs of a tiny code location (warm_code/warm_jobs.py):
the run must execute in a process forked from the worker (not a new interpreter), be the
process its RUN_START names, end SUCCESS; a sleeping run must be interrupted by `terminate`
(CANCELED), and one whose process is SIGKILLed must be reported FAILED by the health check that
run monitoring calls. The worker exits once the process that started it (the CLI) is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.launcher import WorkerStatus

from orchestration import run_launcher, settings

CODE = Path(__file__).resolve().parent / "warm_code"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((settings.REPO_ROOT / "orchestration" / "dagster.yaml").read_text())
    # The repository's launcher and monitoring; runs launched at once (no daemon to dequeue).
    config["run_coordinator"] = {
        "module": "dagster.core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("RUNWAY_RUN_WORKER_DIR", str(tmp_path / "workers"))
    monkeypatch.setenv("WARM_TEST_OUT", str(tmp_path / "process.json"))
    return home


def launch(job: str) -> str:
    """`dagster job launch` of `job`; the new run's id.

    Its output goes to a file, not a pipe: the worker and the runs it forks write to the output
    of the process that started the worker (the daemon's terminal under `make dev`), and a pipe
    would stay open as long as a run does.
    """
    before = time.time()
    log = Path(os.environ["WARM_TEST_OUT"]).with_name(f"launch-{job}.log")
    with log.open("ab") as output:
        subprocess.run(
            [sys.executable, "-m", "dagster", "job", "launch"]
            + ["-m", "warm_jobs", "-d", str(CODE), "-j", job],
            cwd=CODE,
            env=os.environ,
            check=True,
            stdout=output,
            stderr=output,
            timeout=300,
        )
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(limit=1)
        assert records and records[0].create_timestamp.timestamp() >= before - 1
        return records[0].dagster_run.run_id


def wait_for(run_id: str, statuses, timeout: float = 180) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.get() as instance:
        while True:
            run = instance.get_run_by_id(run_id)
            if run.status in statuses or time.monotonic() > deadline:
                return run
            time.sleep(0.5)


def test_a_run_executes_in_a_process_forked_from_the_warm_worker(home: Path, tmp_path: Path):
    run_id = launch("records_its_process")
    run = wait_for(run_id, FINISHED)
    assert run.status == dg.DagsterRunStatus.SUCCESS

    ran_in = json.loads((tmp_path / "process.json").read_text())
    assert ran_in["run_id"] == run_id
    assert run.tags[run_launcher.PID_TAG] == str(ran_in["pid"])
    with dg.DagsterInstance.get() as instance:
        assert run_launcher.run_pid(instance, run_id) == ran_in["pid"]
        messages = [
            r.event_log_entry.message or "" for r in instance.get_records_for_run(run_id).records
        ]
    assert any("forked from the warm run worker" in message for message in messages)
    # Forked from the worker, which then exits: the CLI that started it is gone.
    sockets = lambda: list((tmp_path / "workers").glob("*.sock"))  # noqa: E731
    deadline = time.monotonic() + 30
    while sockets() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not sockets(), "the worker outlived the process that started it"


def test_terminate_interrupts_the_run_and_a_killed_run_is_reported_failed(home: Path):
    with dg.DagsterInstance.get() as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, run_launcher.WarmRunLauncher)

        cancelled = launch("sleeps")
        assert (
            wait_for(cancelled, {dg.DagsterRunStatus.STARTED}).status == dg.DagsterRunStatus.STARTED
        )
        assert launcher.check_run_worker_health(instance.get_run_by_id(cancelled)).status == (
            WorkerStatus.RUNNING
        )
        assert launcher.terminate(cancelled)
        assert wait_for(cancelled, FINISHED).status == dg.DagsterRunStatus.CANCELED

        killed = launch("sleeps")
        run = wait_for(killed, {dg.DagsterRunStatus.STARTED})
        os.kill(int(run.tags[run_launcher.PID_TAG]), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while launcher.check_run_worker_health(run).status != WorkerStatus.FAILED:
            assert time.monotonic() < deadline, "a killed run's process still looks alive"
            time.sleep(0.2)
        # The run itself still says STARTED: run monitoring (the daemon) marks it failed.
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
