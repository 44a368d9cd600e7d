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

final as (

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

)

select * from final
