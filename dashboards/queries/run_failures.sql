-- Failed pipeline runs (meta.run_failures), newest first: one row per run, written by the
-- run_failure_alerts sensor to data/serving/alerts.duckdb. The app runs this on that file (live);
-- the serving snapshot carries a copy as of its publication (what Evidence reads).
select
    failed_at,
    job_name,
    assets,
    partitions,
    failed_steps,
    error,
    run_id
from meta.run_failures
order by failed_at desc, run_id
