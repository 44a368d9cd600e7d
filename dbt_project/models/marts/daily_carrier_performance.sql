{{
    config(
        materialized='incremental',
        unique_key='flight_date',
        incremental_predicates=date_window_predicates('flight_date'),
        tags=['daily'],
    )
}}
{#
    Departure performance per (local day, carrier). Incremental by day, like marts.flights:
    a run with vars min_date/max_date rebuilds only the days in [min_date, max_date).
#}
with

flights as (

    select * from {{ ref('int_flights_enriched') }}
    where {{ date_window_filter('flight_date') }}

),

aggregated as (

    select
        flight_date,
        carrier_code,
        max(carrier_name) as carrier_name,
        count(*) as flights,
        count(case when is_cancelled then 1 end) as cancelled_flights,
        count(case when not is_cancelled then 1 end) as departed_flights,
        count(case when is_departure_delayed_15 then 1 end) as delayed_15_flights,
        count(case when not is_departure_delayed_15 then 1 end) as on_time_flights,
        count(is_departure_delayed_15) as labelled_flights,
        avg(dep_delay_minutes) as avg_dep_delay_minutes

    from flights
    group by flight_date, carrier_code

),

final as (

    select
        flight_date,
        carrier_code,
        carrier_name,
        cast(flights as {{ dbt.type_bigint() }}) as flights,
        cast(cancelled_flights as {{ dbt.type_bigint() }}) as cancelled_flights,
        cast(departed_flights as {{ dbt.type_bigint() }}) as departed_flights,
        cast(delayed_15_flights as {{ dbt.type_bigint() }}) as delayed_15_flights,
        cast(on_time_flights as {{ type_double() }})
        / nullif(labelled_flights, 0) as on_time_share,
        cast(avg_dep_delay_minutes as {{ type_double() }}) as avg_dep_delay_minutes

    from aggregated

)

select * from final
