-- Routes from NYC in the (filtered) flights: one row per (origin_airport_code, dest_airport_code),
-- with names and coordinates from marts.routes (NULL when the airport is unknown), busiest first.
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
),

per_route as (
    select
        origin_airport_code,
        dest_airport_code,
        count(*) as flights,
        count(case when not is_cancelled then 1 end) as departed_flights,
        count(case when is_cancelled then 1 end) as cancelled_flights,
        count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
        avg(dep_delay_minutes) as avg_dep_delay_minutes,
        avg(arr_delay_minutes) as avg_arr_delay_minutes,
        max(distance_miles) as flown_distance_miles
    from filtered_flights
    group by origin_airport_code, dest_airport_code
)

select
    p.origin_airport_code,
    p.dest_airport_code,
    r.origin_airport_name,
    r.dest_airport_name,
    r.origin_latitude,
    r.origin_longitude,
    r.dest_latitude,
    r.dest_longitude,
    coalesce(r.distance_miles, p.flown_distance_miles) as distance_miles,
    p.flights,
    p.departed_flights,
    p.cancelled_flights,
    p.delayed_15_flights,
    1.0 * (p.departed_flights - p.delayed_15_flights)
    / nullif(p.departed_flights, 0) as on_time_share,
    p.avg_dep_delay_minutes,
    p.avg_arr_delay_minutes
from per_route as p
left join marts.routes as r
    on
        p.origin_airport_code = r.origin_airport_code
        and p.dest_airport_code = r.dest_airport_code
order by p.flights desc, p.origin_airport_code, p.dest_airport_code
