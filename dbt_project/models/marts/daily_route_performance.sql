{{
    config(
        materialized='incremental',
        unique_key='flight_date',
        incremental_predicates=date_window_predicates('flight_date'),
        tags=['daily'],
    )
}}
{#
    Volumes and delay sums per (local day, origin, destination). Incremental by day, like
    marts.flights: a new day costs one day of work, whatever the history. marts.routes is a view
    that adds these days up (sums and counts, so that its averages are exact).
#}
with

flights as (

    select * from {{ ref('int_flights_enriched') }}
    where {{ date_window_filter('flight_date') }}

),

aggregated as (

    select
        flight_date,
        origin_airport_code,
        dest_airport_code,
        count(*) as flights,
        count(case when not is_cancelled then 1 end) as departed_flights,
        count(case when is_cancelled then 1 end) as cancelled_flights,
        count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
        count(case when not is_departure_delayed_15 then 1 end) as on_time_flights,
        count(is_departure_delayed_15) as labelled_flights,
        sum(distance_miles) as distance_miles_sum,
        count(distance_miles) as distance_flights,
        sum(dep_delay_minutes) as dep_delay_minutes_sum,
        count(dep_delay_minutes) as dep_delay_flights,
        sum(arr_delay_minutes) as arr_delay_minutes_sum,
        count(arr_delay_minutes) as arr_delay_flights

    from flights
    group by flight_date, origin_airport_code, dest_airport_code

),

final as (

    select
        flight_date,
        origin_airport_code,
        dest_airport_code,
        cast(flights as {{ dbt.type_bigint() }}) as flights,
        cast(departed_flights as {{ dbt.type_bigint() }}) as departed_flights,
        cast(cancelled_flights as {{ dbt.type_bigint() }}) as cancelled_flights,
        cast(delayed_15_flights as {{ dbt.type_bigint() }}) as delayed_15_flights,
        cast(on_time_flights as {{ dbt.type_bigint() }}) as on_time_flights,
        cast(labelled_flights as {{ dbt.type_bigint() }}) as labelled_flights,
        cast(distance_miles_sum as {{ type_double() }}) as distance_miles_sum,
        cast(distance_flights as {{ dbt.type_bigint() }}) as distance_flights,
        cast(dep_delay_minutes_sum as {{ type_double() }}) as dep_delay_minutes_sum,
        cast(dep_delay_flights as {{ dbt.type_bigint() }}) as dep_delay_flights,
        cast(arr_delay_minutes_sum as {{ type_double() }}) as arr_delay_minutes_sum,
        cast(arr_delay_flights as {{ dbt.type_bigint() }}) as arr_delay_flights

    from aggregated

)

select * from final
