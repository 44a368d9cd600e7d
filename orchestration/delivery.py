"""What a delivered day's run carries (issue #17), for `landing_zone_sensor`
(orchestration/automation.py): the raw days and everything downstream of them but training and
the dbt views, in one run; and, on an instance where nothing was ever published, one run of the
whole graph instead (a fresh `make dev`)."""

import hashlib
from collections.abc import Sequence

import dagster as dg

# A run over a range of days (single-run backfill policies): what a delivery's run is tagged with.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# Not carried by a delivery's run: training (retraining is a decision of its own,
# conditions.training_condition) and the dbt views (no data: built when missing or changed).
TRAINING_KEYS = frozenset(
    dg.AssetKey(["ml", name])
    for name in ("flight_delay_model", "model_metrics", "model_calibration", "feature_importance")
)
SNAPSHOT = dg.AssetKey(["serving", "warehouse_snapshot"])


def delivery_selection(raw_keys: Sequence[dg.AssetKey], asset_graph) -> list[dg.AssetKey]:
    """What a delivered day's run materializes: its raw tables and everything downstream of them
    but training and the dbt views (virtual assets: `marts/routes` and
    `marts/weather_delay_impact` too, views over their daily tables)."""
    raw = dg.AssetSelection.assets(*raw_keys)
    downstream = raw.downstream(include_self=False).resolve(asset_graph)
    return sorted(
        {
            *raw_keys,
            *(
                key
                for key in downstream
                if key not in TRAINING_KEYS and not asset_graph.get(key).is_virtual
            ),
        },
        key=lambda key: key.path,
    )


def nothing_built(instance: dg.DagsterInstance, asset_graph) -> bool:
    """No serving snapshot was ever materialized here: the first run must build everything."""
    return asset_graph.has(SNAPSHOT) and instance.get_latest_materialization_event(SNAPSHOT) is None


def bootstrap(requests: list[dg.RunRequest], everything: list[dg.AssetKey]) -> list[dg.RunRequest]:
    """The earliest day request becomes one run of `everything` over its range, the reference
    snapshots' request merged into it; later ranges stay as they are (they wait for the pool)."""
    days = [r for r in requests if RANGE_START_TAG in r.tags]
    if not days:
        return requests
    first = min(days, key=lambda r: r.tags[RANGE_START_TAG])
    merged = [r for r in requests if r is not first and RANGE_START_TAG not in r.tags]
    keys = ",".join(sorted(r.run_key or "" for r in (first, *merged)))
    whole = dg.RunRequest(
        run_key=f"bootstrap:{hashlib.sha256(keys.encode()).hexdigest()[:20]}",
        asset_selection=everything,
        tags={**first.tags, "runway/bootstrap": "true"},
    )
    return [whole, *(r for r in days if r is not first)]
