-- On-time share and average departure delay per carrier and period of the (filtered) flights:
-- one row per (period_start, carrier_code). The period is a day, week (starting Monday) or month:
-- variable period ('day', 'week' or 'month'; default 'week').
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
)

select
    cast(
        date_trunc(coalesce(cast(getvariable('period') as varchar), 'week'), flight_date) as date
    ) as period_start,
    carrier_code,
    any_value(carrier_name) as carrier_name,
    count(*) as flights,
    count(case when not is_cancelled then 1 end) as departed_flights,
    count(case when is_cancelled then 1 end) as cancelled_flights,
    count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
    avg(
        case
            when is_departure_delayed_15 then 0.0
            when not is_departure_delayed_15 then 1.0
        end
    ) as on_time_share,
    avg(dep_delay_minutes) as avg_dep_delay_minutes
from filtered_flights
group by period_start, carrier_code
order by period_start, carrier_code
