"""Warm run worker: Dagster runs forked from a process that has the code location imported.

Dagster's `DefaultRunLauncher` starts each run in a new interpreter (the code server spawns it),
which imports the code location before the first step: ≈ 4 s of CPU here on a quiet machine,
8-30 s on two loaded cores, for runs whose work is often a few seconds (a delivered day). The
scoring step then imports scikit-learn, skops and MLflow (≈ 6 s more). This worker imports all of
that once, listens on a Unix socket and, for each run the launcher hands it
(`orchestration/run_launcher.py`), forks a child that *is* that run: the child runs Dagster's own
run entry point, `dagster api execute_run <ExecuteRunArgs>` (what every subprocess, Docker or
Kubernetes launcher runs), in-process. The run is then exactly a Dagster run: its events, its
process id in `RUN_START`, SIGINT to interrupt it, run monitoring to notice it died.

One worker per launcher process, interpreter, code location and state of the code: the socket's
name is a hash of the environment, the Python executable, the module, and the modification
times of the project's Python files and dbt manifest. Edit the code (or `make install` a new
manifest) and the next run starts a new worker; the old one idles out. A worker exits when the
process that started it (the Dagster daemon) is gone, or after `IDLE_SECONDS` without a run, so
`make dev` leaves none behind; runs it forked go on to their end (they are their own sessions).

Imports only, no Dagster instance and no database in the worker before it forks (a child must
not share a SQLite or DuckDB connection with its siblings). `import duckdb` starts one thread
(its default database's scheduler): children never use that default database (see
orchestration/dbt_server.py, which forks dbt calls the same way). `RUNWAY_RUN_WORKER=0` turns
the worker off: every run starts cold, as with Dagster's default launcher.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

IDLE_SECONDS = int(os.environ.get("RUNWAY_RUN_WORKER_IDLE_SECONDS", "900"))
# The launcher's process: the worker exits when it is gone.
PARENT_ENV = "RUNWAY_RUN_WORKER_PARENT"
# A code location module may name, in this attribute, the modules its steps import in their
# bodies (orchestration/definitions.py: scoring's scikit-learn, skops and MLflow): the worker
# imports them too, once for every run it forks.
PRELOAD_ATTRIBUTE = "RUN_WORKER_PRELOAD"
_REPO = Path(__file__).resolve().parent.parent
_CODE_DIRS = ("orchestration", "ml")
_MANIFEST = _REPO / "dbt_project" / "target" / "manifest.json"


def enabled() -> bool:
    return os.environ.get("RUNWAY_RUN_WORKER", "1").strip().lower() not in {"0", "false", "no"}


def server_dir() -> Path:
    base = os.environ.get("RUNWAY_RUN_WORKER_DIR")
    return Path(base) if base else Path("/tmp") / f"runway-runs-{os.getuid()}"


def _code_state() -> list[str]:
    """Modification times of the project's Python files and the dbt manifest."""
    state = []
    for folder in _CODE_DIRS:
        for path in sorted((_REPO / folder).rglob("*.py")):
            with contextlib.suppress(OSError):
                state.append(f"{path}:{path.stat().st_mtime_ns}")
    with contextlib.suppress(OSError):
        state.append(f"{_MANIFEST}:{_MANIFEST.stat().st_mtime_ns}")
    return state


def socket_path(executable: str, module: str, working_directory: str | None) -> Path:
    """The socket of the worker for this launcher process, interpreter, module and code."""
    key = json.dumps(
        {
            "parent": os.getpid(),
            "env": sorted(os.environ.items()),
            "python": executable,
            "module": module,
            "cwd": working_directory,
            "code": _code_state(),
        }
    )
    return server_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.sock"


# --- the launcher's side ---------------------------------------------------------------------


def start(path: Path, executable: str, module: str, working_directory: str | None) -> None:
    """Start a worker in the background (its own session), writing to this process's output."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.Popen(
        [executable, "-m", "orchestration.run_worker", str(path), module],
        cwd=working_directory or None,
        env={**os.environ, PARENT_ENV: str(os.getpid())},
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def submit(path: Path, execute_run_args: str, timeout: float = 10.0) -> int | None:
    """Hand the worker at `path` a run (`ExecuteRunArgs`, serialized); the run's pid, or None
    if no worker answered."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(str(path))
        client.sendall(json.dumps({"args": execute_run_args}).encode() + b"\n")
        reply = client.makefile("rb").readline()
    except OSError:
        return None
    finally:
        client.close()
    return json.loads(reply)["pid"] if reply else None


def launch(
    execute_run_args: str,
    executable: str,
    module: str,
    working_directory: str | None,
    wait_seconds: float,
) -> int | None:
    """The pid of the run forked by this code's worker (started first if need be, then waited
    for up to `wait_seconds`), or None: the caller then launches the run cold."""
    path = socket_path(executable, module, working_directory)
    pid = submit(path, execute_run_args)
    if pid is not None:
        return pid
    start(path, executable, module, working_directory)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if path.exists():
            pid = submit(path, execute_run_args)
            if pid is not None:
                return pid
    return None


# --- the worker --------------------------------------------------------------------------------


def serve(path: Path, module: str) -> None:
    """Import the code location, then fork a run per request until idle or orphaned."""
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 - held while serving
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another worker for this key is starting or serving
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    started = time.monotonic()
    _preload(module)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path) + ".tmp")
    os.chmod(str(path) + ".tmp", 0o600)
    os.replace(str(path) + ".tmp", path)  # appears only once it listens
    bound = path.stat().st_ino
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runs are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        f"run worker {os.getpid()}: {module} imported in {time.monotonic() - started:.1f} s, "
        f"listening on {path}",
        flush=True,
    )
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < IDLE_SECONDS and _alive(parent):
            if not select.select([listener], [], [], 2.0)[0]:
                continue
            connection, _ = listener.accept()
            idle_since = time.monotonic()
            if os.fork() == 0:
                listener.close()
                os._exit(_run(connection))
            connection.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == bound:
                path.unlink()
        listener.close()


def _preload(module: str) -> None:
    definitions = importlib.import_module(module)
    for name in getattr(definitions, PRELOAD_ATTRIBUTE, ()):
        importlib.import_module(name)
    # What `dagster api execute_run` builds from the module: the repository and its asset graph
    # (cached on the Definitions object, so each child finds them built).
    defs = getattr(definitions, "defs", None)
    if defs is not None:
        defs.get_repository_def().asset_graph  # noqa: B018


def _alive(parent: int) -> bool:
    """The launcher that started this worker still runs (an orphan is re-parented)."""
    return os.getppid() == parent


def _run(connection: socket.socket) -> int:
    """In the forked child: become `dagster api execute_run <args>`."""
    # Dagster's own handlers take over from here (SIGINT interrupts the run); dbt's subprocess
    # must be waited for, so SIGCHLD is no longer ignored.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()  # its own session: a signal to the worker is not a signal to the run
    try:
        request = json.loads(connection.makefile("rb").readline())
        connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    except (OSError, ValueError):
        return 1
    finally:
        connection.close()
    os.environ.pop(PARENT_ENV, None)
    from dagster._cli.api import execute_run_command

    sys.argv = ["dagster", "api", "execute_run", request["args"]]
    try:
        execute_run_command.main(
            args=[request["args"]], prog_name="dagster api execute_run", standalone_mode=False
        )
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    # What a normal exit does (the child leaves with os._exit: the worker's loop is not its own).
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2])
