"""The dbt project as Dagster sees it.

This module holds only the `DbtProject`, so that `dagster-dbt project prepare-and-package --file
orchestration/dbt_project.py` (run by `make`, only when the dbt project changed) can import it
before a manifest exists. We deliberately never call `prepare_if_dev()`: under `dagster dev` it
re-runs `dbt parse` at every code load, in every run worker too (≈ 18 s each on 2 cores).
"""

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, dbt_target

# The dbt target follows RUNWAY_TARGET (profiles.yml reads the same variable): the manifest is
# prepared and run with the same `--target`, so that dbt's partial parse stays valid.
runway_dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=dbt_target()
)
