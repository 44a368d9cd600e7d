"""ML assets: wrap the framework-free `ml/` package (train, register, score) in Dagster assets.

scikit-learn and mlflow are imported inside the asset bodies: each costs ≈ 6–7 s to import here,
and the code location must load fast.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration import settings
from orchestration.resources import WarehouseResource

FEATURES = dg.AssetKey(["ml", "flight_features"])
MODEL = dg.AssetKey(["ml", "flight_delay_model"])
METRICS = dg.AssetKey(["ml", "model_metrics"])
PREDICTIONS = dg.AssetKey(["ml", "flight_delay_predictions"])


class ModelTrainingConfig(dg.Config):
    """Launchpad settings of a training run."""

    validation_fraction: float = 0.25
    champion_margin: float = 0.002
    # With no champion yet, the first model must beat the logistic-regression baseline. On a few
    # days of data the baseline often wins; set False to bootstrap a champion anyway (demo, tests).
    first_model_must_beat_baseline: bool = True


def _read_features(warehouse: WarehouseResource):
    import polars as pl

    with warehouse.connect() as con:
        return pl.from_arrow(con.execute("SELECT * FROM ml.flight_features").to_arrow_table())


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            MODEL,
            deps=[FEATURES],
            group_name="ml",
            kinds={"scikitlearn", "mlflow"},
            description="Gradient-boosting classifier: will a scheduled flight leave 15+ minutes "
            "late? Trained on earlier days, validated on later ones, logged to MLflow and "
            "registered as a version of `flight_delay`; the `champion` alias moves only if it "
            "beats the current champion.",
        ),
        dg.AssetSpec(
            METRICS,
            deps=[MODEL],
            group_name="ml",
            kinds={"duckdb"},
            description="Validation metrics of the latest trained model and its baselines "
            "(base rate, logistic regression), for the dashboards.",
        ),
    ],
    required_resource_keys={"mlflow", "warehouse"},
    pool=settings.WAREHOUSE_POOL,
)
def flight_delay_model(context: dg.AssetExecutionContext, config: ModelTrainingConfig):
    """Train, evaluate, log to MLflow, register, and write `ml.model_metrics`."""
    from ml.registry import log_training
    from ml.train import TrainConfig, train_and_evaluate

    warehouse: WarehouseResource = context.resources.warehouse
    tracking = context.resources.mlflow
    features = _read_features(warehouse)
    try:
        result = train_and_evaluate(
            features, TrainConfig(validation_fraction=config.validation_fraction)
        )
        registration = log_training(
            result,
            settings.REGISTERED_MODEL,
            margin=config.champion_margin,
            require_baseline_win=config.first_model_must_beat_baseline,
        )
    except Exception:
        tracking.end_run(status="FAILED")
        raise

    metrics = result.metrics_table(registration.version).to_arrow()
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.register("_metrics", metrics)
        con.execute("CREATE OR REPLACE TABLE ml.model_metrics AS SELECT * FROM _metrics")
        con.unregister("_metrics")

    candidate = result.metrics["candidate"]
    yield dg.MaterializeResult(
        asset_key=MODEL,
        metadata={
            "model_version": dg.MetadataValue.text(str(registration.version)),
            "is_champion": dg.MetadataValue.bool(registration.is_champion),
            "champion_decision": dg.MetadataValue.text(registration.decision),
            "roc_auc": dg.MetadataValue.float(float(candidate["roc_auc"])),
            "mlflow_run_id": dg.MetadataValue.text(str(registration.run_id)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=METRICS, metadata={"dagster/row_count": dg.MetadataValue.int(metrics.num_rows)}
    )


@dg.asset(
    key=PREDICTIONS,
    deps=[FEATURES, MODEL],
    group_name="ml",
    pool=settings.WAREHOUSE_POOL,
    kinds={"scikitlearn", "duckdb"},
)
def flight_delay_predictions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Probability that each flight leaves 15+ minutes late, scored by the `champion` model."""
    import polars as pl

    from ml.predict import score
    from ml.registry import load_champion

    current = settings.load()
    pipeline, version = load_champion(current.mlflow_tracking_uri, settings.REGISTERED_MODEL)
    features = _read_features(warehouse)
    scored = score(pipeline, features).with_columns(
        pl.lit(str(version)).alias("model_version"),
        pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("scored_at"),
    )
    predictions = scored.select(
        "flight_id", "flight_date", "predicted_delay_probability", "model_version", "scored_at"
    ).to_arrow()
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.register("_predictions", predictions)
        con.execute(
            "CREATE OR REPLACE TABLE ml.flight_delay_predictions AS SELECT * FROM _predictions"
        )
        con.unregister("_predictions")
    context.log.info(f"scored {predictions.num_rows} flights with model version {version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(predictions.num_rows),
            "model_version": dg.MetadataValue.text(str(version)),
        }
    )


ml_assets = [flight_delay_model, flight_delay_predictions]
