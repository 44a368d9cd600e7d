{{ config(materialized='view', tags=['history']) }}
{#
    How departure delays change with the weather at the origin airport in the scheduled hour:
    flights are bucketed by visibility, wind speed and precipitation (each factor on its own;
    bucket_order 1 = best weather) and each bucket gets its volumes and delay figures. A view
    over the daily sums of marts.daily_weather_delay_impact (issue #17): a new day rebuilds that
    day there, and nothing here has to be rebuilt.
#}
with

days as (

    select * from {{ ref('daily_weather_delay_impact') }}

),

aggregated as (

    select
        weather_factor,
        bucket_order,
        max(bucket_label) as bucket_label,
        sum(flights) as flights,
        sum(departed_flights) as departed_flights,
        sum(delayed_15_flights) as delayed_15_flights,
        sum(labelled_flights) as labelled_flights,
        sum(dep_delay_minutes_sum) / nullif(sum(dep_delay_flights), 0) as avg_dep_delay_minutes

    from days
    group by weather_factor, bucket_order

),

final as (

    select
        cast(weather_factor as {{ dbt.type_string() }}) as weather_factor,
        cast(bucket_order as {{ dbt.type_int() }}) as bucket_order,
        cast(bucket_label as {{ dbt.type_string() }}) as bucket_label,
        cast(flights as {{ dbt.type_bigint() }}) as flights,
        cast(departed_flights as {{ dbt.type_bigint() }}) as departed_flights,
        cast(delayed_15_flights as {{ dbt.type_bigint() }}) as delayed_15_flights,
        cast(delayed_15_flights as {{ type_double() }})
        / nullif(labelled_flights, 0) as delayed_15_share,
        cast(avg_dep_delay_minutes as {{ type_double() }}) as avg_dep_delay_minutes

    from aggregated

)

select * from final
