"""dashboards/data.py holds one read-only connection per snapshot version and runs each query on
a cursor of its own (issue #8: opening the file was most of each query's latency).

What must still hold: a query after a publication reads the new file; the connection to a
replaced file is closed (file handles do not grow with publications); concurrent queries with
different filters never see each other's values. Real DuckDB files, published with ``os.replace``
as the pipeline does; open file handles are read from ``/proc/self/fd``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import pytest
from snapshot_fixture import make_frames

from dashboards import data

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="reads open file handles from /proc/self/fd"
)


def open_handles(path: Path) -> list[str]:
    """This process's open file handles on ``path``: the file now there, or a replaced one
    (which Linux shows as ``<path> (deleted)``)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own handle)
            continue
        if target in (str(path), f"{path} (deleted)"):
            found.append(target)
    return found


def flights_in(frames) -> int:
    return len(frames[("marts", "flights")])


@pytest.fixture(scope="module")
def versions():
    """Five snapshots' contents with distinct flight counts."""
    return [make_frames(days=days) for days in range(2, 7)]


def test_one_connection_serves_every_query_of_a_version(snapshot, frames):
    data.query("kpis")
    held = data._HELD[str(snapshot)]
    for name in ("daily_flights", "carrier_league", "routes", "predictions_vs_actuals"):
        data.clear_cache()  # run the SQL again, not the cached result
        assert len(data.query(name)) > 0
        assert len(data.query(name, {"carriers": ["B6"]})) > 0
    assert data._HELD[str(snapshot)] is held
    assert not held.retired and held.running == 0
    assert open_handles(snapshot) == [str(snapshot)]  # one handle, on the published file


def test_a_publication_is_read_by_the_next_query_and_the_old_file_is_closed(
    publish_snapshot, versions
):
    held = []  # references kept, so that only an explicit close can release a file
    for frames in versions:
        path = publish_snapshot(frames)
        # No cache clearing: the new version alone must lead to the new file.
        assert data.query("kpis").iloc[0]["flights"] == flights_in(frames)
        assert data.run_sql("select count(*) as n from marts.flights", path)["n"][0] == (
            flights_in(frames)
        )
        held.append(data._HELD[str(path)])
        # The replaced files were all closed: one handle, on the file now published.
        assert open_handles(path) == [str(path)]
    assert len({flights_in(frames) for frames in versions}) == len(versions)
    assert len({h.version for h in held}) == len(versions)
    assert [h.retired for h in held] == [True] * (len(versions) - 1) + [False]


def test_a_replaced_file_stays_open_until_the_query_running_on_it_ends(publish_snapshot, versions):
    old, new = versions[0], versions[1]
    path = publish_snapshot(old)
    held, cursor = data._acquire(str(path))  # a query of another session, still running
    try:
        publish_snapshot(new)
        assert data.query("kpis").iloc[0]["flights"] == flights_in(new)
        # The running query goes on reading the old file, whole.
        cursor.execute("use snapshot")
        assert cursor.execute("select count(*) from marts.flights").fetchone()[0] == (
            flights_in(old)
        )
        assert sorted(open_handles(path)) == [str(path), f"{path} (deleted)"]
    finally:
        data._release(held, cursor)
    assert open_handles(path) == [str(path)]
    with pytest.raises(duckdb.ConnectionException):
        held.con.execute("select 1")


def test_a_removed_snapshot_is_unavailable_and_released(publish_snapshot, versions):
    path = publish_snapshot(versions[0])
    assert data.query("kpis").iloc[0]["flights"] == flights_in(versions[0])
    path.unlink()
    data.clear_cache()
    with pytest.raises(data.SnapshotUnavailable, match="make run"):
        data.query("kpis")
    with pytest.raises(data.SnapshotUnavailable, match="make run"):
        data.run_sql("select 1", path)
    assert open_handles(path) == []


def test_a_file_replaced_while_it_is_opened_is_opened_again(
    publish_snapshot, versions, monkeypatch
):
    """Which file an open got is only known if the path still holds the same file afterwards."""
    path = publish_snapshot(versions[0])
    real_open = data._open
    opened = []

    def open_then_publish(version):
        con = real_open(version)
        if not opened:  # the pipeline publishes just after the app opened the file
            publish_snapshot(versions[1])
        opened.append(version)
        return con

    monkeypatch.setattr(data, "_open", open_then_publish)
    assert data.query("kpis").iloc[0]["flights"] == flights_in(versions[1])
    assert len(opened) == 2 and opened[0] != opened[1]
    assert data._HELD[str(path)].version == opened[1] == data.snapshot_version()
    assert open_handles(path) == [str(path)]


def test_close_connections_releases_the_file(snapshot):
    data.query("daily_flights", {"carriers": ["B6"]})
    data.close_connections()
    assert open_handles(snapshot) == []
    # In this process DuckDB refuses a read-write open of a file still attached read-only.
    with duckdb.connect(str(snapshot)) as con:
        assert con.execute("select count(*) from marts.flights").fetchone()[0] > 0
    data.clear_cache()
    assert len(data.query("daily_flights")) > 0


def test_concurrent_queries_with_different_filters_see_only_their_own(shared_snapshot, frames):
    """Threads (as Streamlit runs sessions) share the connection; each query's variables live
    on its own cursor. Every thread binds a different filter, or none, and runs the same SQL in
    a loop; a value seen by another thread's query would change its count."""
    flights = frames[("marts", "flights")]
    choices = [["B6"], ["UA"], ["AA", "EV"], None]
    expected = [
        len(flights) if c is None else int(flights["carrier_code"].isin(c).sum()) for c in choices
    ]
    assert len(set(expected)) == len(expected)
    sql = data.query_sql("kpis")
    data.run_sql(sql, shared_snapshot)  # open the connection before the threads start
    rounds = 40
    start = threading.Barrier(len(choices))
    results: list[list[int]] = [[] for _ in choices]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                params = {} if choices[i] is None else {"carriers": choices[i]}
                frame = data.run_sql(sql, shared_snapshot, params)
                results[i].append(int(frame["flights"].iloc[0]))
        except BaseException as exc:  # reported below, with the thread's results
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(choices))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for i, counts in enumerate(results):
        assert counts == [expected[i]] * rounds, f"thread {i} ({choices[i]})"
    held = data._HELD[str(shared_snapshot)]
    assert held.running == 0
    assert open_handles(shared_snapshot) == [str(shared_snapshot)]
