"""Automation: sensors and schedules that keep the asset graph fresh (filled in by #3 and #7).

`landing_zone_sensor` watches the landing zone (docs/landing_zone.md) and requests a load for each
new or changed file:

- Its cursor (persisted by Dagster between ticks and across restarts) maps each file, by its path
  relative to the landing dir, to ``[mtime_ns, size, sha256 prefix]``. A file whose mtime and size
  are unchanged is not read again; a file whose mtime or size changed is hashed, and only a new
  hash counts as a change (touching a file, or rewriting the same bytes, triggers nothing).
- New or changed days become one run per contiguous range of days (single-run backfill over
  ``dagster/asset_partition_range_start`` … ``_end``); flights and weather days with the same range
  share the run. A changed reference snapshot (airlines, airports, planes) requests its refresh.
- A file in ``flights/`` or ``weather/`` whose name is not a day of the partition range requests
  a load of the latest delivered day of that entity: the run quarantines the stray file and fails
  with a message that names it (a sensor does not write the warehouse itself).
- Each request has a run key built from the files and their hashes, so the same change never
  launches two runs, even if a tick is evaluated twice.
- The first tick (no cursor) requests only what the Dagster instance has not loaded yet: days
  never materialized, and files modified after their asset's latest materialization. Starting
  the sensor after `make run` therefore does not reload the whole year.

**One run per delivery** (issue #17). A request for new days carries them all the way: the raw
days and everything downstream of them (the daily dbt models, the whole-history marts, scoring,
monitoring, the serving snapshot), in one run over the days' range, as `make run` does. Not the
dbt views (they hold no data) nor training (a decision of its own). Before, a day went through a
chain of runs, each waiting for the next automation tick and starting a new process (sensor → raw
run → tick → day run + whole-table run → tick → publish run: ~100 s of a 150 s day were ticks and
process starts). The sensor ticks every `RUNWAY_SENSOR_INTERVAL_SECONDS` (5 s).

**Nothing built yet** (a fresh `make dev`: no serving snapshot was ever materialized in this
instance): the first request is one run of the whole graph over the first contiguous range of
delivered days — reference tables, dbt views, training included — the run `make run` makes, but
launched by the daemon, so the user watches it in the UI while it builds.

Declarative automation stays in charge of what arrives another way: each asset carries an
`AutomationCondition` (orchestration/conditions.py, which says what runs when) and
`runway_automation_sensor` evaluates them every `RUNWAY_AUTOMATION_INTERVAL_SECONDS`: a
redelivered or backfilled day loaded without its downstream, a reference refresh, retraining.
For a delivery's run the conditions see the run's assets in progress, then updated (or failed),
and request nothing more. Because Dagster's own `default_automation_condition_sensor` is stopped
on a fresh instance, this sensor is defined here with a running default status, so `make dev`
automates from its first start.

The other definitions here, all running by default except the demo feed:

- `live_feed_schedule` (job `live_feed`): the demo feed. Every `RUNWAY_FEED_CRON` (default: every
  5 minutes) it delivers the next day's flights and weather files to the landing zone, as the
  upstream would (`orchestration/seed/feed.py`), until the last day of the range. Running by
  default only with `RUNWAY_DEMO_FEED=1` (`make dev` sets it).
- `reference_tables_schedule`: reloads `raw/airlines`, `raw/airports`, `raw/planes` daily
  (`RUNWAY_REFERENCE_CRON`, default 06:00 UTC), whether or not the sensor saw them change.
- The freshness checks and their sensor live in orchestration/freshness.py; what a delivery's
  run selects, in orchestration/delivery.py.
- `run_failure_alerts` (orchestration/alerts.py): each failed run into the alerts table and log.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from orchestration import alerts, delivery, ingest, raw_loader, settings

# The seeder (orchestration.seed: polars, numpy, tqdm) is imported inside the feed's op and
# schedule, when they run: the code location must not pay for it at every load (issue #8).

SENSOR_NAME = "landing_zone_sensor"
DAILY_ENTITIES = tuple(raw_loader.DAILY_TABLES)
REFERENCE_ENTITIES = tuple(raw_loader.REFERENCE_TABLES)
RANGE_START_TAG = delivery.RANGE_START_TAG
RANGE_END_TAG = delivery.RANGE_END_TAG
_HASH_CHARS = 16


@dataclass(frozen=True)
class _Change:
    relative: str  # path relative to the landing dir
    entity: str
    digest: str
    day: date | None  # a daily file's day; None for a snapshot or a stray file
    stray: bool = False


def _landing_files(landing_dir: Path) -> Iterable[tuple[str, str, Path]]:
    """(entity, relative path, path) of every delivered file, hidden files excluded."""
    for entity in DAILY_ENTITIES:
        folder = landing_dir / entity
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    yield entity, f"{entity}/{path.name}", path
    for entity in REFERENCE_ENTITIES:
        for suffix in raw_loader.FILE_SUFFIXES:
            path = landing_dir / f"{entity}{suffix}"
            if path.is_file():
                yield entity, path.name, path


def _digest(path: Path) -> str:
    return raw_loader.file_sha256(path)[:_HASH_CHARS]


def _contiguous(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days grouped into inclusive ranges of consecutive days."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _run_key(kind: str, changes: Iterable[_Change]) -> str:
    content = "\n".join(sorted(f"{change.relative}:{change.digest}" for change in changes))
    return f"{kind}:{hashlib.sha256(content.encode()).hexdigest()[:20]}"


class _Baseline:
    """What the instance already loaded, consulted on the first tick only (no cursor yet)."""

    def __init__(self, instance: dg.DagsterInstance):
        self._instance = instance
        self._materialized: dict[str, set[str]] = {}
        self._latest: dict[str, float | None] = {}

    def _key(self, entity: str) -> dg.AssetKey:
        return dg.AssetKey(["raw", entity])

    def latest_timestamp(self, entity: str) -> float | None:
        if entity not in self._latest:
            event = self._instance.get_latest_materialization_event(self._key(entity))
            self._latest[entity] = event.timestamp if event is not None else None
        return self._latest[entity]

    def already_loaded(self, entity: str, day: date | None, mtime_ns: int) -> bool:
        latest = self.latest_timestamp(entity)
        if latest is None or mtime_ns / 1e9 > latest:
            return False
        if day is None:
            return True
        if entity not in self._materialized:
            self._materialized[entity] = set(
                self._instance.get_materialized_partitions(self._key(entity))
            )
        return day.isoformat() in self._materialized[entity]


def evaluate_landing_zone(
    landing_dir: Path,
    cursor: str | None,
    instance: dg.DagsterInstance | None,
    partition_range: tuple[date, date],
    carry: Callable[[list[dg.AssetKey]], list[dg.AssetKey]] | None = None,
) -> tuple[list[dg.RunRequest], str, list[str]]:
    """The run requests for the files changed since ``cursor``, the new cursor, and notes.

    ``carry(raw_keys)`` gives a day request's whole selection (the raw keys and what they carry
    downstream); without it a day request loads the raw tables only.
    """
    previous: dict[str, list] | None = json.loads(cursor) if cursor else None
    baseline = _Baseline(instance) if previous is None and instance is not None else None
    first_day, last_day = partition_range
    state: dict[str, list] = {}
    changes: list[_Change] = []
    notes: list[str] = []
    valid_days: dict[str, list[date]] = {entity: [] for entity in DAILY_ENTITIES}
    for entity, relative, path in _landing_files(landing_dir):
        stat = path.stat()
        known = (previous or {}).get(relative)
        if known is not None and known[0] == stat.st_mtime_ns and known[1] == stat.st_size:
            digest = known[2]
            is_new = False
        else:
            digest = _digest(path)
            is_new = known is None or known[2] != digest
        state[relative] = [stat.st_mtime_ns, stat.st_size, digest]
        day = raw_loader.day_of_file_name(path.name) if entity in DAILY_ENTITIES else None
        stray = entity in DAILY_ENTITIES and (day is None or not first_day <= day <= last_day)
        if entity in DAILY_ENTITIES and not stray:
            valid_days[entity].append(day)
        if not is_new:
            continue
        if (
            baseline is not None
            and not stray
            and baseline.already_loaded(entity, day, stat.st_mtime_ns)
        ):
            continue
        changes.append(_Change(relative, entity, digest, None if stray else day, stray))

    requests: list[dg.RunRequest] = []
    # Days: one request per contiguous range; entities with the same range share it.
    by_range: dict[tuple[date, date], list[str]] = {}
    changes_by_range: dict[tuple[date, date], list[_Change]] = {}
    for entity in DAILY_ENTITIES:
        entity_changes = [c for c in changes if c.entity == entity and not c.stray]
        strays = [c for c in changes if c.entity == entity and c.stray]
        days = [c.day for c in entity_changes]
        if strays:
            names = ", ".join(c.relative for c in strays)
            notes.append(f"not a day of {first_day}..{last_day}, to be quarantined: {names}")
            if not days:  # a run of the latest delivered day quarantines the stray files
                days = [max(valid_days[entity])] if valid_days[entity] else [first_day]
        for span in _contiguous(days):
            by_range.setdefault(span, []).append(entity)
            changes_by_range.setdefault(span, []).extend(
                c for c in [*entity_changes, *strays] if c.stray or span[0] <= c.day <= span[1]
            )
    for (start, end), entities in sorted(by_range.items()):
        selection = [dg.AssetKey(["raw", entity]) for entity in entities]
        run_key = _run_key(f"days:{start}..{end}", changes_by_range[(start, end)])
        if carry is not None:
            # One run over the range carries the days to the snapshot; mixed partitioned and
            # unpartitioned assets take the range tags (a single day too).
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    asset_selection=carry(selection),
                    tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
                )
            )
        elif start == end:
            requests.append(
                dg.RunRequest(
                    run_key=run_key, asset_selection=selection, partition_key=start.isoformat()
                )
            )
        else:
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    asset_selection=selection,
                    tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
                )
            )
    snapshots = [c for c in changes if c.entity in REFERENCE_ENTITIES]
    if snapshots:
        requests.append(
            dg.RunRequest(
                run_key=_run_key("snapshots", snapshots),
                asset_selection=sorted({dg.AssetKey(["raw", c.entity]) for c in snapshots}),
            )
        )
    return requests, json.dumps(state, sort_keys=True, separators=(",", ":")), notes


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=settings.load().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=dg.AssetSelection.all(),
    description="Each new or changed file in the landing zone: contiguous new days become one run "
    "over the range that carries them to the serving snapshot (raw, dbt, scoring, monitoring, "
    "publish); changed reference snapshots refresh their raw table. With nothing built yet, "
    "the first run builds the whole graph.",
)
def landing_zone_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    landing_dir = settings.load().landing_dir
    if not landing_dir.is_dir():
        return dg.SensorResult(
            skip_reason=f"no landing zone at {landing_dir} yet", cursor=context.cursor
        )
    asset_graph = context.repository_def.asset_graph

    def carry(raw_keys: list[dg.AssetKey]) -> list[dg.AssetKey]:
        return delivery.delivery_selection(raw_keys, asset_graph)

    # The instance is consulted on the first tick only (see `_Baseline`).
    instance = context.instance if not context.cursor else None
    requests, cursor, notes = evaluate_landing_zone(
        landing_dir, context.cursor, instance, ingest.partition_range(), carry
    )
    if requests and delivery.nothing_built(context.instance, asset_graph):
        everything = sorted(
            (k for k in asset_graph.get_all_asset_keys() if asset_graph.get(k).is_materializable),
            key=lambda k: k.path,
        )
        requests = delivery.bootstrap(requests, everything)
    for note in notes:
        context.log.warning(note)
    if not requests:
        return dg.SensorResult(skip_reason="no new or changed landing files", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


_current = settings.load()

runway_automation_sensor = dg.AutomationConditionSensorDefinition(
    "runway_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=_current.automation_interval_seconds,
    # The retraining condition is Python code (conditions.NewPartitionsSinceLastRun): Dagster
    # evaluates such conditions in the code location, not in the daemon.
    use_user_code_server=True,
    description="Evaluates every asset's automation condition (orchestration/conditions.py): "
    "new or redelivered days flow through dbt, scoring and monitoring to the snapshot; "
    "retraining runs weekly or after enough new days.",
)


@dg.op(description="Deliver the next day's flights and weather files to the landing zone.")
def deliver_next_day(context: dg.OpExecutionContext) -> None:
    from orchestration.seed import feed

    current = settings.load()
    report = feed.deliver_next_days(current.landing_dir, 1)
    context.log.info(report.summary(current.end_date))


@dg.job(
    name="live_feed",
    description="The simulated upstream delivers the next day (orchestration/seed/feed.py).",
    executor_def=dg.in_process_executor,
)
def live_feed_job() -> None:
    deliver_next_day()


@dg.schedule(
    job=live_feed_job,
    cron_schedule=_current.feed_cron,
    name="live_feed_schedule",
    default_status=dg.DefaultScheduleStatus.RUNNING
    if _current.demo_feed
    else dg.DefaultScheduleStatus.STOPPED,
    description="Demo: delivers the next day of 2013 on each tick (RUNWAY_FEED_CRON), as the "
    "upstream would; running by default when RUNWAY_DEMO_FEED=1 (make dev).",
)
def live_feed_schedule(context: dg.ScheduleEvaluationContext):
    from orchestration.seed import feed

    current = settings.load()
    days = feed.next_days(current.landing_dir, 1, current.start_date, current.end_date)
    if not days:
        return dg.SkipReason(f"every day up to {current.end_date} is delivered")
    # One run per day: a tick that comes while the previous delivery is still queued does not
    # deliver the same day twice (nor skip ahead).
    return dg.RunRequest(run_key=f"feed:{days[0]}", tags={"runway/feed_day": str(days[0])})


reference_tables_schedule = dg.ScheduleDefinition(
    name="reference_tables_schedule",
    cron_schedule=_current.reference_cron,
    target=dg.AssetSelection.assets(*(dg.AssetKey(["raw", e]) for e in REFERENCE_ENTITIES)),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Reloads the airlines, airports and planes snapshots daily "
    "(RUNWAY_REFERENCE_CRON).",
)

sensors: list[dg.SensorDefinition] = [
    landing_zone_sensor,
    runway_automation_sensor,
    alerts.run_failure_alerts,
]
schedules: list[dg.ScheduleDefinition] = [live_feed_schedule, reference_tables_schedule]
jobs = [live_feed_job]
