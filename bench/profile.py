"""Profile one pipeline run with py-spy (child processes too) and say where the CPU went.

    python -m bench.profile --data-dir D --mode incremental --start DAY --end DAY --out prof

Runs `bench.pipeline_run` under `py-spy record --subprocesses --format raw` in the stack under
`--data-dir` (seeded, and for `incremental` already refreshed once), writes the collapsed stacks
to `<out>.txt` and a summary by bucket (dbt start-up, dbt parsing, dbt SQL, Dagster, imports,
training, ...) to `<out>.md`. py-spy samples on-CPU stacks only: waiting for a child process
or a lock is not counted, so the buckets add up to CPU time, not wall time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench.runner import child_env
from orchestration import settings

# (bucket, pattern over the stack text); first match wins, within the process kind.
DBT_RULES = (
    ("dbt: imports (start-up)", r"_find_and_load"),
    ("dbt: unit tests", r"unit_test|UnitTest"),
    ("dbt: parsing the project", r"ManifestLoader|parser/|partial_parsing|PartialParsing"),
    ("dbt: running SQL (adapter)", r"dbt/adapters/|duckdb"),
)
MAIN_RULES = (
    ("python imports", r"_find_and_load"),
    ("training and scoring (sklearn)", r"sklearn/"),
    ("MLflow", r"mlflow/"),
    ("raw loader (ingest)", r"raw_loader"),
    ("DuckDB queries", r"duckdb"),
    ("Dagster event log and storage", r"dagster/_core/(storage|events)|sqlalchemy|sqlite"),
    ("Dagster (other)", r"dagster"),
)
PROCESS = re.compile(r'process \d+:"([^"]*)"')


def bucket(stack: str) -> str:
    """The bucket of one collapsed stack (`process …;frame;frame…`)."""
    processes = PROCESS.findall(stack)
    innermost = processes[-1] if processes else ""
    is_dbt = bool(re.search(r"\bdbt\b|dbt_guard", innermost))
    rules = DBT_RULES if is_dbt else MAIN_RULES
    for name, pattern in rules:
        if re.search(pattern, stack):
            return name
    return "dbt: other" if is_dbt else "other"


def summarize(lines: Iterable[str], rate: int) -> dict[str, float]:
    """CPU seconds per bucket from py-spy's raw output (`stack count` per line)."""
    samples: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            samples[bucket(stack)] += int(count)
    return {name: count / rate for name, count in samples.most_common()}


def markdown(summary: dict[str, float], title: str) -> str:
    total = sum(summary.values()) or 1.0
    lines = [f"### {title}", "", "| where | CPU s | share |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.1f} | {sec / total:.0%} |" for name, sec in summary.items()]
    lines.append(f"| total sampled | {total:.1f} | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--mode", choices=("full", "incremental"), required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--out", type=Path, required=True, help="path prefix of the outputs")
    parser.add_argument("--rate", type=int, default=50, help="samples per second")
    args = parser.parse_args(argv)
    py_spy = Path(sys.executable).with_name("py-spy")
    raw = args.out.with_suffix(".txt")
    run = [sys.executable, "-m", "bench.pipeline_run", "--mode", args.mode]
    run += ["--start", args.start, "--end", args.end, "--out", str(args.out.with_suffix(".json"))]
    argv_spy = [str(py_spy), "record", "--subprocesses", "--format", "raw"]
    argv_spy += ["--rate", str(args.rate), "-o", str(raw), "--", *run]
    completed = subprocess.run(
        argv_spy, env=child_env(args.data_dir), cwd=settings.REPO_ROOT, check=False
    )
    summary = summarize(raw.read_text(errors="replace").splitlines(), args.rate)
    text = markdown(summary, f"py-spy: pipeline {args.mode} {args.start}..{args.end}")
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
