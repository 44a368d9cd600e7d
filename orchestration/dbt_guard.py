#!/bin/sh
# fmt: off
"exec" "${RUNWAY_DBT_PYTHON:-python3}" "$0" "$@"
# fmt: on
# ruff: noqa: E402
# The "exec" line is shell for "run this file with the venv's Python" and a harmless string in
# Python: the file is both a /bin/sh script and a Python script, so it needs no interpreter path.
"""The dbt executable that Dagster starts: dbt, bound to the life of the process starting it.

dagster-dbt runs dbt as a child process. If the Dagster run process is SIGKILLed (OOM killer,
`kill -9`, a crashed run worker), nothing stops that child: dbt goes on writing and holds the
DuckDB file lock until it finishes, and the next run fails with "Could not set lock". On Linux
this wrapper asks the kernel to SIGKILL it when its parent dies (``PR_SET_PDEATHSIG``, kept
across ``exec``), checks that the parent is still the one that started it (it may have died
before the request), then replaces itself with the real dbt: same process, same arguments.
DuckDB then rolls back the unfinished transaction the next time the file is opened.

``DbtCliResource`` has no hook to pass a ``preexec_fn`` to its ``subprocess.Popen`` (and
``preexec_fn`` is unsafe in a process with threads), hence an executable in front of dbt. Set by
``orchestration.resources.RunwayDbtCliResource``:

- ``RUNWAY_DBT_EXECUTABLE``: the real dbt (default: ``dbt`` on PATH);
- ``RUNWAY_DBT_PARENT_PID``: the pid of the process that starts dbt;
- ``RUNWAY_DBT_PYTHON``: the Python that runs this file (default: ``python3``).

Elsewhere than Linux it only runs dbt (no parent-death signal there). Linux sends the signal
when the *thread* that started dbt ends: here the thread running the step, which waits for dbt.

When the real dbt is this environment's own, the call goes to the warm dbt server
(``orchestration/dbt_server.py``: dbt already imported, each call a forked child that prints to
this process's stdout/stderr and dies when this process does), and only when no server answers
is dbt exec'ed cold here. Only for the ``duckdb`` target; ``RUNWAY_DBT_WARM=0``: always cold.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def bind_to_parent(expected_parent: int | None) -> bool:
    """Ask for SIGKILL when the parent dies; False if the parent is already gone."""
    if not sys.platform.startswith("linux"):
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        print(f"dbt_guard: prctl(PR_SET_PDEATHSIG) failed: {os.strerror(error)}", file=sys.stderr)
        return True  # dbt still runs, only without the guard
    return expected_parent is None or os.getppid() == expected_parent


def main(argv: list[str]) -> int:
    dbt = os.environ.get("RUNWAY_DBT_EXECUTABLE") or "dbt"
    parent = os.environ.get("RUNWAY_DBT_PARENT_PID")
    if not bind_to_parent(int(parent) if parent else None):
        print("dbt_guard: the process that started dbt has exited; dbt not run", file=sys.stderr)
        return 1
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dbt_server

    if dbt_server.is_this_environments_dbt(dbt) and dbt_server.enabled(argv):
        code = dbt_server.run_warm(argv)
        if code is not None:
            return code
    os.execvp(dbt, [dbt, *argv])
    return 1  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
