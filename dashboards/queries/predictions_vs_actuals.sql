-- Predicted vs actual share of (filtered) flights departing 15+ minutes late, one row per date.
-- Uses each flight's most recent prediction and only departed flights (those with a label), so
-- both shares are over the same flights.
-- Filters (optional, DuckDB variables bound by dashboards/data.py; unset = no filter, as in Evidence):
-- start_date / end_date (DATE, inclusive), carriers / origins (VARCHAR[] of codes).
-- Reads ml.daily_prediction_outcomes, which the publisher derives in the snapshot from
-- ml.flight_delay_predictions and marts.flights (orchestration/snapshot_tables.py), one row per
-- (flight_date, carrier_code, origin_airport_code): joining the row-level tables here cost more
-- than the latency target at scale 10 (issue #8); the filters select the same flights.
select
    flight_date,
    cast(sum(departed_flights) as bigint) as departed_flights,
    sum(predicted_delay_probability_sum) / sum(departed_flights) as predicted_late_share,
    cast(sum(delayed_15_flights) as double) / sum(departed_flights) as actual_late_share
from ml.daily_prediction_outcomes
where
    (getvariable('start_date') is null or flight_date >= cast(getvariable('start_date') as date))
    and (getvariable('end_date') is null or flight_date <= cast(getvariable('end_date') as date))
    and (
        getvariable('carriers') is null
        or list_contains(cast(getvariable('carriers') as varchar[]), carrier_code)
    )
    and (
        getvariable('origins') is null
        or list_contains(cast(getvariable('origins') as varchar[]), origin_airport_code)
    )
group by flight_date
order by flight_date
