"""Run the real dbt CLI on the project (subprocess), with artifacts outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PARTIAL_PARSE = "partial_parse.msgpack"


def dbt_executable() -> str:
    """The dbt of the running interpreter's environment (the project venv), else PATH's."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        raise RuntimeError("dbt is not installed in this environment")
    return found


@dataclass
class DbtRun:
    args: list[str]
    returncode: int
    output: str
    seconds: float
    target_path: Path

    def run_results(self) -> list[dict]:
        return json.loads((self.target_path / "run_results.json").read_text())["results"]

    def manifest(self) -> dict:
        return json.loads((self.target_path / "manifest.json").read_text())


@dataclass
class ParseRun:
    run: DbtRun
    warehouse_existed: bool  # after `dbt parse`: it must not need (or create) the warehouse


def run_dbt(
    command: list[str], warehouse: Path, work_dir: Path, reuse_parse_from: Path | None = None
) -> DbtRun:
    """Run the real dbt CLI on the project against ``warehouse``; artifacts under ``work_dir``.

    ``reuse_parse_from``: a target dir of an earlier run with the same warehouse path and vars,
    whose partial parse to start from (as dagster-dbt does): saves a full parse (seconds here).
    """
    target_path = work_dir / "target"
    log_path = work_dir / "logs"
    if reuse_parse_from is not None and (reuse_parse_from / PARTIAL_PARSE).exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reuse_parse_from / PARTIAL_PARSE, target_path / PARTIAL_PARSE)
    args = [
        dbt_executable(),
        *command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]
    env = os.environ | {
        "RUNWAY_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(
        args,
        cwd=work_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return DbtRun(
        args=args,
        returncode=proc.returncode,
        output=proc.stdout + proc.stderr,
        seconds=time.perf_counter() - started,
        target_path=target_path,
    )


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` on a read-only connection, closed at once (DuckDB: one writer)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
