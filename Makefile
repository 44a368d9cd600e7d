# Runway: thin wrappers. Everything installs itself: Python 3.11 + make + git are all you need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
# Use uv if it is on PATH, else bootstrap a pinned copy into .tools/ (only PyPI is needed).
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen --no-sync

export RUNWAY_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(RUNWAY_DATA_DIR)/dagster_home
export UV_LINK_MODE ?= copy
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
START ?= 2013-01-01
END ?= 2013-12-31
DAGSTER := $(RUN) dagster
DEFS := -m orchestration.definitions
MANIFEST := dbt_project/target/manifest.json
DBT_FILES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.yaml' -o -name '*.csv' \) -print 2>/dev/null)

.PHONY: help install run materialize summary test lint format dev dashboard mlflow serve docs clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

# The dbt manifest is prepared here, once, and again only when the dbt project changes:
# the code location never runs `dbt parse` at load.
$(MANIFEST): .venv/.installed $(DBT_FILES)
	$(RUN) dagster-dbt project prepare-and-package --file orchestration/dbt_project.py
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp orchestration/dagster.yaml $@

install: .venv/.installed $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml ## install locked deps, prepare the dbt manifest

run: install ## seed data/landing, materialize the whole graph for 2013, print where to look
	$(RUN) python -m orchestration.seed --until $(END)
	$(MAKE) --no-print-directory materialize
	$(RUN) python -m orchestration.summary

materialize: install ## materialize every asset in one run (daily assets over START...END)
	$(RUN) python -m orchestration.materialize --start $(START) --end $(END)

summary: ## print row counts, the model's headline metric and the next commands
	$(RUN) python -m orchestration.summary

lint: .venv/.installed ## ruff check + format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: .venv/.installed ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: install lint ## install, lint, run the test suite
	$(RUN) pytest

dev: install ## dagster dev (127.0.0.1:3000) + Streamlit (127.0.0.1:8501) together
	trap 'kill 0' EXIT; \
	$(RUN) streamlit run dashboards/app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true --browser.gatherUsageStats false & \
	$(DAGSTER) dev -h 127.0.0.1 -p 3000

dashboard: .venv/.installed ## only the Streamlit app on 127.0.0.1:8501
	$(RUN) streamlit run dashboards/app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true --browser.gatherUsageStats false

mlflow: .venv/.installed ## MLflow UI on 127.0.0.1:5000 over data/mlflow
	$(RUN) mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///$(RUNWAY_DATA_DIR)/mlflow/mlflow.db

docs: .venv/.installed ## dbt docs of the warehouse (after make run) on http://127.0.0.1:8080
	cd dbt_project && $(RUN) dbt docs generate --target-path target/docs
	cd dbt_project && $(RUN) dbt docs serve --target-path target/docs --host 127.0.0.1 --port 8080 --no-browser

SERVE_PORT ?= 5001

serve: .venv/.installed ## MLflow model server for models:/flight_delay@champion on 127.0.0.1:$(SERVE_PORT)
	MLFLOW_TRACKING_URI="$$($(RUN) python -c 'from orchestration import settings; print(settings.load().mlflow_tracking_uri)')" \
	MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true \
	$(RUN) mlflow models serve -m models:/flight_delay@champion --env-manager local -h 127.0.0.1 -p $(SERVE_PORT)

clean: ## delete runtime state (data/*) and build output, keep the installed venv
	find data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
