"""`dbt docs generate` works offline on the built warehouse, and every model, source and column
it finds in the warehouse has a description (issue #4, acceptance 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dbt_cli import DbtRun, run_dbt


@pytest.fixture(scope="module")
def docs(built: Path, dbt_build: DbtRun, tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    work_dir = tmp_path_factory.mktemp("dbt_docs")
    run = run_dbt(["docs", "generate"], built, work_dir, reuse_parse_from=dbt_build.target_path)
    assert run.returncode == 0, run.output[-5000:]
    return run


def _catalog(docs: DbtRun) -> dict:
    return json.loads((docs.target_path / "catalog.json").read_text())


def test_docs_site_is_generated(docs: DbtRun) -> None:
    for name in ("index.html", "manifest.json", "catalog.json"):
        assert (docs.target_path / name).stat().st_size > 0, name
    models = {
        unique_id
        for unique_id, node in docs.manifest()["nodes"].items()
        if node["resource_type"] == "model"
    }
    assert len(models) >= 15
    assert models <= set(_catalog(docs)["nodes"])  # every model was found in the warehouse


@pytest.mark.parametrize("kind", ["nodes", "sources"])
def test_every_model_source_and_column_is_described(docs: DbtRun, kind: str) -> None:
    manifest = docs.manifest()[kind]
    undocumented: list[str] = []
    for unique_id, entry in _catalog(docs)[kind].items():
        node = manifest[unique_id]
        if node["resource_type"] not in ("model", "source"):
            continue
        if not node["description"].strip():
            undocumented.append(unique_id)
        described = {
            name.lower(): column["description"].strip() for name, column in node["columns"].items()
        }
        for column in entry["columns"]:
            if not described.get(column.lower()):
                undocumented.append(f"{unique_id}.{column}")
        # and nothing is documented that the warehouse does not have
        actual = {column.lower() for column in entry["columns"]}
        undocumented += [f"{unique_id}.{c} (not in table)" for c in described if c not in actual]
    assert not undocumented, undocumented
