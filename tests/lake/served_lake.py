"""A lake holding fixture tables, and the environment that points the app's readers at it.

Shared by the lake tests of the Streamlit app (test_lake_dashboards.py) and of Evidence
(test_lake_evidence.py); the frames are tests/dashboards/snapshot_fixture.py's. Also the writer
those tests read beside: a process committing new days into the lake's marts.flights.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from snapshot_fixture import FIRST_DAY, create_tables

from orchestration import settings
from orchestration.lake import LakeCatalog, connect_lake


def fill_lake(lake: LakeCatalog, extension_dir: Path, frames) -> None:
    """Create ``frames`` as contract tables in ``lake``, in one commit."""
    con = connect_lake(lake, extension_dir)
    try:
        con.execute("BEGIN TRANSACTION")
        create_tables(con, frames)
        con.execute("COMMIT")
    finally:
        con.close()


def lake_env(mp: pytest.MonkeyPatch, root: Path, lake: LakeCatalog, extension_dir: Path) -> None:
    """The app's environment on the lake target; the serving dir is ``root/serving``."""
    mp.setenv("RUNWAY_TARGET", "lake")
    mp.setenv("RUNWAY_LAKE_CATALOG", lake.catalog)
    mp.setenv("RUNWAY_LAKE_DATA_PATH", lake.data_path)
    mp.setenv("RUNWAY_DUCKDB_EXTENSION_DIR", str(extension_dir))
    mp.setenv("RUNWAY_DATA_DIR", str(root / "data"))
    # A warehouse file that does not exist: the app must need neither it nor the file target.
    mp.setenv("RUNWAY_WAREHOUSE", str(root / "no-warehouse" / "warehouse.duckdb"))
    mp.setenv("RUNWAY_SERVING_DIR", str(root / "serving"))
    # On `lake` MLflow's store defaults to the lake's PostgreSQL (orchestration/postgres.py), which
    # has no MLflow database here: point the score form at an absent SQLite store instead, as the
    # dashboard tests do (the form is not what these tests are about).
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'data' / 'mlflow' / 'mlflow.db'}")


_WRITER = """
import sys
from datetime import date, timedelta
from pathlib import Path

from orchestration.lake import LakeCatalog, connect_lake

catalog, data_path, extension_dir, first_day, last_day, days = sys.argv[1:]
con = connect_lake(LakeCatalog(catalog, data_path), Path(extension_dir))
con.execute("SET enable_progress_bar = false")  # it would write to stdout, the protocol's channel
print("@ready", flush=True)
for k in range(1, int(days) + 1):
    if sys.stdin.readline().strip() != "go":
        sys.exit("stopped before day %d" % k)
    day = date.fromisoformat(last_day) + timedelta(days=k)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM marts.flights WHERE flight_date = ?", [day])
    con.execute(
        "INSERT INTO marts.flights SELECT * REPLACE (flight_id || '+' || ? AS flight_id, "
        "CAST(? AS DATE) AS flight_date) FROM marts.flights WHERE flight_date = ? "
        "ORDER BY flight_id LIMIT ?",
        [str(k), day, date.fromisoformat(first_day), 10 + 3 * k],
    )
    con.execute("COMMIT")
    print("@committed %d" % k, flush=True)
"""


def expected_states(flights: pd.DataFrame, days: int) -> list[dict]:
    """Flights per day after 0, 1, ... ``days`` commits, from the frames (not from the lake)."""
    base = flights.groupby("flight_date").size().to_dict()
    first = flights[flights["flight_date"] == FIRST_DAY]
    last_day = max(base)
    states = [dict(base)]
    for k in range(1, days + 1):
        assert 10 + 3 * k <= len(first)
        states.append(states[-1] | {last_day + timedelta(days=k): 10 + 3 * k})
    return states


class LakeWriter:
    """The writer process over ``flights`` (already in the lake), as a context manager:
    ``commit(k)`` lets it commit day k and returns once it has; leaving checks it exited 0."""

    def __init__(self, lake: LakeCatalog, extension_dir: Path, flights: pd.DataFrame, days: int):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WRITER, lake.catalog, lake.data_path, str(extension_dir)]
            + [FIRST_DAY.isoformat(), max(flights["flight_date"]).isoformat(), str(days)],
            cwd=settings.REPO_ROOT,
            env=os.environ | {"PYTHONPATH": str(settings.REPO_ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Its lines, read by a thread of their own so that waiting for one has a timeout.
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [
                self.lines.put(line.strip()) for line in self.process.stdout if line[:1] == "@"
            ],
            daemon=True,
        ).start()

    def _next_line(self, timeout: float = 120) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(
                f"the writer said nothing for {timeout} s: {self.process.stderr.read()}"
            ) from None

    def __enter__(self) -> LakeWriter:
        assert self._next_line() == "@ready"
        return self

    def commit(self, k: int) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        assert self._next_line() == f"@committed {k}"

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        finally:
            self.process.kill()
        stderr = self.process.stderr.read()
        if exc[0] is None:
            assert self.process.returncode == 0, stderr


def read_while_writing(
    poll: Callable[[], tuple[dict, int]],
    writer: LakeWriter,
    states: list[dict],
    polls_per_state: int = 1,
    timeout: float = 120,
) -> list[tuple[int, dict, int]]:
    """Poll the lake from a thread while ``writer`` commits day after day; check what was read.

    ``poll()`` returns flights per day (``daily_flights``) and the total (``kpis``, queried just
    after). The writer commits day k only once ``polls_per_state`` polls have started after day
    k-1 and finished, so each state is read. Every poll must be one committed state (never part of
    a commit), one at least as late as the last commit made before the poll began (a day shows up
    in every query that starts after its commit), never going back. Returns the polls as
    ``(commits known when the poll began, days, kpis total)``.
    """
    known = 0  # commits the writer has reported (set by this thread, read by the reader)
    polls: list[tuple[int, dict, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            began_after = known
            try:
                days, total = poll()
            except BaseException as exc:  # reported below
                errors.append(exc)
                return
            polls.append((began_after, days, total))

    def wait_for_polls(k: int) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for began_after, _, _ in polls if began_after == k) < polls_per_state:
            assert not errors, errors
            assert time.monotonic() < deadline, f"the reader made no progress after commit {k}"
            time.sleep(0.01)

    thread = threading.Thread(target=reader, daemon=True)
    try:
        thread.start()
        for k in range(1, len(states)):
            wait_for_polls(k - 1)
            writer.commit(k)
            known = k
        wait_for_polls(len(states) - 1)
    finally:
        stop.set()
        thread.join(timeout=timeout)
    assert not thread.is_alive()

    assert errors == []
    totals = [sum(state.values()) for state in states]
    seen = []
    for began_after, days, total in polls:
        # Every result is one committed state, never part of a commit ...
        assert days in states, days
        state = states.index(days)
        # ... and a day shows up in every query that starts after its commit.
        assert state >= began_after
        # kpis ran just after, in a transaction of its own: the same state or a later one.
        assert total in totals[state:]
        seen.append(state)
    assert seen == sorted(seen)  # never back in time
    assert set(seen) == set(range(len(states)))
    return polls
