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

latest_predictions as (
    select
        flight_id,
        predicted_delay_probability,
        row_number() over (
            partition by flight_id
            order by scored_at desc, model_version desc
        ) as recency
    from ml.flight_delay_predictions
)

select
    f.flight_date,
    count(*) as departed_flights,
    avg(p.predicted_delay_probability) as predicted_late_share,
    avg(case when f.is_departure_delayed_15 then 1.0 else 0.0 end) as actual_late_share
from latest_predictions as p
inner join filtered_flights as f on p.flight_id = f.flight_id
where p.recency = 1 and f.is_departure_delayed_15 is not null
group by f.flight_date
order by f.flight_date
