"""The Markdown table of a benchmark result (what the README links)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench import live_report, report_targets
from bench.stats import GB, STAGES, ratio_without

# `other`: steps of no stage, e.g. freshness checks.
COLUMNS = (*STAGES, "other")


def _s(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.1f} s"


def _gb(size: float) -> str:
    return f"{size / GB:.2f} GB"


def _measure(verdict: Mapping) -> str:
    value, unit = verdict["measured"], verdict["unit"]
    if value != value:  # NaN: not measured
        return "–"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "GB":
        return f"{value:.2f} GB"
    return f"{value:.2f}{unit}"


def _limit(verdict: Mapping) -> str:
    unit = verdict["unit"]
    if unit == "share":
        return f"< {verdict['limit']:.0%}"
    if unit in ("ms", "GB"):
        return f"< {verdict['limit']:g} {unit}"
    return f"≤ {verdict['limit']:g}{unit}"


def verdict_table(verdicts: Sequence[Mapping]) -> str:
    lines = ["| target | measured | limit | verdict |", "|---|---|---|---|"]
    for v in verdicts:
        detail = f" ({v['detail']})" if v.get("detail") else ""
        lines.append(
            f"| {v['target']} | {_measure(v)}{detail} | {_limit(v)} | **{v['verdict']}** |"
        )
    return "\n".join(lines)


def _machine(machine: Mapping) -> str:
    return (
        f"{machine['cores_logical']} logical cores ({machine.get('cpus_usable')} usable), "
        f"{machine['ram_bytes'] / 2**30:.0f} GiB RAM, {machine['cpu_model'] or 'unknown CPU'}; "
        f"{machine['platform']}; Python {machine['python']}, DuckDB {machine['duckdb']}, "
        f"Dagster {machine['dagster']}, dagster-dbt {machine['dagster_dbt']}. "
        f"Load average (1/5/15 min) at start "
        f"{'/'.join(f'{x:.1f}' for x in machine['load_average_at_start'])}, at end "
        f"{'/'.join(f'{x:.1f}' for x in machine.get('load_average_at_end', []))}."
    )


def backfill_table(results: Mapping) -> list[str]:
    """Lines of the backfill section (none if no scale ran a backfill)."""
    scales = [s for s in sorted(results["scales"], key=int) if results["scales"][s].get("ratios")]
    rows = []
    for scale in scales:
        result = results["scales"][scale]
        backfill = result["pipeline"].get("backfill")
        if backfill is None:
            continue
        same = result["backfill_same_steps"]
        rows.append(
            f"| {scale} | {_s(result['pipeline']['full']['wall_seconds'])} | "
            f"{_s(backfill['wall_seconds'])} | {result['ratios']['backfill_vs_full']:.2f}× | "
            f"{_s(same['backfill_seconds'])} vs {_s(same['full_seconds'])} "
            f"({same['ratio']:.2f}×) |"
        )
    if not rows:
        return []
    return [
        "",
        "## Backfill vs full refresh (issue #7, point 8)",
        "",
        "The daily assets over the window in one run (as Dagster's asset backfill runs them), "
        "after the full refresh of the same days; `same steps`: the backfill's steps, and the "
        "same steps in the full refresh.",
        "",
        "| scale | full refresh | backfill | backfill / full | same steps: backfill vs full |",
        "|---|---|---|---|---|",
        *rows,
    ]


def render(results: Mapping) -> str:
    """The whole Markdown page: the `duckdb` target's tables (issue #8), then the lake's and
    Spark's (issue #9, point 7)."""
    scales = sorted(results["scales"], key=int)
    all_scales = [str(s) for s in results.get("scale_factors", scales)]
    targets = results.get("targets", ["duckdb"])
    lines = [
        f"# Benchmark {results['started_at'][:10]} (commit {results['commit']}"
        f"{', uncommitted changes' if results.get('dirty') else ''})",
        "",
        f"Window {results['window']['start']}..{results['window']['end']} (full refresh), then "
        f"the new day {results['incremental_day']} (incremental); scales {', '.join(all_scales)}; "
        f"targets {', '.join(targets)}. "
        f"Whole benchmark: {results['total_seconds'] / 60:.1f} min. How it is measured: "
        "[docs/benchmark.md](../../docs/benchmark.md).",
        "",
        f"**Machine:** {_machine(results['machine'])}",
        "",
        f"OMP_NUM_THREADS of the measured processes: {results.get('omp_num_threads') or 'unset'}.",
        "",
    ]
    if "duckdb" in targets:
        lines += duckdb_sections(results, scales)
    else:
        lines += ["The `duckdb` target was not run (`--targets`): no pipeline/baseline figures."]
    lines += report_targets.lake_sections(results)
    lines += report_targets.spark_section(results)
    if results.get("live"):
        lines += live_report.markdown(results["live"])
    return "\n".join(lines) + "\n"


def duckdb_sections(results: Mapping, scales: list[str]) -> list[str]:
    """The `duckdb` target against its baseline (issue #8)."""
    lines: list[str] = []
    if "verdicts" in results:
        lines += ["## Targets (issue #8)", "", verdict_table(results["verdicts"]), ""]
    else:
        lines += ["**Incomplete run:** not every scale finished; no verdicts.", ""]

    lines += [
        "## Pipeline vs baseline",
        "",
        "| scale | run | pipeline | baseline | pipeline / baseline | same, training left out "
        "| peak RSS pipeline (tree) | peak RSS baseline (tree) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scale in scales:
        result = results["scales"][scale]
        for mode in ("full", "incremental"):
            p, b = result["pipeline"][mode], result["baseline"][mode]
            lines.append(
                f"| {scale} | {mode} | {_s(p['wall_seconds'])} | {_s(b['wall_seconds'])} | "
                f"{result['ratios'][mode]:.2f}× | {ratio_without(p, b):.2f}× | "
                f"{_gb(p['peak_tree_rss_bytes'])} | "
                f"{_gb(b['peak_tree_rss_bytes'])} |"
            )
    lines += backfill_table(results)
    lines += [
        "",
        "## Where the time goes (seconds per stage)",
        "",
        "`outside steps`: the rest of the wall time: interpreter start, imports, definitions "
        "load, resources and run bookkeeping (pipeline); interpreter start and imports "
        "(baseline).",
        "",
        "| scale | run | | " + " | ".join(COLUMNS) + " | outside steps | total |",
        "|---|---|---|" + "---|" * (len(COLUMNS) + 2),
    ]
    for scale in scales:
        result = results["scales"][scale]
        for mode in ("full", "incremental"):
            for who in ("pipeline", "baseline"):
                run = result[who][mode]
                cells = [f"{run['stages'].get(stage, 0.0):.1f}" for stage in COLUMNS]
                lines.append(
                    f"| {scale} | {mode} | {who} | " + " | ".join(cells) + " | "
                    f"{run['stages']['outside_steps']:.1f} | {run['wall_seconds']:.1f} |"
                )
    lines += ["", "Pipeline steps (seconds, from the Dagster event log):", ""]
    step_keys = sorted(
        {
            key
            for s in scales
            for m in ("full", "incremental")
            for key in results["scales"][s]["pipeline"][m]["steps"]
        }
    )
    header = [f"{s}: {m}" for s in scales for m in ("full", "incremental")]
    lines += [
        "| step | " + " | ".join(f"scale {h}" for h in header) + " |",
        "|---|" + "---|" * len(header),
    ]
    for key in step_keys:
        cells = []
        for s in scales:
            for m in ("full", "incremental"):
                seconds = results["scales"][s]["pipeline"][m]["steps"].get(key)
                cells.append("–" if seconds is None else f"{seconds:.1f}")
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")

    load = results.get("definitions_load")
    if load:
        lines += [
            "",
            "## Definitions load",
            "",
            f"Fresh interpreter, median of {load['repeats']}: `import orchestration.definitions` "
            f"{load['definitions_median_seconds']:.2f} s, `import dagster_dbt` "
            f"{load['dagster_dbt_median_seconds']:.2f} s.",
        ]
    lines += [
        "",
        "## Dashboard queries (ms, query + fetch on the app's open connection, no filter set)",
        "",
        "The app keeps one read-only connection per published snapshot (dashboards/data.py): "
        "opening it is paid once per publication, "
        + ", ".join(
            f"scale {s}: {results['scales'][s]['snapshot_open']['p50_ms']:.1f} ms p50"
            for s in scales
            if results["scales"][s].get("snapshot_open")
        )
        + ".",
        "",
        "| query | " + " | ".join(f"scale {s} p50 | scale {s} p95" for s in scales) + " | rows |",
        "|---|" + "---|---|" * len(scales) + "---|",
    ]
    names = sorted({name for s in scales for name in results["scales"][s]["queries"]})
    for name in names:
        cells = []
        for s in scales:
            q = results["scales"][s]["queries"].get(name)
            cells += ["–", "–"] if q is None else [f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}"]
        last = results["scales"][scales[-1]]["queries"].get(name, {})
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {last.get('rows', '–')} |")
    lines += [
        "",
        "## Data",
        "",
        "| scale | flights (snapshot) | new day: flights, scored | snapshot file "
        "| pipeline = baseline (row counts) |",
        "|---|---|---|---|---|",
    ]
    for s in scales:
        result = results["scales"][s]
        new_day = result.get("new_day_rows", {})
        mismatches = result["snapshot_mismatches"]
        same = "yes" if not mismatches else f"no: {mismatches}"
        lines.append(
            f"| {s} | {result['snapshot_rows'].get('marts.flights', 0):,} | "
            f"{new_day.get('marts.flights', '–')}, "
            f"{new_day.get('ml.flight_delay_predictions', '–')} | "
            f"{result['snapshot_bytes'] / 2**20:.1f} MiB | {same} |"
        )
    return lines
