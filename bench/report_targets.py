"""The Markdown sections of the other targets (issue #9, point 7): the lake beside the DuckDB
file, readers of the lake while it is written, and the Spark build time."""

from __future__ import annotations

from collections.abc import Mapping

from bench.stats import GB, ratio

STAGE_COLUMNS = ("ingest", "dbt", "train", "score", "publish", "other", "outside_steps")


def _s(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.1f} s"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.2f}×"


def _gb(size: float) -> str:
    return f"{size / GB:.2f} GB"


def _scales(section: Mapping) -> list[str]:
    return sorted(section, key=int)


def reader_verdicts(results: Mapping) -> list[tuple[str, bool]]:
    """(scale, passed) per lake scale: a reader of the lake while it is written sees no error."""
    lake = results.get("lake", {}).get("scales", {})
    return [
        (scale, lake[scale]["reader"]["writing"]["error_count"] == 0) for scale in _scales(lake)
    ]


def lake_sections(results: Mapping) -> list[str]:
    """Lines of the lake sections (a "not measured" line when the lake did not run)."""
    lake = results.get("lake")
    if not lake:
        return []
    lines = ["", "## Lake target beside the DuckDB file (issue #9, point 7)", ""]
    if lake.get("status"):
        return [*lines, f"Lake: {lake['status']}."]
    duck = results.get("scales", {})
    lines += [
        "`RUNWAY_TARGET=lake`: DuckLake, catalog in PostgreSQL (a throwaway local cluster, fsync "
        "off), Parquet under a local folder; the same full refresh and incremental day as the "
        "`duckdb` target, on the same landing files. The lake's incremental run has a reader "
        f"beside it (below; it pauses {lake.get('reader_pause_seconds', 1.0):g} s between "
        "rounds): its load is part of the run's time.",
        "",
        "| scale | run | duckdb | lake | lake / duckdb | peak RSS duckdb (tree) "
        "| peak RSS lake (tree) |",
        "|---|---|---|---|---|---|---|",
    ]
    scales = _scales(lake["scales"])
    for scale in scales:
        ours = lake["scales"][scale]["pipeline"]
        theirs = duck.get(scale, {}).get("pipeline", {})
        for mode in ("full", "incremental"):
            p, d = ours[mode], theirs.get(mode)
            lines.append(
                f"| {scale} | {mode} | {_s(d['wall_seconds']) if d else '–'} | "
                f"{_s(p['wall_seconds'])} | "
                f"{_x(ratio(p['wall_seconds'], d['wall_seconds']) if d else None)} | "
                f"{_gb(d['peak_tree_rss_bytes']) if d else '–'} | "
                f"{_gb(p['peak_tree_rss_bytes'])} |"
            )
    lines += [
        "",
        "Seconds per stage (from the Dagster event log, as for the `duckdb` target):",
        "",
        "| scale | run | target | " + " | ".join(STAGE_COLUMNS) + " | total |",
        "|---|---|---|" + "---|" * (len(STAGE_COLUMNS) + 1),
    ]
    for scale in scales:
        for mode in ("full", "incremental"):
            runs = [("lake", lake["scales"][scale]["pipeline"][mode])]
            theirs = duck.get(scale, {}).get("pipeline", {}).get(mode)
            if theirs:
                runs.insert(0, ("duckdb", theirs))
            for target, run in runs:
                cells = [f"{run['stages'].get(stage, 0.0):.1f}" for stage in STAGE_COLUMNS]
                lines.append(
                    f"| {scale} | {mode} | {target} | " + " | ".join(cells) + " | "
                    f"{run['wall_seconds']:.1f} |"
                )
    lines += reader_section(lake, scales)
    lines += [
        "",
        "Data: the new day in the lake's marts and scored, and the snapshot the lake run "
        "published against the `duckdb` target's (tables and row counts).",
        "",
        "| scale | new day: flights, scored | lake files | lake snapshot = duckdb snapshot |",
        "|---|---|---|---|",
    ]
    for scale in scales:
        result = lake["scales"][scale]
        new_day = result.get("new_day_rows", {})
        mismatches = result.get("snapshot_mismatches_vs_duckdb")
        same = (
            "not compared (no duckdb run)"
            if mismatches is None
            else ("yes" if not mismatches else f"no: {mismatches}")
        )
        lines.append(
            f"| {scale} | {new_day.get('marts.flights', '–')}, "
            f"{new_day.get('ml.flight_delay_predictions', '–')} | "
            f"{result.get('lake_bytes', 0) / 2**20:.1f} MiB | {same} |"
        )
    return lines


def reader_section(lake: Mapping, scales: list[str]) -> list[str]:
    lines = [
        "",
        "### Reading the lake while it is written",
        "",
        "A reader process opens the lake read-only (`connect_lake(read_only=True)`) in rounds "
        "during the incremental run and runs every dashboard query the lake can answer (no "
        "filter, a pandas frame fetched), then a few rounds once the run is over (idle). "
        "Latency over all queries of all rounds (ms); `connect`: opening the lake (extensions, "
        "ATTACH of the catalog).",
        "",
        "| scale | rounds (writing) | queries p50 / p95 / max, writing | p50 / p95, idle "
        "| connect p50 / p95, writing | connect p50, idle | errors | new day visible after "
        "| verdict (0 errors) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scale in scales:
        reader = lake["scales"][scale]["reader"]
        w, i = reader["writing"], reader["idle"]
        seen = w.get("new_day_first_seen_seconds")
        lines.append(
            f"| {scale} | {w['rounds']} | {_ms(w['queries']['p50_ms'])} / "
            f"{_ms(w['queries']['p95_ms'])} / {_ms(w['queries']['max_ms'])} | "
            f"{_ms(i['queries']['p50_ms'])} / {_ms(i['queries']['p95_ms'])} | "
            f"{_ms(w['connect']['p50_ms'])} / {_ms(w['connect']['p95_ms'])} | "
            f"{_ms(i['connect']['p50_ms'])} | {w['error_count']} | "
            f"{'–' if seen is None else f'{seen:.0f} s'} | "
            f"**{'PASS' if w['error_count'] == 0 else 'FAIL'}** |"
        )
    first = lake["scales"][scales[0]]["reader"] if scales else None
    if first and first.get("skipped_queries"):
        skipped = ", ".join(
            f"`{name}` ({', '.join(tables)})" for name, tables in first["skipped_queries"].items()
        )
        lines += ["", f"Not run on the lake (tables only in the serving snapshot): {skipped}."]
    errors = [e for s in scales for e in lake["scales"][s]["reader"]["writing"]["errors"]]
    if errors:
        lines += ["", "Reader errors (first ones):", "", *(f"- `{e[:300]}`" for e in errors[:5])]
    names = sorted({n for s in scales for n in lake["scales"][s]["reader"]["writing"]["per_query"]})
    if names:
        lines += [
            "",
            "| query | "
            + " | ".join(f"scale {s} p50 / p95, writing | scale {s} p50, idle" for s in scales)
            + " |",
            "|---|" + "---|---|" * len(scales),
        ]
        for name in names:
            cells = []
            for s in scales:
                reader = lake["scales"][s]["reader"]
                w = reader["writing"]["per_query"].get(name, {})
                i = reader["idle"]["per_query"].get(name, {})
                cells += [
                    f"{_ms(w.get('p50_ms'))} / {_ms(w.get('p95_ms'))}",
                    _ms(i.get("p50_ms")),
                ]
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def spark_section(results: Mapping) -> list[str]:
    """Lines of the Spark section (a "not measured" line when Spark did not run)."""
    spark = results.get("spark")
    if not spark:
        return []
    lines = ["", "## Spark build time (dbt-spark, `method: session`, Spark local)", ""]
    if spark.get("status"):
        return [*lines, f"Spark: {spark['status']}."]
    stages = spark["stages"]
    full, incremental = spark["full"], spark.get("incremental") or {}
    lines += [
        f"Scale {spark['scale']} only (see docs/benchmark.md): the dbt project on the window's "
        "sources, then the new day, in one process and one SparkSession (`local[2]`), "
        "`dbtRunner` as in tests/spark. Sources exported from the "
        f"{spark.get('source', '?')} after its incremental day.",
        "",
        "| scale | session start | load window | dbt build, full | load day "
        "| dbt build, new day | whole process | peak RSS (tree) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {spark['scale']} | {_s(stages.get('session'))} | {_s(stages.get('load_window'))} | "
        f"{_s(stages.get('dbt_full'))} ({full['nodes']} nodes) | "
        f"{_s(stages.get('load_day'))} | {_s(stages.get('dbt_incremental'))} "
        f"({incremental.get('nodes', '–')} nodes) | {_s(spark['wall_seconds'])} | "
        f"{_gb(spark['peak_tree_rss_bytes'])} |",
        "",
        f"New day in `marts.flights` on Spark: {spark.get('new_day_flights', '–')} flights.",
    ]
    return lines
