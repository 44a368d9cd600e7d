with

source as (

    select * from {{ source('nycflights13', 'planes') }}

),

renamed as (

    select
        upper(trim(tailnum)) as tail_number,
        cast(year as {{ dbt.type_int() }}) as manufactured_year,
        trim(type) as aircraft_type,
        trim(manufacturer) as manufacturer,
        trim(model) as aircraft_model,
        cast(engines as {{ dbt.type_int() }}) as engine_count,
        cast(seats as {{ dbt.type_int() }}) as seat_count,
        cast(speed as {{ dbt.type_int() }}) as cruising_speed_mph,
        trim(engine) as engine_type,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at

    from source

)

select * from renamed
