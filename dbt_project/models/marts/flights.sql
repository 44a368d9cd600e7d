{{
    config(
        materialized='incremental',
        unique_key='flight_date',
        incremental_predicates=date_window_predicates('flight_date'),
        tags=['daily'],
    )
}}
{#
    One row per flight. Incremental by day: a run with vars min_date/max_date rebuilds only the
    days in [min_date, max_date) (delete+insert on flight_date); without them, every day.
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
        carrier_code,
        carrier_name,
        flight_number,
        tail_number,
        origin_airport_code,
        dest_airport_code,
        scheduled_departure_at,
        scheduled_departure_hour,
        dep_delay_minutes,
        arr_delay_minutes,
        distance_miles,
        is_cancelled,
        is_departure_delayed_15,
        departed_at,
        scheduled_arrival_at,
        arrived_at,
        scheduled_departure_utc_at,
        departed_utc_at,
        arrived_utc_at,
        {{ delay_bucket('dep_delay_minutes', 'is_cancelled') }} as delay_bucket

    from flights

)

select * from final
