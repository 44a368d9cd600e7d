{{
    config(
        materialized='incremental',
        unique_key='flight_date',
        incremental_predicates=date_window_predicates('flight_date'),
        tags=['daily'],
    )
}}
{#
    Departure delays per (local day, weather factor, bucket of it) at the origin airport in the
    flight's scheduled hour: volumes and delay sums. Incremental by day; marts.weather_delay_impact
    is a view that adds the days up. Flights whose hour has no observation of a factor are left
    out of that factor's buckets.
#}
with

flights as (

    select * from {{ ref('int_flights_enriched') }}
    where {{ date_window_filter('flight_date') }}

),

bucketed as (

    select
        flight_date,
        'visibility' as weather_factor,
        case
            when visibility_miles >= 10 then 1
            when visibility_miles >= 5 then 2
            when visibility_miles >= 1 then 3
            else 4
        end as bucket_order,
        case
            when visibility_miles >= 10 then '10 mi (clear)'
            when visibility_miles >= 5 then '5-10 mi'
            when visibility_miles >= 1 then '1-5 mi'
            else '< 1 mi'
        end as bucket_label,
        is_cancelled,
        is_departure_delayed_15,
        dep_delay_minutes
    from flights
    where visibility_miles is not null

    union all

    select
        flight_date,
        'wind_speed' as weather_factor,
        case
            when wind_speed_mph < 10 then 1
            when wind_speed_mph < 20 then 2
            when wind_speed_mph < 30 then 3
            else 4
        end as bucket_order,
        case
            when wind_speed_mph < 10 then '< 10 mph'
            when wind_speed_mph < 20 then '10-20 mph'
            when wind_speed_mph < 30 then '20-30 mph'
            else '30+ mph'
        end as bucket_label,
        is_cancelled,
        is_departure_delayed_15,
        dep_delay_minutes
    from flights
    where wind_speed_mph is not null

    union all

    select
        flight_date,
        'precipitation' as weather_factor,
        case
            when precipitation_in = 0 then 1
            when precipitation_in < 0.1 then 2
            else 3
        end as bucket_order,
        case
            when precipitation_in = 0 then 'none'
            when precipitation_in < 0.1 then '< 0.1 in'
            else '0.1+ in'
        end as bucket_label,
        is_cancelled,
        is_departure_delayed_15,
        dep_delay_minutes
    from flights
    where precipitation_in is not null

),

aggregated as (

    select
        flight_date,
        weather_factor,
        bucket_order,
        max(bucket_label) as bucket_label,
        count(*) as flights,
        count(case when not is_cancelled then 1 end) as departed_flights,
        count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
        count(is_departure_delayed_15) as labelled_flights,
        sum(dep_delay_minutes) as dep_delay_minutes_sum,
        count(dep_delay_minutes) as dep_delay_flights

    from bucketed
    group by flight_date, weather_factor, bucket_order

),

final as (

    select
        flight_date,
        cast(weather_factor as {{ dbt.type_string() }}) as weather_factor,
        cast(bucket_order as {{ dbt.type_int() }}) as bucket_order,
        cast(bucket_label as {{ dbt.type_string() }}) as bucket_label,
        cast(flights as {{ dbt.type_bigint() }}) as flights,
        cast(departed_flights as {{ dbt.type_bigint() }}) as departed_flights,
        cast(delayed_15_flights as {{ dbt.type_bigint() }}) as delayed_15_flights,
        cast(labelled_flights as {{ dbt.type_bigint() }}) as labelled_flights,
        cast(dep_delay_minutes_sum as {{ type_double() }}) as dep_delay_minutes_sum,
        cast(dep_delay_flights as {{ dbt.type_bigint() }}) as dep_delay_flights

    from aggregated

)

select * from final
