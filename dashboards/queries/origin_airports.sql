-- The NYC airports in the (filtered) flights: one row per origin airport, busiest first.
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
    f.origin_airport_code as airport_code,
    any_value(a.airport_name) as airport_name,
    count(*) as flights,
    count(case when not f.is_cancelled then 1 end) as departed_flights,
    count(case when f.is_cancelled then 1 end) as cancelled_flights,
    count(case when f.is_departure_delayed_15 then 1 end) as delayed_15_flights,
    avg(
        case
            when f.is_departure_delayed_15 then 0.0
            when not f.is_departure_delayed_15 then 1.0
        end
    ) as on_time_share,
    avg(f.dep_delay_minutes) as avg_dep_delay_minutes,
    count(distinct f.dest_airport_code) as destinations
from filtered_flights as f
left join marts.airports as a on f.origin_airport_code = a.airport_code
group by f.origin_airport_code
order by flights desc, airport_code
