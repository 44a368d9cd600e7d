{{ config(materialized='view', tags=['history']) }}
{#
    One row per route (origin, destination) over every flight in the warehouse: volumes,
    cancellations, departure delays and the airports' names and coordinates (NULL when the
    destination is not in airports). A view over the daily sums of marts.daily_route_performance
    (issue #17): a new day rebuilds that day there, and nothing here has to be rebuilt.
#}
with

days as (

    select * from {{ ref('daily_route_performance') }}

),

airports as (

    select * from {{ ref('airports') }}

),

aggregated as (

    select
        origin_airport_code,
        dest_airport_code,
        sum(distance_miles_sum) / nullif(sum(distance_flights), 0) as distance_miles,
        sum(flights) as flights,
        sum(departed_flights) as departed_flights,
        sum(cancelled_flights) as cancelled_flights,
        sum(delayed_15_flights) as delayed_15_flights,
        sum(on_time_flights) as on_time_flights,
        sum(labelled_flights) as labelled_flights,
        sum(dep_delay_minutes_sum) / nullif(sum(dep_delay_flights), 0) as avg_dep_delay_minutes,
        sum(arr_delay_minutes_sum) / nullif(sum(arr_delay_flights), 0) as avg_arr_delay_minutes

    from days
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
