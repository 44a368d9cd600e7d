"""Transform assets: the dbt project, one Dagster asset per dbt model.

Asset keys mirror the warehouse (`[schema, model]`), groups mirror the layer, and the dbt source
`nycflights13` maps onto the ingest assets' keys (`raw/<table>`), so lineage has no gap.
dbt data tests become asset checks on their models; a failing test fails `dbt build`, which stops
the assets downstream (ML, publish).
"""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import settings
from orchestration.dbt_project import runway_dbt_project


class RunwayDbtTranslator(DagsterDbtTranslator):
    """Keys `[schema, name]` for models and `raw/<table>` for sources; group = schema."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey([props["schema"], props["name"]]))
        schema = props["schema"]
        return spec.replace_attributes(key=dg.AssetKey([schema, props["name"]]), group_name=schema)


@dbt_assets(
    manifest=runway_dbt_project.manifest_path,
    project=runway_dbt_project,
    dagster_dbt_translator=RunwayDbtTranslator(),
    pool=settings.WAREHOUSE_POOL,
)
def runway_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Run `dbt build` for the selected models: models and their tests, in dependency order."""
    # dbt's profiles.yml reads RUNWAY_WAREHOUSE: make the dbt process see the same file as we do.
    os.environ.update(settings.load().env())
    yield from dbt.cli(["build"], context=context).stream()
