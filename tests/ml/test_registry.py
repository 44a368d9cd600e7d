"""ml.registry on a real MLflow SQLite store under tmp_path."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ml.predict import score
from ml.registry import (
    NoChampionError,
    decide_champion,
    ensure_experiment,
    load_champion,
    log_training,
)
from ml.train import TrainConfig, train_and_evaluate

MODEL = "flight_delay"
EXPERIMENT = "flight_delay"
MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A fresh SQLite store; cwd is an empty folder; IP sockets are refused and recorded."""
    root = tmp_path_factory.mktemp("mlflow")
    cwd = root / "cwd"
    cwd.mkdir()
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access attempted in a test: {address}")
        return real_connect(self, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        for name in MLFLOW_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setattr(socket.socket, "connect", guarded_connect)
        import mlflow

        mlflow.end_run()
        mlflow.set_tracking_uri(None)
        try:
            yield SimpleNamespace(
                root=root,
                cwd=cwd,
                uri=f"sqlite:///{root / 'db' / 'mlflow.db'}",
                artifacts=root / "artifacts",
                attempts=attempts,
            )
        finally:
            mlflow.end_run()
            mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def story(store, features, fast_config):
    """first model, an identical retrain, then a worse model logged into an already active run."""
    import mlflow

    def log(result):
        return log_training(
            result,
            MODEL,
            tracking_uri=store.uri,
            experiment_name=EXPERIMENT,
            artifact_location=store.artifacts,
        )

    first = train_and_evaluate(features, fast_config)
    reg_first = log(first)
    global_uri_left_set = mlflow.is_tracking_uri_set()
    reg_identical = log(train_and_evaluate(features, fast_config))

    worse = train_and_evaluate(
        features, TrainConfig(max_iter=3, max_leaf_nodes=2, learning_rate=0.05, min_samples_leaf=40)
    )
    experiment_id = ensure_experiment(store.uri, EXPERIMENT, store.artifacts)
    mlflow.set_tracking_uri(store.uri)  # as the orchestration's mlflow resource does
    try:
        with mlflow.start_run(experiment_id=experiment_id) as outer:
            reg_worse = log_training(worse, MODEL)
            still_active = mlflow.active_run()
            still_active_id = None if still_active is None else still_active.info.run_id
    finally:
        mlflow.set_tracking_uri(None)
    return SimpleNamespace(
        first=first,
        worse=worse,
        reg_first=reg_first,
        reg_identical=reg_identical,
        reg_worse=reg_worse,
        outer_run_id=outer.info.run_id,
        still_active_id=still_active_id,
        global_uri_left_set=global_uri_left_set,
    )


def client(store):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store.uri, registry_uri=store.uri)


def champion_version(store) -> str:
    return str(client(store).get_registered_model(MODEL).aliases["champion"])


def test_first_model_becomes_champion(story, store):
    reg = story.reg_first
    assert reg.is_champion
    assert reg.version == "1"
    assert reg.reference == "logistic_regression"
    assert reg.candidate_roc_auc > reg.reference_roc_auc
    assert reg.previous_champion_version is None
    assert champion_version(store) == "1"
    version = client(store).get_model_version(MODEL, "1")
    assert version.tags["champion_decision"] == "promoted"
    assert float(version.tags["candidate_roc_auc"]) == pytest.approx(reg.candidate_roc_auc)
    assert version.description == reg.decision


def test_identical_model_does_not_move_the_alias(story, store):
    reg = story.reg_identical
    assert reg.version == "2"
    assert not reg.is_champion
    assert reg.reference == "champion:v1"
    assert reg.previous_champion_version == "1"
    # The champion is scored on the new validation data: same data, same model -> same score.
    assert reg.reference_roc_auc == pytest.approx(reg.candidate_roc_auc, abs=1e-12)
    assert "margin" in reg.decision
    assert champion_version(store) == "1"
    run = client(store).get_run(reg.run_id)
    assert run.data.tags["champion_decision"] == "not_promoted"
    assert float(run.data.tags["reference_roc_auc"]) == pytest.approx(reg.reference_roc_auc)


def test_worse_model_does_not_move_the_alias(story, store):
    reg = story.reg_worse
    assert reg.version == "3"
    assert not reg.is_champion
    assert reg.candidate_roc_auc < reg.reference_roc_auc
    assert champion_version(store) == "1"


def test_logs_into_the_active_run_and_leaves_it_open(story):
    assert story.reg_worse.run_id == story.outer_run_id
    assert story.still_active_id == story.outer_run_id


def test_own_run_restores_the_global_tracking_uri(story):
    assert not story.global_uri_left_set


def test_run_has_params_metrics_tags_and_feature_list(story, store):
    mlflow_client = client(store)
    run = mlflow_client.get_run(story.reg_first.run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["features_categorical"] == "carrier_code,origin_airport_code,dest_airport_code"
    assert params["data_train_start"] == "2013-01-01"
    assert params["data_valid_start"] == story.first.split.valid_start.isoformat()
    assert params["max_iter"] == "80" and params["seed"] == "42"
    for model in ("candidate", "base_rate", "logistic_regression"):
        for metric in ("roc_auc", "pr_auc", "log_loss", "brier"):
            assert metrics[f"{model}_{metric}"] == pytest.approx(story.first.metrics[model][metric])
    assert tags["git_commit"]  # a sha, or "unknown" without git
    assert tags["champion_decision"] == "promoted"
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id)}
    assert "features.json" in artifacts
    assert params["importance_repeats"] == "2" and params["calibration_bins"] == "10"
    # The training cap and what it left: the fixture is under the default cap.
    assert params["train_max_rows"] == str(story.first.config.train_max_rows)
    assert metrics["train_rows_available"] == story.first.split.train_rows
    assert metrics["train_rows_used"] == story.first.train_rows_used == story.first.split.train_rows


def test_run_has_evaluation_tables_and_plots(story, store):
    import json

    import mlflow

    run_id = story.reg_first.run_id
    listed = {
        a.path
        for folder in ("plots", "evaluation")
        for a in client(store).list_artifacts(run_id, folder)
    }
    assert listed == {
        "plots/roc.png",
        "plots/calibration.png",
        "plots/feature_importance.png",
        "evaluation/calibration.json",
        "evaluation/feature_importance.json",
    }
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="", tracking_uri=store.uri, dst_path=str(store.root / "dl")
        )
    )
    for name in ("roc", "calibration", "feature_importance"):
        assert (local / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calibration = json.loads((local / "evaluation" / "calibration.json").read_text())
    assert calibration["bins"] == story.first.calibration.to_dicts()
    importance = json.loads((local / "evaluation" / "feature_importance.json").read_text())
    assert [f["feature"] for f in importance["features"]] == list(story.first.X_valid.columns)
    assert importance["scoring"] == "roc_auc drop"


def test_artifacts_land_under_the_artifact_location_not_in_cwd(story, store):
    experiment = client(store).get_experiment_by_name(EXPERIMENT)
    assert experiment.artifact_location == store.artifacts.as_uri()
    stored = [p for p in store.artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "MLmodel" for p in stored)
    assert any(p.name.endswith(".skops") for p in stored)
    assert any(p.name == "features.json" for p in stored)
    assert list(store.cwd.iterdir()) == []
    assert not (Path(os.getcwd()) / "mlruns").exists()
    assert not (Path(os.getcwd()) / "mlartifacts").exists()


def test_no_network_access(story, store):
    assert store.attempts == []


def test_load_champion_returns_a_pipeline_that_scores(story, store, features):
    pipeline, version = load_champion(store.uri, MODEL)
    assert version == "1"
    assert list(store.cwd.iterdir()) == []  # no ./mlflow.db from MLflow's default URIs
    scored = score(pipeline, features)
    expected = score(story.first.pipeline, features)
    np.testing.assert_allclose(
        scored["predicted_delay_probability"].to_numpy(),
        expected["predicted_delay_probability"].to_numpy(),
    )


def test_load_champion_without_one_is_a_clear_error(story, store):
    with pytest.raises(NoChampionError, match="no version of registered model 'nope'"):
        load_champion(store.uri, "nope")
    with pytest.raises(NoChampionError, match="alias 'gold'"):
        load_champion(store.uri, MODEL, alias="gold")


def test_served_model_predicts_probabilities_on_raw_columns(story, store, monkeypatch):
    """The pyfunc flavour (what `mlflow models serve` runs) returns predict_proba."""
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    mlflow.set_tracking_uri(store.uri)
    try:
        served = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(None)
    raw = story.first.X_valid.head(3).copy()
    raw.loc[raw.index[0], "carrier_code"] = "ZZ"  # unseen
    raw.loc[raw.index[1], "plane_year"] = np.nan
    raw.loc[raw.index[2], "dest_airport_code"] = np.nan
    proba = np.asarray(served.predict(raw))
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba, story.first.pipeline.predict_proba(raw))


def test_served_model_names_a_missing_column(story, store, monkeypatch):
    """Every feature column is required by the signature (NULL values are not the same thing)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    mlflow.set_tracking_uri(store.uri)
    try:
        served = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(None)
    raw = story.first.X_valid.head(2)
    with pytest.raises(MlflowException, match=r"missing inputs \['plane_seats'\]"):
        served.predict(raw.drop(columns=["plane_seats"]))
    all_null = raw.assign(plane_seats=np.nan, carrier_code=None)
    assert np.asarray(served.predict(all_null)).shape == (2, 2)


def test_ensure_experiment_is_idempotent(store):
    first = ensure_experiment(store.uri, "other", store.root / "other-artifacts")
    again = ensure_experiment(store.uri, "other", store.root / "other-artifacts")
    assert first == again


def test_log_training_needs_a_run_or_an_experiment(story):
    with pytest.raises(ValueError, match="experiment_name and artifact_location"):
        log_training(story.first, MODEL)


@pytest.mark.parametrize(
    ("kwargs", "promote", "reference"),
    [
        (dict(baseline_roc_auc=0.70), True, "logistic_regression"),
        (dict(baseline_roc_auc=0.75), False, "logistic_regression"),
        (dict(baseline_roc_auc=0.80, require_baseline_win=False), True, "logistic_regression"),
        (
            dict(
                baseline_roc_auc=0.7,
                champion_version="4",
                champion_roc_auc=0.7495,
                require_baseline_win=False,
            ),
            False,
            "champion:v4",
        ),
        (
            dict(baseline_roc_auc=0.7, champion_version="4", champion_roc_auc=0.7),
            True,
            "champion:v4",
        ),
        (
            dict(baseline_roc_auc=0.7, champion_version="4", champion_roc_auc=0.7495),
            False,
            "champion:v4",
        ),
        (
            dict(baseline_roc_auc=0.7, champion_version="4", champion_error="KeyError: 'x'"),
            True,
            "logistic_regression",
        ),
    ],
)
def test_champion_rule(kwargs, promote, reference):
    decision = decide_champion(0.75, margin=0.002, **kwargs)
    assert decision.promote is promote
    assert decision.reference == reference


def test_undefined_roc_auc_never_promotes():
    assert not decide_champion(math.nan, baseline_roc_auc=math.nan).promote
    assert not decide_champion(
        math.nan, baseline_roc_auc=0.5, champion_version="1", champion_roc_auc=math.nan
    ).promote


def test_git_commit_tolerates_no_repository_and_no_git(tmp_path, monkeypatch):
    import ml.registry

    monkeypatch.setattr(ml.registry, "REPO_ROOT", tmp_path)
    assert ml.registry.git_commit() is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable at all
    assert ml.registry.git_commit() is None
