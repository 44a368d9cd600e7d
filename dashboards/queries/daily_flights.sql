-- One row per flight date of the (filtered) flights.
-- on_time_share: share of departed flights that left less than 15 minutes late.
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
    flight_date,
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
group by flight_date
order by flight_date
