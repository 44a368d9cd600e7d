with

source as (

    select * from {{ source('nycflights13', 'airports') }}

),

renamed as (

    select
        upper(trim(faa)) as airport_code,
        trim(name) as airport_name,
        cast(lat as {{ type_double() }}) as latitude,
        cast(lon as {{ type_double() }}) as longitude,
        cast(alt as {{ dbt.type_int() }}) as altitude_feet,
        cast(tz as {{ dbt.type_int() }}) as utc_offset_hours,
        upper(trim(dst)) as dst_code,
        trim(tzone) as timezone_name,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at

    from source

)

select * from renamed
