"""`make bench-live`: the live stack as `make dev` runs it, timed from the user's side (issue #17,
acceptance points 1, 2 and 6).

    python -m bench.live [--cutoff 2013-01-14] [--days 5] [--ui-launches 3] [--no-first-dev]

1. **Live latency.** A data dir of its own is built up to the cut-off (seeded, then one run
   over the window with the bootstrap training config, as `bench.pipeline_run --mode full`:
   setup, untimed). Then `dagster dev` (webserver + daemon, demo feed off) starts in its own
   process group; once the webserver answers, the sensors have ticked and no run is active, the
   feed delivers the next day, and the snapshot (read-only, every 0.5 s) is polled until it holds
   that day's flights and predictions; then the next day, 5 in all. Afterwards each day is split
   into hops from the Dagster instance: the runs created between its delivery and its
   visibility, whatever they are (bench/live_report.py). Target: p50 ≤ 30 s, max ≤ 45 s.
2. **One day from the UI.** On the same stack, 3 times: the GraphQL mutation the UI sends
   (`launchPipelineExecution`, job `__ASSET_JOB`) for the daily sources of the last delivered day
   and everything downstream but training and the dbt views, with the day as partition range;
   launch → success. Target: p50 ≤ 20 s.
3. **First `make dev`.** From a new, empty data dir, `make dev` itself (ports of its own, demo
   feed off): seconds until the Dagster UI and the dashboards answer (target ≤ 60 s each), and
   until the snapshot exists (informational). Whatever `make dev` does first is measured as is.

Wall times are the benchmark's own clock against the instance's event timestamps (both epoch
seconds on this machine). Results: `bench/results/<date>-<commit>-live.{json,md}`; under
`python -m bench` the same dict lands in the benchmark's results (key `live`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench import live_report, live_stack
from bench.live_stack import Group
from orchestration import settings

PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).with_name("dagster"))
DEFAULT_START = date(2013, 1, 1)
DEFAULT_CUTOFF = date(2013, 1, 14)
SENSORS = ("landing_zone_sensor", "runway_automation_sensor")


def _log(message: str) -> None:
    print(f"[bench-live {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def stack_env(data_dir: Path, sockets: Path) -> dict[str, str]:
    """`make dev`'s environment for a stack under `data_dir`: demo feed off (the stage delivers),
    the gRPC timeout make sets, a warm dbt server of the stage's own."""
    from bench.runner import child_env

    # Not a sub-make of `make bench`: `make dev` runs as from the user's shell.
    drop = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    env = {k: v for k, v in child_env(data_dir).items() if k not in drop}
    return env | {
        "RUNWAY_DEMO_FEED": "0",
        "DAGSTER_GRPC_TIMEOUT_SECONDS": "180",
        "RUNWAY_DBT_SERVER_DIR": str(sockets / "dbt"),
        "RUNWAY_RUN_WORKER_DIR": str(sockets / "run"),
    }


def build_data_dir(data_dir: Path, env: dict, cutoff: date, scale: int, logs: Path) -> dict:
    """Seed and materialize up to the cut-off in one run (setup: timed for information only)."""
    from bench import runner

    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(settings.REPO_ROOT / "orchestration" / "dagster.yaml", home)
    seed = runner._seed(env, cutoff, scale, logs / "seed.log")
    full = runner._pipeline(
        env, "full", DEFAULT_START, cutoff, logs / "setup-run.json", logs / "setup-run.log"
    )
    return {"seed_seconds": seed.wall_seconds, "materialize_seconds": full["wall_seconds"]}


def start_stack(data_dir: Path, env: dict, logs: Path, result: dict) -> tuple[Group, int]:
    """`dagster dev` as `make dev` starts it; returns once it answers, its sensors have ticked
    and no run is active (so that no leftover of the start-up is charged to the first day)."""
    port = live_stack.free_port()
    argv = [DAGSTER, "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "orchestration.definitions"]
    since = time.time()
    group = Group(argv, env, settings.REPO_ROOT, logs / "dagster-dev.log")
    stack = result.setdefault("stack", {"port": port})
    answered = live_stack.wait_until(
        lambda: live_stack.http_ok(f"http://127.0.0.1:{port}/server_info"), bound=300
    )
    if answered is None:
        raise RuntimeError(f"dagster dev did not answer within 300 s: see {logs}/dagster-dev.log")
    stack["webserver_seconds"] = answered
    ticked = live_stack.wait_until(
        lambda: live_stack.sensors_ticked(port, SENSORS, since), bound=300, interval=2
    )
    if ticked is None:
        raise RuntimeError(f"sensors {', '.join(SENSORS)} did not tick within 300 s")
    stack["sensors_ticked_seconds"] = time.time() - since
    instance = live_stack.open_instance(data_dir / "dagster_home")
    live_stack.wait_until(lambda: live_stack.active_runs(instance) == 0, bound=300, interval=2)
    return group, port


def wait_for_day(snapshot: Path, day: str, instance, delivered: float, bound: float):
    """Poll the snapshot every 0.5 s until it holds the day's flights and predictions:
    (epoch seen or None, the last rows read, why not). Gives up after `bound`, or as soon as
    a run created since the delivery failed and none is active (nothing will bring the day)."""
    began = checked = time.perf_counter()
    rows = None
    while time.perf_counter() - began < bound:
        rows = live_stack.snapshot_day_rows(snapshot, day)
        if rows and rows[0] > 0 and rows[1] > 0:
            return time.time(), rows, None
        if time.perf_counter() - checked > 5:
            checked = time.perf_counter()
            failure = live_stack.given_up(instance, delivered)
            if failure:
                return None, rows, failure
        time.sleep(0.5)
    return None, rows, f"not in the snapshot within {bound:.0f} s"


def deliver_days(data_dir: Path, instance, days: int, scale: int, bound: float) -> list[dict]:
    """Deliver `days` days one after another, each once the previous one is in the snapshot."""
    from orchestration.seed import feed

    snapshot = data_dir / "serving" / settings.SNAPSHOT_FILE
    measured = []
    for _ in range(days):
        report = feed.deliver_next_days(
            data_dir / "landing", 1, start=DEFAULT_START, end=date(2013, 12, 31), scale=scale
        )
        delivered = time.time()
        if not report.days:
            break
        day = report.days[0].isoformat()
        visible, rows, error = wait_for_day(snapshot, day, instance, delivered, bound)
        entry = {"day": day, "delivered": delivered, "visible": visible, "rows": rows}
        measured.append(entry)
        if error:
            entry["error"] = error
            _log(f"day {day}: not visible: {error}")
            break
        _log(f"day {day}: file -> snapshot {visible - delivered:.1f} s (flights, scored: {rows})")
    return measured


def split_days(days: list[dict], instance) -> None:
    """Each day's runs, waterfall and summary, from the runs in the instance."""
    if not days:
        return
    runs = live_stack.run_records(instance, days[0]["delivered"] - 1)
    for day in days:
        mine = live_report.runs_of_day(runs, day["delivered"], day["visible"])
        day["runs"] = mine
        day["waterfall"] = live_report.waterfall(day["delivered"], day["visible"], mine)
        day["summary"] = live_report.day_summary(day["delivered"], day["visible"], mine)


def ui_launches(port: int, instance, day: str, count: int, bound: float) -> dict:
    """Launch one day through GraphQL as the UI does, `count` times, one after another."""
    from orchestration.definitions import defs

    keys = live_stack.ui_day_selection(defs.resolve_asset_graph())
    out: dict = {"day": day, "selection": ["/".join(k) for k in keys], "launches": []}
    location = live_stack.location_name(port)
    params = live_stack.launch_params(location, keys, day)
    for number in range(count):
        live_stack.wait_until(lambda: live_stack.active_runs(instance) == 0, bound=300, interval=1)
        began, requested = time.perf_counter(), time.time()
        try:
            run_id = live_stack.launch(port, params)
        except live_stack.GraphQLError as error:
            out["error"] = str(error)
            _log(f"UI launch refused: {error}")
            return out
        status = [None]

        def finished(run_id=run_id, status=status) -> bool:
            status[0] = live_stack.run_status(port, run_id)
            return status[0] in live_stack.TERMINAL_STATUSES

        waited = live_stack.wait_until(finished, bound=bound, interval=0.25)
        seconds = time.perf_counter() - began if status[0] == "SUCCESS" else None
        launch = {"run_id": run_id, "status": status[0], "seconds": seconds}
        if waited is None:
            launch["error"] = f"not finished within {bound} s"
        # Created before the mutation answered (which may take seconds on a loaded machine).
        records = live_stack.run_records(instance, requested - 1)
        run = next((r for r in records if r["run_id"] == run_id), None)
        if run is not None:
            launch["run"] = run
            launch["step_seconds"] = sum(s["seconds"] or 0 for s in run["steps"].values())
        out["launches"].append(launch)
        _log(f"UI launch {number + 1}: {status[0]} in {time.perf_counter() - began:.1f} s")
    return out


def first_make_dev(work: Path, cutoff: date, bound: float, sockets: Path) -> dict:
    """`make dev` from a new data dir: when the UI, the dashboards, the snapshot appear."""
    data_dir = work / "first-dev"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = stack_env(data_dir, sockets)
    ports = {"webserver": live_stack.free_port(), "dashboard": live_stack.free_port()}
    argv = ["make", "-C", str(settings.REPO_ROOT), "--no-print-directory", "dev"]
    argv += [f"RUNWAY_DATA_DIR={data_dir}", f"DAGSTER_HOME={data_dir / 'dagster_home'}"]
    argv += [f"DAGSTER_PORT={ports['webserver']}", f"DASHBOARD_PORT={ports['dashboard']}"]
    argv += [f"FEED_CUTOFF={cutoff}"]
    urls = {
        "webserver_seconds": f"http://127.0.0.1:{ports['webserver']}/server_info",
        "dashboard_seconds": f"http://127.0.0.1:{ports['dashboard']}/_stcore/health",
    }
    snapshot = data_dir / "serving" / settings.SNAPSHOT_FILE
    out: dict = {"cutoff": cutoff.isoformat(), "bound_seconds": bound, "ports": ports}
    out |= dict.fromkeys([*urls, "snapshot_seconds"])
    group = Group(argv, env, settings.REPO_ROOT, work / "logs" / "first-make-dev.log")
    checked = 0.0
    try:
        while time.perf_counter() - group.started < bound:
            elapsed = time.perf_counter() - group.started
            for key, url in urls.items():
                if out[key] is None and live_stack.http_ok(url, timeout=1):
                    out[key] = elapsed
                    _log(f"first make dev: {key.removesuffix('_seconds')} after {elapsed:.1f} s")
            if out["snapshot_seconds"] is None and snapshot.exists():
                out["snapshot_seconds"] = elapsed
                _log(f"first make dev: snapshot after {elapsed:.1f} s")
            if all(out[k] is not None for k in (*urls, "snapshot_seconds")):
                break
            # A first build that failed will not publish: stop waiting for the snapshot.
            if out["webserver_seconds"] and time.perf_counter() - checked > 5:
                checked = time.perf_counter()
                if build_failed(data_dir / "dagster_home"):
                    break
            if not group.alive():
                out["error"] = f"make dev exited with {group.process.returncode}"
                break
            time.sleep(0.5)
    finally:
        group.stop()
    if out["snapshot_seconds"] is None:
        out["note"] = failed_runs(data_dir / "dagster_home")
    return out


def build_failed(dagster_home: Path) -> bool:
    """Some run failed and none is active: nothing more will come of the first build."""
    try:
        return live_stack.given_up(live_stack.open_instance(dagster_home), 0) is not None
    except Exception:  # an instance still being created: not failed yet
        return False


def failed_runs(dagster_home: Path) -> str:
    """Why a snapshot never came: the failed runs of the instance and their failed steps."""
    try:
        instance = live_stack.open_instance(dagster_home)
        return live_stack.given_up(instance, 0, wait_for_active=False) or "no run failed"
    except Exception as error:  # informational only: never fail the stage over it
        return f"runs unreadable: {error}"


def run_stage(
    work: Path,
    *,
    cutoff: date = DEFAULT_CUTOFF,
    days: int = 5,
    scale: int = 1,
    ui_count: int = 3,
    first_dev: bool = True,
    first_dev_cutoff: date | None = None,
    day_bound: float = 600.0,
    dev_bound: float = 600.0,
) -> dict:
    """The whole stage in `work`; a result dict even when a part fails (its `status` says)."""
    logs, sockets = work / "logs", work / "sock"
    logs.mkdir(parents=True, exist_ok=True)
    data_dir = work / "stack"
    env = stack_env(data_dir, sockets)
    result: dict = {"scale": scale, "cutoff": cutoff.isoformat(), "days_requested": days}
    result["status"] = "ok"
    group = None
    try:
        _log(f"building {data_dir} up to {cutoff} (setup, untimed)")
        result["setup"] = build_data_dir(data_dir, env, cutoff, scale, logs)
        _log("starting dagster dev")
        group, port = start_stack(data_dir, env, logs, result)
        instance = live_stack.open_instance(data_dir / "dagster_home")
        _log(f"stack up on port {port}; delivering {days} day(s)")
        result["days"] = deliver_days(data_dir, instance, days, scale, day_bound)
        live_stack.wait_until(lambda: live_stack.active_runs(instance) == 0, bound=300, interval=2)
        split_days(result["days"], instance)
        if ui_count and result["days"]:
            day = result["days"][-1]["day"]
            result["ui_launch"] = ui_launches(port, instance, day, ui_count, day_bound)
    except (Exception, KeyboardInterrupt) as error:
        result["status"] = f"failed: {type(error).__name__}: {str(error)[-1500:]}"
        _log(result["status"])
        if isinstance(error, KeyboardInterrupt):
            raise
    finally:
        if group is not None:
            group.stop()
        live_stack.stop_serving(sockets)
    if first_dev:  # independent of the stack above: measured even if that part failed
        try:
            result["first_dev"] = first_make_dev(
                work, first_dev_cutoff or cutoff, dev_bound, sockets
            )
        finally:
            live_stack.stop_serving(sockets)
    result["verdicts"] = [v.as_dict() for v in stage_verdicts(result)]
    return result


def stage_verdicts(result: dict) -> list:
    days = result.get("days") or []
    verdicts = live_report.live_verdicts(
        [None if d["visible"] is None else d["visible"] - d["delivered"] for d in days]
    )
    ui = result.get("ui_launch")
    if ui is not None:
        seconds = [launch.get("seconds") for launch in ui.get("launches", [])]
        if ui.get("error") and not seconds:
            seconds = [math.inf]
        verdicts.append(live_report.ui_verdict(seconds, ui.get("error", "")[:120]))
    if result.get("first_dev"):
        verdicts += live_report.first_dev_verdicts(result["first_dev"])
    return verdicts


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__)
    parser.add_argument("--cutoff", type=date.fromisoformat, default=DEFAULT_CUTOFF)
    parser.add_argument("--days", type=int, default=5, help="days delivered one by one")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--ui-launches", type=int, default=3, help="0 skips point 2")
    parser.add_argument("--no-first-dev", action="store_true", help="skip the first make dev")
    parser.add_argument("--first-dev-cutoff", type=date.fromisoformat, default=None)
    parser.add_argument("--day-bound", type=float, default=600, help="give up on a day after")
    parser.add_argument("--dev-bound", type=float, default=600, help="give up on make dev after")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a new temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument("--out-dir", type=Path, default=settings.REPO_ROOT / "bench" / "results")
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    args = parser.parse_args(argv)
    if args.cutoff + timedelta(days=args.days) > date(2013, 12, 31):
        parser.error("the cut-off plus the delivered days must stay in 2013")
    from bench import runner

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="runway-bench-live-"))
    began = time.perf_counter()
    commit = runner._git("rev-parse", "--short", "HEAD") or "unknown"
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": bool(runner._git("status", "--porcelain")),
        "load_average_at_start": list(os.getloadavg()),
        "work_dir": str(work),
    }
    try:
        results["live"] = run_stage(
            work,
            cutoff=args.cutoff,
            days=args.days,
            scale=args.scale,
            ui_count=args.ui_launches,
            first_dev=not args.no_first_dev,
            first_dev_cutoff=args.first_dev_cutoff,
            day_bound=args.day_bound,
            dev_bound=args.dev_bound,
        )
    finally:
        results["total_seconds"] = time.perf_counter() - began
        results["load_average_at_end"] = list(os.getloadavg())
        stem = f"{results['started_at'][:10]}-{commit}-live{'-' + args.tag if args.tag else ''}"
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    page = [
        f"# Live benchmark {results['started_at'][:10]} (commit {commit}"
        f"{', uncommitted changes' if results['dirty'] else ''})",
        "",
        f"Load average at start {'/'.join(f'{x:.1f}' for x in results['load_average_at_start'])}"
        f", at end {'/'.join(f'{x:.1f}' for x in results['load_average_at_end'])}; "
        f"whole stage {results['total_seconds'] / 60:.1f} min. How it is measured: "
        "[docs/benchmark.md](../../docs/benchmark.md).",
        *live_report.markdown(results["live"]),
    ]
    (args.out_dir / f"{stem}.md").write_text("\n".join(page) + "\n")
    from bench.report import verdict_table

    print(verdict_table(results["live"]["verdicts"]))
    _log(f"results: {args.out_dir / stem}.md")
    return 0 if results["live"]["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
