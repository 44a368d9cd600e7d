{#
    One row per scheduled departure, typed and renamed. Clock times (local HHMM integers, 2400 =
    midnight) become local timestamps:
    - scheduled_departure_at: the flight's local date at hour:minute;
    - departed_at: dep_time on the day that agrees with dep_delay, so a departure delayed past
      midnight lands on the next day (and an early one before midnight on the day before);
    - scheduled_arrival_at / arrived_at: arrival clock time at the destination, on the day of
      the (scheduled / actual) departure, rolled to the next day when it would come before it
      (overnight arrivals). Local times at the destination: UTC is added in intermediate, where
      the destination's time zone is known.
    scheduled_departure_utc_at comes straight from the source (time_hour is UTC).
#}
with

source as (

    select * from {{ source('nycflights13', 'flights') }}

),

renamed as (

    select
        {{ iso_date_string('year', 'month', 'day') }} as flight_date_text,
        cast(year as {{ dbt.type_int() }}) as flight_year,
        cast(month as {{ dbt.type_int() }}) as flight_month,
        cast(day as {{ dbt.type_int() }}) as flight_day,
        upper(trim(carrier)) as carrier_code,
        cast(flight as {{ dbt.type_int() }}) as flight_number,
        nullif(upper(trim(tailnum)), '') as tail_number,
        upper(trim(origin)) as origin_airport_code,
        upper(trim(dest)) as dest_airport_code,
        cast(hour as {{ dbt.type_int() }}) as scheduled_departure_hour,
        cast(minute as {{ dbt.type_int() }}) as scheduled_departure_minute,
        cast(sched_dep_time as {{ dbt.type_int() }}) as scheduled_departure_time_hhmm,
        cast(dep_time as {{ dbt.type_int() }}) as departure_time_hhmm,
        cast(dep_delay as {{ type_double() }}) as dep_delay_minutes,
        cast(sched_arr_time as {{ dbt.type_int() }}) as scheduled_arrival_time_hhmm,
        cast(arr_time as {{ dbt.type_int() }}) as arrival_time_hhmm,
        cast(arr_delay as {{ type_double() }}) as arr_delay_minutes,
        cast(air_time as {{ type_double() }}) as air_time_minutes,
        cast(distance as {{ type_double() }}) as distance_miles,
        case when dep_time is null then true else false end as is_cancelled,
        cast(time_hour as {{ dbt.type_timestamp() }}) as scheduled_hour_utc_at,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at,
        _partition_date

    from source

),

keyed as (

    select
        {{ dbt.concat([
            "flight_date_text", "'-'",
            "carrier_code", "'-'",
            "cast(flight_number as " ~ dbt.type_string() ~ ")", "'-'",
            "origin_airport_code",
        ]) }} as flight_id,
        cast(flight_date_text as date) as flight_date,
        flight_year,
        flight_month,
        flight_day,
        carrier_code,
        flight_number,
        tail_number,
        origin_airport_code,
        dest_airport_code,
        cast(
            {{ dbt.dateadd(
                'minute',
                'scheduled_departure_hour * 60 + scheduled_departure_minute',
                'cast(flight_date_text as date)',
            ) }} as {{ dbt.type_timestamp() }}
        ) as scheduled_departure_at,
        scheduled_departure_hour,
        scheduled_departure_minute,
        scheduled_departure_time_hhmm,
        departure_time_hhmm,
        dep_delay_minutes,
        scheduled_arrival_time_hhmm,
        arrival_time_hhmm,
        arr_delay_minutes,
        air_time_minutes,
        distance_miles,
        is_cancelled,
        scheduled_hour_utc_at,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at,
        _partition_date

    from renamed

),

clock as (

    select
        keyed.*,
        {{ hhmm_to_minutes('departure_time_hhmm') }} as departure_minutes,
        -- dep_time is only a clock time: its day is the one that agrees with dep_delay
        -- (+1 when a departure is delayed past midnight, -1 when it left early before).
        cast(
            round(
                (
                    {{ hhmm_to_minutes('scheduled_departure_time_hhmm') }}
                    + dep_delay_minutes
                    - {{ hhmm_to_minutes('departure_time_hhmm') }}
                ) / 1440.0
            ) as {{ dbt.type_int() }}
        ) as departure_day_offset

    from keyed

),

departures as (

    select
        clock.*,
        cast(
            {{ dbt.dateadd('minute', 'scheduled_departure_minute', 'scheduled_hour_utc_at') }}
            as {{ dbt.type_timestamp() }}
        ) as scheduled_departure_utc_at,
        {{ local_timestamp('flight_date', '1440 * departure_day_offset + departure_minutes') }}
            as departed_at,
        {{ local_timestamp('flight_date', hhmm_to_minutes('scheduled_arrival_time_hhmm')) }}
            as scheduled_arrival_same_day_at

    from clock

),

arrivals as (

    select
        departures.*,
        {{ local_timestamp('cast(departed_at as date)', hhmm_to_minutes('arrival_time_hhmm')) }}
            as arrived_same_day_at

    from departures

),

timestamped as (

    select
        flight_id,
        flight_date,
        flight_year,
        flight_month,
        flight_day,
        carrier_code,
        flight_number,
        tail_number,
        origin_airport_code,
        dest_airport_code,
        scheduled_departure_at,
        scheduled_departure_hour,
        scheduled_departure_minute,
        scheduled_departure_time_hhmm,
        departure_time_hhmm,
        dep_delay_minutes,
        scheduled_arrival_time_hhmm,
        arrival_time_hhmm,
        arr_delay_minutes,
        air_time_minutes,
        distance_miles,
        is_cancelled,
        scheduled_hour_utc_at,
        scheduled_departure_utc_at,
        departed_at,
        case
            when scheduled_arrival_same_day_at < scheduled_departure_at
                then {{ dbt.dateadd('day', 1, 'scheduled_arrival_same_day_at') }}
            else scheduled_arrival_same_day_at
        end as scheduled_arrival_at,
        case
            when arrived_same_day_at < departed_at
                then {{ dbt.dateadd('day', 1, 'arrived_same_day_at') }}
            else arrived_same_day_at
        end as arrived_at,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at,
        _partition_date

    from arrivals

)

select * from timestamped
