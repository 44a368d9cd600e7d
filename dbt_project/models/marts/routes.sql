{#
    One row per route (origin, destination) over every flight in the warehouse: volumes,
    cancellations, departure delays and the airports' names and coordinates (NULL when the
    destination is not in airports). Read from the intermediate flights, not marts.flights, so
    that it is built with the other unpartitioned models (a full rebuild, a few hundred rows).
#}
with

flights as (

    select * from {{ ref('int_flights_enriched') }}

),

airports as (

    select * from {{ ref('airports') }}

),

aggregated as (

    select
        origin_airport_code,
        dest_airport_code,
        avg(distance_miles) as distance_miles,
        count(*) as flights,
        count(case when not is_cancelled then 1 end) as departed_flights,
        count(case when is_cancelled then 1 end) as cancelled_flights,
        count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
        count(case when not is_departure_delayed_15 then 1 end) as on_time_flights,
        count(is_departure_delayed_15) as labelled_flights,
        avg(dep_delay_minutes) as avg_dep_delay_minutes,
        avg(arr_delay_minutes) as avg_arr_delay_minutes

    from flights
    group by origin_airport_code, dest_airport_code

),

final as (

    select
        aggregated.origin_airport_code,
        aggregated.dest_airport_code,
        origin_airports.airport_name as origin_airport_name,
        dest_airports.airport_name as dest_airport_name,
        origin_airports.latitude as origin_latitude,
        origin_airports.longitude as origin_longitude,
        dest_airports.latitude as dest_latitude,
        dest_airports.longitude as dest_longitude,
        cast(aggregated.distance_miles as {{ type_double() }}) as distance_miles,
        cast(aggregated.flights as {{ dbt.type_bigint() }}) as flights,
        cast(aggregated.departed_flights as {{ dbt.type_bigint() }}) as departed_flights,
        cast(aggregated.cancelled_flights as {{ dbt.type_bigint() }}) as cancelled_flights,
        cast(aggregated.delayed_15_flights as {{ dbt.type_bigint() }}) as delayed_15_flights,
        cast(aggregated.on_time_flights as {{ type_double() }})
        / nullif(aggregated.labelled_flights, 0) as on_time_share,
        cast(aggregated.avg_dep_delay_minutes as {{ type_double() }}) as avg_dep_delay_minutes,
        cast(aggregated.avg_arr_delay_minutes as {{ type_double() }}) as avg_arr_delay_minutes

    from aggregated
    left join airports as origin_airports
        on aggregated.origin_airport_code = origin_airports.airport_code
    left join airports as dest_airports
        on aggregated.dest_airport_code = dest_airports.airport_code

)

select * from final
