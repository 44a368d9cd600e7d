"""ML assets: wrap the framework-free `ml/` package (train, register, score) in Dagster assets.

- `ml/flight_delay_model` (+ `ml/model_metrics`, `ml/model_calibration`, `ml/feature_importance`):
  one training run, configured from the launchpad with `ModelTrainingConfig`.
- `ml/flight_delay_predictions`: daily-partitioned; a run scores the flights of its partition
  window with the `champion` and replaces exactly those days' rows, in one transaction.

scikit-learn and mlflow are imported inside the asset bodies: each costs ≈ 6–7 s to import here,
and the code location must load fast (`ml.config` imports neither).

Resilience: both retry a transient error (`WAREHOUSE_RETRY`: the warehouse or MLflow store locked,
an I/O error) with backoff, as the raw assets do; any other error fails at once
(`retry_only_transient`), since a bug or bad data would fail the same way on every attempt. A
retried training registers a new MLflow version if the first attempt failed after registering.
"""

from datetime import UTC, date, datetime

import dagster as dg
from pydantic import Field, field_validator

from ml.config import TrainConfig
from orchestration import conditions, settings
from orchestration.ingest import daily_partitions
from orchestration.resources import WAREHOUSE_RETRY, WarehouseResource, retry_only_transient

FEATURES = dg.AssetKey(["ml", "flight_features"])
MODEL = dg.AssetKey(["ml", "flight_delay_model"])
METRICS = dg.AssetKey(["ml", "model_metrics"])
CALIBRATION = dg.AssetKey(["ml", "model_calibration"])
IMPORTANCE = dg.AssetKey(["ml", "feature_importance"])
PREDICTIONS = dg.AssetKey(["ml", "flight_delay_predictions"])

_DEFAULTS = TrainConfig()
_current = settings.load()
_DATE_FIELDS = ("train_start", "validation_start", "validation_end")

PREDICTIONS_DDL = """
CREATE TABLE IF NOT EXISTS ml.flight_delay_predictions (
    flight_id VARCHAR,
    flight_date DATE,
    predicted_delay_probability DOUBLE,
    model_version VARCHAR,
    scored_at TIMESTAMP
)
"""


class ModelTrainingConfig(dg.Config):
    """Launchpad settings of a training run (split dates, champion margin, hyperparameters, seed).

    Every field has a default; dates are ISO strings (YYYY-MM-DD) or empty for "not set".
    """

    train_start: str | None = Field(
        default=None,
        description="First flight_date used (YYYY-MM-DD); default: the first date of the data.",
    )
    validation_start: str | None = Field(
        default=None,
        description="First validation date (YYYY-MM-DD): train on earlier dates, validate on "
        "this one and later. Default: the last `validation_fraction` of the dates.",
    )
    validation_end: str | None = Field(
        default=None,
        description="Last flight_date used (YYYY-MM-DD); default: the last date of the data.",
    )
    validation_fraction: float = Field(
        default=_DEFAULTS.validation_fraction,
        gt=0,
        lt=1,
        description="Share of the (distinct) dates validated on, when validation_start is unset.",
    )
    champion_margin: float = Field(
        default=0.002,
        ge=0,
        description="ROC AUC gain over the current champion (on the same validation rows) "
        "needed for the `champion` alias to move to the new version.",
    )
    first_model_must_beat_baseline: bool = Field(
        default=True,
        description="With no champion yet, the first model must beat the logistic-regression "
        "baseline. On a few days of data the baseline often wins; set False to bootstrap a "
        "champion anyway (demo, tests).",
    )
    learning_rate: float = Field(default=_DEFAULTS.learning_rate, gt=0)
    max_iter: int = Field(default=_DEFAULTS.max_iter, ge=1, description="Boosting iterations.")
    max_leaf_nodes: int = Field(default=_DEFAULTS.max_leaf_nodes, ge=2)
    min_samples_leaf: int = Field(default=_DEFAULTS.min_samples_leaf, ge=1)
    l2_regularization: float = Field(default=_DEFAULTS.l2_regularization, ge=0)
    max_bins: int = Field(default=_DEFAULTS.max_bins, ge=2, le=255)
    logistic_c: float = Field(
        default=_DEFAULTS.logistic_c, gt=0, description="Inverse regularisation of the baseline."
    )
    train_max_rows: int | None = Field(
        default=_DEFAULTS.train_max_rows,
        ge=1,
        description="Fit the model and its baselines on a seeded uniform sample of at most this "
        "many training rows (null: every row); validation always uses every row.",
    )
    calibration_bins: int = Field(default=_DEFAULTS.calibration_bins, ge=1)
    importance_max_rows: int = Field(
        default=_DEFAULTS.importance_max_rows,
        ge=1,
        description="Permutation importance runs on a seeded sample of this many validation rows.",
    )
    importance_repeats: int = Field(default=_DEFAULTS.importance_repeats, ge=1)
    seed: int = Field(default=_DEFAULTS.seed, description="Random seed of every model and sample.")

    @field_validator(*_DATE_FIELDS)
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        date.fromisoformat(value.strip())  # raises ValueError with the offending text
        return value.strip()

    def to_train_config(self) -> TrainConfig:
        """The `ml.train` config these settings describe (margin and baseline rule excluded)."""
        dates = {
            name: None if getattr(self, name) is None else date.fromisoformat(getattr(self, name))
            for name in _DATE_FIELDS
        }
        return TrainConfig(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            max_bins=self.max_bins,
            logistic_c=self.logistic_c,
            validation_fraction=self.validation_fraction,
            train_max_rows=self.train_max_rows,
            calibration_bins=self.calibration_bins,
            importance_max_rows=self.importance_max_rows,
            importance_repeats=self.importance_repeats,
            seed=self.seed,
            **dates,
        )


def _read_features(warehouse: WarehouseResource, where: str = ""):
    import polars as pl

    with warehouse.connect() as con:
        table = con.execute(f"SELECT * FROM ml.flight_features {where}").to_arrow_table()
    return pl.from_arrow(table)


def _replace_tables(warehouse: WarehouseResource, tables: dict[str, object]) -> None:
    """CREATE OR REPLACE each `ml.<name>` from an Arrow table, all in one transaction."""
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS ml")
            for name, arrow in tables.items():
                con.register("_rows", arrow)
                con.execute(f"CREATE OR REPLACE TABLE ml.{name} AS SELECT * FROM _rows")
                con.unregister("_rows")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def _metrics_markdown(metrics: dict[str, dict[str, float]]) -> str:
    names = list(next(iter(metrics.values())))
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for model, values in metrics.items():
        lines.append(f"| {model} | " + " | ".join(f"{values[n]:.4f}" for n in names) + " |")
    return "\n".join(lines)


def _float_or_none(value: float) -> dg.MetadataValue:
    # NaN (a single-class validation set) is not valid JSON metadata.
    return dg.MetadataValue.float(value) if value == value else dg.MetadataValue.null()


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
            "beats the current champion by the configured margin. Retrained automatically on "
            f"`{_current.retrain_cron}` (RUNWAY_RETRAIN_CRON) or once "
            f"{_current.retrain_after_days} new days of features arrived "
            "(RUNWAY_RETRAIN_AFTER_DAYS).",
            automation_condition=conditions.training_condition(
                FEATURES, _current.retrain_cron, _current.retrain_after_days
            ),
        ),
        dg.AssetSpec(
            METRICS,
            deps=[MODEL],
            group_name="ml",
            kinds={"duckdb"},
            description="Validation metrics of the latest trained model and its baselines "
            "(base rate, logistic regression), for the dashboards.",
        ),
        dg.AssetSpec(
            CALIBRATION,
            deps=[MODEL],
            group_name="ml",
            kinds={"duckdb"},
            description="Calibration of the latest trained model on the validation window: "
            "validation flights in 10 equal-count bins of predicted probability, mean predicted "
            "vs observed late share.",
        ),
        dg.AssetSpec(
            IMPORTANCE,
            deps=[MODEL],
            group_name="ml",
            kinds={"duckdb"},
            description="Permutation importance of the latest trained model's features: drop in "
            "validation ROC AUC when a feature is shuffled (mean and std over repeats).",
        ),
    ],
    required_resource_keys={"mlflow", "warehouse"},
    pool=settings.warehouse_pool("ml_training"),
    retry_policy=WAREHOUSE_RETRY,
)
def flight_delay_model(context: dg.AssetExecutionContext, config: ModelTrainingConfig):
    """Train, evaluate, log to MLflow, register; write the metrics, calibration and importance."""
    with retry_only_transient():
        from ml.registry import log_training
        from ml.train import train_and_evaluate

        warehouse: WarehouseResource = context.resources.warehouse
        tracking = context.resources.mlflow
        features = _read_features(warehouse)
        train_config = config.to_train_config()
        try:
            result = train_and_evaluate(features, train_config)
            registration = log_training(
                result,
                settings.REGISTERED_MODEL,
                alias=settings.CHAMPION_ALIAS,
                margin=config.champion_margin,
                require_baseline_win=config.first_model_must_beat_baseline,
            )
        except Exception:
            tracking.end_run(status="FAILED")
            raise

        version = registration.version
        tables = {
            "model_metrics": result.metrics_table(version).to_arrow(),
            "model_calibration": result.calibration_rows(version).to_arrow(),
            "feature_importance": result.importance_rows(version).to_arrow(),
        }
        _replace_tables(warehouse, tables)
        context.log.info(
            f"model v{version}: {registration.decision} "
            f"(fit {result.fit_seconds:.1f} s, evaluation {result.evaluate_seconds:.1f} s)"
        )

        split = result.split.as_dict()
        candidate = result.metrics["candidate"]
        yield dg.MaterializeResult(
            asset_key=MODEL,
            metadata={
                "model_version": dg.MetadataValue.text(version),
                "is_champion": dg.MetadataValue.bool(registration.is_champion),
                "champion_decision": dg.MetadataValue.text(
                    "promoted" if registration.is_champion else "not_promoted"
                ),
                "champion_decision_reason": dg.MetadataValue.text(registration.decision),
                "candidate_roc_auc": _float_or_none(registration.candidate_roc_auc),
                "reference": dg.MetadataValue.text(registration.reference),
                "reference_roc_auc": _float_or_none(registration.reference_roc_auc),
                "previous_champion_version": dg.MetadataValue.text(
                    registration.previous_champion_version or ""
                ),
                "champion_margin": dg.MetadataValue.float(config.champion_margin),
                "roc_auc": _float_or_none(candidate["roc_auc"]),
                "log_loss": _float_or_none(candidate["log_loss"]),
                "metrics": dg.MetadataValue.md(_metrics_markdown(result.metrics)),
                "train_window": dg.MetadataValue.text(
                    f"{split['train_start']}..{split['train_end']}"
                ),
                "valid_window": dg.MetadataValue.text(
                    f"{split['valid_start']}..{split['valid_end']}"
                ),
                "train_rows": dg.MetadataValue.int(result.split.train_rows),
                "train_rows_available": dg.MetadataValue.int(result.train_rows_available),
                "train_rows_used": dg.MetadataValue.int(result.train_rows_used),
                "valid_rows": dg.MetadataValue.int(result.split.valid_rows),
                "mlflow_run_id": dg.MetadataValue.text(registration.run_id),
                "model_uri": dg.MetadataValue.text(registration.model_uri),
            },
        )
        for key, name in ((METRICS, "model_metrics"), (CALIBRATION, "model_calibration")):
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(tables[name].num_rows),
                    "model_version": dg.MetadataValue.text(version),
                },
            )
        top = result.importance.drop_nulls().sort("importance_mean", descending=True).head(5)
        yield dg.MaterializeResult(
            asset_key=IMPORTANCE,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(tables["feature_importance"].num_rows),
                "model_version": dg.MetadataValue.text(version),
                "top_features": dg.MetadataValue.text(", ".join(top.get_column("feature"))),
            },
        )


@dg.asset(
    key=PREDICTIONS,
    deps=[FEATURES, MODEL],
    group_name="ml",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=settings.warehouse_pool("ml_flight_delay_predictions"),
    retry_policy=WAREHOUSE_RETRY,
    kinds={"scikitlearn", "duckdb"},
    # A day is scored when its features update; a new model does not rescore the past.
    automation_condition=conditions.daily_condition(dg.AssetSelection.assets(MODEL)),
)
def flight_delay_predictions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Probability that each flight leaves 15+ minutes late, scored by the `champion` model.

    A run scores the flights of its partition window (one day, or a range in a single-run
    backfill) and replaces exactly those days' rows in one transaction: rerunning a day gives the
    same rows (only `scored_at` changes). Automation scores a day when its features update
    (a new or redelivered day); a retrained model scores the days that arrive after it.
    """
    with retry_only_transient():
        import polars as pl

        from ml.predict import score
        from ml.registry import load_champion

        window = context.partition_time_window
        first, end = window.start.date(), window.end.date()  # [first, end)
        days = (
            f"flight_date >= DATE '{first.isoformat()}' AND flight_date < DATE '{end.isoformat()}'"
        )

        current = settings.load()
        pipeline, version = load_champion(
            current.mlflow_tracking_uri, settings.REGISTERED_MODEL, alias=settings.CHAMPION_ALIAS
        )
        features = _read_features(warehouse, f"WHERE {days}")
        scored = score(pipeline, features).with_columns(
            pl.lit(str(version), dtype=pl.String).alias("model_version"),
            pl.lit(datetime.now(UTC).replace(tzinfo=None), dtype=pl.Datetime("us")).alias(
                "scored_at"
            ),
        )
        predictions = scored.select(
            "flight_id", "flight_date", "predicted_delay_probability", "model_version", "scored_at"
        ).to_arrow()
        with warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute("CREATE SCHEMA IF NOT EXISTS ml")
                con.execute(PREDICTIONS_DDL)
                con.execute(f"DELETE FROM ml.flight_delay_predictions WHERE {days}")
                con.register("_predictions", predictions)
                con.execute(
                    "INSERT INTO ml.flight_delay_predictions BY NAME SELECT * FROM _predictions"
                )
                con.unregister("_predictions")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            (table_rows,) = con.execute(
                "SELECT count(*) FROM ml.flight_delay_predictions"
            ).fetchone()
        context.log.info(
            f"scored {predictions.num_rows} flights of {first}..{end} (exclusive) with model "
            f"version {version}"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(table_rows),
                "scored_flights": dg.MetadataValue.int(predictions.num_rows),
                "window": dg.MetadataValue.text(f"{first}..{end} (end exclusive)"),
                "model_version": dg.MetadataValue.text(str(version)),
            }
        )


ml_assets = [flight_delay_model, flight_delay_predictions]
ml_checks: list[dg.AssetChecksDefinition] = []
