"""Session fixtures shared by test packages (tests/<package>/conftest.py has the others), and the
order in which pytest-xdist hands the modules out (`make test` runs the suite on every core)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from pipeline_base import build_base
from shared_fixtures import build_once, xdist_worker

# The longest modules (setup included, from a serial run's --durations), longest first. Under
# xdist (`--dist loadfile --no-loadscope-reorder`, pyproject's addopts) a module goes whole to one
# worker, so that its module fixtures are built once, and the modules go out in collection order:
# these go first, so that no long module starts when the others are done. test_transform_assets
# comes second, before the next two users of `pipeline_base`: the second worker has work of its
# own while the first builds the base for the lake's whole-graph test.
LONGEST_FIRST = (
    "tests/lake/test_lake_pipeline.py",  # ~270 s alone (its comparison test needs the base)
    "tests/dbt/test_transform_assets.py",  # ~90 s, builds the shared dbt session
    "tests/test_live_feed.py",  # ~250 s, a Dagster daemon end to end
    "tests/spark/test_spark_build.py",  # ~250 s on a loaded machine, Spark local
    "tests/orchestration/test_automation_conditions.py",
    "tests/orchestration/test_crash_safety.py",
    "tests/orchestration/test_concurrency.py",
    "tests/orchestration/test_fresh_start.py",
    "tests/dashboards/test_browser.py",
    "tests/ml/test_serving.py",
    "tests/ml/test_real_data.py",
    "tests/lake/test_lake_evidence.py",
    "tests/lake/test_lake_dashboards.py",
    "tests/bench/test_bench_dbt_sql.py",
    "tests/orchestration/test_definitions.py",
    "tests/lake/test_lake_dbt.py",
    "tests/lake/test_lake_concurrency.py",
    "tests/bench/test_bench_lake.py",
)


# Warm dbt (orchestration/dbt_server.py): the suite's dbt calls share this environment's server;
# it goes away 2 minutes after the suite's last call instead of 30, and the controlling pytest
# stops it at the end (nothing of the suite's outlives it).
os.environ.setdefault("RUNWAY_DBT_SERVER_IDLE_SECONDS", "120")
DBT_SERVER = str(Path(__file__).resolve().parents[1] / "orchestration" / "dbt_server.py")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if xdist_worker(session.config) is not None:
        return  # a worker: the others may still call dbt
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if DBT_SERVER in cmdline and "serve" in cmdline:
            with contextlib.suppress(psutil.Error):
                process.terminate()


# Seconds per test module (setup, call and teardown of its tests; under xdist the reports of every
# worker reach the controlling process), for the summary's five slowest modules (issue #17).
_MODULE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::")[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if xdist_worker(config) is not None or not _MODULE_SECONDS:
        return
    slowest = sorted(_MODULE_SECONDS.items(), key=lambda item: item[1], reverse=True)[:5]
    terminalreporter.write_sep("=", "five slowest test modules (setup + call + teardown)")
    for module, seconds in slowest:
        terminalreporter.write_line(f"{seconds:8.1f} s  {module}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the longest modules first (the sort is stable: the others keep their order).

    Every worker collects: the order is a pure function of the collection, the same on each."""
    if xdist_worker(config) is None:
        return
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def pipeline_base(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """A few days materialized through the whole graph (pipeline_base.py): copy, never change.

    Built once per run, whatever the number of xdist workers (shared_fixtures.py)."""
    return build_once(request.config, tmp_path_factory, "pipeline_base", build_base)


_PYTEST_MAIN = sys.modules["__main__"]  # before any test (or module fixture) ran a Streamlit app


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Put pytest's `__main__` back after each test.

    Streamlit's script runner (AppTest) installs the app as `sys.modules["__main__"]` and leaves
    it there; a `multiprocessing` spawn child re-runs the parent's `__main__` first, so every later
    spawned worker would run the Streamlit app and die before doing its work (tests/lake).
    Under xdist this is the worker's own `__main__` (execnet's `python -c` bootstrap, which a
    spawn child does not re-run), captured when the worker imports this file.
    """
    yield
    sys.modules["__main__"] = _PYTEST_MAIN
