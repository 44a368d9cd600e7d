-- Every asset of the pipeline at publish time (meta.asset_status): last materialization, row count
-- and failing checks. One row per asset, assets with failing checks first.
select
    asset_key,
    last_materialized_at,
    last_run_id,
    row_count,
    failed_checks,
    failed_check_names,
    coalesce(failed_checks, 0) > 0 as has_failed_checks
from meta.asset_status
order by has_failed_checks desc, asset_key
