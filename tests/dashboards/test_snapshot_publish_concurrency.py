"""Publishing the serving snapshot never disturbs a reader (issue #6, acceptance 3).

The pipeline's own publisher (`orchestration.publish.write_snapshot`: copy into a temp file, then
`os.replace`) publishes snapshot after snapshot while a second process queries the snapshot in a
loop through `dashboards.data`, as the app does. Every generation ``g`` of the snapshot carries
markers that only a complete snapshot has: its flights, predictions and model metrics all belong
to ``g`` (flight ids prefixed ``g<g>-``, every predicted probability ``g / 1000``, model version
``g``), and its row counts are distinct from every other generation's. Each answer the reader
gets must be exactly one generation's, and there must be no error at all.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
from snapshot_fixture import CONTRACT, create_tables, make_frames, write_snapshot

from orchestration import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATIONS = 12
MARKED = [("marts", "flights"), ("ml", "flight_delay_predictions"), ("ml", "model_metrics")]

READER = r"""
import json, os, sys
from pathlib import Path

from dashboards import data

stop, out, progress = (Path(p) for p in sys.argv[1:4])
answers, errors = [], []
loops = 0
while not stop.exists():
    data.clear_cache()  # every query runs its SQL (on the connection held for the version)
    for name in ("kpis", "predictions_vs_actuals", "champion_model"):
        try:
            frame = data.query(name)
        except Exception as exc:  # any error at all fails the test
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if name == "kpis":
            answer = {"flights": int(frame["flights"].iloc[0])}
        elif name == "predictions_vs_actuals":
            answer = {
                "departed": int(frame["departed_flights"].sum()),
                "markers": sorted({round(float(x), 9) for x in frame["predicted_late_share"]}),
            }
        else:
            row = frame.iloc[0]
            answer = {
                "champion": row["champion_version"],
                "trained": row["latest_trained_version"],
                "scored": int(row["scored_flights"]),
            }
        answers.append({"query": name, **answer})
    loops += 1
    progress.write_text(str(loops))
# The files this reader still holds open: the snapshot now published, or replaced ones (deleted).
snapshot = str(data.snapshot_path())
handles = []
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target in (snapshot, snapshot + " (deleted)"):
        handles.append(target)
out.write_text(json.dumps({"answers": answers, "errors": errors, "handles": handles}))
"""


def generation(base: dict[tuple[str, str], pd.DataFrame], g: int):
    """The tables of snapshot generation ``g`` that differ from ``base`` (the first
    ``len - 2g`` flights, all marked with ``g``), and what a reader must then see."""
    flights = base[("marts", "flights")]
    flights = flights.iloc[: len(flights) - 2 * g].assign(
        flight_id=lambda d: f"g{g}-" + d["flight_id"]
    )
    predictions = pd.DataFrame(
        {
            "flight_id": flights["flight_id"],
            "flight_date": flights["flight_date"],
            "predicted_delay_probability": g / 1000,
            "model_version": str(g),
            "scored_at": pd.Timestamp("2013-04-01") + pd.Timedelta(minutes=g),
        }
    )
    metrics = base[("ml", "model_metrics")].assign(
        model_version=str(g), trained_at=pd.Timestamp("2013-04-01") + pd.Timedelta(minutes=g)
    )
    marked = dict(zip(MARKED, [flights, predictions, metrics], strict=True))
    expected = {
        "flights": len(flights),
        "departed": int((~flights["is_cancelled"]).sum()),
        "marker": g / 1000,
    }
    return marked, expected


def loops_done(progress: Path) -> int:
    """How many rounds of queries the reader has finished (it rewrites the file each round)."""
    try:
        return int(progress.read_text())
    except (FileNotFoundError, ValueError):  # not started, or caught mid-write
        return 0


def update_source(con: duckdb.DuckDBPyConnection, marked) -> None:
    for schema, table in marked:
        con.execute(f"drop table {schema}.{table}")
    create_tables(con, marked)


def publish(con: duckdb.DuckDBPyConnection, snapshot_path: Path, marked) -> None:
    """Update the marked source tables, then publish with the pipeline's own publisher."""
    from orchestration.publish import write_snapshot as publish_snapshot

    update_source(con, marked)
    publish_snapshot(con, snapshot_path, tuple(CONTRACT))


def test_readers_see_only_complete_snapshots_while_publishing(runway_env, tmp_path):
    snapshot_path = settings.load().snapshot_path
    base = make_frames()
    source = duckdb.connect()  # stands for the warehouse: holds the source tables
    create_tables(source, base)
    expected = {}
    marked, expected[1] = generation(base, 1)
    update_source(source, marked)
    # The first generation with the fixture's own (also atomic) writer: no Dagster import yet.
    write_snapshot(snapshot_path, {**base, **marked})

    stop, out, progress = tmp_path / "stop", tmp_path / "answers.json", tmp_path / "progress"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with open(tmp_path / "reader.log", "w") as log:
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(stop), str(out), str(progress)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        importlib.import_module("orchestration.publish")  # slow (Dagster): while the reader starts

        deadline = time.monotonic() + 120
        while loops_done(progress) < 1:
            assert reader.poll() is None, (tmp_path / "reader.log").read_text()
            assert time.monotonic() < deadline, "the reader did not start"
            time.sleep(0.05)
        for g in range(2, GENERATIONS + 1):
            marked, expected[g] = generation(base, g)
            publish(source, snapshot_path, marked)
        # Let the reader finish two more rounds of queries: they must see the last generation.
        target = loops_done(progress) + 2
        while loops_done(progress) < target:
            assert reader.poll() is None, (tmp_path / "reader.log").read_text()
            assert time.monotonic() < deadline, "the reader stalled"
            time.sleep(0.05)
    finally:
        stop.touch()
        reader.wait(timeout=120)
        source.close()
    assert reader.returncode == 0, (tmp_path / "reader.log").read_text()
    result = json.loads(out.read_text())

    assert result["errors"] == []
    answers = result["answers"]
    by_flights = {e["flights"]: g for g, e in expected.items()}
    by_marker = {round(e["marker"], 9): g for g, e in expected.items()}
    seen = set()
    for answer in answers:
        if answer["query"] == "kpis":
            assert answer["flights"] in by_flights, answer
            seen.add(by_flights[answer["flights"]])
        elif answer["query"] == "predictions_vs_actuals":
            # One generation's predictions joined to the same generation's flights, all of them.
            assert len(answer["markers"]) == 1, answer
            g = by_marker[answer["markers"][0]]
            assert answer["departed"] == expected[g]["departed"], answer
            seen.add(g)
        else:
            # Predictions and model metrics of one generation, all of its predictions.
            g = int(answer["champion"])
            assert answer["trained"] == str(g), answer
            assert answer["scored"] == expected[g]["flights"], answer
            seen.add(g)
    assert len(answers) >= 30
    assert len(seen) >= 3, f"the reader saw generations {sorted(seen)} only"
    assert GENERATIONS in seen  # and the last publication reached it
    # The reader held one connection per generation; each replaced file was closed.
    assert result["handles"] == [str(snapshot_path)]
    # The publisher leaves nothing but the snapshot behind.
    assert sorted(p.name for p in snapshot_path.parent.iterdir()) == [snapshot_path.name]
