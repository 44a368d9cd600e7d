"""The live stage's contact with the running stack: processes, HTTP, GraphQL, the instance.

Kept apart from bench/live.py (the stage's sequence) so that each is short, and from
bench/live_report.py (pure arithmetic) so that the tests need none of this.

Processes: `dagster dev` and `make dev` start webserver, daemon, code server, run workers and
Streamlit, all in the process group of the command we start (Dagster starts its children without
a new session), so each is started in a new session of its own and ended by its group:
SIGTERM first (dagster dev then stops its children cleanly), SIGKILL after a grace period, and
any descendant seen before the stop that still lives is killed by its pid. The warm dbt server
(orchestration/dbt_server.py) and the warm run worker (orchestration/run_worker.py) are the
exceptions: they start sessions of their own by design (and the worker's runs too), so the stage
points them at socket folders of its own (RUNWAY_DBT_SERVER_DIR, RUNWAY_RUN_WORKER_DIR) and
kills whatever serves from there at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil

ACTIVE_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
TERMINAL_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
# Training and its siblings (one multi-asset): a day from the UI does not retrain.
TRAINING_ASSETS = (
    ("ml", "flight_delay_model"),
    ("ml", "model_metrics"),
    ("ml", "model_calibration"),
    ("ml", "feature_importance"),
)
DAILY_SOURCES = (("raw", "flights"), ("raw", "weather"))
# dbt views: a day's rows flow through them without rebuilding them.
VIEW_GROUPS = ("staging", "intermediate")
ASSET_JOB = "__ASSET_JOB"
REPOSITORY = "__repository__"


def free_port() -> int:
    """A TCP port free right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def wait_until(check: Callable[[], bool], bound: float, interval: float = 0.5) -> float | None:
    """Seconds until `check()` was true (polled every `interval`), or None after `bound`."""
    began = time.perf_counter()
    while True:
        if check():
            return time.perf_counter() - began
        if time.perf_counter() - began > bound:
            return None
        time.sleep(interval)


class Group:
    """A command in its own session/process group, ended as a whole (see the module doc)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path):
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.perf_counter()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 30.0) -> None:
        pid = self.process.pid
        try:
            seen = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            seen = []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        # Children of the group may outlive its leader: wait for them too, then kill.
        _, alive = psutil.wait_procs([p for p in seen if _running(p)], timeout=grace / 3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.log.close()


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_serving(sockets: Path) -> list[int]:
    """SIGKILL every process serving from a socket under `sockets` (the stage's own folder):
    warm dbt servers and run workers, and the runs a worker forked (a fork keeps its parent's
    command line). Their pids."""
    stopped = []
    prefix = str(sockets)
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any(arg.startswith(prefix) for arg in cmdline[1:]):
            with contextlib.suppress(psutil.Error):
                process.kill()
                stopped.append(process.pid)
    return stopped


def snapshot_day_rows(path: Path, day: str) -> tuple[int, int] | None:
    """(flights, predictions) of `day` in the snapshot, read as the dashboards do (a read-only
    connection, opened and closed each time); None while it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return con.execute(
            "SELECT (SELECT count(*) FROM marts.flights WHERE flight_date = ?::DATE), "
            "(SELECT count(*) FROM ml.flight_delay_predictions WHERE flight_date = ?::DATE)",
            [day, day],
        ).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()


class GraphQLError(RuntimeError):
    pass


def graphql(port: int, query: str, variables: Mapping | None = None, timeout: float = 60) -> dict:
    """POST a query to the webserver's /graphql; its `data`, or GraphQLError."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise GraphQLError("; ".join(e.get("message", str(e)) for e in payload["errors"]))
    return payload["data"]


_REPOSITORIES = """
{ repositoriesOrError { __typename
    ... on RepositoryConnection { nodes { name location { name }
        sensors { name sensorState { status ticks(limit: 1) { status timestamp } } } } }
    ... on PythonError { message } } }
"""


def repositories(port: int) -> list[dict]:
    data = graphql(port, _REPOSITORIES)["repositoriesOrError"]
    if data["__typename"] != "RepositoryConnection":
        raise GraphQLError(f"repositories: {data.get('message', data['__typename'])}")
    return data["nodes"]


def sensors_ticked(port: int, names: Sequence[str], since: float) -> bool:
    """Each named sensor has a finished tick after `since` (epoch seconds)."""
    try:
        nodes = repositories(port)
    except (OSError, GraphQLError):
        return False
    ticked = set()
    for node in nodes:
        for sensor in node["sensors"]:
            ticks = (sensor.get("sensorState") or {}).get("ticks") or []
            if ticks and ticks[0]["status"] != "STARTED" and ticks[0]["timestamp"] >= since:
                ticked.add(sensor["name"])
    return set(names) <= ticked


def location_name(port: int) -> str:
    for node in repositories(port):
        if node["name"] == REPOSITORY:
            return node["location"]["name"]
    raise GraphQLError(f"no repository {REPOSITORY} in the webserver's workspace")


_LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""


def launch_params(location: str, keys: Sequence[Sequence[str]], day: str) -> dict:
    """The ExecutionParams the UI sends for "Materialize" of `keys` over one day: the asset job
    of the repository, the selected assets (their checks come along, as the UI's do), the
    partition range tags."""
    return {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": REPOSITORY,
            "pipelineName": ASSET_JOB,
            "assetSelection": [{"path": list(key)} for key in keys],
        },
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {
            "tags": [
                {"key": "dagster/asset_partition_range_start", "value": day},
                {"key": "dagster/asset_partition_range_end", "value": day},
            ]
        },
    }


def launch(port: int, params: Mapping) -> str:
    """Launch a run as the UI does; its run id, or GraphQLError with the refusal's message."""
    result = graphql(port, _LAUNCH, {"executionParams": dict(params)})["launchPipelineExecution"]
    if result["__typename"] == "LaunchRunSuccess":
        return result["run"]["runId"]
    detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
    raise GraphQLError(f"launch refused ({result['__typename']}): {detail}")


def run_status(port: int, run_id: str) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"
    data = graphql(port, query, {"id": run_id})["runOrError"]
    return data.get("status") or data["__typename"]


def ui_day_selection(graph) -> list[tuple[str, ...]]:
    """What a user selects in the UI to redo one day: the daily sources and everything
    downstream of them, except training (and its multi-asset siblings) and the dbt views
    (virtual assets: the staging and intermediate views, and the whole-history marts `routes`
    and `weather_delay_impact`, views over daily tables) — what a delivered day's run carries."""
    import dagster as dg

    sources = dg.AssetSelection.assets(*(dg.AssetKey(list(k)) for k in DAILY_SOURCES))
    training = dg.AssetSelection.assets(*(dg.AssetKey(list(k)) for k in TRAINING_ASSETS))
    selection = sources.downstream() - training - dg.AssetSelection.groups(*VIEW_GROUPS)
    return sorted(
        tuple(key.path) for key in selection.resolve(graph) if not graph.get(key).is_virtual
    )


def open_instance(dagster_home: Path):
    """The stack's Dagster instance, read from its home (not from this process's environment)."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))


def active_runs(instance) -> int:
    import dagster as dg

    statuses = [dg.DagsterRunStatus[name] for name in ACTIVE_STATUSES]
    return instance.get_runs_count(dg.RunsFilter(statuses=statuses))


def run_records(instance, created_after: float) -> list[dict]:
    """Every run created after `created_after` (epoch s), as live_report's run records."""
    import dagster as dg

    from bench.pipeline_run import step_timings

    kinds = {dg.DagsterEventType.RUN_STARTING, dg.DagsterEventType.RUN_START}
    after = datetime.fromtimestamp(created_after, UTC)
    records = []
    for record in instance.get_run_records(filters=dg.RunsFilter(created_after=after)):
        run = record.dagster_run
        events = instance.get_records_for_run(run.run_id, of_type=kinds).records
        first = {}
        for event in events:
            first.setdefault(event.event_log_entry.dagster_event.event_type_value, event)
        launched = first.get(dg.DagsterEventType.RUN_STARTING.value)
        started = first.get(dg.DagsterEventType.RUN_START.value)
        records.append(
            {
                "run_id": run.run_id,
                "status": run.status.value,
                "tags": dict(run.tags),
                "assets": sorted(k.to_user_string() for k in run.asset_selection or ()),
                "created": record.create_timestamp.timestamp(),
                "launched": launched.event_log_entry.timestamp if launched else None,
                "started": started.event_log_entry.timestamp if started else record.start_time,
                "ended": record.end_time,
                "steps": step_timings(instance, run.run_id),
            }
        )
    return sorted(records, key=lambda r: r["created"])


def given_up(instance, created_after: float, wait_for_active: bool = True) -> str | None:
    """The failed runs created after `created_after` and their failed steps, once no run is
    active any more (nothing will retry them: a day or a build that needs them will not come);
    None while a run is active or if none failed."""
    if wait_for_active and active_runs(instance):
        return None
    failed = [r for r in run_records(instance, created_after) if r["status"] == "FAILURE"]
    if not failed:
        return None
    return "; ".join(
        f"run {r['run_id'][:8]} failed in "
        + (", ".join(k for k, s in r["steps"].items() if s["status"] == "failure") or "no step")
        for r in failed
    )
