{#
    Every flight (one row each) with its carrier name, plane attributes, the weather at the
    origin airport in the local hour of the scheduled departure, and its departure and arrival
    times in UTC (local times converted with the origin's and the destination's time zone).
    All joins are left joins on keys that are unique on the right side, so the flight grain is
    kept (tests/assert_int_flights_enriched_one_row_per_flight.sql checks it).
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

-- Two CTEs, not one used twice: DuckDB materializes a CTE used twice, which stops it from
-- pruning the unused (and costly) time zone columns for the models that do not need them.
origin_airports as (

    select * from {{ ref('stg_nycflights13__airports') }}

),

dest_airports as (

    select * from {{ ref('stg_nycflights13__airports') }}

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
        flights.departed_at,
        flights.scheduled_arrival_at,
        flights.arrived_at,
        flights.scheduled_departure_utc_at,
        {{ local_to_utc('flights.departed_at', 'origin_airports.timezone_name') }}
            as departed_utc_at,
        {{ local_to_utc('flights.scheduled_arrival_at', 'dest_airports.timezone_name') }}
            as scheduled_arrival_utc_at,
        {{ local_to_utc('flights.arrived_at', 'dest_airports.timezone_name') }}
            as arrived_utc_at,
        origin_airports.timezone_name as origin_timezone_name,
        dest_airports.timezone_name as dest_timezone_name,
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
    left join origin_airports
        on flights.origin_airport_code = origin_airports.airport_code
    left join dest_airports
        on flights.dest_airport_code = dest_airports.airport_code
    left join weather
        on
            flights.origin_airport_code = weather.origin_airport_code
            and flights.flight_date = weather.weather_date
            and flights.scheduled_departure_hour = weather.weather_hour

)

select * from joined
