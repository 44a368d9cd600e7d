"""`make bench-year` (`python -m bench --year`): the whole of 2013 at scale 10, full refresh only.

Issue #17, point 4: 3.36 M flights, pipeline vs baseline, per-stage times, peak RSS of the process
tree; targets ≤ 1.5× the baseline and ≤ 4 GB. Not part of `make bench`: seeding and loading the
year and training on it take tens of minutes on two cores, and the incremental day and the
dashboard queries are measured by the default benchmark already.

The measuring is the default benchmark's (`bench.runner._pipeline` / `_baseline`, mode `full`:
one Dagster run vs the same work in one process, each a measured child process); this module adds
the window, the verdicts and the Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

from bench import report, stats

YEAR_START = date(2013, 1, 1)
YEAR_END = date(2013, 12, 31)
YEAR_SCALE = 10
# The limits for the year: "≤ 1.5× its baseline, peak RSS of the process tree ≤ 4 GB".
YEAR_VS_BASELINE_MAX = stats.FULL_VS_BASELINE_MAX
YEAR_PEAK_RSS_MAX_GB = stats.PEAK_RSS_MAX_BYTES / stats.GB


def bench_year(
    scale: int,
    root: Path,
    manifest: Path,
    *,
    seed: Callable,
    pipeline: Callable,
    baseline: Callable,
    child_env: Callable[[Path], dict[str, str]],
    snapshot_counts: Callable[[Path], dict[str, int]],
    snapshot_file: str,
    log: Callable[[str], None],
) -> dict:
    """Seed the year at `scale`, then its full refresh by the pipeline and by the baseline.

    The runner's own functions are passed in (no import cycle with bench.runner): `seed(env,
    until, scale, log_path)`, `pipeline(env, mode, first, last, out, log_path)`, `baseline(env,
    mode, first, last, manifest, out, log_path)`.
    """
    pipeline_dir, baseline_dir, logs = root / "pipeline", root / "baseline", root / "logs"
    for folder in (pipeline_dir / "dagster_home", baseline_dir, logs):
        folder.mkdir(parents=True, exist_ok=True)
    from orchestration import settings

    (pipeline_dir / "dagster_home" / "dagster.yaml").write_bytes(
        (settings.REPO_ROOT / "orchestration" / "dagster.yaml").read_bytes()
    )
    # One landing zone, read by both (as in bench.runner.bench_scale).
    (baseline_dir / "landing").symlink_to(pipeline_dir / "landing", target_is_directory=True)
    env_p, env_b = child_env(pipeline_dir), child_env(baseline_dir)
    result: dict = {
        "scale": scale,
        "window": {"start": YEAR_START.isoformat(), "end": YEAR_END.isoformat()},
    }
    log(f"year at scale {scale}: seeding {YEAR_START}..{YEAR_END}")
    result["seed_seconds"] = seed(env_p, YEAR_END, scale, logs / "seed.log").wall_seconds
    log(f"year: seeded in {result['seed_seconds']:.1f} s; pipeline full refresh")
    full = pipeline(
        env_p, "full", YEAR_START, YEAR_END, root / "pipeline-full.json", logs / "p-full.log"
    )
    log(f"year: pipeline full refresh {full['wall_seconds']:.1f} s; baseline")
    base = baseline(
        env_b, "full", YEAR_START, YEAR_END, manifest, root / "b-full.json", logs / "b-full.log"
    )
    log(f"year: baseline full refresh {base['wall_seconds']:.1f} s")
    result["pipeline"] = {"full": full}
    result["baseline"] = {"full": base}
    result["ratio"] = stats.ratio(full["wall_seconds"], base["wall_seconds"])
    counts = snapshot_counts(pipeline_dir / "serving" / snapshot_file)
    base_counts = snapshot_counts(baseline_dir / "serving" / snapshot_file)
    result["snapshot_rows"] = counts
    result["snapshot_mismatches"] = {
        table: [counts.get(table), base_counts.get(table)]
        for table in sorted(set(counts) | set(base_counts))
        if counts.get(table) != base_counts.get(table)
    }
    return result


def year_verdicts(year: Mapping) -> list[stats.Verdict]:
    """The year's two targets: wall time against the baseline, peak RSS of the process tree."""
    full, base = year["pipeline"]["full"], year["baseline"]["full"]
    name = f"whole year at scale {year['scale']}"
    return [
        stats.at_most(
            f"{name}: full refresh within {YEAR_VS_BASELINE_MAX}x the baseline",
            stats.ratio(full["wall_seconds"], base["wall_seconds"]),
            YEAR_VS_BASELINE_MAX,
            "x",
            f"{full['wall_seconds']:.1f} s vs {base['wall_seconds']:.1f} s",
        ),
        stats.at_most(
            f"{name}: peak RSS of the full refresh's process tree at most "
            f"{YEAR_PEAK_RSS_MAX_GB:g} GB",
            full["peak_tree_rss_bytes"] / stats.GB,
            YEAR_PEAK_RSS_MAX_GB,
            "GB",
            f"baseline {base['peak_tree_rss_bytes'] / stats.GB:.2f} GB",
        ),
    ]


def _cell(value: float | None) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "–" if missing else f"{value:.1f}"


def render(results: Mapping) -> str:
    """The Markdown page of a `--year` run (or of how far it got)."""
    year = results.get("year") or {}
    lines = [
        f"# Benchmark: the whole year {results['started_at'][:10]} (commit {results['commit']}"
        f"{', uncommitted changes' if results.get('dirty') else ''})",
        "",
        f"Full refresh of {YEAR_START}..{YEAR_END} at scale {year.get('scale', YEAR_SCALE)}, "
        f"pipeline vs baseline (issue #17, point 4). Whole run: "
        f"{results['total_seconds'] / 60:.1f} min. How it is measured: "
        "[docs/benchmark.md](../../docs/benchmark.md).",
        "",
        f"**Machine:** {report._machine(results['machine'])}",
        "",
        f"OMP_NUM_THREADS of the measured processes: {results.get('omp_num_threads') or 'unset'}.",
        "",
    ]
    if "verdicts" in results:
        lines += ["## Targets", "", report.verdict_table(results["verdicts"]), ""]
    else:
        lines += [f"**Incomplete run:** {results.get('year_error') or 'did not finish'}", ""]
    if "seed_seconds" in year:
        seeded = year["seed_seconds"]
        lines += [f"Seeding the landing zone (not part of either run): {seeded:.1f} s.", ""]
    runs = [(who, year[who]["full"]) for who in ("pipeline", "baseline") if who in year]
    if runs:
        columns = (*report.COLUMNS, "outside_steps")
        lines += [
            "## Where the time goes (seconds per stage)",
            "",
            "| run | "
            + " | ".join(c.replace("_", " ") for c in columns)
            + " | total | peak RSS (tree) | largest process |",
            "|---|" + "---|" * (len(columns) + 3),
        ]
        for who, run in runs:
            cells = [_cell(run["stages"].get(stage)) for stage in columns]
            lines.append(
                f"| {who} | " + " | ".join(cells) + f" | {run['wall_seconds']:.1f} | "
                f"{report._gb(run['peak_tree_rss_bytes'])} | "
                f"{report._gb(run['max_single_rss_bytes'])} |"
            )
        if "pipeline" in year:
            steps = year["pipeline"]["full"]["steps"]
            lines += ["", "Pipeline steps (seconds, from the Dagster event log):", ""]
            lines += ["| step | seconds |", "|---|---|"]
            lines += [f"| `{key}` | {_cell(steps[key])} |" for key in sorted(steps)]
    if "baseline" in year:
        details = year["baseline"]["full"].get("details", {})
        train = details.get("train") or {}
        if train:
            lines += ["", f"Baseline training: {train}."]
    if "snapshot_rows" in year:
        mismatches = year["snapshot_mismatches"]
        lines += [
            "",
            f"Flights in the snapshot: {year['snapshot_rows'].get('marts.flights', 0):,}; "
            f"pipeline = baseline (row counts): "
            f"{'yes' if not mismatches else f'no: {mismatches}'}.",
        ]
    return "\n".join(lines) + "\n"
