with

flights as (

    select * from {{ ref('int_flights_enriched') }}

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
        is_departure_delayed_15

    from flights

)

select * from final
