"""Warm dbt: a process with dbt already imported forks each dbt call, instead of a cold start.

Starting dbt costs ≈ 7 s of CPU here before it reads a file: its imports (dbt-core, the
adapter, mashumaro compiling its dataclasses' (de)serializers), paid again by every `dbt`
process, three per Dagster run of the whole graph. This server imports dbt once, listens on a
Unix socket, and for each call forks a child that *is* that dbt call: the caller's arguments,
working directory, environment, umask and standard input/output/error (passed as file
descriptors). A forked call starts in ≈ 0.1 s; what it then does (parse, build) is unchanged.

The client is `orchestration/dbt_guard.py`, the executable dagster-dbt starts (`run_warm()`):

- the dbt in the child prints to the guard's own stdout/stderr, so dagster-dbt reads the same
  JSON log lines as from a cold dbt, and the guard exits with dbt's exit code;
- the guard forwards SIGINT/SIGTERM to the child (dagster-dbt cancels dbt with SIGINT);
- the guard dies with the Dagster run (``PR_SET_PDEATHSIG``), and a child whose guard's
  connection closes kills itself at once: a SIGKILLed run still leaves no dbt holding the
  warehouse (tests/orchestration/test_crash_safety.py, tests/orchestration/test_dbt_server.py).

No server yet (the first call after a boot, a new venv, an idle timeout): the guard starts one
in the background and runs this call cold, as before; later calls find it listening. One server
per user and environment: its socket's name is a hash of the Python environment (its prefix
and the modification time of its site-packages, which any install or upgrade changes) and of
this file, so a changed environment or server starts a new one and the old one idles out
(`IDLE_SECONDS`). Only dbt and its DuckDB adapter are imported here, never Runway's code, so a
change to the project needs no restart. `RUNWAY_DBT_WARM=0` turns it off (every call cold).
"""

from __future__ import annotations

import array
import atexit
import contextlib
import fcntl
import hashlib
import io
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

IDLE_SECONDS = int(os.environ.get("RUNWAY_DBT_SERVER_IDLE_SECONDS", "1800"))
_HEADER = struct.Struct("!I")
_FORWARDED = (signal.SIGINT, signal.SIGTERM)
# Set in a warm call's environment: the pid of the server that forked it.
SERVED_BY = "RUNWAY_DBT_SERVED_BY"


def enabled(argv: list[str]) -> bool:
    """Warm for the `duckdb` target only, unless `RUNWAY_DBT_WARM=0`.

    On `lake` a forked dbt crashed once (CI, session 7: a segfault inside the ducklake
    extension; the child inherits the server's DuckDB module state, including the default
    database's thread it lacks). Calls for `lake` and `spark` run cold, as before warm dbt."""
    if os.environ.get("RUNWAY_DBT_WARM", "1").strip().lower() in {"0", "false", "no"}:
        return False
    return _target(argv) == "duckdb"


def _target(argv: list[str]) -> str:
    """The dbt target of a call: its `--target`/`-t`, else the profile's ($RUNWAY_TARGET)."""
    for i, arg in enumerate(argv):
        if arg in ("--target", "-t") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
    return os.environ.get("RUNWAY_TARGET") or "duckdb"


def server_dir() -> Path:
    base = os.environ.get("RUNWAY_DBT_SERVER_DIR")
    return Path(base) if base else Path("/tmp") / f"runway-dbt-{os.getuid()}"


def socket_path() -> Path:
    """This environment's server socket: a new one whenever the environment or this file changes."""
    site = sysconfig.get_paths()["purelib"]
    key = "|".join(
        (
            sys.prefix,
            str(os.stat(site).st_mtime_ns),
            str(os.stat(__file__).st_mtime_ns),
        )
    )
    return server_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.sock"


def is_this_environments_dbt(executable: str) -> bool:
    """`executable` (a path, or a name on PATH) is dbt-core's entry point beside this Python.

    That dbt is the one the server imports, and the installed dbt-core's version is its own."""
    found = shutil.which(executable)
    local = os.path.join(os.path.dirname(sys.executable), "dbt")
    return found is not None and os.path.realpath(found) == os.path.realpath(local)


# --- the client: orchestration/dbt_guard.py ------------------------------------------------------


def run_warm(argv: list[str]) -> int | None:
    """Run `dbt argv` in the warm server; its exit code, or None when no server answered.

    None means: run dbt cold. A server is then started for the next calls."""
    path = socket_path()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        start_server(path)
        return None
    with client:
        request = {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": _umask(),
        }
        try:
            _send(client, json.dumps(request).encode(), fds=_standard_fds())
            reply = _receive(client)
        except OSError:
            reply = None
        if reply is None:  # the server went away before forking: cold it is
            return None
        child = json.loads(reply)["pid"]

        def forward(signum, _frame):
            with contextlib.suppress(OSError):
                _send(client, json.dumps({"signal": signum}).encode())

        for signum in _FORWARDED:
            signal.signal(signum, forward)
        reply = _receive(client)
        if reply is None:  # the child died without saying how it ended (SIGKILL, OOM)
            print(f"dbt_guard: warm dbt (pid {child}) ended without an exit code", file=sys.stderr)
            return 1
        return json.loads(reply)["exit"]


def stop(path: Path | None = None) -> int | None:
    """Stop this environment's server (SIGTERM: it removes its socket and exits); its pid, or
    None when none was serving. `make run` calls it at the end: a one-off build leaves no dbt
    server behind (under `make dev` it idles out after `IDLE_SECONDS`)."""
    path = path or socket_path()
    lock_path = path.with_suffix(".lock")
    try:
        with open(lock_path) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held: a server is serving
                pid = int(lock.read().strip() or 0)
            else:
                return None
    except (FileNotFoundError, ValueError):
        return None
    if pid <= 0:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        return pid
    return None


def start_server(path: Path) -> None:
    """Start the server in the background (its own session: no caller's signal reaches it)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = open(path.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child
    with log:
        subprocess.Popen(
            [sys.executable, __file__, "serve", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )


def _standard_fds() -> list[int]:
    """Descriptors 0, 1, 2; /dev/null in place of a closed one."""
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(os.open(os.devnull, os.O_RDWR))
    return fds


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- the server --------------------------------------------------------------------------------


def serve(path: Path) -> None:
    """Import dbt, then fork a child per call until `IDLE_SECONDS` pass without one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.stat().st_uid != os.getuid():
        raise SystemExit(f"{path.parent} belongs to another user: not serving dbt there")
    # "a+", not "w": a second server that finds the lock taken must not erase the pid in it.
    lock = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 - held while serving
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another server for this environment is starting or serving
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))  # for stop()
    lock.flush()
    # Imports only: no dbt invocation runs here. A parse here as well would also compile dbt's
    # (de)serializers once for all calls (≈ 3 s of CPU each), but it leaves DuckDB databases
    # and their threads behind, and a child forked from them crashed at exit ("terminate
    # called without an active exception"). `import duckdb` itself starts one thread: the task
    # scheduler of DuckDB's default (module-level, in-memory) database. A child lacks it, so
    # it must never use that database (`duckdb.sql()`, `duckdb.execute()`): dbt-duckdb opens
    # its own (`duckdb.connect`), with its own threads, and the child never runs the default
    # database's destructor (it leaves with os._exit).
    import dbt.adapters.duckdb  # noqa: F401 - the adapter Runway's targets use
    import dbt.cli.main  # noqa: F401

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    bound = path.stat().st_ino  # a later server's socket at this path is not ours to remove
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop listening, remove the socket
    print(f"dbt server {os.getpid()} listening on {path}", flush=True)
    try:
        while select.select([listener], [], [], IDLE_SECONDS)[0]:
            connection, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os._exit(_call(connection))
            connection.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == bound:
                path.unlink()
        listener.close()


def _call(connection: socket.socket) -> int:
    """In the forked child: become the caller's dbt call, report its exit code."""
    try:
        message, fds = _receive_with_fds(connection)
    except ConnectionError:
        return 0  # a connection that asked nothing (a probe): nothing to run
    request = json.loads(message)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), write_through=True)  # noqa: SIM115
    sys.stderr = io.TextIOWrapper(
        open(2, "wb", closefd=False),  # noqa: SIM115
        write_through=True,
        errors="backslashreplace",
    )
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[SERVED_BY] = str(os.getppid())
    os.setpgid(0, 0)  # its own group: a signal to it is not a signal to the server
    _send(connection, json.dumps({"pid": os.getpid()}).encode())
    threading.Thread(target=_watch, args=(connection,), daemon=True).start()

    from dbt.cli.main import cli

    sys.argv = ["dbt", *request["argv"]]
    try:
        cli.main(args=request["argv"], prog_name="dbt")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    # What a normal exit does (the child leaves with os._exit: the server's loop is not its to
    # unwind): atexit functions, among them multiprocessing's, which removes dbt's semaphores
    # (else its resource tracker warns of "leaked semaphore objects" on the caller's stderr).
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    with contextlib.suppress(OSError):
        _send(connection, json.dumps({"exit": code}).encode())
    return code


def _watch(connection: socket.socket) -> None:
    """Signals the caller forwards, and its end: no caller, no dbt (it dies with the run)."""
    while True:
        message = _receive(connection)
        if message is None:
            os.kill(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), json.loads(message)["signal"])


# --- messages: a length, then JSON; file descriptors ride on the first one ----------------------


def _send(sock: socket.socket, payload: bytes, fds: list[int] | None = None) -> None:
    data = _HEADER.pack(len(payload)) + payload
    if fds:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.sendall(data)


def _receive(sock: socket.socket) -> bytes | None:
    header = _exactly(sock, _HEADER.size)
    return None if header is None else _exactly(sock, _HEADER.unpack(header)[0])


def _receive_with_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """A message whose descriptors ride on its first bytes (recvmsg), the rest as `_receive`."""
    fds = array.array("i")
    first, ancillary, _, _ = sock.recvmsg(_HEADER.size, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    rest = _exactly(sock, _HEADER.size - len(first)) if first else None
    body = None if rest is None else _exactly(sock, _HEADER.unpack(first + rest)[0])
    if body is None:
        raise ConnectionError("the caller left before its request was whole")
    return body, list(fds)


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        try:
            chunk = sock.recv(left)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: dbt_server.py serve SOCKET")
