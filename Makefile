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

.PHONY: help install run materialize summary test test-spark lint format dev feed dashboard mlflow serve docs clean bench bench-spark bench-live bench-year

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

# Target `lake`: the same file plus Dagster's storage on the lake's PostgreSQL, whose URL
# (derived from RUNWAY_LAKE_CATALOG by orchestration/postgres.py, system Python: no venv needed)
# is exported for every Dagster process make starts. Rewritten whenever the target changes.
DAGSTER_YAMLS := orchestration/dagster.yaml $(if $(filter lake,$(RUNWAY_TARGET)),orchestration/dagster_postgres.yaml)
ifeq ($(RUNWAY_TARGET),lake)
ifndef RUNWAY_DAGSTER_POSTGRES_URL
export RUNWAY_DAGSTER_POSTGRES_URL := $(shell $(PYTHON) -m orchestration.postgres dagster-url)
endif
endif

$(DAGSTER_HOME)/dagster.yaml: $(DAGSTER_YAMLS) FORCE
	@mkdir -p $(DAGSTER_HOME)
	@cat $(DAGSTER_YAMLS) | cmp -s - $@ || { cat $(DAGSTER_YAMLS) > $@ && echo "wrote $@ ($(or $(RUNWAY_TARGET),duckdb))"; }

.PHONY: FORCE lake-databases
FORCE:

# Target `lake`: the lake's, Dagster's and MLflow's databases on its PostgreSQL (idempotent).
lake-databases: .venv/.installed ## RUNWAY_TARGET=lake: create the lake, Dagster and MLflow databases
	$(RUN) python -m orchestration.postgres
ifeq ($(RUNWAY_TARGET),lake)
install: lake-databases
endif

# DuckDB's ducklake/postgres extensions (target `lake`), copied from the pinned wheels: never
# downloaded, signatures checked (orchestration/lake.py).
.duckdb_extensions/.installed: .venv/.installed
	$(RUN) python -m orchestration.lake
	@touch $@

install: .venv/.installed $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml .duckdb_extensions/.installed ## install locked deps, prepare the dbt manifest, DuckDB extensions

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

# The suite on every core (pytest-xdist; pyproject's addopts say how modules are handed out).
# `auto` is the number of physical cores, capped at 4: every worker builds its own module
# fixtures and lake cluster, and the longest module (the lake's whole graph) bounds the run
# anyway. TEST_WORKERS=0 runs it in this one process; `pytest FILE` alone never distributes.
TEST_WORKERS ?= auto
# The Spark target's tests are part of it: the `spark` group (pyspark, a 457 MB download once)
# is synced first; java comes from the machine (under CI=true, apt installs it if missing).
test: install lint ## install (+ the spark group), lint, run the whole test suite on every core
	$(UV) sync --frozen --group spark
	$(RUN) pytest -n $(TEST_WORKERS) --maxprocesses 4

test-spark: install ## the dbt project built on Spark local (installs pyspark: 457 MB, needs Java 17+)
	$(UV) sync --frozen --group spark
	$(RUN) pytest -m spark tests/spark

# The live demo: the landing zone is seeded up to FEED_CUTOFF (nothing is removed: after `make run`
# every day is there already), then live_feed_schedule delivers the next day every
# RUNWAY_FEED_CRON (default every 5 minutes; RUNWAY_DEMO_FEED=0 turns it off) and the sensors and
# declarative automation carry each day to the dashboards. See README, "Automation".
FEED_CUTOFF ?= 2013-12-17
DAYS ?= 1
DAGSTER_PORT ?= 3000
DASHBOARD_PORT ?= 8501

# No blocking build before the UI (issue #17): Dagster and the dashboards start at once. On a data dir
# where nothing was built yet, landing_zone_sensor's first tick launches one run of the whole graph
# over START..FEED_CUTOFF (what `make run` does), which the user watches in the UI; the dashboards
# say the data is being built and show it once the snapshot is published.
dev: install ## seed up to FEED_CUTOFF, then at once dagster dev (:3000) + Streamlit (:8501); a first run builds what is missing; live feed on
	$(RUN) python -m orchestration.seed --until $(FEED_CUTOFF) --quiet
	@$(RUN) python -c 'from orchestration import settings; raise SystemExit(not settings.load().snapshot_path.exists())' || \
	  echo "Nothing published yet: the first run builds the whole graph for $(START)..$(FEED_CUTOFF) (as make run does; ~5 min). Watch it at http://127.0.0.1:$(DAGSTER_PORT)/runs - the dashboards (http://127.0.0.1:$(DASHBOARD_PORT)) show the data once it is published."
	trap 'kill 0' EXIT; \
	$(RUN) streamlit run dashboards/app.py --server.address 127.0.0.1 --server.port $(DASHBOARD_PORT) --server.headless true --browser.gatherUsageStats false & \
	RUNWAY_DEMO_FEED=$${RUNWAY_DEMO_FEED:-1} DAGSTER_GRPC_TIMEOUT_SECONDS=$${DAGSTER_GRPC_TIMEOUT_SECONDS:-180} \
	  $(DAGSTER) dev -h 127.0.0.1 -p $(DAGSTER_PORT)

feed: .venv/.installed ## deliver the next DAYS day(s) of files to the landing zone, as the upstream would
	$(RUN) python -m orchestration.seed.feed --days $(DAYS)

dashboard: .venv/.installed ## only the Streamlit app on 127.0.0.1:$(DASHBOARD_PORT)
	$(RUN) streamlit run dashboards/app.py --server.address 127.0.0.1 --server.port $(DASHBOARD_PORT) --server.headless true --browser.gatherUsageStats false

mlflow: .venv/.installed ## MLflow UI on 127.0.0.1:5000 over the tracking store (data/mlflow; on lake: PostgreSQL)
	$(RUN) mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri "$$($(RUN) python -c 'from orchestration import settings; print(settings.load().mlflow_tracking_uri)')"

docs: .venv/.installed ## dbt docs of the warehouse (after make run) on http://127.0.0.1:8080
	cd dbt_project && $(RUN) dbt docs generate --target-path target/docs
	cd dbt_project && $(RUN) dbt docs serve --target-path target/docs --host 127.0.0.1 --port 8080 --no-browser

# Evidence (dashboards/evidence/): the same query files as the app, as the source `runway`.
# `npm install` from the committed lock. source_setup.py points the source at what the app reads:
# the snapshot of the current settings (a path relative to the source folder: the connector joins
# it to that folder), or on RUNWAY_TARGET=lake the lake (':memory:' + a generated initialize.sql).
EVIDENCE_DIR := dashboards/evidence
.PHONY: evidence

$(EVIDENCE_DIR)/node_modules/.package-lock.json: $(EVIDENCE_DIR)/package.json $(EVIDENCE_DIR)/package-lock.json
	cd $(EVIDENCE_DIR) && npm install --no-audit --no-fund
	@touch $@

evidence: .venv/.installed $(EVIDENCE_DIR)/node_modules/.package-lock.json ## Evidence pages over the snapshot (on RUNWAY_TARGET=lake: the lake), built into dashboards/evidence/build (needs internet)
	@filename="$$($(RUN) python $(EVIDENCE_DIR)/source_setup.py)" || exit 1; \
	echo "Evidence's DuckDB-WASM downloads its parquet extension now: without internet the next step hangs."; \
	cd $(EVIDENCE_DIR) && \
	export EVIDENCE_SOURCE__runway__filename="$$filename" && \
	npm run sources && npm run build
	@echo "Static site: $(EVIDENCE_DIR)/build/ (npm --prefix $(EVIDENCE_DIR) run preview serves it)"

SERVE_PORT ?= 5001

serve: .venv/.installed ## MLflow model server for models:/flight_delay@champion on 127.0.0.1:$(SERVE_PORT)
	MLFLOW_TRACKING_URI="$$($(RUN) python -c 'from orchestration import settings; print(settings.load().mlflow_tracking_uri)')" \
	MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true \
	$(RUN) mlflow models serve -m models:/flight_delay@champion --env-manager local -h 127.0.0.1 -p $(SERVE_PORT)

# Benchmark (issue #8): each scale in its own temp data dir, pipeline vs baseline; see docs/benchmark.md.
# Issue #9: the same runs on the lake target (a throwaway PostgreSQL catalog), and the Spark build
# where the spark group is installed (BENCH_SPARK=auto; `make bench-spark` installs it first).
SCALES ?= 1 10
BENCH_START ?= 2013-01-01
BENCH_END ?= 2013-01-07
BENCH_TARGETS ?= duckdb,lake
BENCH_SPARK ?= auto
BENCH_ARGS ?=

bench: install ## benchmark pipeline vs baseline, lake, Spark if installed (SCALES BENCH_TARGETS) into bench/results/
	BENCH_TARGETS="$(BENCH_TARGETS)" BENCH_SPARK="$(BENCH_SPARK)" $(RUN) python -m bench --scales "$(SCALES)" --start $(BENCH_START) --end $(BENCH_END) $(BENCH_ARGS)

# Issue #17: the live stack as `make dev` runs it (webserver + daemon), days delivered one by one,
# each day's latency from the landing file to the snapshot split into hops; see docs/benchmark.md.
bench-live: install ## live latency: make dev's stack, 5 days delivered, file -> snapshot per day (bench/live.py)
	$(RUN) python -m bench.live $(BENCH_ARGS)

# Issue #17 point 4: the whole year at scale 10 (3.36 M flights), pipeline vs baseline. Long.
bench-year: install ## the whole year at scale 10: full refresh vs baseline, stages, peak RSS (long)
	BENCH_TARGETS=duckdb BENCH_SPARK=off $(RUN) python -m bench --year $(BENCH_ARGS)

bench-spark: install ## make bench with the Spark build (installs the spark group: pyspark 457 MB, Java 17+)
	$(UV) sync --frozen --group spark
	$(MAKE) --no-print-directory bench BENCH_SPARK=on

clean: ## delete runtime state (data/*) and build output, keep the installed venv
	find data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
