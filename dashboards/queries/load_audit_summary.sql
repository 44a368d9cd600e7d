-- What the ingest loaded (raw.load_audit, the latest load of each file): one row per entity
-- (flights, weather, airlines, airports, planes) with files, rows and rejects.
select
    entity,
    count(*) as files,
    min(partition_date) as first_partition_date,
    max(partition_date) as last_partition_date,
    cast(sum(rows_in_file) as bigint) as rows_in_file,
    cast(sum(rows_loaded) as bigint) as rows_loaded,
    cast(sum(rows_rejected) as bigint) as rows_rejected,
    count(case when rows_rejected > 0 then 1 end) as files_with_rejects,
    cast(sum(file_bytes) as bigint) as file_bytes,
    max(loaded_at) as last_loaded_at
from raw.load_audit
group by entity
order by
    case entity
        when 'flights' then 1
        when 'weather' then 2
        when 'airlines' then 3
        when 'airports' then 4
        when 'planes' then 5
        else 6
    end,
    entity
