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
import select
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
{% macro say(names) %}
  {% for name in names %}{{ print(name ~ "=" ~ env_var(name, "<unset>")) }}{% endfor %}
{% endmacro %}
{% macro fail() %}{{ exceptions.raise_compiler_error("probe failure") }}{% endmacro %}
{% macro long() %}
  {{ print("LONG QUERY STARTS") }}
  {% do run_query("select sum(hash(range)) from range(10000000000)") %}
{% endmacro %}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("dbt_server")
    project = root / "project"
    (project / "macros").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT)
    (project / "profiles.yml").write_text(PROFILES)
    (project / "macros" / "probe.sql").write_text(MACROS)
    servers = root / "servers"
    env = {
        **os.environ,
        "RUNWAY_DBT_EXECUTABLE": str(DBT),
        "RUNWAY_DBT_PYTHON": sys.executable,
        "RUNWAY_DBT_SERVER_DIR": str(servers),
        "RUNWAY_DBT_SERVER_IDLE_SECONDS": "300",
        "DBT_PROFILES_DIR": str(project),
        "PROBE_DB": str(root / "probe.duckdb"),
        "DO_NOT_TRACK": "1",
    }
    env.pop("RUNWAY_DBT_PARENT_PID", None)
    env.pop("RUNWAY_DBT_WARM", None)
    yield {"project": project, "env": env, "servers": servers}
    for process in psutil.process_iter(["cmdline"]):
        if str(servers) in " ".join(process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


@pytest.fixture(scope="module")
def server(probe: dict) -> dict:
    """The module's one server: started by a first call, which itself runs cold."""
    assert not list(probe["servers"].glob("*.sock"))
    first = _say(probe, dbt_server.SERVED_BY)[dbt_server.SERVED_BY]
    return {"pid": _server_up(probe), "first_call_served_by": first}


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


def _say(probe: dict, *names: str, **env: str) -> dict[str, str]:
    """The values of environment variables `names` as a dbt call (warm or cold) sees them."""
    done = _guard(probe, "run-operation", "say", "--args", f"{{names: {list(names)}}}", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {name: said[name] for name in names}


def test_the_first_call_is_cold_and_starts_the_server_later_calls_are_forked_by_it(
    probe, server
) -> None:
    assert server["first_call_served_by"] == "<unset>"  # cold: exec'ed by the guard
    # Each call has its caller's environment, not the server's nor the previous call's.
    served = str(server["pid"])
    said = _say(probe, dbt_server.SERVED_BY, "PROBE_VALUE", PROBE_VALUE="first")
    assert said == {dbt_server.SERVED_BY: served, "PROBE_VALUE": "first"}
    said = _say(probe, dbt_server.SERVED_BY, "PROBE_VALUE")
    assert said == {dbt_server.SERVED_BY: served, "PROBE_VALUE": "<unset>"}


def test_a_warm_call_exits_and_prints_as_a_cold_one(probe, server) -> None:
    cold = _guard(probe, "run-operation", "fail", RUNWAY_DBT_WARM="0")
    warm = _guard(probe, "run-operation", "fail")
    assert cold.returncode == warm.returncode != 0
    assert "probe failure" in cold.stdout and "probe failure" in warm.stdout
    usage = _guard(probe, "no-such-command")  # click's usage error: exit code 2
    assert usage.returncode == 2 and "No such command 'no-such-command'" in usage.stderr


def test_off_means_cold_even_with_a_server_up(probe, server) -> None:
    said = _say(probe, dbt_server.SERVED_BY, RUNWAY_DBT_WARM="0")
    assert said == {dbt_server.SERVED_BY: "<unset>"}


def test_a_warm_dbt_dies_with_its_caller(probe, server) -> None:
    """The guard is SIGKILLed with the Dagster run (PR_SET_PDEATHSIG): its dbt must go too."""
    guard = _start_guard(probe, "run-operation", "long")
    try:
        child = _the_warm_child(server["pid"])
        time.sleep(2)  # inside the long query (minutes)
        assert child.is_running(), guard.communicate()[0]
        guard.kill()
        guard.wait()
        gone, alive = psutil.wait_procs([child], timeout=30)
        assert alive == [] and gone == [child]
    finally:
        guard.kill()
        guard.communicate()


def test_sigint_to_the_caller_stops_the_warm_dbt(probe, server) -> None:
    """dagster-dbt cancels dbt with SIGINT: forwarded, dbt stops and the call fails.

    The signal goes once the long query runs: during its start-up dbt may swallow a
    KeyboardInterrupt (seen on a quiet machine, where 2 s after the fork dbt was still loading
    its macros and then ran to the end); dagster-dbt's caller (`resources.stop_process`) kills
    dbt after a grace period for that case."""
    guard = _start_guard(probe, "run-operation", "long")
    try:
        child = _the_warm_child(server["pid"])
        started = _read_until(guard, "LONG QUERY STARTS", timeout=120)
        time.sleep(0.5)
        guard.send_signal(signal.SIGINT)
        output, _ = guard.communicate(timeout=60)
        output = started + output
        assert guard.returncode != 0, output
        gone, alive = psutil.wait_procs([child], timeout=30)
        assert alive == [], output
    finally:
        guard.kill()
        guard.communicate()


def _read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    """The process's output up to the line holding `marker` (bounded wait)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.5)[0]:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if marker in line:
                return "".join(lines)
    raise AssertionError(f"{marker!r} never printed:\n{''.join(lines)}")


def _the_warm_child(server_pid: int) -> psutil.Process:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = [c for c in psutil.Process(server_pid).children() if c.is_running()]
        if children:
            (child,) = children
            return child
        time.sleep(0.2)
    raise AssertionError("the server forked no child for the call within 60 s")


def test_only_the_duckdb_target_goes_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """On `lake` a forked dbt crashed inside the ducklake extension: lake and spark run cold."""
    monkeypatch.delenv("RUNWAY_DBT_WARM", raising=False)
    monkeypatch.delenv("RUNWAY_TARGET", raising=False)
    assert dbt_server.enabled(["build", "--target", "duckdb"])
    assert dbt_server.enabled(["build"])
    assert not dbt_server.enabled(["build", "--target", "lake"])
    assert not dbt_server.enabled(["build", "--target=spark"])
    monkeypatch.setenv("RUNWAY_TARGET", "lake")
    assert not dbt_server.enabled(["build"])
    monkeypatch.setenv("RUNWAY_TARGET", "duckdb")
    monkeypatch.setenv("RUNWAY_DBT_WARM", "0")
    assert not dbt_server.enabled(["build", "--target", "duckdb"])


def test_stop_ends_the_server_and_removes_its_socket(probe, server) -> None:
    """What `make run` does at its end (orchestration/materialize.py): no server left behind.
    Last in this module: it stops the module's server."""
    (sock,) = probe["servers"].glob("*.sock")
    assert dbt_server.stop(sock) == server["pid"]
    deadline = time.monotonic() + 30
    while (sock.exists() or psutil.pid_exists(server["pid"])) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sock.exists()
    assert not psutil.pid_exists(server["pid"]) or (
        psutil.Process(server["pid"]).status() == psutil.STATUS_ZOMBIE
    )
    assert dbt_server.stop(sock) is None  # nothing left to stop
