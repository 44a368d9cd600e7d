-- Landing files the ingest set aside (raw.quarantined_files), newest first.
select
    source_file,
    quarantine_path,
    reason,
    quarantined_at
from raw.quarantined_files
order by quarantined_at desc, source_file
