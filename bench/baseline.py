"""The baseline: the pipeline's work without the orchestration, in one process, on one connection.

    python -m bench.baseline --mode full --start S --end E --data-dir D --manifest M --out J

Same inputs, same outputs, same order as the pipeline run it is compared with:

1. ingest: `orchestration.raw_loader` (the loader the ingest assets call, with its validation)
   for every daily file of the window (and, on a full refresh, the three reference snapshots),
   then the same reconciliation as the `rows_reconcile` checks (file hash, rows counted with
   Python's csv module vs rows loaded + rejected);
2. dbt: the compiled SQL of the manifest `--manifest` (made by `dbt compile` with the pipeline's
   vars, before this process starts) executed by `bench.dbt_sql`: every model but the monitoring
   one, with its data tests;
3. train (full refresh only, as in the pipeline's incremental day): `ml.train.train_and_evaluate`
   and `ml.registry.log_training` with the same MLflow logging and registration as the pipeline
   (a SQLite store under the data dir), bootstrap rule `require_baseline_win=False`; the metrics,
   calibration and importance tables replaced in one transaction;
4. score: `ml.registry.load_champion` + `ml.predict.score` over the window, delete+insert;
   then the monitoring model and its tests (dbt SQL again);
5. publish: the serving tables copied into a new DuckDB file, swapped in with `os.replace`.

Not done here (orchestration's own work): Dagster's event log, asset metadata and row counts,
`meta.asset_status` in the snapshot, dbt's unit tests. Times per stage go to --out as JSON.
"""

import argparse
import csv
import gzip
import io
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

STARTED = time.perf_counter()

import duckdb  # noqa: E402

from bench import dbt_sql  # noqa: E402
from orchestration import raw_loader, settings, snapshot_tables  # noqa: E402

MONITORING_TAG = "monitoring"
PARTITION_RANGE = (date(2013, 1, 1), date(2013, 12, 31))
PREDICTIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS ml.flight_delay_predictions (flight_id VARCHAR, flight_date DATE, "
    "predicted_delay_probability DOUBLE, model_version VARCHAR, scored_at TIMESTAMP)"
)


def count_csv_rows(path: Path) -> int:
    """Data rows of a landing file, with the csv module (the header is not a row)."""
    content = path.read_bytes()
    if path.name.endswith(".gz"):
        content = gzip.decompress(content)
    text = content.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    return max(sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record) - 1, 0)


def reconcile(con: duckdb.DuckDBPyConnection, landing: Path, load: raw_loader.FileLoad) -> bool:
    path = landing / load.source_file
    if raw_loader.file_sha256(path) != load.file_hash:
        return False
    scope = "_partition_date = ?" if load.partition_date is not None else "TRUE"
    params = [load.partition_date] if load.partition_date is not None else []
    (rows,) = con.execute(
        f"SELECT count(*) FROM raw.{load.entity} WHERE {scope}", params
    ).fetchone()
    return count_csv_rows(path) == rows + load.rows_rejected


def ingest(con, current: settings.Settings, days: list[date], reference: bool) -> dict:
    reports = [
        raw_loader.load_daily(
            con,
            current.landing_dir,
            entity,
            days,
            quarantine_dir=current.quarantine_dir,
            partition_range=PARTITION_RANGE,
            run_id="baseline",
        )
        for entity in raw_loader.DAILY_TABLES
    ]
    if reference:
        reports += [
            raw_loader.load_reference(
                con,
                current.landing_dir,
                entity,
                quarantine_dir=current.quarantine_dir,
                run_id="baseline",
            )
            for entity in raw_loader.REFERENCE_TABLES
        ]
    for report in reports:
        report.raise_for_problems()
    loads = [load for report in reports for load in report.loads]
    unreconciled = [
        load.source_file for load in loads if not reconcile(con, current.landing_dir, load)
    ]
    if unreconciled:
        raise RuntimeError(f"rows do not reconcile for {unreconciled}")
    return {"files": len(loads), "rows_loaded": sum(load.rows_loaded for load in loads)}


def _read_features(con, where: str = ""):
    import polars as pl

    return pl.from_arrow(con.execute(f"SELECT * FROM ml.flight_features {where}").to_arrow_table())


def train(con, current: settings.Settings) -> dict:
    from ml.config import TrainConfig
    from ml.registry import log_training
    from ml.train import train_and_evaluate

    result = train_and_evaluate(_read_features(con), TrainConfig())
    registration = log_training(
        result,
        settings.REGISTERED_MODEL,
        tracking_uri=current.mlflow_tracking_uri,
        experiment_name=settings.MLFLOW_EXPERIMENT,
        artifact_location=current.mlflow_artifact_location,
        alias=settings.CHAMPION_ALIAS,
        margin=0.002,
        require_baseline_win=False,
    )
    version = registration.version
    tables = {
        "model_metrics": result.metrics_table(version).to_arrow(),
        "model_calibration": result.calibration_rows(version).to_arrow(),
        "feature_importance": result.importance_rows(version).to_arrow(),
    }
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    for name, arrow in tables.items():
        con.register("_rows", arrow)
        con.execute(f"CREATE OR REPLACE TABLE ml.{name} AS SELECT * FROM _rows")
        con.unregister("_rows")
    con.execute("COMMIT")
    return {
        "model_version": str(version),
        "champion": registration.is_champion,
        # What training cost, and on how many rows (the cap, TrainConfig.train_max_rows).
        "train_rows_available": result.train_rows_available,
        "train_rows_used": result.train_rows_used,
        "valid_rows": result.split.valid_rows,
        "fit_seconds": round(result.fit_seconds, 1),
        "evaluate_seconds": round(result.evaluate_seconds, 1),
        "candidate_roc_auc": round(result.candidate_metrics["roc_auc"], 4),
    }


def score(con, current: settings.Settings, first: date, end: date) -> dict:
    """Score the flights of [first, end) with the champion; replace those days' rows."""
    from datetime import UTC, datetime

    import polars as pl

    from ml.predict import score as score_frame
    from ml.registry import load_champion

    days = f"flight_date >= DATE '{first.isoformat()}' AND flight_date < DATE '{end.isoformat()}'"
    pipeline, version = load_champion(
        current.mlflow_tracking_uri, settings.REGISTERED_MODEL, alias=settings.CHAMPION_ALIAS
    )
    scored = score_frame(pipeline, _read_features(con, f"WHERE {days}")).with_columns(
        pl.lit(str(version), dtype=pl.String).alias("model_version"),
        pl.lit(datetime.now(UTC).replace(tzinfo=None), dtype=pl.Datetime("us")).alias("scored_at"),
    )
    predictions = scored.select(
        "flight_id", "flight_date", "predicted_delay_probability", "model_version", "scored_at"
    ).to_arrow()
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    con.execute(PREDICTIONS_DDL)
    con.execute(f"DELETE FROM ml.flight_delay_predictions WHERE {days}")
    con.register("_predictions", predictions)
    con.execute("INSERT INTO ml.flight_delay_predictions BY NAME SELECT * FROM _predictions")
    con.unregister("_predictions")
    con.execute("COMMIT")
    return {"scored_flights": predictions.num_rows, "model_version": str(version)}


def publish(con, snapshot_path: Path) -> dict[str, int]:
    """The serving tables into a new file, swapped in atomically (as the publish asset does)."""
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    temp = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    existing = set(
        con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database()"
        ).fetchall()
    )
    quoted = str(temp).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS snapshot")
    counts = {}
    try:
        for schema, table in settings.SERVING_TABLES:
            if (schema, table) in existing:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS snapshot.{schema}")
                con.execute(
                    f"CREATE TABLE snapshot.{schema}.{table} AS SELECT * FROM {schema}.{table}"
                )
                (counts[f"{schema}.{table}"],) = con.execute(
                    f"SELECT count(*) FROM snapshot.{schema}.{table}"
                ).fetchone()
        # What the publish asset derives in the snapshot (orchestration/publish.py) too.
        counts.update(snapshot_tables.add_derived_tables(con, "snapshot"))
    finally:
        con.execute("DETACH snapshot")
    os.replace(temp, snapshot_path)
    return counts


def run(mode: str, start: date, end: date, manifest: dict) -> dict:
    """The whole baseline; {stages: {name: seconds}, ...}."""
    full = mode == "full"
    current = settings.load()
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    stages: dict[str, float] = {}
    details: dict[str, object] = {}

    def timed(stage: str, function, *args):
        began = time.perf_counter()
        value = function(*args)
        stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - began
        return value

    current.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(current.warehouse_path))
    try:
        details["ingest"] = timed("ingest", ingest, con, current, days, full)
        report = dbt_sql.BuildReport()
        before_scoring = dbt_sql.select(manifest, exclude_tags=[MONITORING_TAG])
        timed(
            "dbt",
            lambda: dbt_sql.build(
                con, manifest, before_scoring, incremental=not full, report=report
            ),
        )
        if full:
            details["train"] = timed("train", train, con, current)
        details["score"] = timed("score", score, con, current, start, end + timedelta(days=1))
        monitoring = dbt_sql.select(manifest, tags=[MONITORING_TAG])
        timed(
            "dbt",
            lambda: dbt_sql.build(
                con,
                manifest,
                monitoring,
                incremental=not full,
                built_before=before_scoring,
                report=report,
            ),
        )
        details["dbt"] = {
            "models": len(report.models),
            "tests_run": report.tests_run,
            "tests_failing": sorted(uid for uid, n in report.test_results.items() if n),
            "test_errors": report.test_errors,
        }
        details["publish"] = timed("publish", publish, con, current.snapshot_path)
    finally:
        con.close()
    return {"stages": stages, "details": details}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--mode", choices=("full", "incremental"), required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--manifest", type=Path, required=True, help="compiled manifest.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    imported = time.perf_counter()
    manifest = json.loads(args.manifest.read_text())
    result = run(args.mode, args.start, args.end, manifest)
    result |= {
        "mode": args.mode,
        "start": args.start.isoformat(),
        "end": args.end.isoformat(),
        "import_seconds": imported - STARTED,
        "run_seconds": time.perf_counter() - imported,
    }
    args.out.write_text(json.dumps(result, indent=2, default=str))
    errors = result["details"]["dbt"]["test_errors"]
    print(f"baseline {args.mode} {args.start}..{args.end}: {result['stages']}")
    if errors:
        print(f"dbt data tests failing with severity error: {errors}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
