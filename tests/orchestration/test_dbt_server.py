"""Warm dbt (orchestration/dbt_server.py) through the guard, as dagster-dbt starts it.

A tiny dbt project of its own (DuckDB profile in the project folder, macros that print an
environment variable, fail, or run a long query), called through `orchestration/dbt_guard.py`
with the environment `RunwayDbtCliResource` gives it, and a server folder of the test's own.
The first call runs cold and starts the server; later ones are forked by it: they must read the
caller's working directory and environment, print to the caller's stdout/stderr, exit with
dbt's code, stop on the caller's SIGINT, and die with the caller.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from orchestration import dbt_server, settings

GUARD = settings.REPO_ROOT / "orchestration" / "dbt_guard.py"
DBT = Path(sys.executable).with_name("dbt")
PROJECT = """
name: warm_probe
version: "1.0.0"
profile: warm_probe
macro-paths: ["macros"]
flags:
  send_anonymous_usage_stats: false
"""
PROFILES = """
warm_probe:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('PROBE_DB') }}"
      threads: 1
"""
MACROS = """
{% macro say(name) %}{{ print("VALUE=" ~ env_var(name, "<unset>")) }}{% endmacro %}
{% macro fail() %}{{ exceptions.raise_compiler_error("probe failure") }}{% endmacro %}
{% macro long() %}
  {% do run_query("select sum(hash(range)) from range(10000000000)") %}
{% endmacro %}
"""


@pytest.fixture
def probe(tmp_path: Path) -> dict:
    project = tmp_path / "project"
    (project / "macros").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT)
    (project / "profiles.yml").write_text(PROFILES)
    (project / "macros" / "probe.sql").write_text(MACROS)
    servers = tmp_path / "servers"
    env = {
        **os.environ,
        "RUNWAY_DBT_EXECUTABLE": str(DBT),
        "RUNWAY_DBT_PYTHON": sys.executable,
        "RUNWAY_DBT_SERVER_DIR": str(servers),
        "RUNWAY_DBT_SERVER_IDLE_SECONDS": "120",
        "DBT_PROFILES_DIR": str(project),
        "PROBE_DB": str(tmp_path / "probe.duckdb"),
        "DO_NOT_TRACK": "1",
    }
    env.pop("RUNWAY_DBT_PARENT_PID", None)
    env.pop("RUNWAY_DBT_WARM", None)
    yield {"project": project, "env": env, "servers": servers}
    for process in psutil.process_iter(["cmdline"]):
        if str(servers) in " ".join(process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _guard(probe: dict, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(GUARD), *args],
        cwd=probe["project"],
        env={**probe["env"], **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _start_guard(probe: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(GUARD), *args],
        cwd=probe["project"],
        env=probe["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _server_up(probe: dict) -> int:
    """Wait (bounded) until this environment's server listens; its pid (from its log)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for log in probe["servers"].glob("*.log"):
            for line in log.read_text().splitlines():
                if line.startswith("dbt server ") and " listening on " in line:
                    return int(line.split()[2])
        time.sleep(0.5)
    log = "".join(p.read_text() for p in probe["servers"].glob("*.log"))
    raise AssertionError(f"no dbt server listening within 120 s; its log:\n{log}")


def _say(probe: dict, name: str, **env: str) -> str:
    done = _guard(probe, "run-operation", "say", "--args", f"{{name: {name}}}", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("VALUE=")]
    return line.removeprefix("VALUE=")


def _warm_children(server_pid: int) -> list[psutil.Process]:
    return psutil.Process(server_pid).children()


def test_the_first_call_is_cold_and_starts_the_server_later_calls_are_forked_by_it(probe) -> None:
    assert _say(probe, dbt_server.SERVED_BY) == "<unset>"  # cold: exec'ed by the guard
    server = _server_up(probe)
    assert _say(probe, dbt_server.SERVED_BY) == str(server)
    # Each call has its caller's environment, not the server's nor the previous call's.
    assert _say(probe, "PROBE_VALUE", PROBE_VALUE="first") == "first"
    assert _say(probe, "PROBE_VALUE", PROBE_VALUE="second") == "second"
    assert _say(probe, "PROBE_VALUE") == "<unset>"


def test_a_warm_call_exits_and_prints_as_a_cold_one(probe) -> None:
    _say(probe, "HOME")
    _server_up(probe)
    cold = _guard(probe, "run-operation", "fail", RUNWAY_DBT_WARM="0")
    warm = _guard(probe, "run-operation", "fail")
    assert cold.returncode == warm.returncode != 0
    assert "probe failure" in cold.stdout and "probe failure" in warm.stdout
    usage_cold = _guard(probe, "no-such-command", RUNWAY_DBT_WARM="0")
    usage_warm = _guard(probe, "no-such-command")
    assert usage_cold.returncode == usage_warm.returncode == 2
    assert usage_warm.stderr.strip() == usage_cold.stderr.strip()


def test_off_means_cold_and_no_server(probe) -> None:
    assert _say(probe, dbt_server.SERVED_BY, RUNWAY_DBT_WARM="0") == "<unset>"
    assert not list(probe["servers"].glob("*.sock"))


def test_a_warm_dbt_dies_with_its_caller(probe) -> None:
    """The guard is SIGKILLed with the Dagster run (PR_SET_PDEATHSIG): its dbt must go too."""
    _say(probe, "HOME")
    server = _server_up(probe)
    guard = _start_guard(probe, "run-operation", "long")
    try:
        deadline = time.monotonic() + 60
        while not _warm_children(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        (child,) = _warm_children(server)
        time.sleep(2)  # inside the long query (minutes)
        assert child.is_running(), guard.communicate()[0]
        guard.kill()
        guard.wait()
        gone, alive = psutil.wait_procs([child], timeout=30)
        assert alive == [] and gone == [child]
    finally:
        guard.kill()
        guard.communicate()


def test_sigint_to_the_caller_stops_the_warm_dbt(probe) -> None:
    """dagster-dbt cancels dbt with SIGINT: forwarded, dbt stops and the call fails."""
    _say(probe, "HOME")
    server = _server_up(probe)
    guard = _start_guard(probe, "run-operation", "long")
    try:
        deadline = time.monotonic() + 60
        while not _warm_children(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        (child,) = _warm_children(server)
        time.sleep(2)
        guard.send_signal(signal.SIGINT)
        output, _ = guard.communicate(timeout=60)
        assert guard.returncode != 0, output
        gone, alive = psutil.wait_procs([child], timeout=30)
        assert alive == [], output
    finally:
        guard.kill()
        guard.communicate()
