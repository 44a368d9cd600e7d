-- Rows the ingest rejected (raw.rejected_rows), newest first: at most 1,000 rows;
-- total_rejected_rows counts them all.
select
    entity,
    partition_date,
    source_file,
    line,
    column_name,
    reason,
    raw_line,
    rejected_at,
    count(*) over () as total_rejected_rows
from raw.rejected_rows
order by rejected_at desc, source_file, line
limit 1000
