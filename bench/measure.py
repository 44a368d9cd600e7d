"""Run a command as a child process and measure it: wall time and peak memory of its process tree.

Peak RSS is sampled with psutil in a thread (every `interval` seconds): the sum of the resident
set sizes of the child and all its descendants (dbt is a grandchild of a pipeline run), the
largest sum seen. A sum of RSS counts shared pages once per process, so it is an upper bound of
what the tree really holds. `wait4` adds the kernel's figure for the largest single process of
the tree (`ru_maxrss`), which sampling cannot miss.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Measured:
    """What one child process run cost."""

    argv: list[str]
    returncode: int
    wall_seconds: float
    peak_tree_rss_bytes: int
    max_single_rss_bytes: int
    samples: int
    log_path: str | None


def tree_rss(process: psutil.Process) -> int:
    """RSS of `process` plus all its live descendants, in bytes (vanished ones count 0)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, tree_rss(self.process))
            self.samples += 1
            self.stopped.wait(self.interval)


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    log_path: Path | None = None,
    interval: float = 0.1,
    timeout: float | None = None,
) -> Measured:
    """Run `argv` to completion (output to `log_path`, or inherited) and measure it."""
    log = open(log_path, "wb") if log_path is not None else None  # noqa: SIM115
    try:
        began = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
            # Its own process group, so that a timeout ends dbt and the other grandchildren too.
            start_new_session=True,
        )
        sampler = _Sampler(process.pid, interval)
        sampler.start()
        deadline = None if timeout is None else began + timeout
        try:
            status, usage = _wait4(process.pid, deadline)
        except BaseException:  # Ctrl-C: the child has its own session, end its group too
            os.killpg(process.pid, 9)
            os.wait4(process.pid, 0)
            raise
        wall = time.perf_counter() - began
        sampler.stopped.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log is not None:
            log.close()
    return Measured(
        argv=list(argv),
        returncode=process.returncode,
        wall_seconds=wall,
        peak_tree_rss_bytes=sampler.peak,
        # Linux reports ru_maxrss in KiB.
        max_single_rss_bytes=usage.ru_maxrss * 1024,
        samples=sampler.samples,
        log_path=str(log_path) if log_path is not None else None,
    )


def _wait4(pid: int, deadline: float | None) -> tuple[int, os.struct_rusage]:
    if deadline is None:
        _, status, usage = os.wait4(pid, 0)
        return status, usage
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return status, usage
        if time.perf_counter() > deadline:
            os.killpg(pid, 9)
            _, status, usage = os.wait4(pid, 0)
            return status, usage
        time.sleep(0.2)
