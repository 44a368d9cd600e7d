{{ config(meta={'dagster': {'ref': {'name': 'int_flights_enriched'}}}) }}
-- The enrichment joins (carriers, planes, weather by local hour) must neither drop nor
-- multiply flights.
with

staged as (

    select count(*) as row_count from {{ ref('stg_nycflights13__flights') }}

),

enriched as (

    select count(*) as row_count from {{ ref('int_flights_enriched') }}

)

select
    staged.row_count as staged_rows,
    enriched.row_count as enriched_rows
from staged
cross join enriched
where staged.row_count <> enriched.row_count
