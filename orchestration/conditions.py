"""Declarative automation: when each downstream asset updates by itself (`AutomationCondition`).

The asset modules attach these conditions; `runway_automation_sensor` (orchestration/automation.py,
running by default) evaluates them every 30 s (`RUNWAY_AUTOMATION_INTERVAL_SECONDS`). A delivered
day does not wait for them: `landing_zone_sensor` launches one run that carries it to the
snapshot, and these conditions see that run's assets in progress, then updated or failed, and
request nothing for it. They act on what arrives another way. What runs when:

- **A day's tables** (`daily_condition`: the daily dbt models `marts/flights`,
  `marts/daily_carrier_performance`, `ml/flight_features`, the scoring asset
  `ml/flight_delay_predictions` and the monitoring mart): a partition is requested when the same
  day of an upstream asset updated (or will be requested this tick), once none of its upstream
  days is missing or in progress and it is not in progress itself. Unlike
  `AutomationCondition.eager()`, **every** day counts, not only the latest time window, so a
  redelivered or backfilled older day propagates too. Updates of unpartitioned parents are
  ignored as triggers (the reference tables, the model): they would mark all 365 days as updated
  and rebuild the year. A new model scores the days that arrive after it; historical predictions
  keep the version that made them (a full rescoring is `make materialize`).
- **Whole tables** (`whole_table_condition`: `marts/carriers`, `marts/airports`): requested when
  any upstream asset (any day of it) updated since they last ran, once nothing upstream is in
  progress. The whole-history marts `marts/routes` and `marts/weather_delay_impact` are views
  over daily tables (issue #17): a day updates one day of those, and the views are never rebuilt
  for data.
- **The serving snapshot** (`publish_condition`): the same, and never in the tick that requests
  something upstream of it: it waits until those runs are done, then publishes once. (Dagster
  starts a day's run and a whole-table run independently; a snapshot requested with them could
  publish before the day is built, then again after.)
- **dbt views** (staging, intermediate; `view_condition`): views hold no data, so new rows need no
  rebuild. They are Dagster *virtual* assets (dagster-dbt's `enable_dbt_views_as_virtual_assets`)
  and the conditions above look through them (`resolve_through_virtual`) to the tables they read:
  `marts/flights` for a day depends on that day of `raw/flights` and `raw/weather`. A view is built
  when it is missing and data arrives upstream (a fresh instance), or when its SQL changed.
- **Training** (`training_condition` on `ml/flight_delay_model`): on a cron (weekly by default,
  `RUNWAY_RETRAIN_CRON`) once new features arrived since the tick, or as soon as
  `RUNWAY_RETRAIN_AFTER_DAYS` (default 7) days of `ml/flight_features` were updated since the last
  training was launched (`NewPartitionsSinceLastRun`). One delivered day never retrains.

No condition requests the same change twice: each trigger is latched `since_last_handled` (or
counted from the last launch) and cleared when the asset is requested, and nothing is requested
while it or an upstream asset is in progress (a run or a backfill). A request whose run fails
is not repeated at the next ticks either (its triggers were cleared by the request, or by the
failure when the run was the landing sensor's, see `handled`): it is requested again when an
upstream asset updates again (for a day: that day redelivered; for a
whole table or a view: any upstream load), not in a loop every 30 s.

**The sensor's first tick** (`make dev` on a fresh instance, or the sensor started later):
`since_last_handled()` clears every trigger on a condition's first evaluation (Dagster's
`initial_evaluation`, so that starting a sensor does not rebuild history), and `any_deps_updated`
sees only updates made after it. If the raw days were loaded before that first tick, no later
update would come and nothing downstream would ever be built. So every condition also latches
`missing_at_start`: an asset (partition) missing when first evaluated is requested once, when
its upstream data is there, and not again (cleared when requested or updated, not by the first
evaluation); the training trigger is latched the same way.
"""

import dagster as dg

AC = dg.AutomationCondition


def handled() -> dg.AutomationCondition:
    """What clears a latched trigger: Dagster's `since_last_handled()` resets (requested by this
    sensor, updated, the first evaluation), and also a run that failed to materialize it.

    A delivered day's run is launched by `landing_zone_sensor`, not by this sensor (issue #17:
    one run carries the day to the snapshot). If that run fails, the day's tables were never
    "requested" here, so without this reset the trigger latched from the raw update would make
    the automation run the failed day again as soon as the run ended: twice for one change.
    """
    return (
        AC.newly_requested()
        | AC.newly_updated()
        | AC.initial_evaluation()
        | AC.execution_failed().newly_true()
    ).with_label("handled")


def since_handled(trigger: dg.AutomationCondition) -> dg.AutomationCondition:
    """`trigger` latched until `handled()`."""
    return trigger.since(handled())


def missing_at_start() -> dg.AutomationCondition:
    """Missing on the first evaluation (or newly missing later) while its upstream data was
    there, latched until requested, updated or failed.

    `newly_missing` is true on a first evaluation for every missing partition (no previous state);
    unlike `since_last_handled()`, this latch is not cleared by that first evaluation (see the
    module docstring), so what is missing when the sensor starts is built once its upstream data
    is there. A failed request is not repeated: the latch is cleared when it is requested.

    Only partitions whose upstream data is there: the days not delivered yet are missing too,
    and latched they would be requested the moment their raw files load, racing the landing
    sensor's run that carries them (seen: a tick that read a day's features as no longer in
    progress but still missing requested them again). Those days are built by that run.
    """
    return (
        # Each upstream asset has data (for a day: that day; for a whole table: any day), or is
        # requested in the same tick (views over views, built together in dependency order).
        (AC.newly_missing() & _upstream_has_data())
        .since(AC.newly_requested() | AC.newly_updated() | AC.execution_failed().newly_true())
        .with_label("missing since the first evaluation, upstream there")
    )


# dbt views live in these groups (the translator's group is the schema): Dagster virtual assets.
VIEWS = dg.AssetSelection.groups("staging", "intermediate")


def _views_built() -> dg.AutomationCondition:
    """The dbt views this table selects from exist and are not being (re)built.

    The other guards look through the views to the tables they read, so without this one a day
    could be requested while the views it reads are missing (a fresh instance) or requested in
    the same tick: a one-day request and the views' request become two runs, and the day's dbt
    build could take the `warehouse` pool first and fail on a view that does not exist yet.
    """
    return (~AC.any_deps_match(AC.missing() | AC.in_progress()).allow(VIEWS)).with_label(
        "the dbt views it reads are built"
    )


def _upstream_has_data() -> dg.AutomationCondition:
    """Every upstream asset has data, or is requested in this same tick (views built from nothing
    are requested together, in dependency order)."""
    return AC.all_deps_match(~AC.missing() | AC.will_be_requested()).with_label(
        "every upstream asset has data"
    )


def daily_condition(ignore_updates_of: dg.AssetSelection) -> dg.AutomationCondition:
    """Eager on every day (see the module docstring); `ignore_updates_of` never triggers."""
    return (
        (
            (
                since_handled(AC.newly_missing() | AC.any_deps_updated().ignore(ignore_updates_of))
                | missing_at_start()
            )
            & ~AC.any_deps_missing()
            & ~AC.any_deps_in_progress()
            & ~AC.in_progress()
        ).resolve_through_virtual()
        & _views_built()
    ).with_label("daily: same day of an upstream asset updated")


def whole_table_condition() -> dg.AutomationCondition:
    """Any upstream update (any day) since the last run, nothing upstream missing or running.

    "Missing" here means an upstream asset with no data at all: the days of 2013 not delivered
    yet are missing partitions of the daily parents, and must not block the whole table. Views
    requested in the same tick are fine: they and these tables are one dbt run, built in order.
    """
    return (
        (
            (since_handled(AC.any_deps_updated()) | missing_at_start())
            & _upstream_has_data()
            & ~AC.any_deps_in_progress()
            & ~AC.in_progress()
        ).resolve_through_virtual()
        & ~AC.any_deps_match(AC.in_progress()).allow(VIEWS).with_label("no view it reads running")
    ).with_label("whole table: any upstream update")


class UpstreamRequestedThisTick(dg.AutomationCondition):
    """True when a direct upstream asset is requested in this same evaluation.

    A request for one day of the daily tables and one for the whole tables become separate runs
    (different partitioning), which Dagster starts independently: a snapshot requested in the
    same tick could publish before the day's tables are built. With this condition negated, the
    snapshot's trigger stays latched while its upstream requests run (they are in progress,
    then updated), and it publishes once, after all of them.
    """

    @property
    def description(self) -> str:
        return "An upstream asset is requested this tick"

    @property
    def name(self) -> str:
        return "upstream_requested_this_tick"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        parents = context.asset_graph.get(context.key).parent_entity_keys
        requested = any(
            key in parents and not subset.is_empty
            for key, subset in context.request_subsets_by_key.items()
        )
        true_subset = context.candidate_subset if requested else context.get_empty_subset()
        return dg.AutomationResult(context=context, true_subset=true_subset)


def publish_condition() -> dg.AutomationCondition:
    """The snapshot: `whole_table_condition`, once this tick's upstream requests have run."""
    return (whole_table_condition() & ~UpstreamRequestedThisTick()).with_label(
        "publish: after every upstream update has run"
    )


def view_condition() -> dg.AutomationCondition:
    """A dbt view: built when missing and data arrives upstream, or when its SQL changed; only
    once every view or table it selects from has data (or is built in the same run), since
    DuckDB checks a view's query when it is created. A view holds no rows: loads upstream that
    are still running do not matter to it."""
    return (
        (
            (
                (AC.missing() & AC.any_deps_updated()) | AC.code_version_changed()
            ).since_last_handled()
            | missing_at_start()
        )
        & _upstream_has_data()
        # Not `~any_deps_in_progress()`: a view over `raw/flights` would wait for every day's
        # load, and with days queued behind the `warehouse` pool (the feed, a backfill) it would
        # never be built, nor would anything that reads it.
        & ~AC.in_progress()
    ).with_label("view: missing or changed")


class NewPartitionsSinceLastRun(dg.AutomationCondition):
    """True once `threshold` partitions of `source` were updated since the target's last run.

    "Last run" is the latest planned or completed materialization of the target: a run is
    planned the moment it is created, so the count restarts as soon as training is launched,
    and a failed training is not retried until `threshold` more days arrived. A target that was
    never launched counts every partition of `source`.

    Evaluated in the code location (`use_user_code_server=True` on the automation sensor), as
    Dagster requires for a condition written in Python.
    """

    def __init__(self, source: dg.AssetKey, threshold: int):
        self.source = source
        self.threshold = threshold

    @property
    def description(self) -> str:
        return (
            f"At least {self.threshold} partition(s) of {self.source.to_user_string()} updated "
            "since the last run was launched"
        )

    @property
    def name(self) -> str:
        return f"new_partitions_since_last_run({self.source.to_user_string()}, {self.threshold})"

    def count(self, instance: dg.DagsterInstance, target: dg.AssetKey) -> int:
        """Distinct partitions of `source` updated since `target` last ran (up to threshold)."""
        since = 0
        planned = instance.get_latest_planned_materialization_info(target)
        if planned is not None:
            since = planned.storage_id
        latest = instance.fetch_materializations(target, limit=1).records
        if latest:
            since = max(since, latest[0].storage_id)
        partitions: set[str | None] = set()
        cursor = None
        while len(partitions) < self.threshold:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=self.source, after_storage_id=since or None),
                limit=1000,
                cursor=cursor,
            )
            partitions.update(record.partition_key for record in result.records)
            if not result.has_more:
                break
            cursor = result.cursor
        return len(partitions)

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        instance = context.asset_graph_view.instance
        enough = self.count(instance, context.key) >= self.threshold
        true_subset = context.candidate_subset if enough else context.get_empty_subset()
        return dg.AutomationResult(context=context, true_subset=true_subset)


def training_condition(features: dg.AssetKey, cron: str, after_days: int) -> dg.AutomationCondition:
    """Retrain on `cron` (after new features arrived) or after `after_days` new feature days."""
    return (
        (
            AC.on_cron(cron)
            # Latched from the moment the count is reached until training is requested: a
            # request that must wait (features still running) is not lost, and is made once.
            # Not `since_last_handled()`: a count reached before the sensor's first tick (a
            # fresh `make dev`) would be cleared by that tick and never be newly true again.
            | NewPartitionsSinceLastRun(features, after_days)
            .newly_true()
            .since(AC.newly_requested() | AC.newly_updated())
        )
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label(f"retrain: on_cron({cron}) or {after_days} new days")
