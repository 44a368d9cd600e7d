"""The real MLflow model server (`mlflow models serve`, what `make serve` runs) on the champion.

A small model is trained and registered in a SQLite store under a temporary directory, then the
server is started as a subprocess on a free port of 127.0.0.1 with the same command and
environment as `make serve`, and answers real HTTP requests. The response of a valid request is
`{"predictions": [[P(on time), P(late)], ...]}` (the pipeline's predict_proba, one pair per row).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ml.features import FEATURES
from ml.registry import log_training
from ml.train import train_and_evaluate

MODEL = "flight_delay"
STARTUP_SECONDS = 240  # the server imports mlflow twice (CLI, then uvicorn app): slow on busy CPUs
MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, payload: object | None = None) -> tuple[int, dict | str]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read().decode()
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, body


def _wait_until_up(process: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"model server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"model server not up after {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """End the server and the uvicorn process it spawned (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory, features, fast_config):
    root = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = train_and_evaluate(features, fast_config)
    with pytest.MonkeyPatch.context() as mp:
        for name in MLFLOW_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        registration = log_training(
            result,
            MODEL,
            tracking_uri=uri,
            experiment_name=MODEL,
            artifact_location=root / "artifacts",
        )
    assert registration.is_champion

    port = _free_port()
    venv_bin = Path(sys.executable).parent  # mlflow and uvicorn live beside the interpreter
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV}
    env |= {
        "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    command = [
        str(venv_bin / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{MODEL}@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    log = root / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, base, log)
        yield SimpleNamespace(url=f"{base}/invocations", result=result, log=log)
    finally:
        _stop(process)


def _json_rows(X) -> list[list]:
    """Rows of a feature frame as JSON values (NaN -> null)."""
    return [
        [None if isinstance(v, float) and math.isnan(v) else v for v in row]
        for row in X.itertuples(index=False)
    ]


def test_valid_rows_get_the_probability_of_a_late_departure(server):
    X = server.result.X_valid.head(200)
    status, body = _request(
        server.url, {"dataframe_split": {"columns": list(X.columns), "data": _json_rows(X)}}
    )
    assert status == 200, body
    assert set(body) == {"predictions"}
    served = np.asarray(body["predictions"], dtype=float)
    assert served.shape == (200, 2)
    assert ((served >= 0) & (served <= 1)).all()
    np.testing.assert_allclose(served.sum(axis=1), 1.0)
    pipeline = server.result.pipeline
    assert list(pipeline.classes_) == [0, 1]  # label 1 = left 15+ minutes late
    np.testing.assert_allclose(served, pipeline.predict_proba(X), rtol=1e-9)
    # Column 1 is P(late): flights that did leave late got higher values.
    late = server.result.y_valid[:200] == 1
    assert served[late, 1].mean() > served[~late, 1].mean()


def test_records_with_nulls_and_unknown_values_are_scored(server):
    record = dict(zip(FEATURES, _json_rows(server.result.X_valid.head(1))[0], strict=True))
    unknown = {**record, "carrier_code": "ZZ", "plane_year": None, "temperature_f": None}
    status, body = _request(server.url, {"dataframe_records": [record, unknown]})
    assert status == 200, body
    served = np.asarray(body["predictions"], dtype=float)
    assert served.shape == (2, 2) and ((served >= 0) & (served <= 1)).all()
    np.testing.assert_allclose(
        served[0], server.result.pipeline.predict_proba(server.result.X_valid.head(1))[0]
    )


def test_missing_column_is_a_400_naming_it(server):
    record = dict(zip(FEATURES, _json_rows(server.result.X_valid.head(1))[0], strict=True))
    del record["carrier_code"]
    status, body = _request(server.url, {"dataframe_records": [record]})
    assert status == 400, body
    assert "Model is missing inputs ['carrier_code']" in body["message"]


def test_wrong_type_is_a_400_naming_the_column(server):
    record = dict(zip(FEATURES, _json_rows(server.result.X_valid.head(1))[0], strict=True))
    record["distance_miles"] = "far"
    status, body = _request(server.url, {"dataframe_records": [record]})
    assert status == 400, body
    assert body["error_code"] == "BAD_REQUEST"
    assert "Failed to convert column distance_miles" in body["message"]


def test_payload_without_a_dataframe_is_a_400(server):
    status, body = _request(server.url, {"rows": []})
    assert status == 400, body
    assert "dataframe_split" in body["message"] and "dataframe_records" in body["message"]
