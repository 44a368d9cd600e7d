{#
    One weather observation per (airport, local date, local hour), so that joining flights on
    their local scheduled hour can never multiply them. The only local hour observed twice in
    the real data is the DST fall-back hour (01:00 on 2013-11-03): keep the first one (EDT, the
    earlier UTC time), and for rows loaded twice keep the latest load.
#}
with

weather as (

    select * from {{ ref('stg_nycflights13__weather') }}

),

ranked as (

    select
        weather.*,
        row_number() over (
            partition by origin_airport_code, weather_date, weather_hour
            order by observed_utc_at, _loaded_at desc, _source_file, _source_row
        ) as observation_rank

    from weather

),

final as (

    select
        origin_airport_code,
        weather_date,
        weather_hour,
        observed_utc_at,
        temperature_f,
        dew_point_f,
        relative_humidity_pct,
        wind_direction_degrees,
        wind_speed_mph,
        wind_gust_mph,
        precipitation_in,
        pressure_millibars,
        visibility_miles

    from ranked
    where observation_rank = 1

)

select * from final
