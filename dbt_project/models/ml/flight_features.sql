{{
    config(
        materialized='incremental',
        unique_key='flight_date',
        incremental_predicates=date_window_predicates('flight_date'),
        tags=['daily'],
    )
}}
{#
    ML features for "will this scheduled flight leave 15+ minutes late?": only what is known
    before departure (schedule, route, plane, weather at the origin in the scheduled hour), plus
    the label. One row per flight; cancelled flights keep a NULL label. Incremental by day, like
    marts.flights: a run with vars min_date/max_date rebuilds only the days in the window.
#}
with

flights as (

    select * from {{ ref('int_flights_enriched') }}
    where {{ date_window_filter('flight_date') }}

),

final as (

    select
        flight_id,
        flight_date,
        flight_month as month,
        cast({{ day_of_week('flight_date') }} as {{ dbt.type_int() }}) as day_of_week,
        scheduled_departure_hour,
        carrier_code,
        origin_airport_code,
        dest_airport_code,
        distance_miles,
        cast(plane_year as {{ type_double() }}) as plane_year,
        cast(plane_seats as {{ type_double() }}) as plane_seats,
        temperature_f,
        wind_speed_mph,
        precipitation_in,
        visibility_miles,
        is_departure_delayed_15

    from flights

)

select * from final
