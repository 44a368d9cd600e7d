-- The delay model day by day (ml.flight_delay_monitoring): one row per (flight_date, model_version)
-- with the predicted and actual late shares, ROC AUC (NULL on a day with one class) and Brier score.
-- Optional date filter (DuckDB variables start_date / end_date; unset = every day).
select
    flight_date,
    model_version,
    scored_flights,
    departed_flights,
    predicted_late_share,
    actual_late_share,
    roc_auc,
    brier_score
from ml.flight_delay_monitoring
where
    (getvariable('start_date') is null or flight_date >= cast(getvariable('start_date') as date))
    and (getvariable('end_date') is null or flight_date <= cast(getvariable('end_date') as date))
order by flight_date, model_version
