-- The champion model and the latest trained model version. Always exactly one row.
-- champion_version: the registered version of `flight_delay` that scored the current predictions
-- (scoring always uses the registry's `champion` alias); NULL before any scoring.
-- latest_trained_version: the version whose metrics are in ml.model_metrics (the latest training
-- run); it becomes champion only if it beat the previous one.
with latest_scoring as (
    select
        model_version,
        scored_at
    from ml.flight_delay_predictions
    order by scored_at desc, model_version desc
    limit 1
),

latest_training as (
    select
        model_version,
        max(trained_at) as trained_at
    from ml.model_metrics
    group by model_version
    order by trained_at desc, model_version desc
    limit 1
)

select
    (select model_version from latest_scoring) as champion_version,
    (select scored_at from latest_scoring) as scored_at,
    (
        select count(*)
        from ml.flight_delay_predictions
        where model_version = (select model_version from latest_scoring)
    ) as scored_flights,
    (select model_version from latest_training) as latest_trained_version,
    (select trained_at from latest_training) as trained_at,
    coalesce(
        (select model_version from latest_scoring)
        = (select model_version from latest_training),
        false
    ) as latest_trained_is_champion
