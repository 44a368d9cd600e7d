"""Print what `make run` produced: row counts, the model's headline metric, where to look next.

Reads the serving snapshot only (readers never open the warehouse).
"""

from __future__ import annotations

import sys

import duckdb

from orchestration import settings

NEXT_STEPS = """\
Next:
  make dev        Dagster UI on http://127.0.0.1:3000 and the dashboards on http://127.0.0.1:8501
  make dashboard  only the dashboards (http://127.0.0.1:8501)
  make mlflow     MLflow UI on http://127.0.0.1:5000 (runs, registered model `flight_delay`)
  make serve      model server for the champion on http://127.0.0.1:5001 (see README for a curl)
  make test       the test suite
  cd dbt_project && ../.venv/bin/dbt build   dbt on its own, on data/warehouse.duckdb
"""


def main() -> int:
    current = settings.load()
    path = current.snapshot_path
    if not path.exists():
        print(f"No serving snapshot at {path}: run `make run` first.", file=sys.stderr)
        return 1
    con = duckdb.connect(str(path), read_only=True)
    try:
        print(f"\nRunway is ready. Serving snapshot: {path}\n")
        print(f"{'table':<36}{'rows':>12}")
        for schema, table in settings.SERVING_TABLES:
            (rows,) = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()
            print(f"{schema + '.' + table:<36}{rows:>12,}")
        (first, last) = con.execute(
            "SELECT min(flight_date), max(flight_date) FROM marts.flights"
        ).fetchone()
        print(f"\nflights from {first} to {last}")
        metrics = con.execute(
            "SELECT model, value, model_version FROM ml.model_metrics WHERE metric = 'roc_auc' "
            "ORDER BY model"
        ).fetchall()
        if metrics:
            version = metrics[0][2]
            shown = ", ".join(f"{model} {value:.3f}" for model, value, _ in metrics)
            print(f"latest delay model v{version}, validation ROC AUC: {shown}")
        champions = con.execute(
            "SELECT DISTINCT model_version FROM ml.flight_delay_predictions"
        ).fetchall()
        print(f"predictions scored by champion v{', v'.join(v for (v,) in champions)}\n")
    finally:
        con.close()
    print(NEXT_STEPS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
