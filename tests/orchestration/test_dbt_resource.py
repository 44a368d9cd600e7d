"""The project's dbt resource skips dagster-dbt's per-call overheads (orchestration/resources.py).

dagster-dbt asks `dbt --version` before every run's first dbt step (a whole dbt process, ≈ 8 s
of CPU for its imports, which also asks PyPI for the latest release), and builds a dbt adapter
in the Dagster process before each dbt call (≈ 5 s of CPU the first time), used only by
`fetch_row_counts()` / `fetch_column_metadata()`, which Runway does not call. Every dbt step of
the suite (tests/dbt, tests/orchestration, the pipeline base) runs through this resource.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import dagster_dbt.core.resource
import pytest
from dagster_dbt import DbtCliResource
from packaging.version import Version

from orchestration.resources import RunwayDbtCliResource, dbt_resource


@pytest.fixture
def resource() -> RunwayDbtCliResource:
    resource = dbt_resource()
    assert isinstance(resource, RunwayDbtCliResource)
    return resource


def test_the_dbt_version_comes_from_the_installed_package_without_a_dbt_process(
    resource: RunwayDbtCliResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resource.real_dbt_executable == str(Path(sys.executable).with_name("dbt"))
    # dagster-dbt still learns the version through this property: the override is in its path.
    assert "_cli_version" in vars(DbtCliResource)

    def no_dbt_process(*args, **kwargs):
        raise AssertionError(f"dbt was started: {args}")

    monkeypatch.setattr(dagster_dbt.core.resource, "check_output", no_dbt_process)
    assert resource._cli_version == Version(importlib.metadata.version("dbt-core"))


def test_no_dbt_adapter_is_built_in_the_dagster_process(resource: RunwayDbtCliResource) -> None:
    assert "_initialize_dbt_core_adapter" in vars(DbtCliResource)
    assert resource._initialize_dbt_core_adapter(["build"]) is None
