-- Predicted vs actual share of (filtered) flights departing 15+ minutes late, one row per date.
-- Uses each flight's most recent prediction and only departed flights (those with a label), so
-- both shares are over the same flights.
-- Filters (optional, DuckDB variables bound by dashboards/data.py; unset = no filter, as in Evidence):
-- start_date / end_date (DATE, inclusive), carriers / origins (VARCHAR[] of codes).
with filtered_flights as (
    select *
    from marts.flights
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
),

-- A scoring run replaces the rows of the days it scores, so nearly every day holds one run's
-- predictions, one per flight (a flight's rows all carry its flight_date): each is the flight's
-- latest, taken as it is. Only a day with rows from several runs needs the per-flight pick
-- (arg_max: newest scored_at, then model_version). This keeps deduplicating (a window or a
-- group by over every prediction, as costly as the join itself) off the common case.
scoring_runs as (
    select
        flight_date,
        count(distinct (scored_at, model_version)) = 1 as scored_once
    from ml.flight_delay_predictions
    group by flight_date
),

latest_predictions as (
    select
        p.flight_id,
        p.predicted_delay_probability
    from ml.flight_delay_predictions as p
    inner join scoring_runs as r on p.flight_date = r.flight_date
    where r.scored_once
    union all
    select
        p.flight_id,
        arg_max(p.predicted_delay_probability, (p.scored_at, p.model_version))
            as predicted_delay_probability
    from ml.flight_delay_predictions as p
    inner join scoring_runs as r on p.flight_date = r.flight_date
    where not r.scored_once
    group by p.flight_id
)

select
    f.flight_date,
    count(*) as departed_flights,
    avg(p.predicted_delay_probability) as predicted_late_share,
    avg(case when f.is_departure_delayed_15 then 1.0 else 0.0 end) as actual_late_share
from latest_predictions as p
inner join filtered_flights as f on p.flight_id = f.flight_id
where f.is_departure_delayed_15 is not null
group by f.flight_date
order by f.flight_date
