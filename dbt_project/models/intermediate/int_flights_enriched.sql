{#
    Every flight (one row each) with its carrier name, plane attributes and the weather at the
    origin airport in the local hour of the scheduled departure. All joins are left joins on
    keys that are unique on the right side, so the flight grain is kept
    (tests/assert_int_flights_enriched_one_row_per_flight.sql checks it).
#}
with

flights as (

    select * from {{ ref('stg_nycflights13__flights') }}

),

airlines as (

    select * from {{ ref('stg_nycflights13__airlines') }}

),

planes as (

    select * from {{ ref('stg_nycflights13__planes') }}

),

weather as (

    select * from {{ ref('int_weather_deduplicated') }}

),

joined as (

    select
        flights.flight_id,
        flights.flight_date,
        flights.flight_year,
        flights.flight_month,
        flights.flight_day,
        flights.carrier_code,
        airlines.carrier_name,
        flights.flight_number,
        flights.tail_number,
        flights.origin_airport_code,
        flights.dest_airport_code,
        flights.scheduled_departure_at,
        flights.scheduled_departure_hour,
        flights.dep_delay_minutes,
        flights.arr_delay_minutes,
        flights.air_time_minutes,
        flights.distance_miles,
        flights.is_cancelled,
        case
            when flights.is_cancelled then null
            when flights.dep_delay_minutes >= 15 then true
            when flights.dep_delay_minutes < 15 then false
        end as is_departure_delayed_15,
        planes.manufactured_year as plane_year,
        planes.seat_count as plane_seats,
        weather.temperature_f,
        weather.wind_speed_mph,
        weather.wind_gust_mph,
        weather.precipitation_in,
        weather.visibility_miles,
        weather.pressure_millibars

    from flights
    left join airlines
        on flights.carrier_code = airlines.carrier_code
    left join planes
        on flights.tail_number = planes.tail_number
    left join weather
        on
            flights.origin_airport_code = weather.origin_airport_code
            and flights.flight_date = weather.weather_date
            and flights.scheduled_departure_hour = weather.weather_hour

)

select * from joined
