-- What the dashboards' filters offer, over the whole snapshot (never filtered itself): one row per
-- carrier (dimension 'carrier') and per NYC origin airport (dimension 'origin') that has flights,
-- busiest first, with the first and last flight date.
with carriers as (
    select
        'carrier' as dimension,
        carrier_code as code,
        any_value(carrier_name) as label,
        count(*) as flights,
        min(flight_date) as first_flight_date,
        max(flight_date) as last_flight_date
    from marts.flights
    group by carrier_code
),

origins as (
    select
        'origin' as dimension,
        f.origin_airport_code as code,
        any_value(a.airport_name) as label,
        count(*) as flights,
        min(f.flight_date) as first_flight_date,
        max(f.flight_date) as last_flight_date
    from marts.flights as f
    left join marts.airports as a on f.origin_airport_code = a.airport_code
    group by f.origin_airport_code
)

select * from carriers
union all
select * from origins
order by dimension, flights desc, code
