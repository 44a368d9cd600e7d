with

source as (

    select * from {{ source('nycflights13', 'airlines') }}

),

renamed as (

    select
        upper(trim(carrier)) as carrier_code,
        trim(name) as carrier_name,
        _source_file,
        _source_row,
        _file_hash,
        _loaded_at

    from source

)

select * from renamed
