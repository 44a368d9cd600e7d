-- Carrier league table over the (filtered) flights: one row per carrier, best on-time share first.
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

per_carrier as (
    select
        carrier_code,
        any_value(carrier_name) as carrier_name,
        count(*) as flights,
        count(case when not is_cancelled then 1 end) as departed_flights,
        count(case when is_cancelled then 1 end) as cancelled_flights,
        count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
        avg(dep_delay_minutes) as avg_dep_delay_minutes
    from filtered_flights
    group by carrier_code
),

shares as (
    select
        *,
        1.0 * (departed_flights - delayed_15_flights)
        / nullif(departed_flights, 0) as on_time_share,
        1.0 * cancelled_flights / nullif(flights, 0) as cancelled_share
    from per_carrier
)

select
    row_number() over (
        order by on_time_share desc nulls last, carrier_code
    ) as league_rank,
    carrier_code,
    carrier_name,
    flights,
    departed_flights,
    cancelled_flights,
    delayed_15_flights,
    on_time_share,
    cancelled_share,
    avg_dep_delay_minutes
from shares
order by league_rank
