"""A small, fully materialized Runway stack on disk, for the automation tests.

`build_base(root)` seeds the first `BASE_DAYS` days of 2013 into `root/data/landing` and
materializes the whole asset graph with Dagster in one run (what `make run` does, on a small model
config), recorded in a persistent Dagster instance at `root/dagster_home` (the repository's
`orchestration/dagster.yaml`). `clone(base, root)` copies it, so each test starts from the same
state and changes only its copy; `stack_env(root)` is the environment that points Runway (and a
Dagster daemon) at a copy.

The MLflow experiment's artifact location is an absolute path in the base: a copy that trains
would log artifacts there. The automation tests never train.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from orchestration import settings

BASE_DAYS = 3
BASE_START = date(2013, 1, 1)
BASE_END = BASE_START + timedelta(days=BASE_DAYS - 1)
# A quick model: the tests are about what runs when, not about the model's quality. On three
# days the logistic baseline may win, so the first model is made champion without that test.
BOOTSTRAP_TRAINING = {
    "first_model_must_beat_baseline": False,
    "max_iter": 40,
    "importance_max_rows": 2000,
    "importance_repeats": 1,
}
CLEARED = ("RUNWAY_WAREHOUSE", "RUNWAY_SERVING_DIR", "MLFLOW_TRACKING_URI")


def stack_env(root: Path) -> dict[str, str]:
    return {
        "RUNWAY_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }


def use_stack(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in stack_env(root).items():
        monkeypatch.setenv(name, value)


def build_base(root: Path) -> Path:
    from orchestration.materialize import materialize_all
    from orchestration.seed.landing import seed_landing

    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(settings.REPO_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as mp:
        use_stack(mp, root)
        seed_landing(settings.load().landing_dir, days=BASE_DAYS, progress=False)
        with dg.DagsterInstance.get() as instance:
            result = materialize_all(
                BASE_START,
                BASE_END,
                instance,
                run_config={"ops": {"flight_delay_model": {"config": BOOTSTRAP_TRAINING}}},
            )
    assert result.success, [event.step_key for event in result.get_step_failure_events()]
    return root


def clone(base: Path, root: Path) -> Path:
    shutil.copytree(base, root, dirs_exist_ok=True)
    return root
