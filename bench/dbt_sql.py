"""Run a compiled dbt project on one DuckDB connection, without dbt: the baseline's transform.

`dbt compile` (with the pipeline's vars) renders every model's and data test's SQL into the
manifest (`compiled_code`). This module executes that SQL the way `dbt build` materializes it on
DuckDB, model by model in dependency order, each model's data tests right after the models they
read:

- view: `CREATE OR REPLACE VIEW`;
- table, and an incremental model on a full refresh: `CREATE OR REPLACE TABLE`; with an enforced
  contract, the declared columns and types first, then `INSERT` (as dbt does);
- incremental model, incremental run: dbt's delete+insert: the new rows into a temp table, delete
  the target's rows with the same `unique_key` (and the model's `incremental_predicates`), insert.

Data tests count their failing rows with the test's `fail_calc`; a failing test is reported, not
raised (the pipeline's dbt build passes with two known warnings). Unit tests are not run: they
check the SQL on fixed fixtures, the same cost at any scale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb


@dataclass
class BuildReport:
    models: list[str] = field(default_factory=list)  # unique_ids, in the order they were built
    model_seconds: dict[str, float] = field(default_factory=dict)
    tests_run: int = 0
    test_results: dict[str, int] = field(default_factory=dict)  # unique_id -> failing rows
    test_errors: list[str] = field(default_factory=list)  # severity error and failing


def compile_project(
    project_dir: Path,
    target_dir: Path,
    dbt_vars: Mapping[str, str],
    warehouse_path: Path,
    *,
    profiles_dir: Path | None = None,
) -> dict[str, Any]:
    """`dbt compile` into `target_dir` with `dbt_vars`; the manifest it writes.

    dbt renders relations with the DuckDB catalog name, the stem of `warehouse_path`: the file
    the SQL later runs on must have the same stem.
    """
    dbt = Path(sys.executable).with_name("dbt")
    argv = [
        str(dbt) if dbt.exists() else "dbt",
        "compile",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir or project_dir),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
        "--vars",
        json.dumps(dict(dbt_vars)),
        "--quiet",
    ]
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RUNWAY_WAREHOUSE": str(warehouse_path), "DO_NOT_TRACK": "1"}
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = f"{completed.stdout}\n{completed.stderr}"
        raise RuntimeError(f"dbt compile failed:\n{output[-3000:]}")
    return json.loads((target_dir / "manifest.json").read_text())


def models(manifest: Mapping[str, Any]) -> dict[str, dict]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["config"].get("enabled", True)
    }


def select(
    manifest: Mapping[str, Any], *, tags: Iterable[str] = (), exclude_tags: Iterable[str] = ()
) -> set[str]:
    """Model unique_ids with any of `tags` (all models if none) and none of `exclude_tags`."""
    wanted, unwanted = set(tags), set(exclude_tags)
    return {
        uid
        for uid, node in models(manifest).items()
        if (not wanted or wanted & set(node["tags"])) and not unwanted & set(node["tags"])
    }


def build_order(manifest: Mapping[str, Any], selected: Iterable[str]) -> list[str]:
    """`selected` models in dependency order (parents first; ties by unique_id)."""
    selected = set(selected)
    nodes = models(manifest)
    parents = {
        uid: {p for p in nodes[uid]["depends_on"]["nodes"] if p in selected} for uid in selected
    }
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(selected):
        ready = sorted(uid for uid in selected - done if parents[uid] <= done)
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(selected - done)}")
        order.extend(ready)
        done.update(ready)
    return order


def data_tests(manifest: Mapping[str, Any]) -> dict[str, dict]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and node["config"].get("enabled", True)
    }


def _contract_columns(node: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    if not node["config"].get("contract", {}).get("enforced"):
        return None
    return [(name, column["data_type"]) for name, column in node["columns"].items()]


def _create_table(con: duckdb.DuckDBPyConnection, relation: str, sql: str, node: dict) -> None:
    columns = _contract_columns(node)
    if columns is None:
        con.execute(f"CREATE OR REPLACE TABLE {relation} AS {sql}")
        return
    names = ", ".join(name for name, _ in columns)
    declared = ", ".join(f"{name} {dtype}" for name, dtype in columns)
    con.execute(f"CREATE OR REPLACE TABLE {relation} ({declared})")
    con.execute(f"INSERT INTO {relation} ({names}) SELECT {names} FROM ({sql}) AS model_subq")


def _delete_insert(con: duckdb.DuckDBPyConnection, relation: str, sql: str, node: dict) -> None:
    key = node["config"]["unique_key"]
    predicates = node["config"].get("incremental_predicates") or []
    con.execute(f"CREATE OR REPLACE TEMP TABLE _dbt_new_rows AS {sql}")
    names = [row[0] for row in con.execute("DESCRIBE _dbt_new_rows").fetchall()]
    where = " AND ".join(
        [f"({key}) IN (SELECT DISTINCT {key} FROM _dbt_new_rows)", *[f"({p})" for p in predicates]]
    )
    columns = ", ".join(names)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {relation} WHERE {where}")
        con.execute(f"INSERT INTO {relation} ({columns}) SELECT {columns} FROM _dbt_new_rows")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    con.execute("DROP TABLE _dbt_new_rows")


def _exists(con: duckdb.DuckDBPyConnection, node: Mapping[str, Any]) -> bool:
    (found,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [node["schema"], node["alias"]],
    ).fetchone()
    return found > 0


def materialize(con: duckdb.DuckDBPyConnection, node: dict, *, incremental: bool) -> None:
    """Build one model from its compiled SQL (`incremental`: delete+insert if it exists)."""
    relation = node["relation_name"]
    sql = node["compiled_code"]
    kind = node["config"]["materialized"]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {node['schema']}")
    if kind == "view":
        con.execute(f"CREATE OR REPLACE VIEW {relation} AS {sql}")
    elif kind == "table" or (kind == "incremental" and not (incremental and _exists(con, node))):
        _create_table(con, relation, sql, node)
    elif kind == "incremental":
        _delete_insert(con, relation, sql, node)
    else:
        raise ValueError(f"{node['unique_id']}: materialization {kind!r} is not supported")


def run_test(con: duckdb.DuckDBPyConnection, node: Mapping[str, Any]) -> int:
    """The test's failure count (its `fail_calc` over the rows its SQL returns)."""
    fail_calc = node["config"].get("fail_calc") or "count(*)"
    (failures,) = con.execute(
        f"SELECT {fail_calc} FROM ({node['compiled_code']}) AS dbt_internal_test"
    ).fetchone()
    return int(failures or 0)


def _parent_models(test: Mapping[str, Any], all_models: Mapping[str, Any]) -> set[str]:
    return {uid for uid in test["depends_on"]["nodes"] if uid in all_models}


def build(
    con: duckdb.DuckDBPyConnection,
    manifest: Mapping[str, Any],
    selected: Iterable[str],
    *,
    incremental: bool,
    built_before: Iterable[str] = (),
    report: BuildReport | None = None,
) -> BuildReport:
    """Build `selected` models in dependency order, each data test once all its models exist.

    `built_before`: models built earlier in the same run (tests that need them may run now).
    """
    report = report or BuildReport()
    all_models = models(manifest)
    tests = data_tests(manifest)
    built = set(built_before) | set(report.models)
    tested = set(report.test_results)
    for uid in build_order(manifest, selected):
        began = time.perf_counter()
        materialize(con, all_models[uid], incremental=incremental)
        report.model_seconds[uid] = time.perf_counter() - began
        report.models.append(uid)
        built.add(uid)
        for test_id in sorted(tests):
            parents = _parent_models(tests[test_id], all_models)
            if test_id in tested or uid not in parents or not parents <= built:
                continue
            failures = run_test(con, tests[test_id])
            tested.add(test_id)
            report.tests_run += 1
            report.test_results[test_id] = failures
            if failures and str(tests[test_id]["config"].get("severity", "")).lower() == "error":
                report.test_errors.append(test_id)
    return report
