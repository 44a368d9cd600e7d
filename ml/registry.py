"""MLflow tracking and model registry for the flight-delay model.

- `ensure_experiment`: create the experiment with an explicit artifact location (never relative to
  the current directory) and return its id.
- `log_training`: log a `TrainingResult` (params, metrics of the candidate and both baselines,
  feature list, data window, git commit, calibration table and permutation importance as JSON,
  ROC / calibration / importance plots as PNG) into the active MLflow run (or a new one), log the
  pipeline with `mlflow.sklearn.log_model`, register it as a new version, and decide whether the
  `champion` alias moves to it.
- `load_champion` / `load_version`: the registered sklearn pipeline, ready to `predict_proba`.

Champion rule: with a current champion, the alias moves only if the candidate's roc_auc beats the
champion's roc_auc, both computed on the candidate's validation set, by more than `margin`. With no
champion (or one that cannot score the new data), the candidate becomes champion only if its
roc_auc beats the logistic-regression baseline (unless `require_baseline_win=False`: a
bootstrap for tiny data windows, where the baseline often wins; the decision says so).
An undefined roc_auc (single-class validation set) never promotes. The decision and both scores
are tags on the run and on the model version.

Models are stored in the skops format. Loading is done here (not with `mlflow.sklearn.load_model`,
which trusts the type list stored in the model itself and, depending on the MLflow version, refuses
unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is true) and only accepts scikit-learn and numpy types.
mlflow is imported inside the functions, so `import ml.registry` is cheap.

The logged signature declares every feature column as required (NULL values are allowed): the
model server then answers a request that lacks a column with a 400 naming it ("Model is missing
inputs ['carrier_code']") and one with a non-numeric value in a numeric column with a 400 naming
that column. The pyfunc flavour returns `predict_proba`, shape (n, 2): column 1 is P(late).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.features import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
from ml.train import LOGISTIC_REGRESSION, positive_proba, probability_metrics

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ml.train import TrainingResult

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "champion"
DEFAULT_MARGIN = 0.002
MODEL_ARTIFACT = "model"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Types a stored model may contain beyond skops' defaults (checked before loading).
_SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.")
_SAFE_TYPES = frozenset({"functools.partial"})
_PIP_PACKAGES = ("scikit-learn", "skops", "numpy", "scipy", "pandas")
_ALLOW_DESERIALIZATION = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class NoChampionError(LookupError):
    """The registered model does not exist or has no version with the champion alias."""


@dataclass(frozen=True)
class ChampionDecision:
    promote: bool
    reason: str
    reference: str  # "champion:v<N>" or "logistic_regression"
    reference_roc_auc: float


@dataclass(frozen=True)
class RegistrationResult:
    model_name: str
    version: str
    run_id: str
    model_uri: str
    is_champion: bool
    decision: str  # human-readable reason
    candidate_roc_auc: float
    reference: str
    reference_roc_auc: float
    previous_champion_version: str | None


# --------------------------------------------------------------------------------------------
# experiment and store


def _artifact_uri(location: str | Path) -> str:
    """An absolute URI for an artifact location (plain paths are resolved, not cwd-relative)."""
    text = str(location)
    if "://" in text or text.startswith("file:"):
        return text
    return Path(text).expanduser().resolve().as_uri()


def _prepare_local_store(tracking_uri: str) -> None:
    """Create the folder of a SQLite store file (SQLite does not create directories)."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        path = tracking_uri[len(prefix) :].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def ensure_experiment(tracking_uri: str, name: str, artifact_location: str | Path) -> str:
    """Id of experiment `name`, created with `artifact_location` if missing (restored if deleted).

    An existing experiment keeps its artifact location (MLflow cannot change it); a different one
    is logged as a warning.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _prepare_local_store(tracking_uri)
    location = _artifact_uri(artifact_location)
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # created concurrently?
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if experiment.artifact_location.rstrip("/") != location.rstrip("/"):
        logger.warning(
            "experiment %r keeps its artifact location %s (asked for %s)",
            name,
            experiment.artifact_location,
            location,
        )
    return experiment.experiment_id


@contextlib.contextmanager
def _using_tracking_uri(tracking_uri: str | None) -> Iterator[None]:
    """Temporarily point MLflow's global tracking URI at `tracking_uri` (None: leave it)."""
    import mlflow

    if tracking_uri is None:
        yield
        return
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # None unsets it again


@contextlib.contextmanager
def _deserialization_allowed() -> Iterator[None]:
    """Let `log_model` load back the model it just wrote, to validate the input example."""
    previous = os.environ.get(_ALLOW_DESERIALIZATION)
    os.environ[_ALLOW_DESERIALIZATION] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_ALLOW_DESERIALIZATION, None)
        else:
            os.environ[_ALLOW_DESERIALIZATION] = previous


# --------------------------------------------------------------------------------------------
# git and environment


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_commit() -> str | None:
    """HEAD of the repository holding this package, or None (no git, not a repository)."""
    return _git("rev-parse", "HEAD") or None


def _git_dirty() -> bool | None:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _pip_requirements() -> list[str]:
    """Pinned from the running environment (skips MLflow's slow subprocess-based inference)."""
    requirements = []
    for name in _PIP_PACKAGES:
        try:
            requirements.append(f"{name}=={package_version(name)}")
        except PackageNotFoundError:
            requirements.append(name)
    return requirements


# --------------------------------------------------------------------------------------------
# loading


def _is_safe_type(type_name: str) -> bool:
    return type_name in _SAFE_TYPES or type_name.startswith(_SAFE_TYPE_PREFIXES)


def _skops_trusted_types(model: Any) -> list[str]:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    unsafe = [t for t in untrusted if not _is_safe_type(t)]
    if unsafe:
        raise ValueError(f"model contains types the loader will not trust: {unsafe}")
    return untrusted


def _load_local_model(model_dir: Path) -> Any:
    """The sklearn object of a downloaded MLflow model directory (skops format only)."""
    import skops.io
    from mlflow.models import Model

    flavor = Model.load(str(model_dir)).flavors.get("sklearn")
    if flavor is None:
        raise ValueError(f"{model_dir} is not an MLflow sklearn model")
    if flavor.get("serialization_format") != "skops":
        raise ValueError(
            f"refusing to load {model_dir}: serialization format "
            f"{flavor.get('serialization_format')!r}, only 'skops' is accepted"
        )
    path = model_dir / flavor["pickled_model"]
    untrusted = skops.io.get_untrusted_types(file=path)
    unsafe = [t for t in untrusted if not _is_safe_type(t)]
    if unsafe:
        raise ValueError(f"refusing to load {model_dir}: untrusted types {unsafe}")
    return skops.io.load(path, trusted=untrusted)


def load_version(
    tracking_uri: str, model_name: str, version: str | int, registry_uri: str | None = None
) -> Any:
    """Version `version` of registered model `model_name`, as the fitted sklearn pipeline.

    The artifact location is resolved with explicit clients: `download_artifacts("models:/...")`
    would resolve it through MLflow's *global* registry URI (default: ./mlflow.db in the cwd).
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)
    location = client.get_model_version_download_uri(model_name, str(version))
    if location.startswith("models:/"):  # MLflow 3: the version's source is a logged model
        model_id = location[len("models:/") :].strip("/")
        location = client.get_logged_model(model_id).artifact_location
    with tempfile.TemporaryDirectory(prefix="runway-model-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=tmp, tracking_uri=tracking_uri
        )
        return _load_local_model(Path(local))


def _alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = registered.aliases.get(alias)
    return None if version is None else str(version)


def load_champion(
    tracking_uri: str,
    model_name: str,
    alias: str = DEFAULT_ALIAS,
    registry_uri: str | None = None,
) -> tuple[Any, str]:
    """(fitted pipeline, version) of the version of `model_name` holding `alias`.

    Raises NoChampionError if the model is not registered or no version holds the alias.
    """
    from mlflow import MlflowClient

    registry_uri = registry_uri or tracking_uri
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    version = _alias_version(client, model_name, alias)
    if version is None:
        raise NoChampionError(
            f"no version of registered model {model_name!r} has alias {alias!r} in "
            f"{registry_uri}; train and register a model first"
        )
    return load_version(tracking_uri, model_name, version, registry_uri), version


# --------------------------------------------------------------------------------------------
# champion decision


def decide_champion(
    candidate_roc_auc: float,
    *,
    baseline_roc_auc: float,
    champion_version: str | None = None,
    champion_roc_auc: float | None = None,
    champion_error: str | None = None,
    margin: float = DEFAULT_MARGIN,
    require_baseline_win: bool = True,
) -> ChampionDecision:
    """The champion rule (see the module docstring), as a pure function."""
    if champion_version is not None and champion_roc_auc is not None:
        reference, reference_auc = f"champion:v{champion_version}", champion_roc_auc
        if math.isnan(candidate_roc_auc) or math.isnan(champion_roc_auc):
            return ChampionDecision(
                False,
                f"roc_auc is undefined on the validation set (single class); champion "
                f"v{champion_version} stays",
                reference,
                reference_auc,
            )
        gain = candidate_roc_auc - champion_roc_auc
        promote = gain > margin
        return ChampionDecision(
            promote,
            f"candidate roc_auc {candidate_roc_auc:.6f} vs champion v{champion_version} "
            f"{champion_roc_auc:.6f} on the same validation data: gain {gain:+.6f} "
            f"{'>' if promote else '<='} margin {margin}; "
            + ("candidate becomes champion" if promote else f"champion v{champion_version} stays"),
            reference,
            reference_auc,
        )

    prefix = ""
    if champion_version is not None:
        prefix = (
            f"current champion v{champion_version} could not score the validation data "
            f"({champion_error}); "
        )
    reference, reference_auc = LOGISTIC_REGRESSION, baseline_roc_auc
    if math.isnan(candidate_roc_auc) or math.isnan(baseline_roc_auc):
        return ChampionDecision(
            False,
            prefix + "roc_auc is undefined on the validation set (single class); not promoted",
            reference,
            reference_auc,
        )
    if not require_baseline_win:
        return ChampionDecision(
            True,
            prefix + f"no champion yet: candidate becomes champion without having to beat the "
            f"logistic_regression baseline (roc_auc {candidate_roc_auc:.6f} vs "
            f"{baseline_roc_auc:.6f}; require_baseline_win=False)",
            reference,
            reference_auc,
        )
    promote = candidate_roc_auc > baseline_roc_auc
    return ChampionDecision(
        promote,
        prefix + f"candidate roc_auc {candidate_roc_auc:.6f} vs logistic_regression baseline "
        f"{baseline_roc_auc:.6f}: "
        + ("candidate becomes champion" if promote else "does not beat the baseline, no champion"),
        reference,
        reference_auc,
    )


# --------------------------------------------------------------------------------------------
# logging


def log_training(
    result: TrainingResult,
    model_name: str,
    *,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    artifact_location: str | Path | None = None,
    alias: str = DEFAULT_ALIAS,
    margin: float = DEFAULT_MARGIN,
    require_baseline_win: bool = True,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> RegistrationResult:
    """Log `result` to MLflow, register the pipeline as a new version of `model_name`, and move
    `alias` to it if it wins (see the module docstring).

    If an MLflow run is active (e.g. opened by the orchestration's mlflow resource), everything
    goes into it, in its tracking store; `tracking_uri`/`experiment_name` are then ignored.
    Otherwise a run is started in `experiment_name` (created with `artifact_location` if missing,
    both required then) on `tracking_uri` (default: MLflow's current one) and ended afterwards.
    """
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        if tracking_uri is not None and tracking_uri != mlflow.get_tracking_uri():
            logger.warning(
                "logging into the active run %s on %s, not on %s",
                active.info.run_id,
                mlflow.get_tracking_uri(),
                tracking_uri,
            )
        return _log_into_active_run(result, model_name, alias, margin, require_baseline_win, tags)

    if not experiment_name or artifact_location is None:
        raise ValueError(
            "no active MLflow run: pass experiment_name and artifact_location so that the run's "
            "artifacts land in a known place"
        )
    with _using_tracking_uri(tracking_uri):
        experiment_id = ensure_experiment(
            mlflow.get_tracking_uri(), experiment_name, artifact_location
        )
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name):
            return _log_into_active_run(
                result, model_name, alias, margin, require_baseline_win, tags
            )


def _log_into_active_run(
    result: TrainingResult,
    model_name: str,
    alias: str,
    margin: float,
    require_baseline_win: bool,
    tags: Mapping[str, str] | None,
) -> RegistrationResult:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    run = mlflow.active_run()
    assert run is not None
    run_id = run.info.run_id

    split = result.split.as_dict()
    mlflow.log_params(
        {
            **result.config.as_params(),
            **{f"data_{k}": v for k, v in split.items()},
            "features_categorical": ",".join(CATEGORICAL_FEATURES),
            "features_numeric": ",".join(NUMERIC_FEATURES),
            "label": LABEL,
            "registered_model": model_name,
            "champion_margin": margin,
        }
    )
    # Logged before the model so MLflow links them to the logged model as well.
    mlflow.log_metrics(
        {
            **result.flat_metrics(),
            "train_positive_rate": result.train_positive_rate,
            "valid_positive_rate": result.valid_positive_rate,
            "train_rows": result.split.train_rows,
            # The training cap (config param train_max_rows): rows available vs fitted on.
            "train_rows_available": result.train_rows_available,
            "train_rows_used": result.train_rows_used,
            "valid_rows": result.split.valid_rows,
            "fit_seconds": result.fit_seconds,
            "evaluate_seconds": result.evaluate_seconds,
        }
    )
    commit = git_commit()
    dirty = _git_dirty()
    mlflow.set_tags(
        {
            "git_commit": commit or "unknown",
            **({} if dirty is None else {"git_dirty": str(dirty).lower()}),
            "train_window": f"{split['train_start']}..{split['train_end']}",
            "valid_window": f"{split['valid_start']}..{split['valid_end']}",
            **(dict(tags) if tags else {}),
        }
    )
    mlflow.log_dict(
        {
            "categorical": list(CATEGORICAL_FEATURES),
            "numeric": list(NUMERIC_FEATURES),
            "label": LABEL,
            "split": split,
        },
        "features.json",
    )
    _log_evaluation(result)

    signature = ModelSignature(
        inputs=Schema(
            [ColSpec("string", c, required=True) for c in CATEGORICAL_FEATURES]
            + [ColSpec("double", c, required=True) for c in NUMERIC_FEATURES]
        ),
        outputs=Schema([TensorSpec(type=_float64(), shape=(-1, 2), name="proba")]),
    )
    with _deserialization_allowed():
        info = mlflow.sklearn.log_model(
            sk_model=result.pipeline,
            name=MODEL_ARTIFACT,
            serialization_format="skops",
            skops_trusted_types=_skops_trusted_types(result.pipeline),
            signature=signature,
            input_example=result.X_valid.head(5),
            pip_requirements=_pip_requirements(),
            pyfunc_predict_fn="predict_proba",
            registered_model_name=model_name,
        )
    if info.registered_model_version is None:
        raise RuntimeError(f"MLflow did not register {info.model_uri} as a version of {model_name}")
    version = str(info.registered_model_version)

    tracking_uri, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    previous = _alias_version(client, model_name, alias)
    champion_auc: float | None = None
    champion_error: str | None = None
    if previous is not None:
        try:
            champion = load_version(tracking_uri, model_name, previous, registry_uri)
            champion_auc = probability_metrics(
                result.y_valid, positive_proba(champion, result.X_valid)
            )["roc_auc"]
        except Exception as exc:  # e.g. the feature set changed since the champion was trained
            logger.warning(
                "champion v%s could not score the new validation data: %s", previous, exc
            )
            champion_error = f"{type(exc).__name__}: {exc}"
    candidate_auc = result.candidate_metrics["roc_auc"]
    decision = decide_champion(
        candidate_auc,
        baseline_roc_auc=result.metrics[LOGISTIC_REGRESSION]["roc_auc"],
        champion_version=previous,
        champion_roc_auc=champion_auc,
        champion_error=champion_error,
        margin=margin,
        require_baseline_win=require_baseline_win,
    )
    if decision.promote:
        client.set_registered_model_alias(model_name, alias, version)

    decision_tags = {
        "champion_decision": "promoted" if decision.promote else "not_promoted",
        "champion_decision_reason": decision.reason,
        "candidate_roc_auc": f"{candidate_auc:.6f}",
        "reference": decision.reference,
        "reference_roc_auc": f"{decision.reference_roc_auc:.6f}",
        "previous_champion_version": previous or "",
        "champion_margin": str(margin),
    }
    mlflow.set_tags({**decision_tags, "registered_model_version": version})
    for key, value in {
        **decision_tags,
        "git_commit": commit or "unknown",
        "run_id": run_id,
    }.items():
        client.set_model_version_tag(model_name, version, key, value)
    client.update_model_version(model_name, version, description=decision.reason)

    return RegistrationResult(
        model_name=model_name,
        version=version,
        run_id=run_id,
        model_uri=f"models:/{model_name}/{version}",
        is_champion=decision.promote,
        decision=decision.reason,
        candidate_roc_auc=candidate_auc,
        reference=decision.reference,
        reference_roc_auc=decision.reference_roc_auc,
        previous_champion_version=previous,
    )


def _log_evaluation(result: TrainingResult) -> None:
    """Calibration table, permutation importance (JSON) and the three plots (PNG)."""
    import mlflow

    from ml.plots import calibration_figure, importance_figure, roc_figure

    mlflow.log_dict({"bins": _json_rows(result.calibration)}, "evaluation/calibration.json")
    mlflow.log_dict(
        {
            "scoring": "roc_auc drop",
            "rows": int(min(result.config.importance_max_rows, len(result.y_valid))),
            "repeats": result.config.importance_repeats,
            "features": _json_rows(result.importance),
        },
        "evaluation/feature_importance.json",
    )
    figures = {
        "plots/roc.png": roc_figure(result.y_valid, result.valid_proba),
        "plots/calibration.png": calibration_figure(result.calibration),
        "plots/feature_importance.png": importance_figure(result.importance),
    }
    for artifact_file, figure in figures.items():
        mlflow.log_figure(figure, artifact_file)


def _json_rows(table: Any) -> list[dict[str, Any]]:
    """Rows of a polars frame as JSON-safe dicts (NaN and inf become None)."""
    return [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        for row in table.to_dicts()
    ]


def _float64() -> Any:
    import numpy as np

    return np.dtype("float64")
